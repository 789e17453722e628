#!/usr/bin/env python3
"""Writes the seed corpus of nbd_protocol_fuzzer into fuzz_corpus/.

Each seed is what a client sends: client flags, options, then transmission
requests (the fuzzer parses what follows a completed handshake as requests).
Run it again after changing it; the seeds are committed.
"""
import os
import struct

OPT_MAGIC = 0x49484156454F5054
REQ_MAGIC = 0x25609513
EXPORT_NAME, ABORT, LIST, INFO, GO, STRUCTURED, LIST_META, SET_META = 1, 2, 3, 6, 7, 8, 9, 10
READ, WRITE, DISC, FLUSH, TRIM, CACHE, ZEROES, BLOCK_STATUS = 0, 1, 2, 3, 4, 5, 6, 7
FUA, NO_HOLE, DF, REQ_ONE, FAST_ZERO = 1, 2, 4, 8, 16


def flags(f=3):
    return struct.pack(">I", f)


def opt(o, data=b""):
    return struct.pack(">QII", OPT_MAGIC, o, len(data)) + data


def go_data(name=b"", infos=()):
    return struct.pack(">I", len(name)) + name + struct.pack(">H", len(infos)) + b"".join(
        struct.pack(">H", i) for i in infos)


def meta(name=b"", queries=()):
    return struct.pack(">I", len(name)) + name + struct.pack(">I", len(queries)) + b"".join(
        struct.pack(">I", len(q)) + q for q in queries)


def req(t, f=0, cookie=1, offset=0, length=0, magic=REQ_MAGIC):
    return struct.pack(">IHHQQI", magic, f, t, cookie, offset, length)


seeds = {
    "go_simple": flags() + opt(GO, go_data()) + req(READ, 0, 1, 0, 4096) + req(WRITE, FUA, 2, 100, 8) + b"payload!"
    + req(FLUSH, 0, 3) + req(TRIM, 0, 4, 4096, 8192) + req(CACHE, 0, 5, 0, 65536) + req(DISC),
    "structured_meta": flags() + opt(STRUCTURED) + opt(SET_META, meta(b"", [b"base:allocation"]))
    + opt(GO, go_data(b"uzram", [3, 1, 2])) + req(BLOCK_STATUS, REQ_ONE, 1, 0, 1 << 20)
    + req(BLOCK_STATUS, 0, 2, 5000, 300000) + req(READ, DF, 3, 1048000, 700)
    + req(ZEROES, NO_HOLE | FAST_ZERO, 4, 4095, 9000) + req(WRITE, 0, 5, (1 << 20) + 100, 23) + b"x" * 23,
    "export_name": flags(1) + opt(EXPORT_NAME, b"uzram") + req(WRITE, 0, 1, 0, 5) + b"hello" + req(READ, 0, 2, 0, 5),
    "haggle_then_abort": flags() + opt(LIST) + opt(INFO, go_data(b"", [3])) + opt(LIST_META, meta(b"", []))
    + opt(LIST_META, meta(b"", [b"base:"])) + opt(5) + opt(11) + opt(99, b"junk") + opt(ABORT),
    "oversized_option": flags() + struct.pack(">QII", OPT_MAGIC, INFO, 70000) + b"\0" * 100,
    "bad_request_magic": flags() + opt(GO, go_data()) + req(READ, 0, 1, 0, 10, magic=0xdeadbeef),
    "oversized_requests": flags() + opt(STRUCTURED) + opt(GO, go_data()) + req(READ, 0, 1, 0, (32 << 20) + 1)
    + req(WRITE, 0, 2, 0, 40) + b"w" * 40 + req(8, 0, 3) + req(77, 0, 4) + req(READ, 1 << 9, 5, 0, 1),
    "malformed_go": flags() + opt(GO, b"\0\0\0\x09abc") + opt(SET_META, meta(b"", [b"base:allocation"]))
    + opt(GO, go_data(b"nope")) + opt(GO, go_data()),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_corpus")
os.makedirs(here, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
