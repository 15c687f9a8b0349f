"""Booting guest images under QEMU (microvm, Xen PVH entry), for comparing
guest behaviour on a real(istic) machine with what xensim does.

    rc, lines = boot_in_qemu(image, "cmdline")

rc is QEMU's exit status: the guest powers off through isa-debug-exit at
port 0xf4, so guest code N gives (N << 1) | 1 -- 1 for a clean poweroff,
3 for SHUTDOWN_crash -- and a triple fault (with -no-reboot) gives 0.  It is
None when QEMU had to be killed (timeout, or a KVM internal error that left
the VM paused).  lines are the guest's serial console lines, without \\r,
terminal escapes or QEMU's own messages.

run_qemu() takes the same arguments and returns a QemuRun with more detail
(accelerator used, seconds taken, QEMU's stderr).

Accelerator: KVM when /dev/kvm opens read-write and answers
KVM_GET_API_VERSION, and QEMU actually starts with it; otherwise TCG.  If
QEMU refuses KVM, or KVM fails mid-run ("KVM internal error", seen with
nested virtualisation on some hosts), the boot is retried under TCG and TCG
is used from then on.  QEMU_ACCEL=kvm|tcg forces one; QEMU overrides the
binary.
"""

import fcntl
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

QEMU_BIN = os.environ.get("QEMU", "qemu-system-x86_64")
DEFAULT_TIMEOUT = 60.0
KVM_GET_API_VERSION = 0xAE00
KVM_API_VERSION = 12

# Guest exit codes as QEMU reports them (isa-debug-exit: (code << 1) | 1).
QEMU_RC_POWEROFF = 1
QEMU_RC_CRASH = 3
QEMU_RC_TRIPLE_FAULT = 0

_ANSI_RE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
_KVM_START_FAILURE_RE = re.compile(
    r"(failed to initialize kvm|could not access kvm|kvm.*(not|un)(supported|available)"
    r"|invalid accelerator kvm|no accelerator found)",
    re.IGNORECASE,
)
_KVM_INTERNAL_ERROR = "KVM internal error"

_accel_lock = threading.Lock()
_accel_cache: Optional[str] = None


@dataclass
class QemuRun:
    returncode: Optional[int]
    lines: List[str]
    accel: str
    seconds: float
    stderr: str
    timed_out: bool = False
    command: List[str] = field(default_factory=list)

    @property
    def guest_code(self) -> Optional[int]:
        """The code the guest wrote to isa-debug-exit, or None."""
        if self.returncode is None or not self.returncode & 1:
            return None
        return self.returncode >> 1

    def describe(self) -> str:
        """Everything useful for an assertion message."""
        return (
            f"$ {' '.join(self.command)}\n"
            f"accel={self.accel} rc={self.returncode} timed_out={self.timed_out} "
            f"{self.seconds:.2f}s\n--- console ---\n"
            + "\n".join(self.lines)
            + "\n--- qemu stderr ---\n"
            + self.stderr
        )


def qemu_available() -> bool:
    return shutil.which(QEMU_BIN) is not None


def kvm_openable() -> bool:
    """/dev/kvm opens read-write and speaks the expected API version."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, KVM_GET_API_VERSION) == KVM_API_VERSION
    except OSError:
        return False
    finally:
        os.close(fd)


def _default_accel() -> str:
    forced = os.environ.get("QEMU_ACCEL")
    if forced:
        return forced
    with _accel_lock:
        global _accel_cache
        if _accel_cache is None:
            _accel_cache = "kvm" if kvm_openable() else "tcg"
        return _accel_cache


def _demote_to_tcg() -> None:
    with _accel_lock:
        global _accel_cache
        _accel_cache = "tcg"


def qemu_command(image: str, cmdline: str, accel: str, memory_mib: int = 64,
                 extra_args: Sequence[str] = ()) -> List[str]:
    cmd = [QEMU_BIN, "-M", "microvm", "-accel", accel, "-kernel", str(image)]
    if cmdline:
        cmd += ["-append", cmdline]
    cmd += [
        "-m", str(memory_mib),
        "-nodefaults", "-no-user-config", "-nographic",
        "-serial", "stdio", "-no-reboot",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ]
    return cmd + list(extra_args)


def _console_lines(raw: bytes) -> List[str]:
    text = _ANSI_RE.sub("", raw.decode("utf-8", errors="replace"))
    lines = [line.replace("\r", "") for line in text.split("\n")]
    lines = [line for line in lines if not line.startswith(os.path.basename(QEMU_BIN) + ":")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _run_once(cmd: List[str], accel: str, timeout: float) -> QemuRun:
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out_chunks: List[bytes] = []
    err_chunks: List[bytes] = []
    kvm_failed = threading.Event()

    def pump(stream, chunks, watch):
        for chunk in iter(lambda: stream.read1(4096), b""):
            chunks.append(chunk)
            if watch and _KVM_INTERNAL_ERROR.encode() in b"".join(chunks):
                kvm_failed.set()

    threads = [threading.Thread(target=pump, args=(proc.stdout, out_chunks, False), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err_chunks, True), daemon=True)]
    for t in threads:
        t.start()

    timed_out = False
    deadline = start + timeout
    while proc.poll() is None:
        if kvm_failed.is_set():
            # QEMU pauses the VM on a KVM internal error and waits forever.
            time.sleep(0.2)  # let it finish printing the register dump
            proc.kill()
            break
        if time.monotonic() > deadline:
            timed_out = True
            proc.kill()
            break
        time.sleep(0.02)
    proc.wait()
    for t in threads:
        t.join(timeout=5)
    returncode = None if (timed_out or kvm_failed.is_set()) else proc.returncode
    return QemuRun(
        returncode=returncode,
        lines=_console_lines(b"".join(out_chunks)),
        accel=accel,
        seconds=time.monotonic() - start,
        stderr=b"".join(err_chunks).decode("utf-8", errors="replace"),
        timed_out=timed_out,
        command=cmd,
    )


def run_qemu(image, cmdline: str = "", *, accel: Optional[str] = None, memory_mib: int = 64,
             timeout: float = DEFAULT_TIMEOUT, extra_args: Sequence[str] = ()) -> QemuRun:
    """Boot image under QEMU microvm and return what happened."""
    if not os.path.isfile(image):
        raise FileNotFoundError(f"guest image {image} not found (run make first)")
    chosen = accel or _default_accel()
    run = _run_once(qemu_command(image, cmdline, chosen, memory_mib, extra_args), chosen,
                    timeout)
    if chosen == "kvm" and accel is None and not os.environ.get("QEMU_ACCEL"):
        refused = (run.returncode not in (None, QEMU_RC_TRIPLE_FAULT) and not run.lines
                   and _KVM_START_FAILURE_RE.search(run.stderr))
        broke = _KVM_INTERNAL_ERROR in run.stderr
        if refused or broke:
            _demote_to_tcg()
            retry = _run_once(qemu_command(image, cmdline, "tcg", memory_mib, extra_args),
                              "tcg", timeout)
            retry.stderr = (f"[kvm attempt failed, retried with tcg; kvm stderr follows]\n"
                            f"{run.stderr}[tcg stderr]\n{retry.stderr}")
            return retry
    return run


def boot_in_qemu(image, cmdline: str = "", **kwargs) -> Tuple[Optional[int], List[str]]:
    """Boot image under QEMU; return (QEMU exit status, console lines)."""
    run = run_qemu(image, cmdline, **kwargs)
    return run.returncode, run.lines
