"""Network traffic across suspend, resume and save/restore
(scenarios/net-suspend.scn, docs/suspend.md "netfront").

Every frame is accounted for: what each guest's netfront queued is what its
backend sent (nothing lost or sent twice across the resumes), what each
backend put in a guest's rx ring is what the guest read, dropped at a
resume or left unread at close, and what the switch took in is what the
backends delivered plus the drops it counted.  So the frames the apps sent
equal the frames the apps received plus the counted drops.

A save in one process is restored in a second one, with its peer, and the
traffic carries on there: the vif comes back on its switch with its MAC and
its capture file continues.
"""

import re
import shutil
import subprocess
from collections import defaultdict

import pytest

from conftest import ROOT

SCN = ROOT / "scenarios" / "net-suspend.scn"
SWITCH_OF = {"a": "lan", "b": "lan", "c": "lan2", "d": "lan2"}


def console(res, dom):
    prefix = f"{dom}| "
    return [line[len(prefix):] for line in res.stdout.splitlines()
            if line.startswith(prefix)]


def one(lines, pattern, what):
    found = [m for m in (re.search(pattern, line) for line in lines) if m]
    assert len(found) == 1, f"{what}: {len(found)} lines match {pattern!r}"
    return [int(g) for g in found[0].groups()]


def netfront_counts(res, dom):
    lines = console(res, dom)
    tx, rx = one(lines, r"^net: netfront: tx (\d+) frames \d+ slots 0 errors; "
                        r"rx (\d+) frames \d+ slots 0 errors 0 dropped; 0 bad responses$",
                 dom)
    resumes, cancels, resent, lost, rx_lost, unread = one(
        lines, r"^net: netfront: (\d+) resumes, (\d+) cancels: tx (\d+) sent again "
               r"(\d+) lost; rx (\d+) dropped at resume, (\d+) unread at close$", dom)
    return dict(tx=tx, rx=rx, resumes=resumes, cancels=cancels, resent=resent,
                tx_lost=lost, rx_lost=rx_lost, unread=unread)


NETBACK = re.compile(r"^xensim: netback: d\d+ \((\w+)\) vif 0: tx (\d+) frames \d+ bytes "
                     r"(\d+) errors (\d+) dropped, rx (\d+) frames \d+ bytes (\d+) errors "
                     r"(\d+) dropped$")
SWITCH = re.compile(r"^xensim: switch (\w+): (\d+) frames in, (\d+) forwarded, (\d+) "
                    r"flooded, (\d+) dropped, (\d+) unreached, (\d+) discarded$")


def netback_counts(res):
    """Each guest's vif counters from its last disconnect line (the backend
    lives on across in-process resumes, so they are totals)."""
    last = {}
    for line in res.stderr.splitlines():
        m = NETBACK.match(line)
        if m:
            tx, txe, txd, rx, rxe, rxd = map(int, m.groups()[1:])
            last[m[1]] = dict(tx=tx, tx_errors=txe, tx_dropped=txd, rx=rx, rx_errors=rxe,
                              rx_dropped=rxd)
    return last


def switch_counts(res):
    """Per switch, summed over its lives (it goes with its last port)."""
    tot = defaultdict(lambda: defaultdict(int))
    for line in res.stderr.splitlines():
        m = SWITCH.match(line)
        if m:
            for k, v in zip(("in", "forwarded", "flooded", "dropped", "unreached",
                             "discarded"), map(int, m.groups()[1:])):
                tot[m[1]][k] += v
    return tot


