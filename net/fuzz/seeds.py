#!/usr/bin/env python3
"""Writes a starting corpus for the decode target to fuzz/corpus/decode/: inputs
in the target's sequence format (a flags byte, then per datagram a record
of length, source and time step and the datagram, CRC and MAC left zero for
the target to fill in). Optional: libFuzzer finds these shapes by itself,
only more slowly.

    python3 fuzz/seeds.py && cargo +nightly fuzz run decode
"""
import hashlib
import os
import struct

BOOT = 0xB0B0B0B0  # the fuzzed endpoint's boot id (fuzz_targets/decode.rs)
CLIENT = 1 << 63


def datagram(frm, boot, msg_id=0, frag=(0, 0), data=b"", acks=(), ack_boot=0, low=0, mac=False, to=2):
    flags = (1 if data or msg_id else 0) | (2 if acks else 0) | (4 if mac else 0)
    out = struct.pack(">HBBI", 0x524E, 2, flags, 0)
    out += struct.pack(">QQQQQQQ", 42, frm, to, boot, ack_boot if acks else 0, msg_id, low)
    out += struct.pack(">HHHH", frag[0], frag[1], len(data), len(acks))
    for i, f in acks:
        out += struct.pack(">QH", i, f)
    return out + data + (b"\0" * 16 if mac else b"")


def record(d, source=0, step=0):
    return struct.pack(">HBB", len(d), source, step) + d


def data(frm, boot, msg_id, payload=b"hello", **kw):
    return datagram(frm, boot, msg_id, (0, 1), payload, **kw)


def input_(flags, *records):
    return bytes([flags]) + b"".join(records)


A, B, C, D = 0x1111, 0x2222, 0x3333, 0x4444
frags = [datagram(1, A, 5, (i, 3), bytes([i]) * 1024) for i in range(3)]
ours = [(1, 0), (2, 0), (2, 1), (2, 2)]
seeds = [
    input_(0, record(data(1, A, 1))),
    input_(0, record(data(1, A, 1)), record(data(1, A, 1), step=1)),
    input_(0, record(frags[2]), record(frags[0]), record(frags[1]), record(frags[1])),
    input_(0, record(frags[0]), record(frags[1], step=255), record(frags[2])),
    input_(0, record(datagram(1, A, acks=ours, ack_boot=BOOT))),
    input_(0, record(datagram(3, C, acks=[(1, 0)], ack_boot=BOOT), source=1)),
    input_(0, record(data(1, A, 2, acks=[(2, 1)], ack_boot=BOOT, low=2))),
    input_(0, record(datagram(1, A, acks=ours, ack_boot=BOOT + 1))),
    input_(0, *[record(data(1, b, 1)) for b in (A, B, C, D, A, B)]),
    input_(0, record(data(1, A, 1)), record(data(1, B, 1)), record(data(1, A, 1)), record(data(1, A, 2))),
    input_(0, *[record(data(1, A, i, low=max(i - 2, 0))) for i in (1, 2, 3, 2, 4, 1)]),
    input_(0, record(data(3, C, 1), source=1), record(data(1, C, 1), source=1)),
    input_(0, *[record(d, step=50) for d in (data(1, A, 1), data(1, A, 2))]),
    input_(2, record(data(CLIENT + 7, A, 1), source=2), record(data(CLIENT + 7, A, 1), source=3)),
    input_(2, record(data(CLIENT + 7, A, 1), source=2), record(data(CLIENT + 8, B, 1), source=2)),
    input_(2, record(data(CLIENT + 7, A, 1), source=2), record(data(1, A, 1), source=2)),
    input_(1, record(data(1, A, 1, mac=True)), record(data(1, A, 2))),
    input_(3, record(data(CLIENT + 9, A, 1, mac=True), source=3)),
    input_(1, record(datagram(1, A, acks=ours, ack_boot=BOOT, mac=True))),
]
HERE = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(HERE, "corpus/decode"), exist_ok=True)
for s in seeds:
    with open(os.path.join(HERE, "corpus/decode", hashlib.sha1(s).hexdigest()), "wb") as f:
        f.write(s)
print(f"{len(seeds)} seeds in corpus/decode")
