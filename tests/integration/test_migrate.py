"""Live migration (docs/migration.md, "Live migration").

scenarios/migrate.scn over many seeds; an in-process migration with its
rounds checked in the CSV log against the stream's own arithmetic; two
xensim processes joined by a pipe and by a FIFO (`xensim migrate-send` |
`xensim restore -`), the stream read independently (XENSIM_LIVE first,
pages resent in later rounds, XENSIM_SUSPEND after the last round);
migrations that fail -- the link cut in pre-copy and in the stop-and-copy,
a destination file that cannot be opened, a stream cut between two
processes, a guest that never suspends -- leave the source running with
nothing lost, and the error names the record and its offset; and the
same seed gives the same trace, CSV and stream bytes.
"""

import csv
import io
import os
import re
import struct
import subprocess

import pytest

from conftest import ROOT, XENSIM, assert_no_sanitizer_report

SEEDS = os.environ.get("XENSIM_MIGRATE_SEEDS", "1..20")
SCN = ROOT / "scenarios" / "migrate.scn"
MIB = 1 << 20
REC = {"END": 0x0, "PAGE_DATA": 0x1, "X86_TSC_INFO": 0x8, "HVM_CONTEXT": 0x9,
       "HVM_PARAMS": 0xa, "STATIC_DATA_END": 0x10, "X86_CPUID_POLICY": 0x11,
       "XENSIM_DOMAIN": 0x80585301, "XENSIM_VCPU": 0x80585302,
       "XENSIM_DEVICES": 0x80585303, "XENSIM_TIME": 0x80585304,
       "XENSIM_LIVE": 0x80585305, "XENSIM_SUSPEND": 0x80585306}
NAME = {v: k for k, v in REC.items()}

# One migrating guest with a disk (a file, so a second process sees it),
# no network: the peer could not follow it to another process.
SOLO = """scenario solo
domain g image=migrate memory=16 vcpus=2 cmdline="duration=40 rate=30 wss=256"
disk g path=disk.img
limit vtime=3s
{extra}
"""


def console(res, dom="g"):
    prefix = f"{dom}| "
    return [line[len(prefix):] for line in res.stdout.splitlines()
            if line.startswith(prefix)]


def stderr_console(res, dom="g"):
    prefix = f"{dom}| "
    return [line[len(prefix):] for line in res.stderr.splitlines()
            if line.startswith(prefix)]


def solo(tmp_path, extra=""):
    (tmp_path / "disk.img").write_bytes(bytes(4 * MIB))
    scn = tmp_path / "solo.scn"
    scn.write_text(SOLO.format(extra=extra))
    return scn


def records(data):
    """(type, offset, body) of each record, read with the spec's layout only."""
    marker, ident, version = struct.unpack_from(">QII", data, 0)
    assert (marker, ident, version) == (2**64 - 1, 0x58454E46, 3)
    out, off = [], 40
    while off < len(data):
        rtype, length = struct.unpack_from("<II", data, off)
        out.append((rtype, off, data[off + 8:off + 8 + length]))
        off += 8 + (length + 7) // 8 * 8
    assert off == len(data)
    return out


def pfns_of(body):
    count = struct.unpack_from("<I", body, 0)[0]
    return [p & ((1 << 52) - 1) for p in struct.unpack_from(f"<{count}Q", body, 8)]


def summary(res, n):
    """Migration n's summary line in the log."""
    for line in res.stderr.splitlines():
        if line.startswith(f"xensim: migration {n} of "):
            return line
    raise AssertionError(f"no summary of migration {n}\n{res.describe()}")


def test_scenario_passes_every_seed_deterministically(run):
    res = run(["explore", SCN, "--seeds", SEEDS, "--check-determinism"], timeout=1200)
    assert res.status == 0, res.describe()
    assert "each deterministic" in res.stdout.splitlines()[-1], res.describe()