def check_every_frame_accounted(res, doms, before=None):
    """before: the run that saved the guests (its backends' and switches'
    counts add to this one's; the guests' counters span both)."""
    nf = {d: netfront_counts(res, d) for d in doms}
    nb = netback_counts(res)
    sw = switch_counts(res)
    if before is not None:
        for d, counts in netback_counts(before).items():
            for k, v in counts.items():
                nb[d][k] += v
        for name, counts in switch_counts(before).items():
            for k, v in counts.items():
                sw[name][k] += v
    for d in doms:
        f, b = nf[d], nb[d]
        # Nothing the guest queued was lost or sent twice by the resumes.
        assert f["tx_lost"] == 0, (d, f)
        assert b["tx"] == f["tx"] and b["tx_errors"] == 0 and b["tx_dropped"] == 0, (d, f, b)
        # What reached its rx ring, the guest read or counted.
        assert b["rx_errors"] == 0, (d, b)
        assert b["rx"] == f["rx"] + f["rx_lost"] + f["unread"], (d, f, b)
    for name in set(SWITCH_OF[d] for d in doms):
        on = [d for d in doms if SWITCH_OF[d] == name]
        s = sw[name]
        sent = sum(nb[d]["tx"] for d in on)
        assert s["in"] == sent, (name, s, sent)
        # Two ports: a flooded frame reaches the other one or nobody.
        delivered = sum(nb[d]["rx"] + nb[d]["rx_dropped"] for d in on)
        assert delivered + s["dropped"] + s["unreached"] + s["discarded"] == sent, (name, s)
    # The apps' view: frames sent = frames received + counted drops.
    app_sent = sum(nf[d]["tx"] for d in doms)
    app_got = sum(nf[d]["rx"] for d in doms)
    drops = (sum(nf[d]["rx_lost"] + nf[d]["unread"] + nb[d]["rx_dropped"] for d in doms) +
             sum(sw[n]["dropped"] + sw[n]["unreached"] + sw[n]["discarded"]
                 for n in set(SWITCH_OF[d] for d in doms)))
    assert app_sent == app_got + drops, (app_sent, app_got, drops)
    return nf, nb, sw


@pytest.mark.parametrize("seed", [1, 7])
def test_traffic_across_suspends_every_frame_accounted(run, seed):
    res = run(["run", SCN, "--seed", seed], timeout=300)
    assert res.status == 0, res.describe()
    nf, nb, sw = check_every_frame_accounted(res, "abcd")
    assert (nf["a"]["resumes"], nf["a"]["cancels"]) == (3, 2)
    assert nf["b"]["resumes"] == 1
    assert (nf["c"]["resumes"], nf["c"]["cancels"]) == (2, 2)
    # c's backend froze at each request: what c queued meanwhile went again
    # on the new rings, and the sink still got each frame once.
    assert nf["c"]["resent"] >= 1, nf["c"]
    a = console(res, "a")
    sent, again = one(a, r"^net: ping: (\d+) frames in \d+ us virtual, (\d+) sent again; ",
                      "a")
    got, dup = one(console(res, "b"), r"^net: sent \d+ received (\d+) lost 0 dup (\d+) "
                                      r"bad 0$", "b")
    assert got == sent and dup <= again
    # Every vif came back with its MAC on its switch.
    for d, mac in (("a", "0a"), ("c", "0c")):
        connects = [line for line in res.stderr.splitlines()
                    if re.match(rf"^xensim: netback: d\d+ \({d}\) vif 0: connected: ", line)]
        assert len(connects) == 1 + nf[d]["resumes"], connects
        assert all(f"00:16:3e:00:00:{mac} on switch {SWITCH_OF[d]} " in line
                   for line in connects), connects


def test_same_seed_same_run(run):
    one_run = run(["run", SCN, "--seed", 4], timeout=300)
    two_run = run(["run", SCN, "--seed", 4], timeout=300)
    assert one_run.status == 0, one_run.describe()
    assert one_run.stdout == two_run.stdout


# ---- save in one process, restore in another ---------------------------------

SAVE = """scenario net-save
domain a image=net memory=32 vcpus=2 cmdline="role=ping frames=100000 duration=30 gap=20 maxsize=9018 timeout=2 suspend=1"
domain b image=net memory=32 cmdline="role=pong frames=100000 timeout=2 suspend=1"
nic a switch=lan mac=00:16:3e:00:00:0a pcap=a.pcap
nic b switch=lan mac=00:16:3e:00:00:0b
limit vtime=2s
save a at=12ms file=a.xen
save b at=12ms file=b.xen
expect a end suspend
expect b end suspend
"""

RESTORE = """scenario net-restore
restore a file=a.xen
restore b file=b.xen
limit vtime=2s
expect a console-re "^net: sent ([0-9]+) received \\\\1 lost 0 dup [0-9]+ bad 0$"
expect a console "net: done"
expect b console "net: done"
expect a no-report ""
expect b no-report ""
expect a end poweroff
expect b end poweroff
"""


