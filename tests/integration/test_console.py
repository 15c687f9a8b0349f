"""The PV console end to end (docs/console.md): scenarios/console.scn over
many seeds (each run twice), the 20 KiB flood complete and in order, ring
output identical to console_io output, `xensim boot` with stdin piped in
as console input (at once, late, ended early), and --console-log."""

import os
import re
import subprocess
import time

import pytest

from conftest import ROOT, XENSIM, assert_no_sanitizer_report

SCN = ROOT / "scenarios" / "console.scn"
SEEDS = os.environ.get("XENSIM_CONSOLE_SEEDS", "1..20")
END_RE = re.compile(r"^xensim: domain guest ended: (\w+), vtime \d+ ns, "
                    r"trace-hash ([0-9a-f]{16})$")


def console(stdout, dom):
    prefix = f"{dom}| "
    return [line[len(prefix):] for line in stdout.splitlines() if line.startswith(prefix)]


def flood_line(i):
    """Line i of the console app's flood=N output (64 bytes with its \\n)."""
    return f"flood: {i:04d} " + "".join(chr(ord("a") + (i + j) % 26) for j in range(12, 63))


def boot_env():
    return {k: v for k, v in os.environ.items() if k != "XENSIM_GUEST_DIR"}


def boot(args, stdin_bytes, timeout=30):
    """xensim boot with stdin_bytes on a pipe: (status, stdout, stderr)."""
    proc = subprocess.run([str(XENSIM), "boot"] + [str(a) for a in args],
                          input=stdin_bytes, capture_output=True, timeout=timeout,
                          cwd=ROOT, env=boot_env())
    out = proc.stdout.decode("utf-8", "surrogateescape")
    err = proc.stderr.decode("utf-8", "surrogateescape")
    assert_no_sanitizer_report(err, f"boot {args}")
    return proc.returncode, out, err


def test_scenario_passes_every_seed_deterministically(run):
    res = run(["explore", SCN, "--seeds", SEEDS, "--check-determinism"], timeout=600)
    assert res.status == 0, res.describe()
    assert "each deterministic" in res.stdout.splitlines()[-1], res.describe()


@pytest.mark.parametrize("seed", [1, 7])
def test_flood_arrives_complete_and_in_order(run, seed):
    res = run(["run", SCN, "--seed", seed])
    assert res.status == 0, res.describe()
    lines = console(res.stdout, "echo")
    flood = [line for line in lines if re.match(r"^flood: \d{4} ", line)]
    assert flood == [flood_line(i) for i in range(20480 // 64)], res.describe()
    # All of it before what the guest printed next, nothing interleaved.
    first = lines.index(flood[0])
    assert lines[first:first + len(flood)] == flood
    waits = re.search(r"^flood: 20480 bytes in one write, (\d+) wait\(s\) for a full ring$",
                      lines[first + len(flood)])
    assert waits and int(waits[1]) >= 20480 // 2048 - 1, lines[first + len(flood)]


def test_sanitizer_reports_each_broken_ring(run):
    res = run(["run", SCN, "--seed", "2"])
    assert res.status == 0, res.describe()
    reports = [line for line in res.stderr.splitlines() if line.startswith("xensim: console:")]
    assert len(reports) == 3, res.describe()
    assert any("(badahead) out ring: out_prod" in r and "is 5000 bytes ahead" in r
               for r in reports)
    assert any("(badback) out ring:" in r and "moved backwards" in r for r in reports)
    assert any("(badin) in ring: in_cons" in r and "passed in_prod 11" in r for r in reports)


def test_ring_output_reads_as_console_io(run):
    """console=xen keeps printk on console_io: the same lines either way
    (the time: lines report virtual time, which the transports change)."""
    ring = run(["boot", "basic"])
    cio = run(["boot", "basic", "--cmdline", "console=xen"])
    assert ring.status == 0 and cio.status == 0, ring.describe() + cio.describe()
    keep = [line for line in ring.stdout.splitlines()
            if not line.startswith(("time:", "cmdline:"))]
    assert keep == [line for line in cio.stdout.splitlines()
                    if not line.startswith(("time:", "cmdline:"))]
    assert len(keep) > 10


@pytest.mark.parametrize("events", ["1", "0"])
def test_boot_stdin_pipe_is_console_input(events):
    status, out, err = boot(["console", "--cmdline", f"events={events}"],
                            b"hello world\nsecond line\r\nquit\n")
    assert status == 0, out + err
    how = "through the event handler" if events == "1" else "polled before event channels"
    assert out.splitlines() == [
        f"console: ready, input {how}",
        "echo: HELLO WORLD (11 bytes)",
        "echo: SECOND LINE (11 bytes)",
        "console: quit after 2 line(s), 30 bytes of input",
    ], out + err
    assert END_RE.match(err.splitlines()[-1])[1] == "poweroff"


def test_boot_waits_for_late_input():
    """A guest blocked on input waits for the next line instead of the run
    stopping with a deadlock."""
    proc = subprocess.Popen([str(XENSIM), "boot", "console"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env=boot_env())
    try:
        first = proc.stdout.readline()
        assert first == b"console: ready, input through the event handler\n"
        time.sleep(0.3)  # the guest is blocked now; xensim waits for input
        assert proc.poll() is None
        proc.stdin.write(b"late line\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"echo: LATE LINE (9 bytes)\n"
        proc.stdin.write(b"quit\n")
        proc.stdin.close()
        proc.wait(timeout=30)
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = err.decode()
    assert_no_sanitizer_report(err)
    assert proc.returncode == 0, err
    assert out.decode() == "console: quit after 1 line(s), 15 bytes of input\n"


def test_boot_end_of_input_stops_it():
    """No quit before the end of input: the guest waits for good, which is
    a deadlock once input is over (exit status 9)."""
    status, out, err = boot(["console"], b"only line\n")
    assert status == 9, out + err
    assert "echo: ONLY LINE (9 bytes)" in out.splitlines()
    assert "xensim: stopped: deadlock" in err
    assert END_RE.match(err.splitlines()[-1])[1] == "running"


def test_boot_without_input_is_deterministic(run):
    """/dev/null (what run() gives) is no input: reproducible runs."""
    a = run(["boot", "console"])
    b = run(["boot", "console"])
    assert a.status == b.status == 9, a.describe()
    assert "deadlock" in a.stderr
    assert END_RE.match(a.stderr.splitlines()[-1])[2] == \
        END_RE.match(b.stderr.splitlines()[-1])[2]


def test_console_log(run, tmp_path):
    log = tmp_path / "console.log"
    res = run(["run", SCN, "--seed", "1", "--console-log", log, "--quiet"])
    assert res.status == 0, res.describe()
    full = run(["run", SCN, "--seed", "1"])
    want = [line for line in full.stdout.splitlines() if re.match(r"^[\w-]+\| ", line)]
    assert log.read_text().splitlines() == want
    blog = tmp_path / "boot.log"
    b = run(["boot", "basic", "--console-log", blog])
    assert b.status == 0, b.describe()
    assert blog.read_text() == b.stdout
    bad = run(["boot", "basic", "--console-log", tmp_path / "no" / "such" / "dir"])
    assert bad.status == 2 and "cannot write console log" in bad.stderr, bad.describe()
