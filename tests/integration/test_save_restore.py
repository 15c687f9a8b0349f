"""Save and restore in Xen's libxc migration stream (docs/migration.md).

A guest (guestlib/apps/suspend: block writes in flight, timers, IPIs, a
xenstore watch) is saved mid-workload by one xensim process and restored by
a second one, which finishes the workload and checks every block; the
restored domain has a new domid and new store and console ports.  The file
is checked here with an independent reader of the format, and damaged
copies are refused with the record named while the file stays as it was.
"""

import hashlib
import re
import shutil
import struct

import pytest

MIB = 1 << 20
REC = {"END": 0x0, "PAGE_DATA": 0x1, "X86_TSC_INFO": 0x8, "HVM_CONTEXT": 0x9,
       "HVM_PARAMS": 0xa, "STATIC_DATA_END": 0x10, "X86_CPUID_POLICY": 0x11,
       "XENSIM_DOMAIN": 0x80585301, "XENSIM_VCPU": 0x80585302,
       "XENSIM_DEVICES": 0x80585303, "XENSIM_TIME": 0x80585304}
NAME = {v: k for k, v in REC.items()}
HVM_PARAM_STORE_PFN, HVM_PARAM_CONSOLE_PFN = 1, 17

SAVE_SCN = """scenario save-mid-workload
{before}domain g image=suspend memory=16 vcpus=2 cmdline="duration=40"
disk g path=disk.img
limit vtime=3s
save g at={at} file={file}
expect g console "suspend: 2 cpus, store port 1, console port 2, domid {domid}: running 40 ms"
expect g end suspend
"""


def console(res, dom="g"):
    prefix = f"{dom}| "
    return [line[len(prefix):] for line in res.stdout.splitlines()
            if line.startswith(prefix)]


def records(data):
    """The stream's records as (type, offset, body), read independently of
    xensim's reader: the spec's layout, nothing more."""
    marker, ident, version, options = struct.unpack_from(">QIIH", data, 0)
    assert (marker, ident, version, options & 1) == (2**64 - 1, 0x58454E46, 3, 0)
    dtype, shift = struct.unpack_from("<IH", data, 24)
    assert (dtype, shift) == (2, 12)  # x86 HVM, 4 KiB pages
    out, off = [], 40
    while off < len(data):
        rtype, length = struct.unpack_from("<II", data, off)
        out.append((rtype, off, data[off + 8:off + 8 + length]))
        off += 8 + (length + 7) // 8 * 8
    assert off == len(data)
    return out


def pack(recs, head):
    """Records back into a stream (bodies padded to 8 bytes)."""
    out = bytearray(head)
    for rtype, body in recs:
        out += struct.pack("<II", rtype, len(body)) + body
        out += bytes(-len(body) % 8)
    return bytes(out)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, xensim, guest_dir):
    """One guest saved at 15 ms by `xensim run` of a scenario with a save
    statement, with its disk as it was at the save."""
    from conftest import run_xensim
    d = tmp_path_factory.mktemp("saved")
    (d / "disk.img").write_bytes(bytes(4 * MIB))
    (d / "save.scn").write_text(SAVE_SCN.format(before="", at="15ms", file="g.xen",
                                                domid=1))
    res = run_xensim(["run", d / "save.scn", "--seed", 3,
                      "--guest-dir", guest_dir], timeout=60)
    assert res.status == 0, res.describe()
    assert re.search(r"xensim: saved g \(d1, 16 MiB\) to .*g\.xen: \d+ bytes at vtime",
                     res.stderr), res.describe()
    shutil.copy(d / "disk.img", d / "disk.saved")
    return d


def restore(run, d, image="g.xen", extra=()):
    shutil.copy(d / "disk.saved", d / "disk.img")  # the disk as it was at the save
    return run(["restore", d / image, *extra], timeout=60)


