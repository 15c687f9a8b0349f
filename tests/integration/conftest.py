"""Shared fixtures for the xensim integration tests.

XENSIM names the binary (default build/xensim) and XENSIM_BUILD the build
directory (default build); `make integration` and `make SAN=1 integration`
set both.  Relative paths are taken from the repository root, so the suite
runs the same from any directory.

Every xensim run goes through run(), which fails the test at once if the
sanitizers (ASan/UBSan build) reported anything on stderr.
"""

import os
import signal
import subprocess
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _from_root(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else ROOT / p


XENSIM = _from_root(os.environ.get("XENSIM", "build/xensim"))
BUILD = _from_root(os.environ.get("XENSIM_BUILD", "build"))
GUEST_DIR = BUILD / "guests"
BASIC_ELF = GUEST_DIR / "basic.elf"

SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "UndefinedBehaviorSanitizer")


class Result(NamedTuple):
    """What one xensim run did.  status is the exit status, -N when killed by
    signal N, None when it had to be killed after the timeout."""
    status: Optional[int]
    stdout: str
    stderr: str
    cmd: Sequence[str] = ()

    def describe(self) -> str:
        st = "TIMED OUT (killed)" if self.status is None else str(self.status)
        if self.status is not None and self.status < 0:
            st += f" (killed by {signal.Signals(-self.status).name})"
        return (f"$ {' '.join(map(str, self.cmd))}\nstatus {st}\n--- stdout ---\n"
                f"{self.stdout}--- stderr ---\n{self.stderr}")


def assert_no_sanitizer_report(stderr: str, what: str = "") -> None:
    """Fail when ASan/UBSan printed anything: such a run is broken whatever
    its exit status says."""
    for marker in SANITIZER_MARKERS:
        assert marker not in stderr, f"sanitizer report ({marker!r}) {what}\n{stderr}"


def run_xensim(args: Sequence[str], timeout: float = 30.0, cwd=None,
               env=None) -> Result:
    cmd = [str(XENSIM)] + [str(a) for a in args]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, cwd=cwd, env=env)
        status = proc.returncode
        out, err = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:  # subprocess.run killed it
        status = None
        out, err = e.stdout or b"", e.stderr or b""
    res = Result(status, out.decode("utf-8", "surrogateescape"),
                 err.decode("utf-8", "surrogateescape"), cmd)
    assert_no_sanitizer_report(res.stderr, "\n" + res.describe())
    return res


@pytest.fixture(scope="session")
def xensim() -> Path:
    assert XENSIM.is_file(), f"{XENSIM} not built (run make, or set XENSIM)"
    return XENSIM


@pytest.fixture(scope="session")
def guest_dir() -> Path:
    assert BASIC_ELF.is_file(), f"{BASIC_ELF} not built (run make, or set XENSIM_BUILD)"
    return GUEST_DIR


@pytest.fixture(scope="session")
def basic_elf(guest_dir) -> Path:
    return guest_dir / "basic.elf"


@pytest.fixture
def run(xensim, guest_dir):
    """run(args, timeout=30, cwd=ROOT, env=None) -> Result(status, stdout, stderr).

    XENSIM_GUEST_DIR is removed from the environment, so bare image names
    (`basic`, `image=basic`) resolve the default way: guests/ next to the
    binary, i.e. this build's guests.  env adds variables."""
    base_env = {k: v for k, v in os.environ.items() if k != "XENSIM_GUEST_DIR"}

    def _run(args, timeout: float = 30.0, cwd=None, env=None) -> Result:
        return run_xensim(args, timeout=timeout, cwd=cwd or ROOT,
                          env=dict(base_env, **(env or {})))

    return _run


def stderr_lines(res: Result):
    return res.stderr.splitlines()


def end_line(res: Result) -> str:
    """The last stderr line of `boot`: how the domain ended."""
    lines = stderr_lines(res)
    assert lines, f"no stderr at all\n{res.describe()}"
    return lines[-1]