def test_in_process_migration_and_its_log(run, tmp_path):
    log = tmp_path / "rounds.csv"
    res = run(["run", SCN, "--seed", 7, "--migrate-log", log], timeout=120)
    assert res.status == 0, res.describe()
    c = console(res)
    assert any(re.fullmatch(r"migrate: migration 1: domid 1 -> 3, store port 1 -> 3, "
                            r"console port 2 -> 4; 0 of 512 pages wrong, 0 blocks wrong",
                            line) for line in c), res.describe()
    assert "migrate: done" in c and "migrate: done" in console(res, "peer")
    # Every round in the log, and the summaries with the downtimes.
    assert re.search(r"xensim: migrate g \(d1\) round 1: \d+ pages, \d+ bytes, \d+ ns",
                     res.stderr), res.describe()
    down = {}
    for n in (1, 3):
        m = re.search(r"suspended at (\d+) ns, d\d+ first ran at (\d+) ns: downtime "
                      r"(\d+) ns$", summary(res, n))
        assert m, summary(res, n)
        assert int(m[2]) - int(m[1]) == int(m[3]) > 100_000  # at least the toolstack's
        down[n] = int(m[3])
    assert "failed: the link dropped after 200000 bytes of stream (cut=200000); the " \
        "destination refused it: record 4 (PAGE_DATA) at offset" in summary(res, 2)

    rows = list(csv.DictReader(io.StringIO(log.read_text())))
    assert rows and list(rows[0]) == [
        "migration", "domain", "round", "phase", "start_ns", "duration_ns", "pages_sent",
        "pages_dirtied", "bytes", "downtime_ns", "result"]
    by = {}
    for r in rows:
        by.setdefault(int(r["migration"]), []).append(r)
    assert sorted(by) == [1, 2, 3]
    bandwidth = {1: 1_250_000_000, 2: 1_250_000_000, 3: 500_000_000}
    starts = {1: 20_000_000, 3: 60_000_000}
    for n, rs in by.items():
        assert [int(r["round"]) for r in rs] == list(range(1, len(rs) + 1))
        assert [r["phase"] for r in rs] == ["pre-copy"] * (len(rs) - 1) + ["stop-and-copy"]
        assert {r["domain"] for r in rs} == {"g"}
        for r in rs:
            sent, nbytes = int(r["pages_sent"]), int(r["bytes"])
            # Each page costs 4096 bytes plus its pfn; a round's time is its
            # bytes at the link's bandwidth.
            assert nbytes >= sent * 4104
            assert int(r["duration_ns"]) == max(1, nbytes * 10**9 // bandwidth[n])
        pre = rs[:-1]
        for a, b in zip(pre, pre[1:]):
            # The next round sends what was dirtied while this one was sent,
            # and starts when this one's bytes are through (at the first VM
            # exit from then on).
            assert int(b["pages_sent"]) == int(a["pages_dirtied"])
            due = int(a["start_ns"]) + int(a["duration_ns"])
            assert 0 <= int(b["start_ns"]) - due < 50_000, (a, b)
        if n in starts:
            assert 0 <= int(rs[0]["start_ns"]) - starts[n] < 50_000
            assert int(rs[0]["pages_sent"]) > 512  # the whole working set, at least
            assert rs[-1]["result"] == "migrated"
            assert int(rs[-1]["downtime_ns"]) == down[n]
            assert all(r["downtime_ns"] == "" for r in pre)
    # The first stops on the threshold, the third on its 3 rounds.
    assert len(by[1]) >= 2 and int(by[1][-2]["pages_dirtied"]) <= 50
    assert len(by[3]) == 4
    assert [r["result"] for r in by[2]] == ["failed"] and by[2][0]["downtime_ns"] == ""


def pipeline(tmp_path, send_args, recv_args, middle=None):
    """migrate-send | [middle |] restore -: both results."""
    send = subprocess.Popen([str(XENSIM), "migrate-send", *map(str, send_args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    src = send.stdout
    mid = None
    if middle:
        mid = subprocess.Popen(middle, stdin=src, stdout=subprocess.PIPE)
        src.close()
        src = mid.stdout
    recv = subprocess.Popen([str(XENSIM), "restore", "-", *map(str, recv_args)],
                            stdin=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path)
    src.close()
    rout, rerr = recv.communicate(timeout=120)
    _, serr = send.communicate(timeout=120)
    if mid:
        mid.wait(timeout=10)
    for err in (serr, rerr):
        assert_no_sanitizer_report(err.decode())
    return ((send.returncode, serr.decode()),
            (recv.returncode, rout.decode(), rerr.decode()))


def test_two_processes_through_a_pipe(tmp_path):
    scn = solo(tmp_path)
    (ss, serr), (rs, rout, rerr) = pipeline(
        tmp_path, [scn, "g", "--at", "15ms", "--bandwidth", 800_000_000],
        ["--expect-console", "migrate: done"])
    assert ss == 0 and serr.splitlines()[-1] == "migrate-send: g sent to stdout", serr
    assert rs == 0, rout + rerr
    lines = [line[3:] for line in rout.splitlines() if line.startswith("g| ")]
    # A new domain in the second process; every page and block as written.
    assert any(re.fullmatch(r"migrate: migration 1: domid 1 -> 2, store port 1 -> 3, "
                            r"console port 2 -> 4; 0 of 256 pages wrong, 0 blocks wrong",
                            line) for line in lines), rout
    assert any(re.fullmatch(r"migrate: blk: \d+ writes, \d+ completed, 0 lost, "
                            r"0 duplicated, 0 bad blocks", line) for line in lines), rout
    assert "migrate: done" in lines, rout
    m = re.search(r"stdin: a live migration's stream: (\d+) pre-copy rounds; g suspended "
                  r"at (\d+) ns and resumes here at (\d+) ns: downtime (\d+) ns", rerr)
    assert m and int(m[1]) >= 1 and int(m[3]) - int(m[2]) == int(m[4]), rerr
    # The sender's model of the same downtime.
    assert f"all sent at {m[3]} ns: downtime {m[4]} ns" in serr, serr


def test_the_live_stream(run, tmp_path):
    scn = solo(tmp_path)
    out = tmp_path / "g.live"
    res = run(["migrate-send", scn, "g", "--at", "15ms", "--to", out, "--quiet"],
              timeout=60)
    assert res.status == 0, res.describe()
    recs = records(out.read_bytes())
    types = [NAME.get(t, hex(t)) for t, _, _ in recs]
    assert types[:5] == ["XENSIM_DOMAIN", "XENSIM_LIVE", "X86_CPUID_POLICY",
                         "STATIC_DATA_END", "PAGE_DATA"], types
    last_page = max(i for i, t in enumerate(types) if t == "PAGE_DATA")
    assert types[last_page + 1:] == [
        "XENSIM_SUSPEND", "XENSIM_VCPU", "XENSIM_DEVICES", "XENSIM_TIME", "X86_TSC_INFO",
        "HVM_PARAMS", "HVM_CONTEXT", "END"], types
    # Pages dirtied during a round go again in a later one.
    seen, again = set(), set()
    for t, _, body in recs:
        if t == REC["PAGE_DATA"]:
            for p in pfns_of(body):
                (again if p in seen else seen).add(p)
    assert again and len(seen) > 256, (len(seen), len(again))
    live = next(body for t, _, body in recs if t == REC["XENSIM_LIVE"])
    version, rounds, threshold, bandwidth, start = struct.unpack("<IIQQQ", live)
    assert (version, rounds, threshold, bandwidth, start) == (1, 5, 50, 1_250_000_000,
                                                              15_000_000)
    susp = next(body for t, _, body in recs if t == REC["XENSIM_SUSPEND"])
    vcpu, nrounds, hcall, suspended = struct.unpack("<IIQQ", susp)
    tsc = next(body for t, _, body in recs if t == REC["X86_TSC_INFO"])
    _, khz, nsec = struct.unpack_from("<IIQ", tsc)
    assert vcpu < 2 and nrounds >= 1 and 15_000_000 < suspended < nsec
    # The same file restores in a second process (read as a file this time).
    res = run(["restore", out, "--expect-console", "migrate: done"], timeout=60)
    assert res.status == 0, res.describe()
    assert "g.live: a live migration's stream" in res.stderr, res.describe()
    # A saved (not live) image must not repeat a page: the same pages without
    # XENSIM_LIVE are refused, naming the record.
    data = out.read_bytes()
    off = next(o for t, o, _ in recs if t == REC["XENSIM_LIVE"])
    stripped = data[:off] + data[off + 8 + 32:]
    bad = tmp_path / "stripped.xen"
    bad.write_bytes(stripped)
    res = run(["restore", bad], timeout=60)
    assert res.status == 2, res.describe()
    assert re.search(r"record \d+ \(PAGE_DATA\) at offset \d+: pfn entry \d+: pfn 0x[0-9a-f]+ "
                     r"was already sent \(duplicate page\)", res.stderr), res.describe()


def test_through_a_fifo(tmp_path):
    scn = solo(tmp_path)
    fifo = tmp_path / "link"
    os.mkfifo(fifo)
    send = subprocess.Popen([str(XENSIM), "migrate-send", scn, "g", "--at", "10ms", "--to",
                             fifo, "--quiet"], stderr=subprocess.PIPE, cwd=tmp_path)
    recv = subprocess.run([str(XENSIM), "restore", fifo, "--quiet"], capture_output=True,
                          timeout=120, cwd=tmp_path)
    _, serr = send.communicate(timeout=120)
    assert send.returncode == 0, serr.decode()
    assert recv.returncode == 0, recv.stderr.decode()
    assert recv.stdout.decode().splitlines()[-1].startswith("result: pass")


def test_a_failed_migration_loses_nothing(run, tmp_path):
    scn = solo(tmp_path, "migrate g at=10ms cut=100000\n"
                         "migrate g at=20ms rounds=0 cut=50000\n"
                         "migrate g at=30ms file=/nonexistent/dir/g.live\n"
                         "expect g migrates ok=0 failed=3\n"
                         'expect g console "migrate: cancel 1: domid 1 -> 1"\n'
                         'expect g console "migrate: done"\n'
                         'expect g no-console "FAIL"\n'
                         "expect g end poweroff\n")
    res = run(["run", scn, "--seed", 2], timeout=60)
    assert res.status == 0, res.describe()
    c = console(res)
    # Only the stop-and-copy one had suspended the guest: it was cancelled.
    assert "migrate: 1 suspend requests, 0 migrations, 1 cancels" in c, res.describe()
    assert re.search(r"migration 1 of g failed: the link dropped after 100000 bytes of "
                     r"stream \(cut=100000\); the destination refused it: record \d+ "
                     r"\(PAGE_DATA\) at offset \d+: truncated", summary(res, 1))
    assert re.search(r"migration 2 of g failed: the link dropped after 50000 bytes .* "
                     r"record \d+ \(PAGE_DATA\) at offset \d+: truncated", summary(res, 2))
    assert "xensim: suspend of g (d1) cancelled: it runs on" in res.stderr
    assert summary(res, 3) == "xensim: migration 3 of g failed: cannot open " \
        "/nonexistent/dir/g.live for the stream: No such file or directory"


def test_one_migration_of_a_domain_at_a_time(run, tmp_path):
    scn = solo(tmp_path, "migrate g at=10ms\n"
                         "migrate g at=10100us\n"
                         "expect g migrates ok=1 failed=1\n"
                         'expect g console "migrate: done"\n'
                         "expect g end poweroff\n")
    res = run(["run", scn], timeout=60)
    assert res.status == 0, res.describe()
    assert summary(res, 2) == "xensim: migration 2 of g failed: migration 1 of the " \
        "domain is still under way"
    assert re.match(r"xensim: migration 1 of g: d1 -> d2, ", summary(res, 1))


def test_a_stream_cut_between_processes(tmp_path):
    scn = solo(tmp_path)
    (ss, serr), (rs, rout, rerr) = pipeline(
        tmp_path, [scn, "g", "--at", "10ms"], ["--quiet"], middle=["head", "-c", "300000"])
    # The destination names the record the cut fell in; the source saw the
    # broken pipe and its guest ran on to the end.
    assert rs == 2, rerr
    assert re.search(r"xensim: error: stdin: record \d+ \(PAGE_DATA\) at offset \d+: "
                     r"truncated: the body needs \d+ bytes", rerr), rerr
    assert ss == 1, serr
    assert re.search(r"migration of g \(d1\) failed: writing the stream to stdout at byte "
                     r"\d+: Broken pipe; g runs on", serr), serr
    lines = [line[3:] for line in serr.splitlines() if line.startswith("g| ")]
    assert "migrate: done" in lines and not any("FAIL" in line for line in lines), serr


def test_a_guest_that_never_suspends(run, tmp_path):
    scn = tmp_path / "never.scn"
    scn.write_text("scenario never\n"
                   'domain g image=suspend memory=16 cmdline="duration=30 control=0"\n'
                   "disk g size=4\n"
                   "migrate g at=5ms timeout=5ms\n"
                   "expect g migrates failed=1\n"
                   'expect g console "suspend: done"\n'
                   "expect g end poweroff\n")
    res = run(["run", scn], timeout=60)
    assert res.status == 0, res.describe()
    assert "the guest did not suspend within 5000000 ns" in summary(res, 1)


def test_same_seed_same_everything(run, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    ra = run(["run", SCN, "--seed", 3, "--quiet", "--migrate-log", a], timeout=120)
    rb = run(["run", SCN, "--seed", 3, "--quiet", "--migrate-log", b], timeout=120)
    rc = run(["run", SCN, "--seed", 4, "--quiet"], timeout=120)
    for r in (ra, rb, rc):
        assert r.status == 0, r.describe()
    assert ra.stdout.splitlines()[-1] == rb.stdout.splitlines()[-1]
    assert ra.stdout.splitlines()[-1] != rc.stdout.splitlines()[-1]
    assert a.read_bytes() == b.read_bytes()
    # The stream too, byte for byte, from two processes.
    scn = solo(tmp_path)
    for name in ("s1", "s2"):
        r = run(["migrate-send", scn, "g", "--at", "12ms", "--to", tmp_path / name,
                 "--quiet", "--seed", 9], timeout=60)
        assert r.status == 0, r.describe()
    assert (tmp_path / "s1").read_bytes() == (tmp_path / "s2").read_bytes()


def test_usage_errors(run, tmp_path):
    scn = solo(tmp_path)
    for args, want in (
            (["migrate-send", scn, "g"], "when? (--at TIME"),
            (["migrate-send", scn, "nosuch", "--at", "1ms"], "no such domain"),
            (["migrate-send", scn, "g", "--at", "1ms", "--bandwidth", "0"], "--bandwidth"),
            (["migrate-send", scn, "g", "--at", "1ms", "--rounds", "x"], "--rounds"),
            (["migrate-send", scn], "usage: xensim migrate-send"),
            (["run", scn, "--migrate-log"], "--migrate-log needs a file name")):
        res = run(args)
        assert res.status == 2 and want in res.stderr, res.describe()
    # A statement the parser refuses names its line.
    bad = tmp_path / "bad.scn"
    bad.write_text("domain g image=migrate\nmigrate g at=1ms bandwidth=0\n")
    res = run(["run", bad])
    assert res.status == 2 and "bad.scn:2:" in res.stderr, res.describe()