def test_a_second_process_finishes_the_workload(run, saved):
    res = restore(run, saved, extra=["--expect-console", "suspend: done"])
    assert res.status == 0, res.describe()
    c = console(res)
    # A new domain: new domid, store and console ports renumbered.
    assert "suspend: resume 1: store port 1 -> 3, console port 2 -> 4, domid 1 -> 2" in c, \
        res.describe()
    assert "suspend: after resume 1: timers ok, pending ping ok, call ok, watch ok, " \
        "0 bad blocks" in c, res.describe()
    assert any(re.fullmatch(r"suspend: \d+ writes, \d+ completed, 0 lost, 0 duplicated, "
                            r"0 bad blocks; \d+ requests to the backend", line)
               for line in c), res.describe()
    assert any(re.fullmatch(r"blkfront: vbd 51712: [1-9]\d* requests? issued again after "
                            r"resume", line) for line in c), res.describe()
    assert "xensim: restored g as d2 from" in res.stderr, res.describe()
    assert res.stdout.splitlines()[-1].startswith("result: pass trace-hash=")


def test_restore_is_deterministic_and_seeded(run, saved):
    a = restore(run, saved, extra=["--quiet"])
    b = restore(run, saved, extra=["--quiet"])
    c = restore(run, saved, extra=["--quiet", "--seed", 11])
    for r in (a, b, c):
        assert r.status == 0, r.describe()
    assert a.stdout.splitlines()[-1] == b.stdout.splitlines()[-1]
    # The saved seed is the default; another seed schedules differently.
    assert a.stdout.splitlines()[-1] != c.stdout.splitlines()[-1]


def test_the_file_is_xens_stream(saved):
    data = (saved / "g.xen").read_bytes()
    recs = records(data)
    types = [NAME.get(t, hex(t)) for t, _, _ in recs]
    assert types[:6] == ["XENSIM_DOMAIN", "XENSIM_VCPU", "XENSIM_DEVICES", "XENSIM_TIME",
                         "X86_CPUID_POLICY", "STATIC_DATA_END"], types
    assert types[-4:] == ["X86_TSC_INFO", "HVM_PARAMS", "HVM_CONTEXT", "END"], types
    assert set(types[6:-4]) == {"PAGE_DATA"}, types
    pages = 0
    for t, _, body in recs:
        if t == REC["PAGE_DATA"]:
            count = struct.unpack_from("<I", body, 0)[0]
            pfns = struct.unpack_from(f"<{count}Q", body, 8)
            assert all(p >> 60 == 0 and p < 4096 for p in pfns)  # NOTAB, in 16 MiB
            assert len(body) == 8 + 8 * count + 4096 * count
            pages += count
        elif t == REC["X86_TSC_INFO"]:
            mode, khz, nsec = struct.unpack_from("<IIQ", body, 0)
            assert (mode, khz) == (1, 2000000) and 15_000_000 <= nsec < 16_000_000
        elif t == REC["HVM_PARAMS"]:
            count = struct.unpack_from("<I", body, 0)[0]
            params = dict(struct.iter_unpack("<QQ", body[8:]))
            assert len(params) == count
            assert params[HVM_PARAM_STORE_PFN] == 4096 - 8 + 4  # special pages 4 and 7
            assert params[HVM_PARAM_CONSOLE_PFN] == 4096 - 8 + 7
        elif t == REC["HVM_CONTEXT"]:
            entries, off = [], 0
            while True:
                code, inst, length = struct.unpack_from("<HHI", body, off)
                entries.append((code, inst, length))
                off += 8 + length
                if code == 0:
                    break
            assert off == len(body)
            # HEADER, a CPU entry (struct hvm_hw_cpu, 1032 bytes) for each of
            # the 2 vCPUs (CPU 1 is parked, with its context), END.
            assert entries == [(1, 0, 24), (2, 0, 1032), (2, 1, 1032), (0, 0, 0)]
            magic, version = struct.unpack_from("<II", body, 8)
            assert (magic, version) == (0x54381286, 1)
        elif t == REC["XENSIM_DEVICES"]:
            assert re.fullmatch(rb"vbd 51712 0 path=\"?/\S+/disk\.img\"?\n", body), body
    assert 10 < pages < 4096  # only pages with data: most of 16 MiB is zero


