"""`make demo` is half of the project's set-up contract: its script must run
to the end and show each headline result."""
import os
import subprocess
from pathlib import Path

from conftest import BUILD, assert_no_sanitizer_report

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_to_the_end():
    env = dict(os.environ)
    env.pop("XENSIM_GUEST_DIR", None)
    res = subprocess.run(["bash", str(ROOT / "ci" / "demo"), str(BUILD)], cwd=ROOT, env=env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert_no_sanitizer_report(res.stderr, "ci/demo")
    out = res.stdout
    verdicts = [l for l in out.splitlines() if l.startswith("seed 7: result: pass")]
    assert len(verdicts) == 2 and verdicts[0] == verdicts[1], out
    assert "exit status: 4 (4 = domain crashed by a guest fault)" in out
    assert "exit status: 2 (2 = bad input)" in out
    assert "truncated" in res.stderr
    assert out.count("basic: done, powering off") >= 2, out  # xensim and QEMU
