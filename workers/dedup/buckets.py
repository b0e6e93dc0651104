"""Where a band lands in a bucketed band index: pure arithmetic shared by the Redis layout, its
benchmark and its tests.

A band key (`lsh.band_keys`) is hashed once (BLAKE2b, 8 bytes) into a bucket selector `u`
(32 bits) and a field `f` (`field_bits` bits, signed, so that Redis' listpack stores it as a
small integer). A segment of the index with B buckets keeps the band in bucket `u % B` under
field `f`. Two different band keys meet only if both agree, so the layout never loses a
candidate the pure `BandIndex` finds; it only adds false ones, about
`fill / 2**field_bits` per band looked up (fill: the mean fields per bucket).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from canonry.workers.dedup.lsh import DEFAULT_LSH, LSHConfig, band_keys


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
    fill: int = 64
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
    half = 1 << (field_bits - 1)
    out = []
    for key in band_keys(hashvalues, config):
        digest = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
        out.append((digest >> 32, (digest & ((1 << field_bits) - 1)) - half))
    return tuple(out)


def generation_of(seen_at: float, generation_seconds: float) -> int:
    """The time generation a document seen then belongs to; generations are dropped whole."""
    return math.floor(seen_at / generation_seconds)
