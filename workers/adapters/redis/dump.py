"""Redis `DUMP` payloads of small integer hashes, built in numpy for the index rebuild.

A rebuild writes ~85 postings per document into ~1 bucket hash per 96 postings. Sent as HSET
(even from Lua) Redis spends about 2.5 us a posting parsing arguments and inserting into the
listpack one field at a time: 20 s for 100 k documents. `RESTORE` of a ready listpack is a
memcpy and a checksum: the whole bucket in one step, ~50 times less Redis time. So the rebuild
serialises each bucket as Redis itself would (`DUMP` of the same hash gives these bytes):

    payload  = type 16 (hash, listpack) | RDB length of the listpack | listpack
               | RDB version (2 bytes LE) | CRC-64/Jones of everything before (8 bytes LE)
    listpack = total bytes (u32 LE) | elements (u16 LE) | entries | 0xFF
    entry    = integer encoding (the smallest of 7-bit uint, 13-, 16-, 24-, 32-bit signed)
               | back-length (1 byte: every entry here is shorter than 128 bytes)

Redis itself LZF-compresses a listpack in DUMP when that saves bytes; RESTORE takes either.
RDB version 10 (Redis 7.0, the first with listpack hashes) is accepted by every later Redis.
Integers only: the index's fields and values are integers (a value shared by several ids,
"7,912", is written afterwards by HSET). Redis converts a restored hash that has more fields
than its `hash-max-listpack-entries` into a hash table, as HSET would.

The checksum is computed for many payloads at once, a column of bytes per step: payloads are
right-aligned in the batch, as if padded with zero bytes in front, which leave a CRC that
starts at 0 (as this one does) unchanged; a column only touches the payloads that reach it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

RDB_VERSION = 10
_TYPE_HASH_LISTPACK = 16
_INTEGER = re.compile(rb"-?(0|[1-9][0-9]{0,18})")  # what Redis would store as an integer
_CRC_BATCH = 16_384  # payloads per checksum batch: one numpy step per byte column


def _crc64_table() -> np.ndarray:
    poly = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9 (Jones) bit-reversed: a reflected CRC
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return np.array(table, dtype=np.uint64)


_CRC_TABLE = _crc64_table()


def crc64(data: bytes) -> int:
    """Redis' CRC-64 (Jones polynomial, reflected, init 0) of one buffer; for tests and
    single payloads (`crc64_many` does batches)."""
    crc = 0
    table = _CRC_TABLE.tolist()
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def crc64_many(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The CRC-64 of `buffer[starts[i]:starts[i] + lengths[i]]` for every i, as uint64."""
    out = np.zeros(len(starts), dtype=np.uint64)
    eight, mask = np.uint64(8), np.uint64(0xFF)
    for low in range(0, len(starts), _CRC_BATCH):
        n = lengths[low:low + _CRC_BATCH].astype(np.int64)
        longest_first = np.argsort(-n, kind="stable")
        n = n[longest_first]
        width = int(n[0]) if len(n) else 0
        pad = width - n  # ascending: at column c, the rows with pad <= c are a prefix
        at = starts[low:low + _CRC_BATCH].astype(np.int64)[longest_first] - pad
        active = np.searchsorted(pad, np.arange(width), side="right")
        crc = np.zeros(len(n), dtype=np.uint64)
        for column, k in enumerate(active.tolist()):
            c = crc[:k]
            crc[:k] = _CRC_TABLE[(c ^ buffer[at[:k] + column]) & mask] ^ (c >> eight)
        out[low + longest_first] = crc
    return out


