"""Grant tables between guests (scenarios/gnttab.scn): data exchanged by
map and by copy and verified byte for byte, the read-only grant enforced,
Xen's per-op errors, and the leak check naming every grant reference the
leaking backend kept mapped.  A leak nobody expected fails the run."""

import os
import re

from conftest import ROOT

SCN = ROOT / "scenarios" / "gnttab.scn"
SEEDS = os.environ.get("XENSIM_EVENT_SEEDS", "1..25")


def console(res, dom):
    prefix = f"{dom}| "
    return [line[len(prefix):] for line in res.stdout.splitlines()
            if line.startswith(prefix)]


def test_gnttab_scenario_passes_every_seed_deterministically(run):
    res = run(["explore", SCN, "--seeds", SEEDS, "--check-determinism"], timeout=600)
    assert res.status == 0, res.describe()
    assert "each deterministic" in res.stdout.splitlines()[-1], res.describe()


def test_data_verified_both_ways_with_both_table_versions(run):
    res = run(["run", SCN, "--seed", 7], timeout=60)
    assert res.status == 0, res.describe()
    for front, nback in (("front", 2), ("front2", 1)):
        lines = console(res, front)
        checks = [line for line in lines if "written through" in line]
        assert len(checks) == nback, res.describe()
        for line in checks:
            assert re.findall(r"(\d+) bad", line) == ["0"] * 4, line
    assert "grant table v2" in console(res, "front2")[0]


def test_leak_report_names_each_reference_on_the_log(run):
    res = run(["run", SCN, "--seed", 1], timeout=60)
    assert res.status == 0, res.describe()
    refs = sorted(int(m.group(1)) for m in re.finditer(
        r"gnttab leak: d3 \(leaker\) still maps grant ref (\d+) of d1", res.stderr))
    assert refs == list(range(17, 25)), res.describe()
    # Only the leaker is blamed: the frontend and the good backends are clean.
    assert "d2 (back) still maps" not in res.stderr
    assert "d5 (back2) still maps" not in res.stderr


def test_unexpected_leak_fails_the_run(run, tmp_path):
    text = SCN.read_text()
    text = "\n".join(line for line in text.splitlines()
                     if not line.startswith("expect leaker report"))
    scn = tmp_path / "gnttab-unexpected.scn"
    scn.write_text(text + "\n")
    res = run(["run", scn, "--seed", 1], timeout=60)
    assert res.status == 1, res.describe()
    assert re.search(r'^FAIL .*gnttab-unexpected\.scn: leaker: unexpected sanitizer report: '
                     r'"xensim: gnttab leak: d3 \(leaker\) still maps grant ref 17 of d1',
                     res.stdout, re.M), res.describe()
    assert res.stdout.splitlines()[-1].startswith("result: fail")
