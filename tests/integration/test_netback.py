"""xensim's network backend from the outside: the `nic` statement's errors,
`boot --nic`, the pcap files netback writes (read back with tshark), and
netback's own counters (logged when a vif disconnects) against what the
guests counted.  The two-guest runs use guestlib's net app
(guestlib/apps/net, the frontend under test in test_net.py) and are skipped
when it is not built.
"""

import re
import shutil
import struct
import subprocess

import pytest

from conftest import GUEST_DIR, stderr_lines

NET_ELF = GUEST_DIR / "net.elf"
needs_net = pytest.mark.skipif(not NET_ELF.is_file(), reason="net.elf not built")
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None,
                                  reason="tshark not installed")

PING = """scenario nb-ping
domain a image=net memory=32 cmdline="role=ping frames=20"
domain b image=net memory=32 cmdline="role=pong frames=20"
nic a switch=lan pcap=a.pcap
nic b switch=lan pcap=out/b.pcap queues=2
limit vtime=5s
expect a console "net: sent 20 received 20 lost 0 dup 0 bad 0"
expect b console "net: sent 20 received 20 lost 0 dup 0 bad 0"
expect a end poweroff
expect b end poweroff
"""

BACKEND_LINE = re.compile(r"^xensim: netback: d(\d+) \((\w)\) vif 0: tx (\d+) frames (\d+) "
                          r"bytes (\d+) errors (\d+) dropped, rx (\d+) frames (\d+) bytes "
                          r"(\d+) errors (\d+) dropped$")


def backend_counters(res):
    """{domain name: (tx frames, tx bytes, rx frames, rx bytes)} from the last
    counters line netback logged for each vif."""
    out = {}
    for line in stderr_lines(res):
        m = BACKEND_LINE.match(line)
        if m:
            out[m[2]] = (int(m[3]), int(m[4]), int(m[7]), int(m[8]))
            assert (m[5], m[6], m[9], m[10]) == ("0", "0", "0", "0"), line
    return out


def guest_counters(res, dom):
    """(tx frames, rx frames) netfront counted, from the net app's line."""
    for line in res.stdout.splitlines():
        m = re.match(rf"^{dom}\| net: netfront: tx (\d+) frames \d+ slots 0 errors; "
                     r"rx (\d+) frames", line)
        if m:
            return int(m[1]), int(m[2])
    raise AssertionError(f"no netfront counters for {dom}\n{res.describe()}")


def tshark_lengths(path):
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.len"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [int(n) for n in out.stdout.split()]


def pcap_header(path):
    data = path.read_bytes()
    assert len(data) >= 24, f"{path}: {len(data)} bytes"
    return struct.unpack("<IHHiIII", data[:24]), data


@pytest.mark.parametrize("line,message", [
    ("nic g mac=01:16:3e:00:00:01", "nic g: mac '01:16:3e:00:00:01' is a multicast address"),
    ("nic g mac=00:16:3e:00:00", "nic g: mac '00:16:3e:00:00' is not XX:XX:XX:XX:XX:XX (hex)"),
    ("nic g colour=blue", "nic g: unknown key 'colour' (expected switch, mac, pcap, id, "
                          "queues, attach, detach or suspend)"),
    ("nic g queues=9", "nic queues 9 out of range 1..8"),
    ("nic g id=256", "nic id 256 out of range 0..255"),
    ("nic g switch=a/b", "invalid switch name 'a/b' (use 1-31 of A-Z a-z 0-9 _ -)"),
    ("nic g detach=5ms attach=6ms", "nic g: detach must come after attach"),
    ("nic h", "nic: unknown domain 'h' (domains must be declared before use)"),
    ('nic g pcap=""', "nic g: pcap must not be empty"),
    ("nic g readonly", "nic g: unexpected 'readonly' (expected KEY=VALUE)"),
])
def test_nic_statement_errors(run, tmp_path, line, message):
    scn = tmp_path / "bad.scn"
    scn.write_text(f"domain g image=basic\n{line}\n")
    res = run(["run", scn])
    assert res.status == 2, res.describe()
    assert f"bad.scn:2: {message}" in res.stderr, res.describe()


def test_nic_ids_and_device_vif_conflict(run, tmp_path):
    scn = tmp_path / "ids.scn"
    scn.write_text("domain g image=basic\ndomain h image=basic\nnic g id=1\nnic g id=1\n")
    res = run(["run", scn])
    assert res.status == 2 and "ids.scn:4: nic id 1 of g already declared on line 3" \
        in res.stderr, res.describe()
    scn.write_text("domain g image=basic\ndomain h image=basic\n"
                   "device vif frontend=g backend=h\nnic g\n")
    res = run(["run", scn])
    assert res.status == 2 and "ids.scn:4: nic id 0 of g is also device vif on line 3" \
        in res.stderr, res.describe()


def test_pcap_that_cannot_be_created(run, tmp_path):
    scn = tmp_path / "p.scn"
    scn.write_text("domain g image=basic\nnic g pcap=no/such/dir/g.pcap\n")
    res = run(["run", scn])
    assert res.status == 2, res.describe()
    assert (f"p.scn:2: nic 0: {tmp_path}/no/such/dir/g.pcap: cannot create pcap file: "
            "No such file or directory") in res.stderr, res.describe()


