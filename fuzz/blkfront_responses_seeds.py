#!/usr/bin/python3
"""Writes the seed corpus of fuzz/blkfront_responses.c into
fuzz/corpus/blkfront_responses/ (the input format is at the top of that
file and in fuzz/README.md).  Each seed is one kind of backend behaviour;
the regress-* ones are inputs that found bugs in blkfront.

    /usr/bin/python3 fuzz/blkfront_responses_seeds.py
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "blkfront_responses")

# hdr[0]: features offered
FLUSH, BARRIER, DISCARD, PERSISTENT, INDIRECT, MQ, ORDER, RO = (1 << i for i in range(8))
ALL = FLUSH | BARRIER | DISCARD | PERSISTENT | INDIRECT | MQ | ORDER

# ops (op & 15)
(ANSWER, LIE, ANSWER_ALL, PROD, NOTIFY, WAIT, STATE, POKE, DATA, NODE, HOLD, DROP,
 UNPLUG, REPLUG, ERROR, ANSWER_QUIET) = range(16)
# STATE arguments
CLOSING, CLOSED, INITWAIT, CONNECTED, UNKNOWN, INITIALISING, JUNK, REMOVED = range(8)


def front(order=0, queues=1, persistent=False, indirect=False, vcpus2=False):
    return (order | (queues - 1) << 3 | persistent << 5 | indirect << 6 | vcpus2 << 7)


def limits(order=4, queues=4, late_initwait=False, junk=False):
    return order | queues << 3 | late_initwait << 6 | junk << 7


def geometry(sectors=0, sector_size=0, indirect=0):
    """sectors {8192, 1, 0, 2^40}, sector-size {512, 4096, none, junk},
    max-indirect-segments {32, 256, 11, 4096}, each by index."""
    return sectors | sector_size << 2 | indirect << 4


def hdr(features=0, fr=0, lim=0, geo=0):
    return bytes([features, fr, lim, geo])


def op(kind, a=0, *args):
    return bytes([kind | a << 4, *args])


def q(queue=0, pick=0):
    return queue | pick << 2


def lie(queue=0, pick=0, id_mode=0, status=0, wrong_op=None, unpushed=False,
        notify=False, x=0, s=0):
    h = id_mode | status << 2 | (wrong_op is not None) << 4 | unpushed << 5 | notify << 6
    args = [h]
    if id_mode in (2, 3):
        args.append(x)
    if status == 3:
        args.append(s)
    if wrong_op is not None:
        args.append(wrong_op)
    return op(LIE, q(queue, pick), *args)


def answers(n, queue=0):
    return b"".join(op(ANSWER, q(queue)) for _ in range(n))


EVERYTHING = hdr(ALL, front(2, 2, True, True), limits(4, 4), geometry())

SEEDS = {
    # Honest backends of several shapes (the input ends: it behaves).
    "honest-nothing-offered": hdr(),
    "honest-everything": EVERYTHING + op(ANSWER_ALL) * 16,
    "honest-order4-4queues-indirect256":
        hdr(ALL, front(4, 4, True, True), limits(4, 4), geometry(indirect=1)) + op(ANSWER_ALL) * 24,
    "honest-copied-indirect":
        hdr(ALL & ~PERSISTENT, front(1, 1, False, True), limits(1, 1)) + answers(40),
    "honest-two-vcpus": hdr(ALL, front(0, 2, False, False, True), limits(0, 2)) + answers(30),
    # Out of order, errors, and each kind of lie.
    "reorder": hdr(FLUSH | DISCARD, front()) + b"".join(
        op(ANSWER, q(0, p)) for p in (3, 1, 2, 0, 3, 2, 1, 0) * 4),
    "errors": hdr(FLUSH | DISCARD) + b"".join(
        op(ERROR, q(0, p) | (8 if p & 1 else 0)) for p in range(3)) + answers(20),
    "lie-unknown-id": hdr(FLUSH) + answers(3) + lie(id_mode=2, x=7),
    "lie-stale-id": hdr(FLUSH) + answers(2) + lie(id_mode=1),
    "lie-bad-status": hdr(FLUSH) + answers(2) + lie(status=3, s=7),
    "lie-wrong-op": hdr(FLUSH) + lie(wrong_op=0x80),
    "lie-swapped-ids": hdr(FLUSH) + lie(id_mode=3, x=1) + lie(id_mode=3, x=0) + answers(8),
    "lie-unpushed-then-push": hdr() + lie(unpushed=True) + lie(pick=1, unpushed=True)
        + op(PROD, q(0, 0)),
    "prod-backwards": hdr() + answers(4) + op(PROD, q(0, 1), 0),
    "prod-past-ring": EVERYTHING + op(PROD, q(1, 2), 3),
    "prod-raw": hdr() + op(PROD, q(0, 3), 0xff, 0xff, 0xff, 0x7f),
    "event-flood": EVERYTHING + op(NOTIFY, q(0, 3)) + op(NOTIFY, q(1, 3)) + op(ANSWER_ALL) * 8,
    # Slow, closing, unplugged.
    # The asynchronous mix answered, then the synchronous requests left to
    # time out: blkfront's sync_op returned with its request (on its stack)
    # still in flight, and the close that failed it later wrote through the
    # dead frame (the guest crashed).
    "regress-sync-timeout": EVERYTHING + op(ANSWER_ALL) * 9 + op(WAIT, 3) * 5,
    "wait-short": hdr(FLUSH) + op(WAIT, 0) + answers(2) + op(WAIT, 1) + answers(2)
        + op(WAIT, 2) + answers(10),
    "closing-mid-io": hdr(FLUSH | DISCARD) + answers(2) + op(STATE, CLOSING),
    "closed-mid-io": EVERYTHING + op(STATE, CLOSED),
    "junk-state": hdr() + answers(1) + op(STATE, JUNK) + answers(3),
    "state-removed": hdr() + op(STATE, REMOVED) + answers(3),
    "initwait-while-connected": hdr() + answers(2) + op(STATE, INITWAIT) + answers(20),
    "deaf-close": hdr(FLUSH) + answers(4) + op(STATE, CONNECTED | 8) + op(WAIT, 3 | 4),
    "unplug-replug": hdr(FLUSH | DISCARD) + answers(3) + op(UNPLUG) + op(WAIT, 3)
        + op(REPLUG) + answers(20),
    "late-initwait": hdr(FLUSH, 0, limits(late_initwait=True)) + answers(10),
    # Grants held, data early, the ring scribbled on, nodes changed.
    "hold-grants": hdr(FLUSH) + op(HOLD, q(0, 0)) + op(HOLD, q(0, 2)) + answers(10),
    "data-early": hdr() + op(DATA, q(0, 0), 2) + op(DATA, q(0, 2), 0x55) + answers(10),
    "poke-ring": hdr() + op(POKE, q(0), 0x40, 0x00, 8, *b"\x01\x00\x00\x00\x00\x00\x00\x00"),
    "node-changes": hdr(FLUSH) + op(NODE, 0, 0) + op(NODE, 5 | 8) + answers(30),
    "drop-requests": hdr(FLUSH) + op(DROP, q(0, 1)) + op(DROP, q(0, 0)) + answers(20),
    # Disks the frontend must refuse, or use carefully.
    "read-only": hdr(RO | FLUSH | DISCARD) + answers(30),
    "one-sector": hdr(DISCARD, 0, 0, geometry(sectors=1)) + answers(10),
    "zero-sectors": hdr(0, 0, 0, geometry(sectors=2)) + answers(10),
    "huge-disk": hdr(DISCARD, 0, 0, geometry(sectors=3)) + answers(30),
    # A disk blkfront cannot use (4096-byte sectors) after the backend
    # connected: blkfront freed its rings without telling the backend, which
    # kept them mapped (grants left open, the device stuck).
    "regress-connect-abandon": hdr(0, 0, 0, geometry(sector_size=1)),
    # The backend's limits drop between two connections (as after a move to
    # another backend): the reconnect negotiates one page, or one queue, and
    # blkfront left the earlier ring-page-order / multi-queue-num-queues in
    # place, naming rings it no longer granted.
    "regress-stale-ring-order": hdr(ORDER, front(2), limits(4, 0)) + op(NODE, 5, 0),
    "regress-stale-queues": hdr(MQ, front(0, 2), limits(0, 2)) + op(NODE, 6, 1),
    "junk-sector-size": hdr(0, 0, 0, geometry(sector_size=3)),
    "junk-features": hdr(ALL, front(2, 2, True, True), limits(4, 4, junk=True)) + answers(30),
    "limits-lower-than-asked": hdr(ALL, front(4, 4, True, True), limits(1, 2),
                                   geometry(indirect=2)) + op(ANSWER_ALL) * 20,
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {OUT}")


if __name__ == "__main__":
    main()
