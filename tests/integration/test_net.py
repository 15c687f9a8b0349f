"""The PV network device end to end (scenarios/net-ping.scn): guestlib's
netfront in two guests (guestlib/apps/net) on xensim's netback and switch.

The scenario's pcap paths are relative to its directory, so every run here
uses a copy in tmp_path; the pcap files are then read back with tshark.
Frame sizes are the net app's mix (guestlib/apps/net/frame.c), recomputed
here to check every frame's length in both captures.
"""

import os
import re
import shutil
import subprocess
from collections import Counter

import pytest

from conftest import ROOT

SCN = ROOT / "scenarios" / "net-ping.scn"
SEEDS = os.environ.get("XENSIM_NET_SEEDS", "1..5")
FRAMES = 40
# net_frame_size() of the app: size=0 cycles through these.
MIX = [60, 1514, 4096, 4200, 9018, 128, 1514, 16384, 200, 65535]
CONTROL = 60  # HELLO, HELLO_ACK, END and END_ACK frames


def console(res, dom):
    prefix = f"{dom}| "
    return [line[len(prefix):] for line in res.stdout.splitlines()
            if line.startswith(prefix)]


def copy_scenario(tmp_path, text=None):
    scn = tmp_path / "net-ping.scn"
    if text is None:
        shutil.copy(SCN, scn)
    else:
        scn.write_text(text)
    return scn


def variant(**changes):
    """net-ping.scn with some lines replaced (old line prefix -> new line)."""
    lines = SCN.read_text().splitlines()
    for old, new in changes.items():
        hits = [i for i, line in enumerate(lines) if line.startswith(old)]
        assert len(hits) == 1, old
        lines[hits[0]] = new
    return "\n".join(lines) + "\n"


def pcap_lengths(path):
    """frame.len and eth.type of each frame, as tshark reads the file."""
    assert path.is_file(), f"{path} was not written"
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.len",
                          "-e", "eth.type"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines() if line]
    assert all(t == "0x88b5" for _, t in rows), f"{path}: frames of another ethertype"
    return [int(n) for n, _ in rows]


def hello_counts(res):
    """(hellos a sent, hellos b answered), from the apps' lines."""
    a = [re.search(r"answered hello (\d+)$", line) for line in console(res, "a")]
    b = [re.search(r"^net: pong: answered (\d+) hellos?$", line) for line in console(res, "b")]
    a = [int(m[1]) for m in a if m]
    b = [int(m[1]) for m in b if m]
    assert len(a) == 1 and len(b) == 1, res.describe()
    return a[0], b[0]


