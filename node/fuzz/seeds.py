#!/usr/bin/env python3
"""Writes a starting corpus for the wire_decode target to fuzz/corpus/wire_decode/:
one file per core state (byte 0) and message mix, each a mode byte followed
by postcard-encoded `node::proto::Wire` values. Optional: libFuzzer finds
these shapes by itself, only more slowly.

    python3 fuzz/seeds.py && cargo +nightly fuzz run wire_decode
"""
import hashlib
import os


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def blob(b):
    return varint(len(b)) + b


def msg(frm, term, body, to=1):
    return varint(0) + varint(frm) + varint(to) + varint(term) + body


def request_vote(last_index, last_term):
    return varint(0) + varint(last_index) + varint(last_term)


def vote_reply(granted):
    return varint(1) + bytes([granted])


def append(prev_index, prev_term, entries, commit):
    out = varint(2) + varint(prev_index) + varint(prev_term) + varint(len(entries))
    for index, term, data in entries:
        out += varint(index) + varint(term) + blob(data)
    return out + varint(commit)


def success(match_index):
    return varint(3) + varint(0) + varint(match_index)


def conflict(rejected, conflict_term, conflict_index):
    t = b"\x00" if conflict_term is None else b"\x01" + varint(conflict_term)
    return varint(3) + varint(1) + varint(rejected) + t + varint(conflict_index)


def stale():
    return varint(3) + varint(2)


def request(seq, command):
    return varint(1) + varint(seq) + blob(command)


def kv(client, seq, op, key, value=None):
    out = varint(client) + varint(seq) + varint(op) + blob(key.encode())
    return out + (blob(value) if value is not None else b"")


MESSAGES = [
    msg(2, 1, request_vote(0, 0)),
    msg(3, 4, request_vote(3, 2)),
    msg(2, 1, vote_reply(1)),
    msg(3, 2, vote_reply(0)),
    msg(2, 1, append(0, 0, [], 0)),
    msg(2, 2, append(0, 0, [(1, 1, b"a"), (2, 2, b"b")], 1)),
    msg(3, 3, append(2, 1, [(3, 3, b"x")], 3)),
    msg(2, 3, append(4, 2, [(5, 3, kv(1 << 63, 1, 0, "k", b"v"))], 5)),
    msg(2, 3, success(4)),
    msg(3, 3, success(6)),
    msg(2, 3, conflict(4, 2, 3)),
    msg(3, 3, conflict(2, None, 1)),
    msg(2, 5, stale()),
    request(1, kv(1 << 63, 1, 0, "k", b"v")),
    request(2, kv(1 << 63, 2, 1, "k")),
    request(3, kv(5, 1, 2, "k")),
    varint(3) + varint(9),  # StatusQuery: 9 ticks
    varint(3) + varint(63),  # StatusQuery: 63 ticks (an election timeout)
    varint(2) + varint(1) + varint(3),  # Reply Busy: a persist
]

HERE = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(HERE, "corpus/wire_decode"), exist_ok=True)
seeds = []
for mode in range(6):
    for flags in (0x00, 0x08, 0x10):
        for i, m in enumerate(MESSAGES):
            seeds.append(bytes([mode | flags]) + m + MESSAGES[(i + 5) % len(MESSAGES)])
        seeds.append(bytes([mode | flags]) + b"".join(MESSAGES))
for s in seeds:
    name = hashlib.sha1(s).hexdigest()
    with open(os.path.join(HERE, "corpus/wire_decode", name), "wb") as f:
        f.write(s)
print(f"{len(seeds)} seeds in corpus/wire_decode")
