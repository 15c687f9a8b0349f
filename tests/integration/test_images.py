"""Hostile guest images through the CLI: every malformed image must be
refused with status 2 and exactly one `xensim: error: FILE: problem` line --
no sanitizer report, no crash, no core file.  The images are built in
tmp_path from this build's basic.elf, patched with struct."""

import os
import random
import struct

import pytest

PT_LOAD, PT_NOTE = 1, 4
XEN_ELFNOTE_PHYS32_ENTRY = 18
GUEST_RAM_64M = 0x3ff8000  # 64 MiB minus the reserved tail (see memmap)


class Elf:
    """Just enough of an ELF64 parser to patch basic.elf."""

    def __init__(self, data: bytes):
        self.data = bytes(data)
        assert self.data[:4] == b"\x7fELF"
        self.phoff, = struct.unpack_from("<Q", data, 32)
        self.phentsize, self.phnum = struct.unpack_from("<HH", data, 54)
        self.shoff, = struct.unpack_from("<Q", data, 40)
        self.phdrs = [struct.unpack_from("<IIQQQQQQ", data, self.phoff + i * self.phentsize)
                      for i in range(self.phnum)]

    def phdr_offset(self, i):
        return self.phoff + i * self.phentsize

    def load_index(self):
        loads = [i for i, p in enumerate(self.phdrs) if p[0] == PT_LOAD]
        assert len(loads) == 1, "basic.elf is expected to have one PT_LOAD"
        return loads[0]

    def notes(self):
        """(offset of the note header, owner, type, desc offset, descsz)"""
        out = []
        for p in self.phdrs:
            if p[0] != PT_NOTE:
                continue
            off, end = p[2], p[2] + p[5]
            while off < end:
                namesz, descsz, ntype = struct.unpack_from("<III", self.data, off)
                name = self.data[off + 12:off + 12 + namesz].rstrip(b"\0")
                desc = off + 12 + ((namesz + 3) & ~3)
                out.append((off, name, ntype, desc, descsz))
                off = desc + ((descsz + 3) & ~3)
        return out

    def phys32_note(self):
        n = [n for n in self.notes() if n[1] == b"Xen" and n[2] == XEN_ELFNOTE_PHYS32_ENTRY]
        assert len(n) == 1
        return n[0]

    def phys32_entry(self):
        return struct.unpack_from("<I", self.data, self.phys32_note()[3])[0]

    def entry64(self):
        """xensim's 64-bit entry note (owner "xensim", 8-byte desc)."""
        n = [n for n in self.notes() if n[1] == b"xensim" and n[4] == 8]
        assert len(n) == 1
        return struct.unpack_from("<Q", self.data, n[0][3])[0]

    def file_offset(self, paddr):
        p = self.phdrs[self.load_index()]
        assert p[4] <= paddr < p[4] + p[5]
        return p[2] + paddr - p[4]

    def moved_to(self, base) -> bytes:
        """The image with its segment (and both entry notes) at base."""
        b = bytearray(self.data)
        i = self.load_index()
        old = self.phdrs[i][4]
        struct.pack_into("<Q", b, self.phdr_offset(i) + 24, base)
        for _, name, _, desc, descsz in self.notes():
            fmt = "<I" if descsz == 4 else "<Q"
            struct.pack_into(fmt, b, desc, struct.unpack_from(fmt, b, desc)[0] - old + base)
        return bytes(b)


@pytest.fixture(scope="module")
def elf(basic_elf):
    return Elf(open(basic_elf, "rb").read())


