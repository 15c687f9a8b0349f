"""The migration-bug regression suite (scenarios/regressions/, docs/guest-bugs.md).

Every scenario in scenarios/regressions/ names the deliberate guest bug it
catches in its header:

    # bug: FLAG          (one or more lines; GUEST_BUGS=FLAG builds it in)
    # seeds: A..B        (a normal guestlib build passes every one; default 1..3)
    # bug-seed: N        (the build with FLAG fails at this seed; default 1)

A scenario without "# bug:" lines gets the flags its header comments name
as GUEST_BUGS=FLAG or that are in docs/guest-bugs.md's table.  For each
scenario this checks that it passes on the normal build for its seeds,
deterministically, and fails at its bug seed against guests built with the
flag.  The bug builds go to build-bugs/FLAG (only the images the scenario
names), a new one seeded with the normal build's guest objects (only files
that mention the flag are compiled again), and are kept: make rebuilds what
changed, so the ASan pass of `make check` and later runs reuse them.

Run as a script it prints the table of `make regressions`:

    /usr/bin/python3 tests/integration/test_regressions.py [--build DIR] [SCENARIO...]
"""

import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import pytest

from conftest import GUEST_DIR

ROOT = Path(__file__).resolve().parents[2]
REG_DIR = ROOT / "scenarios" / "regressions"
BUGS_DOC = ROOT / "docs" / "guest-bugs.md"
BUG_BUILDS = ROOT / "build-bugs"


class Regression(NamedTuple):
    path: Path
    flags: Tuple[str, ...]
    seeds: Tuple[int, int]
    bug_seed: int
    images: Tuple[str, ...]


def documented_flags() -> Dict[str, str]:
    """Flag -> its table row in docs/guest-bugs.md."""
    rows = {}
    for line in BUGS_DOC.read_text().splitlines():
        m = re.match(r"^\| `([A-Z][A-Z0-9_]+)` \|", line)
        if m:
            rows[m.group(1)] = line
    return rows


def parse(path: Path, known: Optional[Sequence[str]] = None) -> Regression:
    text = path.read_text()
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        header.append(line[1:].strip())
    flags = [f for h in header for f in re.findall(r"^bug:\s*([A-Z][A-Z0-9_]+)\b", h)]
    if not flags:
        # "GUEST_BUGS=FLAG" in the comment, or a documented flag's name.
        joined = " ".join(header)
        flags = re.findall(r"\bGUEST_BUGS=([A-Z][A-Z0-9_]+)\b", joined)
        known = documented_flags() if known is None else known
        words = set(re.findall(r"\b[A-Z][A-Z0-9_]{3,}\b", joined))
        flags += sorted(f for f in known if f in words)
    seeds = (1, 3)
    bug_seed = 1
    for h in header:
        m = re.match(r"^seeds:\s*(\d+)\.\.(\d+)", h)
        if m:
            seeds = (int(m.group(1)), int(m.group(2)))
        m = re.match(r"^bug-seed:\s*(\d+)", h)
        if m:
            bug_seed = int(m.group(1))
    images = sorted(set(re.findall(r"^domain\s+\S+\s.*?\bimage=(\S+)", text, re.M)))
    return Regression(path, tuple(dict.fromkeys(flags)), seeds, bug_seed, tuple(images))


def regressions() -> List[Regression]:
    known = documented_flags()
    return [parse(p, known) for p in sorted(REG_DIR.glob("*.scn"))]


def _seed_from(normal: Optional[Path], out: Path, flag: str) -> None:
    """Start a new bug build from the normal build's guest objects: a file
    that does not mention GUEST_BUG_<flag> compiles the same with it, so
    only the ones that do (and the link) are built.  The dependency files
    are copied with their targets renamed, so make still rebuilds a copied
    object whose source or headers change; mtimes are kept."""
    src = normal / "guestlib" if normal else None
    if out.exists() or not src or not src.is_dir():
        return
    mention = {p.relative_to(ROOT).with_suffix(".o") for p in (ROOT / "guestlib").rglob("*.c")
               if f"GUEST_BUG_{flag}" in p.read_text()}
    for obj in src.rglob("*.o"):
        rel = obj.relative_to(normal)
        dep = obj.with_suffix(".d")
        if rel in mention or not dep.is_file():
            continue
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        lines = dep.read_text().split("\n")
        target, colon, rest = lines[0].partition(":")
        if not colon or not target.endswith(str(rel)):
            continue
        lines[0] = f"{out / rel}{colon}{rest}"
        shutil.copy2(obj, out / rel)
        (out / rel).with_suffix(".d").write_text("\n".join(lines))
        shutil.copystat(dep, (out / rel).with_suffix(".d"))