@pytest.fixture
def saved(run, tmp_path):
    """A fresh save of a and b in tmp_path (the images name tmp_path's
    a.pcap, so each test restores its own)."""
    d = tmp_path
    (d / "save.scn").write_text(SAVE)
    (d / "restore.scn").write_text(RESTORE)
    res = run(["run", d / "save.scn", "--seed", 5], timeout=120)
    assert res.status == 0, res.describe()
    assert "saved a (d1" in res.stderr and "saved b (d2" in res.stderr, res.describe()
    return d, res


def test_images_carry_the_vif(saved):
    d, _ = saved
    # XENSIM_DEVICES: the vif's switch, its MAC and its capture file.
    line = b'vif 0 0 switch=lan mac=00:16:3e:00:00:0a pcap="' + str(d / "a.pcap").encode()
    assert line + b'"\n' in (d / "a.xen").read_bytes(), "no vif line in a.xen"
    assert b"vif 0 0 switch=lan mac=00:16:3e:00:00:0b\n" in (d / "b.xen").read_bytes()


def test_a_second_process_carries_the_traffic_on(run, saved):
    d, first = saved
    before = (d / "a.pcap").stat().st_size
    res = run(["run", d / "restore.scn", "--seed", 5], timeout=120)
    assert res.status == 0, res.describe()
    a, b = console(res, "a"), console(res, "b")
    assert any(re.match(r"^netfront: vif 0: resumed: \d+ frames? sent again, 0 lost;", x)
               for x in a), a
    sent, got = one(a, r"^net: sent (\d+) received (\d+) lost 0 dup \d+ bad 0$", "a")
    assert sent == got
    assert one(a, r"^net: peer received (\d+)$", "a") == [sent]
    assert "net: done" in a and "net: done" in b
    # Back on switch lan with the same MACs, in the new process.
    for dom, mac in (("a", "0a"), ("b", "0b")):
        assert re.search(rf"netback: d\d+ \({dom}\) vif 0: connected: 00:16:3e:00:00:{mac} "
                         r"on switch lan ", res.stderr), res.stderr
    # Every frame of both processes is accounted for.
    check_every_frame_accounted(res, "ab", before=first)
    # The capture went on in the same file, in time order.
    assert (d / "a.pcap").stat().st_size > before
    if shutil.which("tshark"):
        out = subprocess.run(["tshark", "-r", str(d / "a.pcap"), "-T", "fields", "-e",
                              "frame.time_epoch"], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        times = [float(t) for t in out.stdout.split()]
        assert times == sorted(times) and times[-1] > 0.012
        nb1, nb2 = netback_counts(first)["a"], netback_counts(res)["a"]
        assert len(times) == nb1["tx"] + nb1["rx"] + nb2["tx"] + nb2["rx"]


def test_restore_refuses_a_bad_vif_line(run, saved):
    d, _ = saved
    img = (d / "b.xen").read_bytes()
    (d / "b.xen").write_bytes(img.replace(b"mac=00:16:3e:00:00:0b", b"mac=zz:16:3e:00:00:0b"))
    res = run(["run", d / "restore.scn", "--seed", 5], timeout=60)
    assert res.status != 0
    assert "device vif/0: bad configuration" in res.stdout + res.stderr, res.describe()


def test_capture_is_not_appended_to_a_foreign_file(run, saved):
    d, _ = saved
    (d / "a.pcap").write_bytes(b"not a capture at all, just text\n")
    res = run(["run", d / "restore.scn", "--seed", 5], timeout=60)
    assert res.status != 0
    assert "not a capture xensim wrote" in res.stdout + res.stderr, res.describe()
    assert (d / "a.pcap").read_bytes() == b"not a capture at all, just text\n"


def test_nic_suspend_takes_serve_or_freeze(run, tmp_path):
    scn = tmp_path / "bad.scn"
    scn.write_text("domain a image=net memory=32\nnic a suspend=pause\n")
    res = run(["run", scn], timeout=30)
    assert res.status == 2, res.describe()
    assert "nic a: suspend must be serve or freeze, not 'pause'" in res.stderr, res.describe()