def test_nodes_and_empty_capture(run, tmp_path):
    """A guest that never connects its vif: xl's nodes are there for it,
    the capture is a valid, empty pcap file, and the run is unaffected."""
    scn = tmp_path / "idle.scn"
    scn.write_text("domain g image=basic\nnic g pcap=g.pcap mac=00:16:3e:12:34:56\n"
                   "nic g switch=other\nexpect g end poweroff\n")
    res = run(["run", scn])
    assert res.status == 0, res.describe()
    (magic, major, minor, _, _, snaplen, link), data = pcap_header(tmp_path / "g.pcap")
    assert (magic, major, minor, snaplen, link) == (0xa1b23c4d, 2, 4, 65535, 1)
    assert len(data) == 24
    if shutil.which("tshark"):
        assert tshark_lengths(tmp_path / "g.pcap") == []


def test_boot_nic(run, tmp_path, basic_elf):
    pcap = tmp_path / "boot.pcap"
    res = run(["boot", basic_elf, "--nic", f"switch=s1,pcap={pcap},queues=2", "--nic"])
    assert res.status == 0, res.describe()
    assert pcap.is_file() and len(pcap.read_bytes()) == 24
    for bad, msg in [("queues=0", "--nic: bad option 'queues=0'"),
                     ("mac=ff:ff:ff:ff:ff:ff", "--nic: mac=ff:ff:ff:ff:ff:ff is not a unicast"),
                     ("colour=blue", "--nic: bad option 'colour=blue'")]:
        res = run(["boot", basic_elf, "--nic", bad])
        assert res.status == 2 and msg in res.stderr, res.describe()
    res = run(["boot", basic_elf] + ["--nic"] * 5)
    assert res.status == 2 and "--nic: at most 4 nics" in res.stderr, res.describe()


@needs_net
def test_backend_counts_match_frontends_and_captures(run, tmp_path):
    """Every frame a guest sent or received is counted once by netback,
    as netfront counted it, and written once to the vif's capture."""
    (tmp_path / "out").mkdir()
    scn = tmp_path / "ping.scn"
    scn.write_text(PING)
    res = run(["run", scn, "--seed", 4], timeout=120)
    assert res.status == 0, res.describe()
    back = backend_counters(res)
    assert set(back) == {"a", "b"}, res.describe()
    for dom, pcap in (("a", tmp_path / "a.pcap"), ("b", tmp_path / "out" / "b.pcap")):
        tx, tx_bytes, rx, rx_bytes = back[dom]
        assert (tx, rx) == guest_counters(res, dom)
        assert tx >= 21 and rx >= 21
        if shutil.which("tshark"):
            lengths = tshark_lengths(pcap)
            assert len(lengths) == tx + rx
            assert sum(lengths) == tx_bytes + rx_bytes
    # b's frames all reached a; a's first hellos may have gone out before b's
    # vif was on the switch.
    assert back["b"][0] == back["a"][2]
    assert back["b"][2] <= back["a"][0] <= back["b"][2] + 100


@needs_net
def test_captures_are_deterministic(run, tmp_path):
    """The same scenario and seed write byte-identical pcap files (virtual
    time stamps), and the same trace hash."""
    hashes, files = [], []
    for i in range(2):
        d = tmp_path / f"run{i}"
        (d / "out").mkdir(parents=True)
        (d / "ping.scn").write_text(PING)
        res = run(["run", d / "ping.scn", "--seed", 7], timeout=120)
        assert res.status == 0, res.describe()
        hashes.append(res.stdout.splitlines()[-1])
        files.append(((d / "a.pcap").read_bytes(), (d / "out" / "b.pcap").read_bytes()))
    assert hashes[0] == hashes[1]
    assert files[0] == files[1]
    assert len(files[0][0]) > 24


@needs_net
@needs_tshark
def test_switches_keep_traffic_apart(run, tmp_path):
    """Two pairs on two switches with the same MACs: each pair only sees its
    own frames (a frame crossing over would be a duplicate or a stranger)."""
    scn = tmp_path / "two.scn"
    scn.write_text("""scenario two-switches
domain a image=net memory=32 cmdline="role=ping frames=10"
domain b image=net memory=32 cmdline="role=pong frames=10"
domain c image=net memory=32 cmdline="role=ping frames=10"
domain d image=net memory=32 cmdline="role=pong frames=10"
nic a switch=red mac=00:16:3e:aa:00:01 pcap=a.pcap
nic b switch=red mac=00:16:3e:aa:00:02
nic c switch=blue mac=00:16:3e:aa:00:01 pcap=c.pcap
nic d switch=blue mac=00:16:3e:aa:00:02
limit vtime=5s
expect a console "net: sent 10 received 10 lost 0 dup 0 bad 0"
expect c console "net: sent 10 received 10 lost 0 dup 0 bad 0"
expect b end poweroff
expect d end poweroff
""")
    res = run(["run", scn, "--seed", 1], timeout=120)
    assert res.status == 0, res.describe()
    back = backend_counters(res)
    # Everything a vif received came from its own peer.
    assert back["a"][2] == back["b"][0] and back["c"][2] == back["d"][0], back
    assert back["b"][2] <= back["a"][0] and back["d"][2] <= back["c"][0], back
    assert len(tshark_lengths(tmp_path / "a.pcap")) == back["a"][0] + back["a"][2]
    assert len(tshark_lengths(tmp_path / "c.pcap")) == back["c"][0] + back["c"][2]
