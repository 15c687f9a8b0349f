"""Suspend and resume (docs/suspend.md): scenarios/suspend-resume.scn over
many seeds and in the guest's other event, interrupt, hypercall and block
modes; a run with only cancelled suspends; a transaction held open across
a real resume and across a cancel; a guest that never answers; the
toolstack's refusals and bad statements; the trace; and every deliberate
suspend bug of docs/guest-bugs.md caught by the scenario.
"""

import os
import re
import subprocess

import pytest

from conftest import ROOT

SEEDS = os.environ.get("XENSIM_SUSPEND_SEEDS", "1..20")
SCN = ROOT / "scenarios" / "suspend-resume.scn"
BUGS = ("TIMER_NOT_REARMED", "STORE_PORT_CACHED", "BLK_LOST_INFLIGHT", "IPI_NOT_RESENT",
        "TXN_BLOCKS_SUSPEND")


def console(res, dom="g"):
    prefix = f"{dom}| "
    return [line[len(prefix):] for line in res.stdout.splitlines()
            if line.startswith(prefix)]


def scenario(tmp_path, body, name="s"):
    """A scenario file around body, with the suspend guest as g."""
    scn = tmp_path / f"{name}.scn"
    scn.write_text("scenario t\n" + body)
    return scn


def test_scenario_passes_every_seed_deterministically(run):
    res = run(["explore", SCN, "--seeds", SEEDS, "--check-determinism"], timeout=900)
    assert res.status == 0, res.describe()
    assert "each deterministic" in res.stdout.splitlines()[-1], res.describe()


def test_resumes_renumber_and_reissue(run):
    res = run(["run", SCN, "--seed", 7], timeout=120)
    assert res.status == 0, res.describe()
    lines = console(res)
    # Three real resumes, each in a new domain with new ports (m and peer,
    # the network workload, are d2 and d3; m's resumes take d5 and d7).
    resumes = [line for line in lines if line.startswith("suspend: resume ")]
    assert resumes == [
        "suspend: resume 1: store port 1 -> 3, console port 2 -> 4, domid 1 -> 4",
        "suspend: resume 2: store port 3 -> 5, console port 4 -> 6, domid 4 -> 6",
        "suspend: resume 3: store port 5 -> 7, console port 6 -> 8, domid 6 -> 8",
    ], res.describe()
    # Each resume issued the writes that were on the ring again, and none was
    # lost or completed twice.
    reissued = [int(m.group(1)) for m in
                (re.search(r"blkfront: vbd 51712: (\d+) requests? issued again", x)
                 for x in lines) if m]
    assert len(reissued) == 3 and all(n > 0 for n in reissued), res.describe()
    totals = next(x for x in lines if " writes, " in x)
    m = re.match(r"suspend: (\d+) writes, (\d+) completed, 0 lost, 0 duplicated, 0 bad", totals)
    assert m and m.group(1) == m.group(2), totals
    # The toolstack's side, in the log.
    assert "xensim: g resumed as d4 (was d1): store port 3, console port 4" in res.stderr
    assert res.stderr.count("suspend of g ") == 2
    assert res.stderr.count("cancelled: it runs on") == 3  # g twice, m once


MODES = [
    ("evtchn=fifo", ""),
    ("callback=percpu irq=cli", ""),
    ("callback=legacy", ""),
    ("evtchn=fifo callback=percpu", ""),
    ("persistent=1 order=2 queues=2 inflight=16", ""),
    ("", "hypercalls=vmcall"),
    ("", "vcpus=4"),
    ("", "vcpus=1"),
]


@pytest.mark.parametrize("cmdline,domain_keys", MODES)
def test_guest_modes(run, tmp_path, cmdline, domain_keys):
    text = SCN.read_text()
    text = text.replace('cmdline="duration=70 txn=1"',
                        f'{domain_keys} cmdline="duration=70 txn=1 {cmdline}"')
    vcpus = re.search(r"vcpus=(\d+)", domain_keys)
    if vcpus:
        text = text.replace("vcpus=2 ", "", 1)
        text = text.replace("suspend: 2 cpus", f"suspend: {vcpus.group(1)} cpus")
    scn = tmp_path / "modes.scn"
    scn.write_text(text)
    res = run(["explore", scn, "--seeds", "1..3", "--check-determinism"], timeout=300)
    assert res.status == 0, res.describe()