def _entry_images(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each integer's listpack entry, back-length included: (bytes, a row of 6 per value;
    sizes, how many of its row are used)."""
    v = values.astype(np.int32)
    small = (v >= 0) & (v < 128)
    c13 = ~small & (v >= -(1 << 12)) & (v < (1 << 12))
    c16 = ~small & ~c13 & (v >= -(1 << 15)) & (v < (1 << 15))
    c24 = ~small & ~c13 & ~c16 & (v >= -(1 << 23)) & (v < (1 << 23))
    sizes = np.full(len(v), 6, dtype=np.int8)  # 32-bit: 0xF3, 4 bytes, back-length
    sizes[c24], sizes[c16], sizes[c13], sizes[small] = 5, 4, 3, 2
    le = v.view(np.uint8).reshape(len(v), 4)  # two's complement, little-endian bytes
    image = np.empty((len(v), 6), dtype=np.uint8)
    image[:, 0] = 0xF3
    image[c24, 0] = 0xF2
    image[c16, 0] = 0xF1
    image[:, 1:5] = le
    image[:, 5] = 5
    image[c24, 4] = 4
    image[c16, 3] = 3
    image[c13, 0] = 0xC0 | (le[c13, 1] & 0x1F)
    image[c13, 1] = le[c13, 0]
    image[c13, 2] = 2
    image[small, 0] = le[small, 0]
    image[small, 1] = 1
    return image, sizes


@lru_cache(maxsize=1)
def _int16_images() -> tuple[np.ndarray, np.ndarray]:
    """`_entry_images` of every 16-bit integer, from -32768: a lookup beats the arithmetic."""
    return _entry_images(np.arange(-(1 << 15), 1 << 15))


def _rdb_length(n: int) -> bytes:
    """An RDB length: 6 bits, 14 bits or 32 bits (big-endian) after a tag."""
    if n < 64:
        return bytes((n,))
    if n < 16384:
        return bytes((0x40 | n >> 8, n & 0xFF))
    return b"\x80" + n.to_bytes(4, "big")


@dataclass(frozen=True, slots=True)
class Payloads:
    """DUMP payloads back to back: payload i is `blob[starts[i]:starts[i] + lengths[i]]`."""

    blob: bytes
    starts: np.ndarray  # int64
    lengths: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> bytes:
        start = int(self.starts[i])
        return self.blob[start:start + int(self.lengths[i])]

    def span(self, low: int, high: int) -> bytes:
        """Payloads low..high-1, still back to back."""
        if low >= high:
            return b""
        end = int(self.starts[high - 1] + self.lengths[high - 1])
        return self.blob[int(self.starts[low]):end]


def hash_payloads(counts: np.ndarray, fields: np.ndarray, values: np.ndarray) -> Payloads:
    """DUMP payloads of hashes of integers: hash i holds the next `counts[i]` (field, value)
    pairs of `fields`/`values` (grouped by hash, distinct fields within one). 32-bit signed
    integers only; a hash needs at least one pair."""
    counts = np.asarray(counts, dtype=np.int64)
    fields = np.asarray(fields)
    values = np.asarray(values)
    if len(fields) != len(values) or int(counts.sum()) != len(fields):
        raise ValueError("counts must add up to the pairs given")
    if len(counts) and (counts.min() < 1 or counts.max() >= 32767):
        raise ValueError("a hash here holds 1 to 32766 pairs")
    for array in (fields, values):
        if len(array) and (array.min() < -(1 << 31) or array.max() >= (1 << 31)):
            raise ValueError("only 32-bit signed integers are encoded")
    image = np.empty((2 * len(fields), 6), dtype=np.uint8)
    sizes = np.empty(2 * len(fields), dtype=np.int8)
    if len(fields) and fields.min() >= -(1 << 15) and fields.max() < (1 << 15):
        table, table_sizes = _int16_images()  # the index's 16-bit fields
        at = fields.astype(np.int64) + (1 << 15)
        image[0::2], sizes[0::2] = table[at], table_sizes[at]
    else:
        image[0::2], sizes[0::2] = _entry_images(fields)
    image[1::2], sizes[1::2] = _entry_images(values)
    entries = image[np.arange(6) < sizes[:, None]].tobytes()  # every entry, in order
    if not len(counts):
        return _framed([], [])
    first_element = np.concatenate(([0], np.cumsum(2 * counts)[:-1]))
    ends = np.cumsum(np.add.reduceat(sizes.astype(np.int64), first_element)).tolist()
    bodies = [entries[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    return _framed(bodies, (2 * counts).tolist())


def string_hash_payloads(hashes: Sequence[Sequence[tuple[int, str]]]) -> Payloads | None:
    """DUMP payloads of hashes of small integer fields (0..127) and short string values (the
    index's id maps), or None when a value is not stored as a plain short string by Redis
    (64 bytes or more, or a canonical integer, which Redis stores as one)."""
    bodies, elements = [], []
    for pairs in hashes:
        entries = []
        for field, value in pairs:
            raw = value.encode()
            if not 0 <= field < 128 or len(raw) >= 64 or _INTEGER.fullmatch(raw):
                return None
            entries += [bytes((field, 1, 0x80 | len(raw))), raw, bytes((len(raw) + 1,))]
        bodies.append(b"".join(entries))
        elements.append(2 * len(pairs))
    return _framed(bodies, elements)


def _framed(entries: Sequence[bytes], elements: Sequence[int]) -> Payloads:
    """Payloads around each hash's listpack entries (`elements` of them): the RDB type and
    length, the listpack header and end, the RDB version, then the checksums, all at once."""
    tail = b"\xff" + RDB_VERSION.to_bytes(2, "little")  # listpack end, RDB version
    crc_space = bytes(8)
    parts, sizes = [], []
    for body, count in zip(entries, elements, strict=True):
        lp_len = 6 + len(body) + 1
        rdb_length = _rdb_length(lp_len)
        parts += [bytes((_TYPE_HASH_LISTPACK,)), rdb_length, lp_len.to_bytes(4, "little"),
                  count.to_bytes(2, "little"), body, tail, crc_space]
        sizes.append(1 + len(rdb_length) + lp_len + 10)
    buffer = np.frombuffer(bytearray(b"".join(parts)), dtype=np.uint8)
    lengths = np.array(sizes, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    crc = crc64_many(buffer, starts, lengths - 8).astype("<u8")
    ends = starts + lengths
    buffer[(ends[:, None] - 8 + np.arange(8)).ravel()] = crc.view(np.uint8)
    return Payloads(buffer.tobytes(), starts, lengths)
