"""Event channels, SMP, PV timers and IPIs end to end: the shipped scenarios
over many seeds (each run twice for determinism), the same counts from the
2-level and FIFO ABIs, the records a trace shows, and the deliberate guest
bugs (docs/guest-bugs.md) each caught by a scenario."""

import os
import re
import subprocess

import pytest

from conftest import BUILD, ROOT

SCENARIOS = ["ipi-routing", "timers", "evtchn-fifo", "evtchn-limits"]
SEEDS = os.environ.get("XENSIM_EVENT_SEEDS", "1..25")

# flag -> the scenarios that must fail with it (docs/guest-bugs.md)
BUGS = {
    "EVTCHN_NO_CLEAR": ["ipi-routing"],
    "IPI_WRONG_CPU": ["ipi-routing", "evtchn-fifo"],
    "FIFO_PRIO": ["evtchn-fifo"],
    "TIMER_EARLY": ["timers"],
}


def scn(name):
    return ROOT / "scenarios" / f"{name}.scn"


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_passes_every_seed_deterministically(run, name):
    res = run(["explore", scn(name), "--seeds", SEEDS, "--check-determinism"],
              timeout=600)
    assert res.status == 0, res.describe()
    assert "each deterministic" in res.stdout.splitlines()[-1], res.describe()


def console(res, dom):
    prefix = f"{dom}| "
    return [line[len(prefix):] for line in res.stdout.splitlines()
            if line.startswith(prefix)]


# The lines that count deliveries, which must not depend on the ABI.
COUNT_RE = re.compile(r"^(ipi: cpu\d+ received|ipi: ping matrix|ipi: storm (cpu\d+ got|total)|"
                      r"call:|bind_vcpu:|rendezvous:|tlb:|ipi: \d+ stray)")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_level_and_fifo_deliver_identical_counts(run, seed):
    two = run(["run", scn("ipi-routing"), "--seed", seed], timeout=120)
    fifo = run(["run", scn("evtchn-fifo"), "--seed", seed], timeout=120)
    assert two.status == 0, two.describe()
    assert fifo.status == 0, fifo.describe()
    for dom in ("vector", "percpu", "legacy"):
        a = [line for line in console(two, dom) if COUNT_RE.match(line)]
        b = [line for line in console(fifo, dom) if COUNT_RE.match(line)]
        assert len(a) >= 20, f"{dom}: too few count lines\n{two.describe()}"
        assert a == b, f"{dom}: 2-level and FIFO counts differ"


def test_trace_shows_event_machinery(run, tmp_path):
    trace = tmp_path / "t.trace"
    res = run(["run", scn("timers"), "--seed", 4, "--quiet", "--trace", trace],
              timeout=120)
    assert res.status == 0, res.describe()
    dump = run(["trace", "dump", trace], timeout=120)
    assert dump.status == 0, dump.describe()
    kinds = {line.split()[3] for line in dump.stdout.splitlines() if len(line.split()) > 3}
    for k in ("evtchn", "upcall", "timer", "vcpu", "idle", "trap"):
        assert k in kinds, f"no {k} record in the trace"
    assert re.search(r" upcall +vector=0x[0-9a-f]+ rip=0x[0-9a-f]+$", dump.stdout, re.M)
    assert re.search(r" timer +singleshot deadline=\d+ns$", dump.stdout, re.M)
    assert re.search(r" vcpu +up rip=0x[0-9a-f]+$", dump.stdout, re.M)
    assert re.search(r" trap +iretq ", dump.stdout, re.M)


@pytest.fixture(scope="module")
def bug_builds(tmp_path_factory):
    """Each deliberate bug built into its own guest directory (the guests are
    not sanitized, so one set of builds serves both suites)."""
    base = tmp_path_factory.mktemp("bugs")
    dirs = {}
    for bug in BUGS:
        out = base / bug
        proc = subprocess.run(
            ["make", "-s", f"BUILD={out}", f"GUEST_BUGS={bug}", f"{out}/guests/smp.elf"],
            cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        dirs[bug] = out / "guests"
    return dirs


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_each_deliberate_bug_is_caught(run, bug_builds, bug):
    for name in SCENARIOS:
        res = run(["run", scn(name), "--seed", 3, "--quiet", "--guest-dir", bug_builds[bug]],
                  timeout=120)
        assert res.status in (0, 1), res.describe()
        if name in BUGS[bug]:
            assert res.status == 1, f"{name} does not catch GUEST_BUG_{bug}\n{res.describe()}"
            assert any(line.startswith("FAIL ") for line in res.stdout.splitlines())
    # explore finds it at the first seed and says how to replay it.
    res = run(["explore", scn(BUGS[bug][0]), "--seeds", "1..5", "--guest-dir",
               bug_builds[bug]], timeout=120)
    assert res.status == 1, res.describe()
    assert res.stdout.splitlines()[-1].startswith("replay: "), res.describe()
