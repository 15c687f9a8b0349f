"""`xensim trace dump`: records, the trace hash, and refusal of damaged files."""

import re

import pytest

from conftest import end_line

REC_RE = re.compile(r"^ *(\d+) +(\d+)ns d(\d+)\.v(\d+) (\S+) *(.*)$")
FOOTER_RE = re.compile(r"^# (\d+) records, trace-hash=([0-9a-f]{16})$")
HASH_RE = re.compile(r"trace-hash ([0-9a-f]{16})$")
HEADER_BYTES = 16  # "XSTRACE1" + 8 bytes; the first record starts here


def unescape(s):
    return re.sub(r'\\(x[0-9a-f]{2}|n|"|\\)',
                  lambda m: {"n": "\n", '"': '"', "\\": "\\"}.get(m[1]) or
                  chr(int(m[1][1:], 16)), s)


@pytest.fixture
def traced_boot(run, tmp_path):
    path = tmp_path / "boot.trace"
    res = run(["boot", "basic", "--cmdline", "irq=cli", "--trace", path])
    assert res.status == 0, res.describe()
    return res, path


def test_dump_hash_matches_boot(run, traced_boot):
    boot, path = traced_boot
    boot_hash = HASH_RE.search(end_line(boot))[1]
    res = run(["trace", "dump", path])
    assert res.status == 0, res.describe()
    assert res.stderr == ""
    lines = res.stdout.splitlines()
    m = FOOTER_RE.match(lines[-1])
    assert m, lines[-1]
    assert m[2] == boot_hash
    records = lines[:-1]
    assert int(m[1]) == len(records)
    parsed = [REC_RE.match(line) for line in records]
    assert all(parsed), [r for r, p in zip(records, parsed) if not p]
    # seq counts from 0 without gaps, virtual time never goes back.
    assert [int(p[1]) for p in parsed] == list(range(len(records)))
    vt = [int(p[2]) for p in parsed]
    assert vt == sorted(vt)
    kinds = [p[5] for p in parsed]
    assert kinds[0] == "domain-create"
    assert re.fullmatch(r'memory=67108864 vcpus=1 entry=0x1[0-9a-f]{5} "guest"', parsed[0][6])
    # code= appears only when the guest set SCHEDOP_shutdown_code; basic doesn't.
    assert "end" in kinds and parsed[kinds.index("end")][6] == "poweroff"
    # The end record's time is the vtime the boot reported.
    boot_vtime = int(re.search(r"vtime (\d+) ns", end_line(boot))[1])
    assert vt[kinds.index("end")] == boot_vtime
    # Console records hold exactly what the guest printed.
    console = "".join(unescape(re.fullmatch(r'"(.*)"', p[6])[1])
                      for p in parsed if p[5] == "console")
    assert console == boot.stdout


def test_dump_is_deterministic_and_shows_hypercalls(run, traced_boot):
    _, path = traced_boot
    a = run(["trace", "dump", path])
    b = run(["trace", "dump", path])
    assert a.stdout == b.stdout
    assert re.search(r" hypercall +sched_op\(29\) 0x2, 0x[0-9a-f]+, 0, 0, 0 -> 0$",
                     a.stdout, re.M), a.stdout
    assert re.search(r" trap +wrmsr a=0x40000000 b=0x1[0-9a-f]{2}000 -> 0$", a.stdout, re.M)


def test_scenario_trace_hash_matches_result(run, tmp_path):
    scn = tmp_path / "t.scn"
    scn.write_text("domain g image=basic\nexpect g end poweroff\n")
    path = tmp_path / "run.trace"
    res = run(["run", scn, "--seed", "4", "--trace", path, "--quiet"])
    assert res.status == 0, res.describe()
    h = re.search(r"^result: pass trace-hash=([0-9a-f]{16}) ", res.stdout, re.M)[1]
    dump = run(["trace", "dump", path])
    assert FOOTER_RE.match(dump.stdout.splitlines()[-1])[2] == h


def test_truncated_mid_record(run, traced_boot, tmp_path):
    _, path = traced_boot
    cut = tmp_path / "cut.trace"
    cut.write_bytes(path.read_bytes()[:HEADER_BYTES + 40])
    res = run(["trace", "dump", cut])
    assert res.status == 2, res.describe()
    assert res.stderr.splitlines() == [
        f"xensim: error: {cut}: truncated record at offset {HEADER_BYTES}"], res.describe()


@pytest.mark.parametrize("drop", [1, 3, 50])
def test_truncated_at_end(run, traced_boot, tmp_path, drop):
    """Cut inside the last record (its payload or its header)."""
    _, path = traced_boot
    data = path.read_bytes()
    cut = tmp_path / "cut.trace"
    cut.write_bytes(data[:len(data) - drop])
    res = run(["trace", "dump", cut])
    assert res.status == 2, res.describe()
    err = res.stderr.splitlines()
    assert len(err) == 1, res.describe()
    assert re.fullmatch(rf"xensim: error: {re.escape(str(cut))}: truncated (record|payload) "
                        r"at offset \d+", err[0]), res.describe()
    # No footer claims a hash for a damaged trace.
    assert "trace-hash=" not in res.stdout


@pytest.mark.parametrize("content", [b"", b"hello world\n", b"XSTRACE", b"\0" * 200],
                         ids=["empty", "text", "short-magic", "zeros"])
def test_not_a_trace(run, tmp_path, content):
    path = tmp_path / "bogus.trace"
    path.write_bytes(content)
    res = run(["trace", "dump", path])
    assert res.status == 2, res.describe()
    assert res.stderr.splitlines() == [
        f"xensim: error: {path}: not an xensim trace (bad header)"], res.describe()
    assert res.stdout == ""


def test_dump_missing_file(run, tmp_path):
    res = run(["trace", "dump", tmp_path / "none.trace"])
    assert res.status == 2, res.describe()
    assert res.stderr.splitlines() == [
        f"xensim: error: {tmp_path / 'none.trace'}: No such file or directory"]
