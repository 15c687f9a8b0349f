"""`xensim boot basic`: the guest's summary, exit statuses, crash reports for
guest faults, cli/sti emulation, and determinism."""

import re
import struct
import subprocess
import sys
import textwrap

import pytest

from conftest import end_line

END_RE = re.compile(
    r"^xensim: domain guest ended: (?P<state>\w+), vtime (?P<vtime>\d+) ns, "
    r"trace-hash (?P<hash>[0-9a-f]{16})$")

# The guest's summary with 64 MiB, in order; None marks lines checked by regex
# below (they report virtual time).  summary() fills in what depends on the
# image's size.
_SUMMARY_64M = [
    "basic: boot summary",
    "boot: pvh start_info magic=0x336ec578 version=1 modules=0",
    "boot: kernel at physical {start:#x}-{end:#x}, running at {va:#x}",
    "cmdline: ",
    "memmap: 2 entries from start_info",
    "memmap: [0x0000000000000000-0x0000000003ff7fff] ram",
    "memmap: [0x0000000003ff8000-0x0000000003ffffff] reserved",
    "mem: 65504 KiB usable, {free} pages free for allocation",
    "alloc: self-test ok (64 pages allocated, distinct, zeroed, freed)",
    "xen: found at CPUID 0x40000000, version 4.17.0-xensim",
    "xen: capabilities hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64",
    "xen: hypercall page at physical {hypercall_page:#x} via MSR 0x40000000",
    "xen: features 0x304 auto_translated_physmap hvm_safe_pvclock hvm_callback_vector",
    "xen: shared_info at pfn {shared_info_pfn:#x}",
    "xen: 16384 pages reserved, vcpu0 up=1",
    None,  # time: monotonic
    None,  # time: wallclock
    "irq: mode pv-mask, save/restore ok",
    "basic: done, powering off",
]


def load_segment(elf_path):
    """(p_paddr, p_memsz) of the image's single PT_LOAD."""
    data = open(elf_path, "rb").read()
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    loads = [struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
             for i in range(phnum)]
    loads = [p for p in loads if p[0] == 1]
    assert len(loads) == 1
    return loads[0][4], loads[0][6]


def elf_symbol(elf_path, name):
    """st_value of a symbol in the image's .symtab."""
    data = open(elf_path, "rb").read()
    shoff, = struct.unpack_from("<Q", data, 40)
    shentsize, shnum = struct.unpack_from("<HH", data, 58)
    shdrs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
             for i in range(shnum)]
    symtab = next(sh for sh in shdrs if sh[1] == 2)  # SHT_SYMTAB
    strtab = shdrs[symtab[6]]
    for off in range(symtab[4], symtab[4] + symtab[5], symtab[9]):
        st_name, = struct.unpack_from("<I", data, off)
        s = data[strtab[4] + st_name:data.index(b"\0", strtab[4] + st_name)].decode()
        if s == name:
            return struct.unpack_from("<Q", data, off + 8)[0]
    raise KeyError(name)


def summary(elf_path, ram_pages=0x3ff8000 >> 12):
    """The expected summary; pages free = RAM pages - kernel pages - 3 (the
    start_info, command line and memmap page)."""
    start, memsz = load_segment(elf_path)
    end = (start + memsz + 0xfff) & ~0xfff
    free = ram_pages - ((end - start) >> 12) - 3
    return [None if line is None else
            line.format(start=start, end=end, va=0x200000000000 + start, free=free,
                        hypercall_page=elf_symbol(elf_path, "hypercall_page"),
                        shared_info_pfn=elf_symbol(elf_path, "shared_info_page") >> 12)
            for line in _SUMMARY_64M]


TIME_MONO_RE = re.compile(r"^time: monotonic (\d+) ns -> (\d+) ns \(advancing\)$")
TIME_WALL_RE = re.compile(
    r"^time: wallclock 2026-01-01 00:00:00\.(\d{9}) UTC$")

PREFIXES = ("boot:", "cmdline:", "memmap:", "mem:", "alloc:", "xen:", "time:", "irq:",
            "basic:")


def parse_end(res):
    line = end_line(res)
    m = END_RE.match(line)
    assert m, f"last stderr line is not the 'domain ended' line: {line!r}\n{res.describe()}"
    return m


