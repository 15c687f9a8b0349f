#!/usr/bin/python3
"""Write the seed corpus of fuzz/netback_requests.c into fuzz/corpus/netback_requests/
(run from the repository's top directory).  Each seed is a short session in the
harness's input format (see the comment at the top of netback_requests.c)."""
import os
import struct

OUT = 'fuzz/corpus/netback_requests'
# operations (op % 8), queue in bits 3..
TX, TXPROD, RX, RXPROD, GRANT, PEER, POKE, STATE = range(8)
NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED, NETTXF_MORE, NETTXF_EXTRA = 1, 2, 4, 8
EXTRA_GSO, EXTRA_MCAST_ADD, EXTRA_MCAST_DEL, EXTRA_HASH = 1, 2, 3, 4


def cfg(queues=1, split=False, sg=True, gso=True):
    return bytes([(queues - 1) | (4 if split else 0) | (8 if sg else 0) | (16 if gso else 0)])


def op(kind, q=0):
    return bytes([kind | (q << 3)])


def tx(gref, offset, flags, id_, size, q=0):
    slot = struct.pack('<IHHHH', gref, offset, flags, id_, size)
    return op(TX, q) + bytes([len(slot)]) + slot


def extra(type_, flags=0, payload=b'', q=0):
    slot = bytes([type_, flags]) + payload.ljust(10, b'\0')
    return op(TX, q) + bytes([len(slot)]) + slot


def gso(size, gtype=1, more=False, q=0):
    return extra(EXTRA_GSO, 1 if more else 0, struct.pack('<HBBH', size, gtype, 0, 0), q)


def rx(id_, gref, q=0):
    slot = struct.pack('<HHI', id_, 0, gref)
    return op(RX, q) + bytes([len(slot)]) + slot


def grant(ref, page, fl=0):
    return op(GRANT) + struct.pack('<HBB', ref, page, fl)


def prod(kind, v, q=0):
    return op(kind, q) + struct.pack('<I', v)


def peer(length, gso_=False):
    return op(PEER) + struct.pack('<HB', length, 1 if gso_ else 0)


def poke(off, data, q=0):
    return op(POKE, q) + struct.pack('<HB', off, len(data)) + data


def state(s):
    return op(STATE) + bytes([s])


POLL = op(STATE) + bytes([10])
RECONNECT = op(STATE) + bytes([9])


def grants(n, first=32, fl=0):
    return b''.join(grant(first + i, i, fl) for i in range(n))


def rx_buffers(n, q=0, first=100):
    return b''.join(rx(i, first + i, q) for i in range(n)) + b''.join(
        grant(first + i, 32 + i) for i in range(n))


SEEDS = {
    # one frame each way: tx to the peer, a peer frame into posted buffers
    'basic': cfg() + grants(4) + tx(32, 0, 0, 1, 60) + POLL + rx_buffers(4) + peer(100) + POLL
    + POLL + state(4),
    # a 3-slot packet and a 9000-byte peer frame across three rx buffers
    'scatter-gather': cfg() + grants(4) + tx(32, 0, NETTXF_MORE, 1, 5000)
    + tx(33, 0, NETTXF_MORE, 2, 3000) + tx(34, 100, 0, 3, 1000) + POLL + rx_buffers(6)
    + peer(8986) + POLL + POLL,
    # GSO extras both ways, a multicast add and del, then an unknown extra type
    'extras': cfg() + grants(2) + tx(32, 0, NETTXF_EXTRA | NETTXF_CSUM_BLANK, 1, 3000)
    + gso(1448) + tx(0, 0, NETTXF_EXTRA, 2, 0)
    + extra(EXTRA_MCAST_ADD, 0, b'\x01\x00\x5e\x00\x00\x01') + tx(0, 0, NETTXF_EXTRA, 3, 0)
    + extra(EXTRA_MCAST_DEL, 0, b'\x01\x00\x5e\x00\x00\x01') + POLL + rx_buffers(4)
    + peer(2000, True) + POLL + POLL + tx(32, 0, NETTXF_EXTRA, 4, 60) + extra(9) + POLL,
    # refused packets: short header, sizes that do not add up, a bad grant, a
    # split header, 20 slots
    'bad-packets': cfg() + grants(2) + tx(32, 0, 0, 1, 10) + tx(32, 0, NETTXF_MORE, 2, 100)
    + tx(33, 0, 0, 3, 200) + tx(400, 0, 0, 4, 60) + tx(32, 0, NETTXF_MORE, 5, 60)
    + tx(33, 0, 0, 6, 52) + POLL
    + b''.join(tx(32, 0, NETTXF_MORE if i < 19 else 0, 10 + i, 400 if i == 0 else 20)
               for i in range(20)) + POLL,
    # fatal: a slot across its page, a GSO size of 0, a packet past the producer
    'fatal': cfg() + grants(1) + tx(32, 4000, 0, 1, 200) + POLL + RECONNECT
    + tx(32, 0, NETTXF_EXTRA, 2, 60) + gso(0) + POLL + RECONNECT
    + tx(32, 0, NETTXF_MORE, 3, 60) + POLL,
    # impossible producers on both rings
    'bad-prod': cfg() + prod(TXPROD, 300) + POLL + RECONNECT + prod(RXPROD, 1000) + peer(60)
    + POLL + POLL + RECONNECT + prod(TXPROD, 0xffffffff) + POLL,
    # four queues, split channels, frames on several queues
    'queues': cfg(4, split=True) + grants(4) + tx(32, 0, 0, 1, 60, q=1) + tx(33, 0, 0, 2, 60, q=3)
    + rx_buffers(2, q=0) + rx_buffers(2, q=1, first=110) + rx_buffers(2, q=2, first=120)
    + rx_buffers(2, q=3, first=130) + peer(60) + peer(61) + peer(62) + POLL + POLL,
    # no sg, no gso: big and GSO peer frames are dropped
    'no-sg': cfg(sg=False, gso=False) + rx_buffers(4) + peer(5000) + peer(3000, True)
    + peer(60) + POLL + POLL,
    # state changes, reconnects, ring pages scribbled
    'states': cfg(2) + grants(1) + tx(32, 0, 0, 1, 60) + state(5) + state(1) + state(4)
    + RECONNECT + poke(0, b'\xff' * 16) + poke(4096, b'\x05\0\0\0' * 4, q=1) + POLL
    + state(6) + state(3),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name), 'wb') as f:
            f.write(data)
    print('wrote %d seeds to %s' % (len(SEEDS), OUT))


if __name__ == '__main__':
    main()
