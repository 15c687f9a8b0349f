"""The basic guest boots on QEMU (microvm, Xen PVH 32-bit entry, no Xen):
the trampoline in guestlib/arch/x86/pvh32.S gets it to long mode, the #UD
handler steps over Xen's forced-emulation prefix so detection finds no Xen,
the console falls back to the 16550, and the guest powers off cleanly.

Then the same image, same command line, under QEMU and under xensim: the
lines describing the guest itself (boot:, cmdline:, alloc:, the first basic:)
must read the same; the xen: line tells the two platforms apart.

Three QEMU boots in all (they dominate the suite's run time)."""

import pytest

from conftest import BASIC_ELF
from qemu import QEMU_RC_POWEROFF, qemu_available, run_qemu

pytestmark = pytest.mark.skipif(not qemu_available(), reason="qemu-system-x86_64 not installed")

COMPARE_CMDLINE = "console=hvc0 summary=1"


def check_clean_boot(run):
    info = run.describe()
    assert not run.timed_out, f"guest did not finish in time\n{info}"
    assert not any("FATAL" in line for line in run.lines), f"guest crashed\n{info}"
    assert not any("PANIC" in line for line in run.lines), f"guest panicked\n{info}"
    # The guest's last line (it said "basic: hello" before the boot summary).
    assert "basic: done, powering off" in run.lines, f"no 'basic: done' line\n{info}"
    assert run.returncode == QEMU_RC_POWEROFF, f"guest did not power off cleanly\n{info}"


def test_basic_boots_in_qemu():
    """Default accelerator: KVM when usable, else TCG."""
    run = run_qemu(BASIC_ELF, "console=ttyS0 xensim.test=1")
    print(f"accel={run.accel} {run.seconds:.2f}s")
    check_clean_boot(run)


def test_basic_boots_in_qemu_tcg():
    """TCG always: the trampoline must not depend on what KVM tolerates."""
    run = run_qemu(BASIC_ELF, "", accel="tcg")
    check_clean_boot(run)


@pytest.fixture(scope="module")
def qemu_summary():
    run = run_qemu(BASIC_ELF, COMPARE_CMDLINE)
    check_clean_boot(run)
    return run


def guest_lines(lines):
    """The lines that describe the guest itself, in order: boot:, cmdline:,
    alloc: and the first basic: line."""
    first_basic = next(line for line in lines if line.startswith("basic:"))
    return [first_basic] + [line for line in lines
                            if line.startswith(("boot:", "cmdline:", "alloc:"))]


def test_same_guest_lines_in_qemu_and_xensim(qemu_summary, run):
    xs = run(["boot", BASIC_ELF, "--cmdline", COMPARE_CMDLINE])
    assert xs.status == 0, xs.describe()
    q = guest_lines(qemu_summary.lines)
    x = guest_lines(xs.stdout.splitlines())
    assert q == x, f"--- qemu ---\n{qemu_summary.describe()}\n--- xensim ---\n{xs.describe()}"
    # The comparison covers something: two boot: lines, the command line, the
    # allocator self-test and the opening line.
    assert x[0] == "basic: boot summary"
    assert [line.split(":")[0] for line in x] == ["basic", "boot", "boot", "cmdline", "alloc"]
    assert x[3] == f"cmdline: {COMPARE_CMDLINE}"
    assert x[4] == "alloc: self-test ok (64 pages allocated, distinct, zeroed, freed)"
    # xensim's view of Xen versus QEMU's lack of it.
    xen_x = [line for line in xs.stdout.splitlines() if line.startswith("xen:")]
    assert xen_x[0] == "xen: found at CPUID 0x40000000, version 4.17.0-xensim", xs.describe()


def test_qemu_has_no_xen(qemu_summary):
    info = qemu_summary.describe()
    xen = [line for line in qemu_summary.lines if line.startswith("xen:")]
    assert xen == ["xen: not found (no Xen CPUID leaves)"], info
    # No Xen: no pvclock summary, and interrupts are masked with real cli/sti.
    assert not any(line.startswith("time:") for line in qemu_summary.lines), info
    assert "irq: mode cli-sti, save/restore ok" in qemu_summary.lines, info