def check_summary(res, expected):
    lines = res.stdout.splitlines()
    assert len(lines) == len(expected), res.describe()
    for got, want in zip(lines, expected):
        if want is not None:
            assert got == want, res.describe()
    mono = [line for line in lines if line.startswith("time: monotonic")]
    assert len(mono) == 1 and TIME_MONO_RE.match(mono[0]), res.describe()
    t0, t1 = map(int, TIME_MONO_RE.match(mono[0]).groups())
    assert 0 < t0 < t1, res.describe()
    wall = [line for line in lines if line.startswith("time: wallclock")]
    assert len(wall) == 1 and TIME_WALL_RE.match(wall[0]), res.describe()
    # The wall clock is 2026-01-01 00:00:00 plus virtual time, read after t1.
    assert int(TIME_WALL_RE.match(wall[0]).group(1)) > t1, res.describe()


def test_boot_basic_summary_and_poweroff(run, basic_elf):
    res = run(["boot", "basic"])
    assert res.status == 0, res.describe()
    check_summary(res, summary(basic_elf))
    assert all(line.startswith(PREFIXES) for line in res.stdout.splitlines())
    m = parse_end(res)
    assert m["state"] == "poweroff"
    # Only the end line on stderr for a clean run.
    assert res.stderr.splitlines() == [m.group(0)], res.describe()
    # The guest's last virtual-time reading is before the end.
    t1 = int(TIME_MONO_RE.match(res.stdout.splitlines()[15]).group(2))
    assert int(m["vtime"]) > t1


def test_boot_image_by_path_same_as_by_name(run, basic_elf):
    by_name = run(["boot", "basic"])
    by_path = run(["boot", str(basic_elf)])
    assert by_path.status == 0, by_path.describe()
    assert by_path.stdout == by_name.stdout
    assert end_line(by_path) == end_line(by_name)


def test_boot_cmdline_reaches_guest(run):
    res = run(["boot", "basic", "--cmdline", "console=hvc0 loglevel=7 x=\"a b\""])
    assert res.status == 0, res.describe()
    assert res.stdout.splitlines()[3] == 'cmdline: console=hvc0 loglevel=7 x="a b"'


def test_boot_memory_128(run, basic_elf):
    res = run(["boot", "basic", "--memory", "128"])
    assert res.status == 0, res.describe()
    expected = summary(basic_elf, ram_pages=0x7ff8000 >> 12)
    expected[5] = "memmap: [0x0000000000000000-0x0000000007ff7fff] ram"
    expected[6] = "memmap: [0x0000000007ff8000-0x0000000007ffffff] reserved"
    expected[7] = expected[7].replace("65504 KiB", "131040 KiB")
    expected[14] = "xen: 32768 pages reserved, vcpu0 up=1"
    check_summary(res, expected)


def test_irq_cli_uses_trapped_cli_sti(run, tmp_path):
    trace = tmp_path / "cli.trace"
    res = run(["boot", "basic", "--cmdline", "irq=cli", "--trace", trace])
    assert res.status == 0, res.describe()
    lines = res.stdout.splitlines()
    assert "irq: mode cli-sti, save/restore ok" in lines, res.describe()
    assert "irq: mode pv-mask, save/restore ok" not in lines
    assert parse_end(res)["state"] == "poweroff"
    # cli and sti really trapped and were emulated.
    dump = run(["trace", "dump", trace])
    assert dump.status == 0, dump.describe()
    kinds = re.findall(r" trap +(\w+) ", dump.stdout)
    assert "cli" in kinds and "sti" in kinds, dump.stdout


def test_default_irq_mode_does_not_trap_cli(run, tmp_path):
    trace = tmp_path / "pv.trace"
    res = run(["boot", "basic", "--trace", trace])
    assert "irq: mode pv-mask, save/restore ok" in res.stdout.splitlines()
    dump = run(["trace", "dump", trace])
    kinds = re.findall(r" trap +(\w+) ", dump.stdout)
    assert "cli" not in kinds and "sti" not in kinds, dump.stdout