def expected_lengths(sent_hellos, answered, frames=FRAMES, sizes=MIX):
    """Every frame one vif sees in both directions, besides the hellos."""
    data = Counter(sizes[i % len(sizes)] for i in range(frames))
    c = Counter({n: 2 * k for n, k in data.items()})  # ping and its echo
    c[CONTROL] += 2 + sent_hellos + answered  # END, END_ACK, hellos and answers
    return c


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_ping_pcaps_hold_every_frame(run, tmp_path):
    scn = copy_scenario(tmp_path)
    res = run(["run", scn, "--seed", 1], timeout=120)
    assert res.status == 0, res.describe()
    assert "net: sent 40 received 40 lost 0 dup 0 bad 0" in console(res, "a")
    assert "net: sent 40 received 40 lost 0 dup 0 bad 0" in console(res, "b")
    sent, answered = hello_counts(res)
    assert 1 <= answered <= sent
    a = Counter(pcap_lengths(tmp_path / "net-ping-a.pcap"))
    b = Counter(pcap_lengths(tmp_path / "net-ping-b.pcap"))
    # a's vif saw every hello it sent (the first ones found no peer yet) and
    # every answer; b's saw the hellos that reached it and its answers.
    assert a == expected_lengths(sent, answered), (a, res.describe())
    assert b == expected_lengths(answered, answered), (b, res.describe())
    assert sum(a.values()) == 2 * (FRAMES + 1) + sent + answered
    # Scatter-gather: frames larger than a page went through.
    assert a[65535] == 2 * (FRAMES // len(MIX)) and b[16384] == 2 * (FRAMES // len(MIX))


def test_ping_backend_counters_match_the_guests(run, tmp_path):
    scn = copy_scenario(tmp_path)
    res = run(["run", scn, "--seed", 3], timeout=120)
    assert res.status == 0, res.describe()
    for dom in ("a", "b"):
        stats = [re.match(r"^net: netfront: tx (\d+) frames (\d+) slots 0 errors; "
                          r"rx (\d+) frames (\d+) slots 0 errors 0 dropped; 0 bad responses$",
                          line) for line in console(res, dom)]
        stats = [m for m in stats if m]
        assert len(stats) == 1, res.describe()
        tx, tx_slots, rx, rx_slots = map(int, stats[0].groups())
        # Frames larger than a page, or crossing one, took several slots.
        assert tx_slots > tx and rx_slots > rx
        assert "net: closed: 0, grants left 0" in console(res, dom)


MULTIQUEUE = variant(**{
    "domain a ": 'domain a image=net memory=48 vcpus=2 cmdline="role=ping frames=40 queues=4"',
    "domain b ": 'domain b image=net memory=48 cmdline="role=pong frames=40 queues=3"',
    "nic a ": "nic a switch=lan queues=4 pcap=net-ping-a.pcap",
    "nic b ": "nic b switch=lan queues=2 pcap=net-ping-b.pcap",
    "expect a console \"netfront: vif 0: connected": 'expect a console "netfront: vif 0: '
    'connected: mac 00:16:3e:00:01:00, 4 queues, sg yes, split event channels yes"',
    "expect b console \"netfront: vif 0: connected": 'expect b console "netfront: vif 0: '
    'connected: mac 00:16:3e:00:02:00, 2 queues, sg yes, split event channels yes"',
})

NO_SG = variant(**{
    "domain a ": 'domain a image=net memory=32 cmdline="role=ping frames=40 sg=0 split=0"',
    "expect a console \"netfront: vif 0: connected": 'expect a console "netfront: vif 0: '
    'connected: mac 00:16:3e:00:01:00, 1 queue, sg no, split event channels no"',
})

RECONNECT = variant(**{
    "domain a ": 'domain a image=net memory=32 cmdline="role=ping frames=40 reconnect=1"',
    "expect a console \"net: ping on vif 0": 'expect a console '
    '"net: closed (0) and reconnected (0) after 20 frames"',
})


@pytest.mark.parametrize("text", [None, MULTIQUEUE, NO_SG, RECONNECT],
                         ids=["single-queue", "multi-queue", "no-sg", "reconnect"])
def test_variants_pass_every_seed_deterministically(run, tmp_path, text):
    scn = copy_scenario(tmp_path, text)
    res = run(["explore", scn, "--seeds", SEEDS, "--check-determinism"], timeout=600)
    assert res.status == 0, res.describe()
    assert "each deterministic" in res.stdout.splitlines()[-1], res.describe()


def test_multi_queue_spreads_frames(run, tmp_path):
    scn = copy_scenario(tmp_path, MULTIQUEUE)
    res = run(["run", scn, "--seed", 2], timeout=120)
    assert res.status == 0, res.describe()
    assert "net: sent 40 received 40 lost 0 dup 0 bad 0" in console(res, "a")


def test_no_sg_keeps_frames_to_a_page(run, tmp_path):
    scn = copy_scenario(tmp_path, NO_SG)
    res = run(["run", scn, "--seed", 1], timeout=120)
    assert res.status == 0, res.describe()
    if shutil.which("tshark"):
        sizes = pcap_lengths(tmp_path / "net-ping-a.pcap")
        # Without feature-sg the app sends at most a page per frame.
        assert max(sizes) == 4096, sizes


def test_lost_peer_is_reported(run, tmp_path):
    """A ping with nobody on the switch: every hello goes unanswered, the app
    says so and fails; netfront still closes with every grant ended."""
    scn = tmp_path / "alone.scn"
    scn.write_text("scenario alone\n"
                   'domain a image=net memory=32 cmdline="role=ping frames=3 timeout=1"\n'
                   "nic a switch=lan\n"
                   "limit vtime=5s\n"
                   'expect a console "net: no answer to 100 hellos"\n'
                   'expect a console "net: closed: 0, grants left 0"\n'
                   "expect a end crash\n")
    res = run(["run", scn, "--seed", 1], timeout=120)
    assert res.status == 0, res.describe()


def test_hotplug_while_pinging(run, tmp_path):
    """The toolstack adds a's nic at 20 ms and takes it away at 80 ms while
    frames fly: the app sees the unplug, closes with every grant ended, and
    nothing arrived corrupt or twice."""
    scn = tmp_path / "hot.scn"
    scn.write_text("scenario net-hotplug\n"
                   'domain a image=net memory=32 cmdline="role=ping frames=1000000 hotplug=1"\n'
                   'domain b image=net memory=32 cmdline="role=pong frames=1000000 timeout=20"\n'
                   "nic a switch=lan attach=20ms detach=80ms\n"
                   "nic b switch=lan\n"
                   "limit vtime=5s\n"
                   'expect a console "net: 0 vif device(s) at boot"\n'
                   'expect a console "net: waited for a vif: 0, 1 vif device(s)"\n'
                   'expect a console "netfront: vif 0: backend is Closing: no more frames"\n'
                   'expect a console "net: unplug seen: 0"\n'
                   'expect a console "net: closed: 0, grants left 0"\n'
                   'expect a console "net: 0 vif device(s) after the unplug"\n'
                   'expect a console "net: done"\n'
                   'expect a no-console "FAIL"\n'
                   'expect b console "net: closed: 0, grants left 0"\n'
                   "expect a end poweroff\n"
                   'expect a no-report ""\n'
                   'expect b no-report ""\n')
    res = run(["run", scn, "--seed", 4], timeout=120)
    assert res.status == 0, res.describe()
    sent = [re.match(r"^net: sent (\d+) received (\d+) lost (\d+) dup 0 bad 0$", line)
            for line in console(res, "a")]
    sent = [m for m in sent if m]
    assert len(sent) == 1 and int(sent[0][1]) > 100, res.describe()