def test_cancelled_suspends_keep_the_domain(run, tmp_path):
    scn = scenario(tmp_path, """
domain g image=suspend memory=16 vcpus=2 cmdline="duration=40 txn=1"
disk g size=4
limit vtime=2s
suspend g at=15ms cancel
suspend g at=25ms cancel
expect g console "suspend: cancel 1: store port 1 -> 1, console port 2 -> 2, domid 1 -> 1"
expect g console "suspend: cancel 2: store port 1 -> 1, console port 2 -> 2, domid 1 -> 1"
expect g console-re "suspend: transaction held across the suspends: commit (OK|EAGAIN), then OK, value committed"
expect g console "suspend: 2 suspend requests, 0 resumes, 2 cancels, 0 aborted"
expect g no-console "issued again"
expect g suspends resumed=0 cancelled=2 failed=0
expect g end poweroff
""")
    res = run(["run", scn, "--seed", 2], timeout=120)
    assert res.status == 0, res.describe()
    assert "resumed as" not in res.stderr


def test_transaction_open_across_a_resume_is_run_again(run, tmp_path):
    scn = scenario(tmp_path, """
domain g image=suspend memory=16 vcpus=2 cmdline="duration=30 txn=1"
disk g size=4
suspend g at=15ms
expect g console "suspend: transaction held across the suspends: commit EAGAIN, then OK, value committed"
expect g suspends resumed=1 cancelled=0 failed=0
expect g end poweroff
""")
    res = run(["run", scn, "--seed", 4], timeout=120)
    assert res.status == 0, res.describe()


def test_guest_that_never_answers(run, tmp_path):
    """No control driver: the toolstack gives up after its timeout and takes
    its request back; the guest runs to its end untouched."""
    scn = scenario(tmp_path, """
domain g image=suspend memory=16 cmdline="duration=30 control=0"
disk g size=4
suspend g at=10ms timeout=5ms
expect g console "suspend: 0 suspend requests, 0 resumes, 0 cancels, 0 aborted"
expect g console "suspend: done"
expect g suspends resumed=0 cancelled=0 failed=1
expect g end poweroff
""")
    res = run(["run", scn, "--seed", 1], timeout=120)
    assert res.status == 0, res.describe()
    assert ("xensim: suspend of g (d1) failed: the guest did not acknowledge the request "
            "within 5000000 ns") in res.stderr, res.describe()


def test_toolstack_refusals(run, tmp_path):
    """A second request while one is under way, and one for a domain that has
    ended (h runs on meanwhile), fail without touching the guest."""
    scn = scenario(tmp_path, """
domain g image=suspend memory=16 vcpus=2 cmdline="duration=30"
domain h image=suspend memory=16 cmdline="duration=60 control=0"
disk g size=4
disk h size=4
limit vtime=2s
suspend g at=10ms
suspend g at=10ms cancel
suspend g at=45ms
expect g console "suspend: resume 1: store port 1 -> 3, console port 2 -> 4, domid 1 -> 3"
expect g console "suspend: 1 suspend requests, 1 resumes, 0 cancels, 0 aborted"
expect g suspends resumed=1 cancelled=0 failed=2
expect g end poweroff
expect h suspends resumed=0 cancelled=0 failed=0
expect h end poweroff
""")
    res = run(["run", scn, "--seed", 1], timeout=120)
    assert res.status == 0, res.describe()
    assert "a suspend of the domain is already in progress" in res.stderr, res.describe()
    assert "failed: the domain has ended (poweroff)" in res.stderr, res.describe()
    # And a wrong count fails the run, saying what the counts were.
    bad = scenario(tmp_path, scn.read_text().split("\n", 1)[1].replace(
        "failed=2", "failed=1"), name="bad")
    res = run(["run", bad, "--seed", 1], timeout=120)
    assert res.status == 1, res.describe()
    assert "g suspends resumed=1 cancelled=0 failed=1: g had resumed=1 cancelled=0 failed=2" \
        in res.stdout, res.describe()