# kind -> (crash description, disassembly of the faulting instruction)
FAULTS = {
    "pf": ("page fault (#PF) at 0x210000000000, outside this domain's address space",
           "mov qword ptr [rax], 1"),
    "ud": ("invalid opcode (#UD) at 'ud2', which xensim does not emulate", "ud2"),
    "gp": ("wrmsr 0xdeadbeef <- 0: guest takes #GP and has no handler xensim can "
           "deliver to", "wrmsr"),
    "de": ("arithmetic exception (#DE)", "div ecx"),
    "bp": ("breakpoint/debug trap (#BP/#DB)", "int3"),
}
RIP_RE = re.compile(r"^  rip ([0-9a-f]{16}) \(guest physical (0x[0-9a-f]+)\)  "
                    r"rsp ([0-9a-f]{16})  rflags ([0-9a-f]{8})$")
INSN_RE = re.compile(r"^  instruction: (.+?) +\[((?:[0-9a-f]{2} )+)\]$")
REGS = [["rax", "rbx", "rcx", "rdx"], ["rsi", "rdi", "rbp", "r8 "],
        ["r9 ", "r10", "r11", "r12"], ["r13", "r14", "r15"]]


def elf_bytes_at(elf_path, paddr, n):
    """n bytes of the image at physical address paddr (from the PT_LOADs)."""
    data = open(elf_path, "rb").read()
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, _, off, _, pa, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data,
                                                                 phoff + i * phentsize)
        if p_type == 1 and pa <= paddr and paddr + n <= pa + filesz:
            return data[off + paddr - pa:off + paddr - pa + n]
    raise AssertionError(f"{paddr:#x} not in a loaded segment of {elf_path}")


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_guest_fault_crash_report(run, basic_elf, kind):
    what, insn = FAULTS[kind]
    res = run(["boot", "basic", "--cmdline", f"fault={kind}"])
    assert res.status == 4, res.describe()
    out = res.stdout.splitlines()
    # The summary ran, then the guest announced the fault and got no further.
    assert out[-1] == f"basic: taking a {kind} fault on purpose", res.describe()
    assert "basic: done, powering off" not in out
    assert out[-2] == "irq: mode pv-mask, save/restore ok"

    err = res.stderr.splitlines()
    assert len(err) == 8, res.describe()
    assert err[0] == f"xensim: domain 1 (guest) vcpu 0 crashed: {what}", res.describe()
    m = RIP_RE.match(err[1])
    assert m, res.describe()
    rip, gpa = int(m[1], 16), int(m[2], 16)
    assert rip == 0x200000000000 + gpa, "rip is the direct-map address of the gpa"
    m = INSN_RE.match(err[2])
    assert m, res.describe()
    assert m[1] == insn, res.describe()
    # The bytes shown are the image's bytes at the reported rip.
    shown = bytes.fromhex(m[2])
    assert shown == elf_bytes_at(basic_elf, gpa, len(shown)), res.describe()
    for line, names in zip(err[3:7], REGS):
        assert re.fullmatch("  " + " ".join(f"{n} [0-9a-f]{{16}}" for n in names), line), \
            res.describe()
    assert parse_end(res)["state"] == "fault"


def test_fault_report_registers(run):
    """The register dump shows the guest's values: #PF writes to rax, #GP's
    MSR index is in rcx."""
    pf = run(["boot", "basic", "--cmdline", "fault=pf"]).stderr
    assert "  rax 0000210000000000 " in pf
    gp = run(["boot", "basic", "--cmdline", "fault=gp"]).stderr
    assert " rcx 00000000deadbeef " in gp


def test_guest_panic_is_crash_status_3(run):
    """An unknown fault= kind makes the guest panic: SHUTDOWN_crash, status 3."""
    res = run(["boot", "basic", "--cmdline", "fault=zz"])
    assert res.status == 3, res.describe()
    out = res.stdout.splitlines()
    assert out[-2:] == ["basic: taking a zz fault on purpose",
                        "PANIC: basic: fault=zz did not fault"], res.describe()
    assert parse_end(res)["state"] == "crash"
    assert len(res.stderr.splitlines()) == 1, res.describe()


# ---- determinism --------------------------------------------------------------

def test_same_command_twice_is_identical(run):
    a = run(["boot", "basic", "--cmdline", "irq=cli", "--seed", "3"])
    b = run(["boot", "basic", "--cmdline", "irq=cli", "--seed", "3"])
    assert a.status == b.status == 0
    assert a.stdout.encode("utf-8", "surrogateescape") == \
        b.stdout.encode("utf-8", "surrogateescape")
    assert a.stderr == b.stderr
    assert parse_end(a)["hash"] == parse_end(b)["hash"]