def hostile(name, elf):
    """(bytes, expected problem text or None when only status 2 is specified)"""
    src = elf.data
    seg = elf.phdrs[elf.load_index()]
    if name == "empty":
        return b"", "truncated: file is 0 bytes, smaller than the 64-byte ELF header"
    if name == "random":
        data = bytearray(random.Random(20240101).randbytes(4096))
        data[0] = 0x42  # never 0x7f
        return bytes(data), ("not an ELF file (magic %02x %02x %02x %02x, expected "
                             "7f 45 4c 46)" % tuple(data[:4]))
    if name == "truncated-100":
        end = elf.phoff + elf.phnum * elf.phentsize
        return src[:100], (f"truncated: program header table ends at {end:#x} but file "
                           f"is 0x64 bytes")
    if name == "truncated-half":
        # Everything that is loaded is in the first half; the section header
        # table is not.  Xen's libelf refuses this ("section header table
        # overflow"); xensim should too.
        assert seg[2] + seg[5] < len(src) // 2 < elf.shoff
        return src[:len(src) // 2], None
    if name == "truncated-mid-segment":
        cut = seg[2] + seg[5] // 2
        return src[:cut], (f"truncated: segment {elf.load_index()} (file offset "
                           f"{seg[2]:#x}, size {seg[5]:#x}) extends beyond the end of "
                           f"the file ({cut:#x} bytes)")
    if name == "e_machine":
        b = bytearray(src)
        struct.pack_into("<H", b, 18, 40)  # EM_ARM
        return bytes(b), "machine 40 is not x86-64 (EM_X86_64 = 62)"
    if name == "elfclass32":
        b = bytearray(src)
        b[4] = 1
        return bytes(b), "not a 64-bit ELF file (EI_CLASS 1, expected 2)"
    if name == "phnum-xnum":
        b = bytearray(src)
        struct.pack_into("<H", b, 56, 0xffff)
        return bytes(b), "extended program header numbering is not supported"
    if name == "phys32-note-type":
        b = bytearray(src)
        b[elf.phys32_note()[0] + 8] = XEN_ELFNOTE_PHYS32_ENTRY + 1
        return bytes(b), "no XEN_ELFNOTE_PHYS32_ENTRY note (not a PVH kernel)"
    if name == "p_paddr-beyond-ram":
        # Only the program header moves: the PVH entry no longer lies in it.
        b = bytearray(src)
        struct.pack_into("<Q", b, elf.phdr_offset(elf.load_index()) + 24, 0x5000000)
        return bytes(b), (f"XEN_ELFNOTE_PHYS32_ENTRY {elf.phys32_entry():#x} is not "
                          f"inside a loaded executable segment")
    if name == "segment-beyond-ram":
        # Segment and entry notes move together, to 80 MiB: only RAM is wrong.
        return elf.moved_to(0x5000000), (
            f"segment {elf.load_index()} [0x5000000, {0x5000000 + seg[6]:#x}) lies "
            f"outside guest RAM ({GUEST_RAM_64M:#x} bytes)")
    if name == "segment-straddles-ram-end":
        base = GUEST_RAM_64M - 0x8000
        return elf.moved_to(base), (
            f"segment {elf.load_index()} [{base:#x}, {base + seg[6]:#x}) lies outside "
            f"guest RAM ({GUEST_RAM_64M:#x} bytes)")
    if name == "p_filesz-huge":
        b = bytearray(src)
        struct.pack_into("<Q", b, elf.phdr_offset(elf.load_index()) + 32, 1 << 62)
        return bytes(b), (f"truncated: segment {elf.load_index()} (file offset "
                          f"{seg[2]:#x}, size 0x4000000000000000) extends beyond the end "
                          f"of the file ({len(src):#x} bytes)")
    if name == "p_offset-huge":
        b = bytearray(src)
        struct.pack_into("<Q", b, elf.phdr_offset(elf.load_index()) + 8, 1 << 63)
        return bytes(b), (f"truncated: segment {elf.load_index()} (file offset "
                          f"0x8000000000000000, size {seg[5]:#x}) extends beyond the end "
                          f"of the file ({len(src):#x} bytes)")
    raise KeyError(name)


HOSTILE = ["empty", "random", "truncated-100", "truncated-half", "truncated-mid-segment",
           "e_machine", "elfclass32", "phnum-xnum", "phys32-note-type",
           "p_paddr-beyond-ram", "segment-beyond-ram", "segment-straddles-ram-end",
           "p_filesz-huge", "p_offset-huge"]


def check_refused(res, path, problem, cwd):
    info = res.describe()
    assert res.status == 2, info
    lines = res.stderr.splitlines()
    assert len(lines) == 1, info
    prefix = f"xensim: error: {path}: "
    assert lines[0].startswith(prefix), info
    if problem is not None:
        assert lines[0] == prefix + problem, info
    assert res.stdout == "", info
    assert not [f for f in os.listdir(cwd) if f.startswith("core")], "core file left"


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_image_refused(run, elf, tmp_path, name):
    data, problem = hostile(name, elf)
    path = tmp_path / f"{name}.elf"
    path.write_bytes(data)
    res = run(["boot", path], cwd=tmp_path)
    if name == "truncated-half":
        # The loadable part survives the cut; like Xen's libelf, the loader
        # refuses the image because its section headers lie past the end.
        assert res.status == 2, "half-truncated image must be refused\n" + res.describe()
        assert "truncated" in res.stderr, res.describe()
    check_refused(res, path, problem, tmp_path)


def test_missing_image(run, tmp_path):
    path = tmp_path / "nope.elf"
    res = run(["boot", path], cwd=tmp_path)
    check_refused(res, path, "cannot open: No such file or directory", tmp_path)


def test_missing_guest_name(run, guest_dir, tmp_path):
    res = run(["boot", "nosuchguest"], cwd=tmp_path)
    check_refused(res, guest_dir.resolve() / "nosuchguest.elf",
                  "cannot open: No such file or directory", tmp_path)


def test_directory_as_image(run, tmp_path):
    res = run(["boot", tmp_path], cwd=tmp_path)
    assert res.status == 2, res.describe()
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"xensim: error: {tmp_path}: "), \
        res.describe()


