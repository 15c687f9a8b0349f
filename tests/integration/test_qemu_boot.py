"""The basic guest boots on QEMU (microvm, Xen PVH 32-bit entry, no Xen):
the trampoline in guestlib/arch/x86/pvh32.S gets it to long mode, the #UD
handler steps over Xen's forced-emulation prefix so detection finds no Xen,
the console falls back to the 16550, and the guest powers off cleanly."""

import os

import pytest

from qemu import QEMU_RC_POWEROFF, qemu_available, run_qemu

BUILD = os.environ.get("XENSIM_BUILD", "build")
BASIC = os.path.join(BUILD, "guests", "basic.elf")

pytestmark = pytest.mark.skipif(not qemu_available(), reason="qemu-system-x86_64 not installed")


def check_clean_boot(run):
    info = run.describe()
    assert not run.timed_out, f"guest did not finish in time\n{info}"
    assert not any("FATAL" in line for line in run.lines), f"guest crashed\n{info}"
    assert not any("PANIC" in line for line in run.lines), f"guest panicked\n{info}"
    assert "basic: hello" in run.lines, f"no 'basic: hello' line\n{info}"
    assert run.returncode == QEMU_RC_POWEROFF, f"guest did not power off cleanly\n{info}"


def test_basic_boots_in_qemu():
    """Default accelerator: KVM when usable, else TCG."""
    run = run_qemu(BASIC, "console=ttyS0 xensim.test=1")
    print(f"accel={run.accel} {run.seconds:.2f}s")
    check_clean_boot(run)


def test_basic_boots_in_qemu_tcg():
    """TCG always: the trampoline must not depend on what KVM tolerates."""
    run = run_qemu(BASIC, "", accel="tcg")
    check_clean_boot(run)
