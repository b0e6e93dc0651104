"""Where a band lands in a bucketed band index: pure arithmetic shared by the Redis layout, its
benchmark and its tests.

A band (its number and its `rows` values, what `lsh.band_keys` spells out) is hashed once
(64 bits, `band_address_arrays`) into a bucket selector `u` (32 bits) and a field `f`
(`field_bits` bits, signed, so that Redis' listpack stores it as a small integer). A segment
of the index with B buckets keeps the band in bucket `u % B` under field `f`. Equal bands
always meet, so the layout never loses a candidate the pure `BandIndex` finds; it only adds
false ones, about `fill / 2**field_bits` per band looked up (fill: the mean fields per bucket).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from canonry.workers.dedup.lsh import DEFAULT_LSH, LSHConfig


@dataclass(frozen=True, slots=True)
class BucketLayout:
    """field_bits: bits of a band's field (13, 16 or 24: listpack stores signed integers of
                those widths in 2, 3 or 4 bytes, plus one byte of back-length).
    fill:       the mean number of fields a segment's bucket is sized for. It must stay well
                under Redis' hash-max-listpack-entries (default 128), or buckets turn into
                real hash tables (about 6 times the bytes).
    min_buckets: the smallest segment (a new deployment's first one).
    """

    field_bits: int = 16
    fill: int = 96
    min_buckets: int = 64

    def __post_init__(self) -> None:
        if not 2 <= self.field_bits <= 32:
            raise ValueError("field_bits must be in 2..32")
        if self.fill < 1 or self.min_buckets < 1:
            raise ValueError("fill and min_buckets must be positive")

    def buckets_for(self, documents: int, config: LSHConfig = DEFAULT_LSH) -> int:
        """Buckets of a segment meant to hold `documents` at `fill` fields per bucket."""
        return max(self.min_buckets, math.ceil(documents * config.bands / self.fill))

    def capacity(self, buckets: int, config: LSHConfig = DEFAULT_LSH) -> int:
        """Documents a segment of `buckets` takes before the next, twice as large, opens."""
        return max(1, buckets * self.fill // config.bands)


DEFAULT_LAYOUT = BucketLayout()


def band_addresses(hashvalues: Sequence[int], config: LSHConfig = DEFAULT_LSH,
                   layout: BucketLayout = DEFAULT_LAYOUT) -> tuple[tuple[int, int], ...]:
    """Per band, (u, f): the bucket selector and the field (see the module docstring)."""
    return _addresses(tuple(hashvalues), config, layout.field_bits)


@lru_cache(maxsize=8192)
def _addresses(hashvalues: tuple[int, ...], config: LSHConfig,
               field_bits: int) -> tuple[tuple[int, int], ...]:
    u, f = band_address_arrays(np.asarray([hashvalues], dtype=np.uint64), config, field_bits)
    return tuple(zip(u[0].tolist(), f[0].tolist(), strict=True))


def band_address_arrays(signatures: np.ndarray, config: LSHConfig = DEFAULT_LSH,
                        field_bits: int = DEFAULT_LAYOUT.field_bits
                        ) -> tuple[np.ndarray, np.ndarray]:
    """`band_addresses` of a (documents x values) array at once: (u, f), documents x bands.

    The hash: per band, its number and its `rows` values folded by multiply-xorshift, then
    the splitmix64 finaliser, all mod 2**64 (numpy wraps). Vectorised, because a rebuild
    addresses every band of every document (8.5 M for 100 k documents)."""
    needed = config.bands * config.rows
    if signatures.shape[1] < needed:
        raise ValueError(f"{signatures.shape[1]} hash values cannot fill {needed} band rows")
    rows = signatures[:, :needed].astype(np.uint64).reshape(len(signatures), config.bands,
                                                             config.rows)
    with np.errstate(over="ignore"):
        h = (np.arange(config.bands, dtype=np.uint64) + _K0) * _K1
        h = np.broadcast_to(h, rows.shape[:2]).copy()
        for r in range(config.rows):
            h = (h ^ rows[:, :, r]) * _K2
            h ^= h >> np.uint64(29)
        h ^= h >> np.uint64(30)
        h *= _K3
        h ^= h >> np.uint64(27)
        h *= _K4
        h ^= h >> np.uint64(31)
    u = (h >> np.uint64(32)).astype(np.int64)
    mask = np.uint64((1 << field_bits) - 1)
    f = (h & mask).astype(np.int64) - (1 << (field_bits - 1))
    return u, f


_K0 = np.uint64(0x9E3779B97F4A7C15)
_K1 = np.uint64(0xD6E8FEB86659FD93)
_K2 = np.uint64(0xFF51AFD7ED558CCD)
_K3 = np.uint64(0xBF58476D1CE4E5B9)
_K4 = np.uint64(0x94D049BB133111EB)


def generation_of(seen_at: float, generation_seconds: float) -> int:
    """The time generation a document seen then belongs to; generations are dropped whole."""
    return math.floor(seen_at / generation_seconds)


def generations_of(seen_at: np.ndarray, generation_seconds: float) -> np.ndarray:
    """`generation_of` of many times at once (a bulk load's), as int64."""
    return np.floor(np.asarray(seen_at, dtype=np.float64) / generation_seconds).astype(np.int64)