def test_moved_segment_boots_with_enough_ram(run, elf, tmp_path):
    """Control for segment-beyond-ram: the same image is fine with 128 MiB,
    so the refusal above is about RAM, not about the patching."""
    path = tmp_path / "at80m.elf"
    path.write_bytes(elf.moved_to(0x5000000))
    res = run(["boot", path, "--memory", "128"], cwd=tmp_path)
    assert res.status == 0, res.describe()
    out = res.stdout.splitlines()
    size = elf.phdrs[elf.load_index()][6]
    end = (0x5000000 + size + 0xfff) & ~0xfff
    assert out[2] == (f"boot: kernel at physical 0x5000000-{end:#x}, running at "
                      f"{0x200000000000 + 0x5000000:#x}"), res.describe()
    assert out[-1] == "basic: done, powering off"


def test_guest_writing_fs_selector_is_a_domain_crash(run, elf, tmp_path):
    """Guest code that loads %fs runs natively inside xensim's process and
    clobbers the host's TLS base; xensim must still report a domain crash.

    The image's first 64-bit instruction after `cld`, `lea X(%rip),%rsp`
    (48 8d 25 ...), becomes `mov X(%rip),%fs` (48 8e 25 ...).

    The signal handler restores the FS base before touching thread-local
    state; without that xensim died with SIGSEGV and printed nothing."""
    off = elf.file_offset(elf.entry64())
    assert elf.data[off:off + 4] == bytes.fromhex("fc488d25"), "entry code changed"
    b = bytearray(elf.data)
    b[off + 2] = 0x8e
    path = tmp_path / "movfs.elf"
    path.write_bytes(b)
    res = run(["boot", path], cwd=tmp_path, timeout=20)
    assert res.status == 4, res.describe()
    assert res.stderr.startswith("xensim: domain 1 (guest) vcpu 0 crashed: "), res.describe()
    assert res.stderr.splitlines()[-1].startswith("xensim: domain guest ended: fault, ")


def test_guest_spinning_without_exits_is_stopped_by_limit(run, elf, tmp_path):
    """A guest that loops without a single VM exit (`jmp .` at its entry) must
    still be stopped by the virtual-time limit: status 9.

    Virtual time only advances at VM exits, so a CPU-time watchdog (2 s)
    takes the vCPU out; without it xensim spun forever (killed after 5 s)."""
    off = elf.file_offset(elf.entry64())
    b = bytearray(elf.data)
    b[off:off + 2] = b"\xeb\xfe"  # jmp .
    path = tmp_path / "spin.elf"
    path.write_bytes(b)
    res = run(["boot", path, "--vtime-limit-ms", "10"], cwd=tmp_path, timeout=5)
    assert res.status == 9, res.describe()
    assert "xensim: domain guest ended: running, " in res.stderr, res.describe()