def test_the_scenario_restore_statement(run, saved):
    shutil.copy(saved / "disk.saved", saved / "disk.img")
    scn = saved / "restore.scn"
    # `other` comes first but is kept off the slot g was saved from.
    scn.write_text("scenario restore-it\n"
                   "domain other image=basic\n"
                   "restore g2 file=g.xen\n"
                   'expect g2 console-re "suspend: resume 1: .* domid 1 -> 2"\n'
                   'expect g2 console "suspend: done"\n'
                   "expect g2 end poweroff\n"
                   "expect other end poweroff\n")
    res = run(["run", scn, "--seed", 5], timeout=60)
    assert res.status == 0, res.describe()
    assert console(res, "g2"), res.describe()


def test_cli_save_then_restore(run, tmp_path):
    (tmp_path / "disk.img").write_bytes(bytes(4 * MIB))
    scn = tmp_path / "w.scn"
    # Another domain first: the guest is d2, and restored alone it is d1.
    scn.write_text(SAVE_SCN.format(before="domain a image=basic\n", at="1ms",
                                   file="unused.xen", domid=2).replace("save g", "#"))
    out = tmp_path / "cli.xen"
    res = run(["save", scn, "g", out, "--at", "12ms", "--quiet"], timeout=60)
    assert res.status == 0, res.describe()
    assert res.stdout.splitlines()[-1] == f"saved: g -> {out}", res.describe()
    shutil.copy(tmp_path / "disk.img", tmp_path / "disk.saved")
    res = restore(run, tmp_path, "cli.xen", ["--name", "back", "--expect-console",
                                              "suspend: done"])
    assert res.status == 0, res.describe()
    assert "suspend: resume 1: store port 1 -> 3, console port 2 -> 4, domid 2 -> 1" in \
        console(res, "back"), res.describe()
    # Usage errors and a domain that never suspends.
    assert run(["save", scn, "nosuch", out, "--at", "1ms"]).status == 2
    assert run(["save", scn, "g", out]).status == 2
    never = run(["save", scn, "a", tmp_path / "a.xen", "--at", "1ms", "--timeout", "5ms",
                 "--quiet"], timeout=60)
    assert never.status == 1, never.describe()
    assert not (tmp_path / "a.xen").exists()


def test_a_failed_save_leaves_the_guest_running(run, tmp_path):
    scn = tmp_path / "fail.scn"
    scn.write_text('domain g image=suspend memory=16 vcpus=2 cmdline="duration=40"\n'
                   "disk g size=4\n"
                   "save g at=15ms file=no/such/dir/g.xen\n"
                   'expect g console "suspend: cancel 1: store port 1 -> 1, console port '
                   '2 -> 2, domid 1 -> 1"\n'
                   'expect g console "suspend: done"\n'
                   "expect g suspends cancelled=1\n"
                   "expect g end poweroff\n")
    res = run(["run", scn, "--seed", 2], timeout=60)
    assert res.status == 0, res.describe()
    assert "xensim: save of g (d1) failed: " in res.stderr, res.describe()
    assert not list(tmp_path.glob("**/*.xen*"))


