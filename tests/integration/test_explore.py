"""`xensim explore FILE --seeds A..B`: a seed range, the first failing seed,
its replay command, and determinism checks."""

import re
import shlex

from conftest import ROOT

SCN = ROOT / "scenarios" / "pvh-boot.scn"

FAILING = """\
scenario always-fails
domain g image=basic
expect g console "basic: done"
expect g console "this line is never printed"
"""


def test_explore_passes_range_deterministically(run):
    res = run(["explore", SCN, "--seeds", "1..5", "--check-determinism"], timeout=120)
    assert res.status == 0, res.describe()
    last = res.stdout.splitlines()[-1]
    assert re.match(r"^explore: .*pvh-boot\.scn: all 5 seeds 1\.\.5 pass, each "
                    r"deterministic", last), res.describe()


def test_single_seed(run):
    res = run(["explore", SCN, "--seeds", "42"])
    assert res.status == 0, res.describe()
    assert "all 1 seeds 42..42 pass" in res.stdout


def test_failing_seed_prints_report_and_replay(run, tmp_path):
    scn = tmp_path / "f.scn"
    scn.write_text(FAILING)
    res = run(["explore", scn, "--seeds", "7..9"])
    assert res.status == 1, res.describe()
    out = res.stdout.splitlines()
    assert out[0] == "explore: seed 7 FAILS after 0 passing seeds", res.describe()
    assert any(line.startswith("FAIL ") and "never printed" in line for line in out)
    assert any(line.startswith("ok   ") and "basic: done" in line for line in out)
    result = [line for line in out if line.startswith("result: fail")]
    assert len(result) == 1, res.describe()
    replay = out[-1]
    assert replay.startswith("replay: "), res.describe()
    cmd = shlex.split(replay[len("replay: "):])
    assert cmd[1:] == ["run", str(scn), "--seed", "7"], replay
    # The replay command reproduces the same failing run, hash included.
    again = run(cmd[1:] + ["--quiet"])
    assert again.status == 1, again.describe()
    assert again.stdout.splitlines()[-1] == result[0]


def test_replay_names_guest_dir(run, tmp_path, guest_dir):
    scn = tmp_path / "f.scn"
    scn.write_text(FAILING)
    res = run(["explore", scn, "--seeds", "3..4", "--guest-dir", guest_dir])
    assert res.status == 1, res.describe()
    assert res.stdout.splitlines()[-1].endswith(f"--seed 3 --guest-dir {guest_dir}")


def test_bad_arguments(run, tmp_path):
    for args in (["explore"], ["explore", SCN, "--seeds", "5..1"],
                 ["explore", SCN, "--seeds", "x"], ["explore", SCN, "--seeds"],
                 ["explore", SCN, "--seeds", "..4"], ["explore", SCN, "--bogus"],
                 ["explore", SCN, SCN]):
        res = run(args)
        assert res.status == 2, res.describe()
        assert "xensim: error:" in res.stderr, res.describe()
    res = run(["explore", tmp_path / "missing.scn"])
    assert res.status == 2 and "missing.scn" in res.stderr, res.describe()
    bad = tmp_path / "bad.scn"
    bad.write_text("domain g image=nosuchimage\n")
    res = run(["explore", bad, "--seeds", "1..3"])
    assert res.status == 2 and "nosuchimage" in res.stderr, res.describe()