BAD_STATEMENTS = [
    ("suspend h at=1ms", "suspend: unknown domain 'h'"),
    ("suspend g", "usage: suspend DOMAIN at=TIME [cancel] [timeout=TIME]"),
    ("suspend g cancel", "suspend g: needs at=TIME"),
    ("suspend g at=5", "suspend at: missing unit in '5'"),
    ("suspend g at=1ms at=2ms", "suspend g: duplicate key 'at'"),
    ("suspend g at=1ms cancel cancel", "suspend g: duplicate 'cancel'"),
    ("suspend g at=1ms now", "suspend g: unexpected 'now'"),
    ("suspend g at=1ms when=2ms", "suspend g: unknown key 'when'"),
    ("suspend g at=1ms timeout=0ms", "suspend timeout must be greater than 0"),
    ("expect g suspends", "expect g suspends: give at least one of resumed=N"),
    ("expect g suspends resumed=x", "expect suspends count: 'x' is not a number"),
    ("expect g suspends resumed=1 resumed=2", "expect g suspends: duplicate key 'resumed'"),
    ("expect g suspends frobbed=1", "expect g suspends: unexpected 'frobbed'"),
    ("expect g suspends failed=65", "expect suspends count 65 out of range 0..64"),
]


@pytest.mark.parametrize("stmt,msg", BAD_STATEMENTS)
def test_bad_statements(run, tmp_path, stmt, msg):
    scn = scenario(tmp_path, f"domain g image=suspend\n{stmt}\n")
    res = run(["run", scn], timeout=60)
    assert res.status == 2, res.describe()
    assert f"{scn}:3: {msg}" in res.stderr, res.describe()


def test_trace_records(run, tmp_path):
    trace = tmp_path / "s.trace"
    res = run(["run", SCN, "--seed", 2, "--quiet", "--trace", trace], timeout=120)
    assert res.status == 0, res.describe()
    dump = run(["trace", "dump", trace], timeout=120)
    assert dump.status == 0, dump.describe()
    # g's records: g is d1, then d4, d6 and d8 (m, the network workload,
    # is d2, then d5 and d7).
    records = [" ".join(line.split()[3:]) for line in dump.stdout.splitlines()
               if len(line.split()) > 3 and line.split()[3] == "suspend"
               and line.split()[2].split(".")[0] in ("d1", "d4", "d6", "d8")]
    assert records == [
        "suspend requested", "suspend suspended", "suspend resumed as d4",
        "suspend requested", "suspend suspended", "suspend cancelled",
        "suspend requested", "suspend suspended", "suspend resumed as d6",
        "suspend requested", "suspend suspended", "suspend cancelled",
        "suspend requested", "suspend suspended", "suspend resumed as d8",
    ], records


@pytest.fixture(scope="module")
def bug_builds(tmp_path_factory):
    """Each deliberate suspend bug built into its own guest directory."""
    base = tmp_path_factory.mktemp("suspend-bugs")
    dirs = {}
    for bug in BUGS:
        out = base / bug
        proc = subprocess.run(
            ["make", "-s", f"BUILD={out}", f"GUEST_BUGS={bug}", f"{out}/guests/suspend.elf",
             f"{out}/guests/migrate.elf"],
            cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        dirs[bug] = out / "guests"
    return dirs


@pytest.mark.parametrize("bug", BUGS)
def test_each_deliberate_bug_is_caught(run, bug_builds, bug):
    res = run(["run", SCN, "--seed", 3, "--quiet", "--guest-dir", bug_builds[bug]],
              timeout=300)
    assert res.status == 1, f"suspend-resume.scn does not catch GUEST_BUG_{bug}\n" \
        + res.describe()
    assert any(line.startswith("FAIL ") for line in res.stdout.splitlines())