def test_identical_trace_files(run, tmp_path):
    for name in ("a", "b"):
        assert run(["boot", "basic", "--trace", tmp_path / name]).status == 0
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_seed_does_not_change_single_vcpu_run(run):
    """One vCPU: nothing to schedule differently, so the seed changes neither
    the console nor the trace."""
    runs = [run(["boot", "basic", "--seed", s]) for s in ("0", "1", "12345")]
    assert all(r.status == 0 for r in runs)
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout
    hashes = {parse_end(r)["hash"] for r in runs}
    assert len(hashes) == 1, hashes


def test_cmdline_changes_trace_hash(run):
    """The hash covers console output: a different command line (echoed by
    the guest) must give a different hash."""
    a = parse_end(run(["boot", "basic"]))["hash"]
    b = parse_end(run(["boot", "basic", "--cmdline", "x"]))["hash"]
    assert a != b


_VMCALL_PROBE = textwrap.dedent("""
    import ctypes, mmap
    code = bytes.fromhex("48c7c0d20400000f01c1c3")  # mov $1234,%rax; vmcall; ret
    buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    buf.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    print(ctypes.CFUNCTYPE(ctypes.c_long)(addr)())
""")


def host_vmcall_behaviour():
    """What a user-mode vmcall does on this host: 'SIGILL' (bare metal: #UD),
    or the rax it returned without trapping (-1 = KVM's -KVM_EPERM when
    this host is itself a KVM guest)."""
    p = subprocess.run([sys.executable, "-c", _VMCALL_PROBE], capture_output=True,
                       text=True, timeout=30)
    if p.returncode == -4:
        return "SIGILL"
    return f"no trap, rax={p.stdout.strip()} (status {p.returncode})"


def test_vmcall_hypercalls_same_console_as_direct(run, basic_elf):
    """--hypercalls vmcall: the hypercall page uses vmcall, which xensim must
    trap and emulate.  The console matches direct mode except the time: lines:
    each vmcall is an emulated instruction (XS_COST_TRAP_NS) on top of the
    hypercall, so virtual time -- and with it the trace hash -- moves on.

    On hosts that are themselves KVM guests a bare user-mode vmcall does not
    trap at all (the outer KVM answers rax=-KVM_EPERM); the stubs must cope
    (they did not before commit 2b02e38: the guest died on int3, status 4).
    The failure message says what the host does with a user-mode vmcall."""
    direct = run(["boot", "basic"])
    vmcall = run(["boot", "basic", "--hypercalls", "vmcall"])
    if vmcall.status != 0:
        pytest.fail(f"host user-mode vmcall: {host_vmcall_behaviour()}\n{vmcall.describe()}")
    info = vmcall.describe()
    d_lines, v_lines = direct.stdout.splitlines(), vmcall.stdout.splitlines()
    assert [x for x in v_lines if not x.startswith("time:")] == \
        [x for x in d_lines if not x.startswith("time:")], info
    check_summary(vmcall, summary(basic_elf))
    d_end, v_end = parse_end(direct), parse_end(vmcall)
    assert v_end["state"] == "poweroff"
    assert int(v_end["vtime"]) > int(d_end["vtime"]), info
    assert v_end["hash"] != d_end["hash"], info
    # ...and vmcall mode is itself deterministic.
    again = run(["boot", "basic", "--hypercalls", "vmcall"])
    assert again.stdout == vmcall.stdout and again.stderr == vmcall.stderr


def test_memory_too_small_for_image(run, basic_elf):
    """1 MiB is a valid size, but basic's segment starts at 1 MiB."""
    start, memsz = load_segment(basic_elf)
    res = run(["boot", "basic", "--memory", "1"])
    assert res.status == 2, res.describe()
    assert res.stderr.splitlines() == [
        f"xensim: error: {basic_elf.resolve()}: segment 0 [{start:#x}, {start + memsz:#x}) "
        f"lies outside guest RAM (0xf8000 bytes)"], res.describe()
    assert res.stdout == ""


def test_smallest_memory_that_fits(run):
    res = run(["boot", "basic", "--memory", "2"])
    assert res.status == 0, res.describe()
    assert "memmap: [0x0000000000000000-0x00000000001f7fff] ram" in res.stdout.splitlines()
    assert parse_end(res)["state"] == "poweroff"