def build_bug_variant(flag: str, images: Sequence[str], normal: Optional[Path] = None) -> Path:
    """build-bugs/FLAG/guests with the images built with GUEST_BUGS=FLAG
    (a new one seeded from the normal build directory, if given); a lock
    keeps two sessions from building the same directory at once."""
    out = BUG_BUILDS / flag
    BUG_BUILDS.mkdir(parents=True, exist_ok=True)
    # An outer make's flags (SAN=1, its jobserver) are not for this one.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    targets = [f"{out}/guests/{image}.elf" for image in images]
    with open(BUG_BUILDS / f"{flag}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _seed_from(normal, out, flag)
        out.mkdir(exist_ok=True)
        proc = subprocess.run(
            ["make", "-s", "-j2", f"BUILD={out}", f"GUEST_BUGS={flag}"] + targets,
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"building GUEST_BUGS={flag} failed:\n{proc.stdout}{proc.stderr}")
    return out / "guests"


def xensim_cmd(xensim: Path, args: Sequence) -> List[str]:
    return [str(xensim)] + [str(a) for a in args]


# ---- make regressions: the table ------------------------------------------------------

def _table(build: Path, only: Sequence[str]) -> int:
    xensim = build / "xensim"
    env = {k: v for k, v in os.environ.items() if k != "XENSIM_GUEST_DIR"}
    rows, bad = [], 0
    for reg in regressions():
        if only and reg.path.name not in only and reg.path.stem not in only:
            continue
        normal = subprocess.run(
            xensim_cmd(xensim, ["explore", reg.path, "--seeds", f"{reg.seeds[0]}..{reg.seeds[1]}",
                                "--check-determinism"]),
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        normal_txt = "pass" if normal.returncode == 0 else "FAIL"
        bad += normal.returncode != 0
        if not reg.flags:
            rows.append((reg.path.name, "(no flag)", normal_txt, "-"))
            bad += 1
            continue
        for flag in reg.flags:
            try:
                guests = build_bug_variant(flag, reg.images, build)
            except RuntimeError as e:
                print(e, file=sys.stderr)
                rows.append((reg.path.name, flag, normal_txt, "NOT BUILT"))
                bad += 1
                continue
            res = subprocess.run(
                xensim_cmd(xensim, ["run", reg.path, "--seed", reg.bug_seed, "--quiet",
                                    "--guest-dir", guests]),
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
            caught = res.returncode == 1
            bad += not caught
            rows.append((reg.path.name, flag, normal_txt,
                         "fails (caught)" if caught else f"PASSES (status {res.returncode})"))
    heads = ("scenario", "bug flag", "normal build", "with the bug")
    widths = [max(len(r[i]) for r in rows + [heads]) for i in range(4)]
    for r in [heads, tuple("-" * w for w in widths)] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"regressions: {len(rows)} cases, "
          + ("all caught and passing normally" if not bad else f"{bad} problem(s)"))
    return 1 if bad else 0


# ---- the tests ---------------------------------------------------------------------------

REGRESSIONS = regressions()
CASES = [(r, f) for r in REGRESSIONS for f in r.flags]


def _id(reg: Regression) -> str:
    return reg.path.stem


def test_suite_is_there():
    """One scenario per bug class of issue 6, each naming its flag."""
    names = {r.path.stem for r in REGRESSIONS}
    for stem in ("cancelled-suspend", "txn-at-suspend", "timer-rearm", "ipi-pending",
                 "store-port", "console-port", "blk-inflight", "blk-split-complete",
                 "blk-gone-after-resume", "blk-stale-ring-ref"):
        assert stem in names, f"scenarios/regressions/{stem}.scn is missing"
    for reg in REGRESSIONS:
        assert reg.flags, f"{reg.path.name} names no bug flag in its header"
        assert reg.images, f"{reg.path.name} boots no guest image"


@pytest.mark.parametrize("reg", REGRESSIONS, ids=_id)
def test_flags_documented(reg):
    """Each flag has its row in docs/guest-bugs.md, which names the scenario,
    and its #ifdef in guestlib."""
    rows = documented_flags()
    sources = "\n".join(p.read_text() for p in (ROOT / "guestlib").rglob("*.c"))
    for flag in reg.flags:
        assert flag in rows, f"{flag} ({reg.path.name}) is not in docs/guest-bugs.md's table"
        assert reg.path.name in rows[flag], \
            f"docs/guest-bugs.md's row for {flag} does not name {reg.path.name}"
        assert re.search(rf"#\s*if(n?def| defined)\s*\(?GUEST_BUG_{flag}\b", sources), \
            f"no #ifdef GUEST_BUG_{flag} in guestlib"


@pytest.mark.parametrize("reg", REGRESSIONS, ids=_id)
def test_passes_on_a_normal_build(run, reg):
    seeds = f"{reg.seeds[0]}..{reg.seeds[1]}"
    res = run(["explore", reg.path, "--seeds", seeds, "--check-determinism"], timeout=600)
    assert res.status == 0, f"{reg.path.name} fails on a normal build\n" + res.describe()
    assert "pass, each deterministic" in res.stdout.splitlines()[-1], res.describe()


@pytest.fixture(scope="session")
def bug_guests():
    """flag -> its guest directory, each built once per session."""
    built: Dict[str, Path] = {}

    def get(flag: str, images: Sequence[str]) -> Path:
        if flag not in built or not all((built[flag] / f"{i}.elf").is_file() for i in images):
            built[flag] = build_bug_variant(flag, images, GUEST_DIR.parent)
        return built[flag]

    return get


@pytest.mark.parametrize("reg,flag", CASES, ids=[f"{_id(r)}-{f}" for r, f in CASES])
def test_fails_with_the_bug(run, bug_guests, reg, flag):
    guests = bug_guests(flag, reg.images)
    res = run(["run", reg.path, "--seed", reg.bug_seed, "--guest-dir", guests], timeout=600)
    assert res.status == 1, \
        f"{reg.path.name} does not catch GUEST_BUGS={flag} (seed {reg.bug_seed})\n" \
        + res.describe()
    assert any(line.startswith("FAIL ") for line in res.stdout.splitlines()), res.describe()


def test_stale_ring_ref_is_reported_by_blkback(run, bug_guests):
    """The stale-node check is the backend's: with the bug, its report is what
    fails the run, at both reopens."""
    reg = next(r for r in REGRESSIONS if r.path.stem == "blk-stale-ring-ref")
    res = run(["run", reg.path, "--seed", 1, "--guest-dir",
               bug_guests("BLK_STALE_RING_REF", reg.images)], timeout=600)
    assert res.status == 1, res.describe()
    assert re.search(r"vbd 51712: ring 0: stale frontend node /local/domain/2/device/vbd/"
                     r"51712/ring-ref0 next to ring-ref \(no ring-page-order\)", res.stderr), \
        res.describe()
    assert re.search(r"stale frontend node /local/domain/2/device/vbd/51712/ring-ref with "
                     r"ring-page-order 1", res.stderr), res.describe()
    assert "unexpected sanitizer report" in res.stdout, res.describe()


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="scenario x (normal, bug) pass/fail table")
    ap.add_argument("--build", default="build", help="the normal build directory")
    ap.add_argument("scenarios", nargs="*", help="only these (file names or stems)")
    a = ap.parse_args()
    build = Path(a.build)
    sys.exit(_table(build if build.is_absolute() else ROOT / build, a.scenarios))