def damaged(data, how):
    """A copy of the stream damaged one way, and the error it must get."""
    recs = records(data)
    head = data[:40]
    kinds = [t for t, _, _ in recs]
    i_ctx, i_par = kinds.index(REC["HVM_CONTEXT"]), kinds.index(REC["HVM_PARAMS"])
    i_pg = kinds.index(REC["PAGE_DATA"])
    body = [(t, b) for t, _, b in recs]
    if how == "context-before-params":
        body[i_ctx], body[i_par] = body[i_par], body[i_ctx]
        bad = pack(body, head)
        off = records(bad)[i_par][1]
        return bad, f"record {i_par} (HVM_CONTEXT) at offset {off}: HVM_CONTEXT before " \
                    "HVM_PARAMS"
    if how == "pfn-out-of-range":
        t, b = body[i_pg]
        b = bytearray(b)
        struct.pack_into("<Q", b, 8 + 8 * 1, 5000)
        body[i_pg] = (t, bytes(b))
        return pack(body, head), f"record {i_pg} (PAGE_DATA) at offset {recs[i_pg][1]}: " \
                                 "pfn entry 1: pfn 0x1388 is outside the domain's 4096 pages"
    if how == "truncated":
        cut = recs[i_pg][1] + 8 + 5000
        return data[:cut], f"record {i_pg} (PAGE_DATA) at offset {recs[i_pg][1]}: " \
                           "truncated"
    if how == "unknown-mandatory":
        body.insert(2, (0x42, b"new"))
        bad = pack(body, head)
        return bad, f"record 2 (unknown mandatory type 0x00000042) at offset " \
                    f"{records(bad)[2][1]}: a mandatory record this reader does not know"
    if how == "misaligned":
        # The first record whose body needs padding, written without it:
        # the next header lands in the padding.  (Which record that is
        # depends on the image path's length, kept in XENSIM_DOMAIN.)
        i = next(k for k, (_, rb) in enumerate(body) if len(rb) % 8)
        t, b = body[i]
        raw = struct.pack("<II", t, len(b)) + b
        bad = pack(body[:i], head) + raw + pack(body[i + 1:], b"")
        return bad, f"record {i} ({NAME[t]}) at offset {recs[i][1]}: padding byte"
    if how == "bad-marker":
        return b"\xfe" + data[1:], "image header at offset 0: marker 0xfeffffffffffffff"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["context-before-params", "pfn-out-of-range", "truncated",
                                 "unknown-mandatory", "misaligned", "bad-marker"])
def test_damaged_images_are_refused_and_left_alone(run, saved, how):
    bad, want = damaged((saved / "g.xen").read_bytes(), how)
    path = saved / f"bad-{how}.xen"
    path.write_bytes(bad)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    res = run(["restore", path])
    assert res.status == 2, res.describe()
    assert want in res.stderr, f"wanted {want!r}\n{res.describe()}"
    assert "g| " not in res.stdout, res.describe()  # nothing ran
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_an_unknown_optional_record_is_skipped(run, saved):
    data = (saved / "g.xen").read_bytes()
    body = [(t, b) for t, _, b in records(data)]
    body.insert(1, (0x8000BEEF, b"somebody else's state"))
    (saved / "extra.xen").write_bytes(pack(body, data[:40]))
    res = restore(run, saved, "extra.xen", ["--quiet"])
    assert res.status == 0, res.describe()


@pytest.mark.parametrize("text,want", [
    ("save g at=1ms", "usage: save DOMAIN at=TIME file=PATH [timeout=TIME]"),
    ("save g at=1ms timeout=1s", "save g: needs file=PATH"),
    ("save g file=x.xen timeout=1s", "save g: needs at=TIME"),
    ("save g at=1ms file=a file=b", "save g: duplicate key 'file'"),
    ("save nosuch at=1ms file=x", "save: unknown domain 'nosuch'"),
    ("save g at=1ms file=x when=2", "save g: unknown key 'when'"),
    ("restore h", "usage: restore NAME file=PATH"),
    ("restore g file=x.xen", "duplicate domain 'g'"),
    ("restore h file=missing.xen", "/missing.xen: cannot open: No such file"),
])
def test_bad_save_and_restore_statements(run, tmp_path, text, want):
    scn = tmp_path / "bad.scn"
    scn.write_text(f"domain g image=basic\n{text}\n")
    res = run(["run", scn])
    assert res.status == 2, res.describe()
    assert "bad.scn:2: " in res.stderr and want in res.stderr, res.describe()


def test_the_same_run_saves_the_same_bytes(run, tmp_path):
    """No host address leaks into the file (the direct-stub hypercall page
    is left out): a save is a function of the scenario and seed."""
    (tmp_path / "save.scn").write_text(SAVE_SCN.format(before="", at="15ms",
                                                       file="g.xen", domid=1))
    digests = []
    for _ in range(2):
        (tmp_path / "disk.img").write_bytes(bytes(4 * MIB))
        res = run(["run", tmp_path / "save.scn", "--seed", 3], timeout=60)
        assert res.status == 0, res.describe()
        digests.append(hashlib.sha256((tmp_path / "g.xen").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
