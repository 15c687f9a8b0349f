"""Time a guest boot: process start -> first console line, and -> process exit.

    bench_boot.py [--reps K] [--expect-rc RC] [--expect-first TEXT] [--timeout S] -- CMD...
    bench_boot.py qemu-accel

Runs CMD K times (default 5).  Its stdout is a pseudo-terminal, as for a user
at a shell: a program's stdio then flushes each line as it is written (over a
pipe, xensim's console output would only appear at exit).  The clock starts
just before the process is spawned, so both figures include fork/exec.

Prints one "key value" line per figure, best (lowest) of the K runs:
    first_line_ms  time to the first complete line on stdout
    exit_ms        time until the process has exited and been reaped
    runs           K
    first_line     the text of that first line (from the last run)
Each figure is the minimum over the runs on its own.

Exits 1 (after printing the reason and the tail of CMD's stderr) if any run
times out, prints no line, exits with a status other than --expect-rc
(default 0), or prints a first line not starting with --expect-first.

"qemu-accel" prints kvm if /dev/kvm is usable (tests/integration/qemu.py's
check) and tcg otherwise; QEMU_ACCEL overrides it.

Stdlib only; run with /usr/bin/python3.
"""

import argparse
import os
import pty
import select
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def qemu_accel() -> str:
    forced = os.environ.get("QEMU_ACCEL")
    if forced:
        return forced
    sys.dont_write_bytecode = True  # leave no __pycache__ in tests/integration
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
    from qemu import kvm_openable  # pylint: disable=import-outside-toplevel

    return "kvm" if kvm_openable() else "tcg"


class RunError(Exception):
    pass


def run_once(cmd, timeout):
    """One run: (seconds to first line or None, seconds to exit, rc, first line)."""
    master, slave = pty.openpty()
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=err,
                                close_fds=True)
        os.close(slave)
        deadline = start + timeout
        buf = b""
        first_at = None
        first_line = None
        try:
            while True:
                left = deadline - time.perf_counter()
                if left <= 0:
                    proc.kill()
                    proc.wait()
                    raise RunError(f"timed out after {timeout:g} s")
                ready, _, _ = select.select([master], [], [], left)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer has closed the terminal
                    chunk = b""
                if not chunk:
                    break
                if first_at is None:
                    buf += chunk
                    if b"\n" in buf:
                        first_at = time.perf_counter()
                        first_line = buf.split(b"\n", 1)[0].rstrip(b"\r")
            rc = proc.wait()
            exit_at = time.perf_counter()
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err.seek(0)
            stderr = err.read().decode("utf-8", errors="replace")
    text = None if first_line is None else first_line.decode("utf-8", errors="replace")
    return (None if first_at is None else first_at - start), exit_at - start, rc, text, stderr


def main() -> int:
    if sys.argv[1:] == ["qemu-accel"]:
        print(qemu_accel())
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--expect-rc", type=int, default=0)
    ap.add_argument("--expect-first", default=None)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd or args.reps < 1:
        ap.error("need --reps >= 1 and a command after --")

    firsts, exits, line = [], [], None
    for _ in range(args.reps):
        stderr = ""
        try:
            first, ex, rc, line, stderr = run_once(cmd, args.timeout)
            if rc != args.expect_rc:
                raise RunError(f"exit status {rc}, expected {args.expect_rc}")
            if first is None:
                raise RunError("no console line on stdout")
            if args.expect_first is not None and not line.startswith(args.expect_first):
                raise RunError(f"first line {line!r}, expected {args.expect_first!r}...")
        except RunError as e:
            print(f"bench_boot: {' '.join(cmd)}: {e}", file=sys.stderr)
            tail = stderr.strip().splitlines()[-12:]
            if tail:
                print("bench_boot: its stderr ends:\n  " + "\n  ".join(tail), file=sys.stderr)
            return 1
        firsts.append(first)
        exits.append(ex)
    print(f"first_line_ms {min(firsts) * 1e3:.3f}")
    print(f"exit_ms {min(exits) * 1e3:.3f}")
    print(f"runs {args.reps}")
    print(f"first_line {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
