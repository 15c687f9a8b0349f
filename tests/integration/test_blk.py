"""The PV block device end to end (scenarios/blk-io.scn, blk-indirect.scn):
guestlib's blkfront against xensim's blkback.  The guest's pattern is
recomputed here, byte = (sector * 7 + offset * 13 + 1) & 0xff, to check an
image file byte for byte after a run, and to prepare one the guest checks.
"""

import os
import re

from conftest import ROOT

SEEDS = os.environ.get("XENSIM_BLK_SEEDS", "1..25")
SECTOR = 512
MIB = 1 << 20


def pattern(first_sector, nsect):
    return bytes((s * 7 + o * 13 + 1) & 0xff
                 for s in range(first_sector, first_sector + nsect) for o in range(SECTOR))


def console(res, dom="g"):
    prefix = f"{dom}| "
    return [line[len(prefix):] for line in res.stdout.splitlines()
            if line.startswith(prefix)]


def test_scenarios_pass_every_seed_deterministically(run):
    for name in ("blk-io", "blk-indirect", "blk-hotplug", "blk-rogue"):
        scn = ROOT / "scenarios" / f"{name}.scn"
        res = run(["explore", scn, "--seeds", SEEDS, "--check-determinism"], timeout=600)
        assert res.status == 0, res.describe()
        assert "each deterministic" in res.stdout.splitlines()[-1], res.describe()


def write_scenario(tmp_path, disk, cmdline=""):
    scn = tmp_path / "blk-file.scn"
    scn.write_text("scenario blk-file\n"
                   f'domain g image=blk memory=32 cmdline="{cmdline}"\n'
                   f"{disk}\n"
                   "limit vtime=2s\n"
                   'expect g console "blk: done"\n'
                   'expect g no-report ""\n'
                   "expect g end poweroff\n")
    return scn


def test_image_file_holds_the_guests_writes(run, tmp_path):
    img = tmp_path / "images" / "disk.raw"
    img.parent.mkdir()
    # Bytes the guest never writes must survive: fill the file with 0xab.
    img.write_bytes(b"\xab" * (4 * MIB))
    # A relative path is relative to the scenario's directory.
    scn = write_scenario(tmp_path, "disk g path=images/disk.raw")
    res = run(["run", scn, "--seed", 3], timeout=60)
    assert res.status == 0, res.describe()
    assert "blk: 1 MiB at sector 256 in 24 ring requests, read back: 0 bad sectors" \
        in console(res), res.describe()
    data = img.read_bytes()
    assert len(data) == 4 * MIB
    sect = lambda s, n=1: data[s * SECTOR:(s + n) * SECTOR]  # noqa: E731
    assert sect(0, 64) == pattern(0, 64)
    assert sect(64, 64) == bytes(64 * SECTOR)  # discarded: punched, reads zero
    assert sect(128, 128) == pattern(128, 128)
    assert sect(256, 2048) == pattern(256, 2048)  # the 1 MiB write
    assert sect(2304, 8192 - 2304) == b"\xab" * ((8192 - 2304) * SECTOR)


def test_guest_reads_a_host_written_image_read_only(run, tmp_path):
    img = tmp_path / "ro.raw"
    before = pattern(0, 256) + bytes(MIB - 256 * SECTOR)
    img.write_bytes(before)
    os.chmod(img, 0o444)  # a read-only disk needs no write access
    scn = write_scenario(tmp_path, f"disk g path={img} readonly", "verify=1")
    res = run(["run", scn, "--seed", 1], timeout=60)
    assert res.status == 0, res.describe()
    lines = console(res)
    assert "blk: verify: read 0, 0 bad sectors" in lines, res.describe()
    assert "blk: verify: write on a read-only disk: -30" in lines, res.describe()
    assert any(re.search(r"connected: 2048 sectors read-only", line) for line in lines)
    assert img.read_bytes() == before


def test_missing_image_is_a_scenario_error(run, tmp_path):
    scn = write_scenario(tmp_path, "disk g path=nowhere.raw")
    res = run(["run", scn], timeout=60)
    assert res.status == 2, res.describe()
    assert f"{scn}:3: disk 51712: {tmp_path}/nowhere.raw: No such file or directory" \
        in res.stderr, res.describe()


def test_boot_with_a_disk_option(run, tmp_path):
    img = tmp_path / "boot.raw"
    img.write_bytes(bytes(2 * MIB))
    res = run(["boot", "blk", "--memory", "32", "--cmdline", "big=0 discard=0",
               "--disk", img], timeout=60)
    assert res.status == 0, res.describe()
    assert "blk: done" in res.stdout, res.describe()
    data = img.read_bytes()
    assert data[:256 * SECTOR] == pattern(0, 256)
    assert data[256 * SECTOR:] == bytes(2 * MIB - 256 * SECTOR)
    ro = run(["boot", "blk", "--memory", "32", "--cmdline", "verify=1",
              "--disk", f"{img},readonly"], timeout=60)
    assert ro.status == 0, ro.describe()
    assert "blk: verify: write on a read-only disk: -30" in ro.stdout, ro.describe()
    bad = run(["boot", "blk", "--disk", tmp_path / "missing.raw"], timeout=60)
    assert bad.status == 2, bad.describe()
    assert "missing.raw: No such file or directory" in bad.stderr, bad.describe()
