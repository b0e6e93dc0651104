"""LSH banding of MinHash signatures and a pure in-memory band index.

Banding is a pure function (`band_keys`) so that the production index — a Redis Lua script
owned by the service — stores exactly the keys computed here; `BandIndex` is the same
structure in memory, for the evaluation and for tests.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Self

import numpy as np

_WIRE_DTYPE = np.dtype("<u4")  # same as fingerprint's stored form


@dataclass(frozen=True, slots=True)
class LSHConfig:
    """`bands` bands of `rows` signature values each; a pair is a candidate when all rows of at
    least one band agree. For a pair of Jaccard s:

        P(candidate | s) = 1 - (1 - s**rows) ** bands

    an S-curve whose knee (steepest part) is near s* = (1 / bands) ** (1 / rows).

    The verifier (`match.MatchConfig`) accepts estimated Jaccard >= 0.4, or a smaller text
    >= 0.7 contained in a larger one at most twice its size; the lowest Jaccard that containment
    rule accepts is 0.7*0.5 / (1 + 0.5 - 0.7*0.5) = 0.30. Pairs at and somewhat below both must
    be candidates almost surely, because a miss duplicates a story for good. With 256 values:

        bands x rows   knee   P(0.1)  P(0.2)  P(0.25)  P(0.3)    P(0.4)   P(0.5)
        128 x 2        0.09   0.72    0.994   0.9997   >0.9999   1.0      1.0
        85 x 3         0.23   0.08    0.49    0.74     0.90      0.996    >0.9999
        64 x 4         0.35   0.01    0.10    0.22     0.41      0.81     0.984
        32 x 8         0.65   0.00    0.00    0.00     0.00      0.02     0.12

    datasketch's own choice for a 0.8 threshold (9 x 13 of 128: it weighs misses and false
    candidates equally) finds a pair at exactly 0.8 only ~40 % of the time: a knee at the
    threshold is the wrong goal here.

    85 x 3 is the default. 128 x 2 holds >= 99 % down to 0.2, but its price grows with the
    index: a pair at 0.1 (same topic, same template, leftover chrome) is a candidate 72 % of the
    time. Measured: 1,000 template-alike synthetic stories gave 332 candidates per query with
    128 x 2 and 1.8 with 85 x 3 (every one decoded and verified), and each band is a Redis set
    per document (128 bands ~ 31 KB, 85 ~ 21 KB of Redis memory per indexed document, in the
    layout before the bucketed one: now ~11 B per band, `dedup/buckets.py`). On
    syndication-dev both give the same P/R/F1 (0.988 / 0.904 / 0.944 at the time of
    measuring); 64 x 4 loses recall. The verifier's lowest accepted Jaccard (0.30, through
    containment) is found 90 % of the time, everything from 0.36 up >= 98 %.
    """

    bands: int = 85
    rows: int = 3

    def __post_init__(self) -> None:
        if self.bands < 1 or self.rows < 1:
            raise ValueError("bands and rows must be positive")
        if self.bands > 0xFFFF:
            raise ValueError("the band number is stored in two bytes")

    def candidate_probability(self, jaccard: float) -> float:
        """P(a pair of this Jaccard similarity shares at least one band)."""
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands

    @property
    def knee(self) -> float:
        return (1.0 / self.bands) ** (1.0 / self.rows)


DEFAULT_LSH = LSHConfig()


def band_keys(hashvalues: Sequence[int], config: LSHConfig = DEFAULT_LSH) -> tuple[bytes, ...]:
    """One key per band: band number (2 bytes, big-endian) then the band's `rows` hash values
    (4 bytes each, little-endian, as stored). Raw values rather than a hash of them: short
    (10 bytes for 2 rows), collision-free, and trivially the same in any language.

    A signature's keys are asked for several times on its way (candidates, the batch's own new
    stories, the claim, the insert): computed once, kept in a small cache."""
    return _band_keys(tuple(hashvalues), config)


@lru_cache(maxsize=8192)
def _band_keys(hashvalues: tuple[int, ...], config: LSHConfig) -> tuple[bytes, ...]:
    needed = config.bands * config.rows
    if len(hashvalues) < needed:
        raise ValueError(f"{len(hashvalues)} hash values cannot fill {needed} band rows")
    raw = np.asarray(hashvalues[:needed], dtype=_WIRE_DTYPE).tobytes()
    width = config.rows * _WIRE_DTYPE.itemsize
    return tuple(prefix + raw[band * width : (band + 1) * width]
                 for band, prefix in enumerate(_band_prefixes(config.bands)))


@lru_cache(maxsize=4)
def _band_prefixes(bands: int) -> tuple[bytes, ...]:
    return tuple(struct.pack(">H", band) for band in range(bands))


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One signature in the index, under its key `document_id`: a document's canonical text,
    or, with `alias_of`, another text that document is found by (under a key of its own,
    `identity.alias_key_for`): the canonical an upgrade replaced, or a copy that told the
    story differently."""

    document_id: str
    text_hash: str
    hashvalues: tuple[int, ...]
    size: int
    seen_at: float  # when the document was (last) indexed; the eviction clock
    alias_of: str | None = None

    @property
    def document(self) -> str:
        """The document a match with this entry joins."""
        return self.alias_of or self.document_id


@dataclass(frozen=True, slots=True)
class SignatureBlock:
    """Many documents' signatures as arrays, for bulk loads: a rebuild reads every stored one,
    and as `IndexEntry` tuples 256 Python ints cost ~9 KB a document."""

    document_ids: Sequence[str]
    seen_at: np.ndarray  # float64, one per document
    hashvalues: np.ndarray  # uint32, documents x signature values

    def __post_init__(self) -> None:
        if not len(self.document_ids) == len(self.seen_at) == len(self.hashvalues):
            raise ValueError("a block needs one id, time and signature per document")

    def __len__(self) -> int:
        return len(self.document_ids)

    @classmethod
    def of(cls, entries: Sequence[IndexEntry]) -> Self:
        return cls([e.document_id for e in entries],
                   np.array([e.seen_at for e in entries], dtype=np.float64),
                   np.array([e.hashvalues for e in entries], dtype=np.uint32).reshape(
                       len(entries), -1))


class BandIndex:
    """Pure in-memory band index: document → entry, band key → document ids.

    One entry per document: the canonical text's signature (copies are not indexed, they
    resolve to the document they matched), plus aliases under keys of their own
    (`IndexEntry.alias_of`). Entries older than the dedup window are evicted by
    `evict_older_than`, so memory stays bounded under an endless feed.
    """

    def __init__(self, config: LSHConfig = DEFAULT_LSH) -> None:
        self.config = config
        self._entries: dict[str, IndexEntry] = {}
        self._keys: dict[str, tuple[bytes, ...]] = {}
        self._buckets: dict[bytes, set[str]] = {}
        # (seen_at, document_id) in time order; stale pairs (replaced/removed) are skipped.
        self._clock: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, document_id: object) -> bool:
        return document_id in self._entries

    def entry(self, key: str) -> IndexEntry:
        return self._entries[key]

    def add(self, entry: IndexEntry) -> None:
        if entry.document_id in self._entries:
            raise KeyError(f"document {entry.document_id!r} is already indexed; use replace()")
        keys = band_keys(entry.hashvalues, self.config)
        self._entries[entry.document_id] = entry
        self._keys[entry.document_id] = keys
        for key in keys:
            self._buckets.setdefault(key, set()).add(entry.document_id)
        heapq.heappush(self._clock, (entry.seen_at, entry.document_id))

    def replace(self, entry: IndexEntry) -> None:
        """Same document, new signature (its canonical text was upgraded)."""
        self.remove(entry.document_id)
        self.add(entry)

    def remove(self, document_id: str) -> bool:
        """Drop a document; False when it was not indexed."""
        entry = self._entries.pop(document_id, None)
        if entry is None:
            return False
        for key in self._keys.pop(document_id):
            bucket = self._buckets[key]
            bucket.discard(document_id)
            if not bucket:
                del self._buckets[key]
        return True

    def query(self, hashvalues: Sequence[int]) -> list[IndexEntry]:
        """Candidates sharing at least one band, ordered by document id (deterministic)."""
        found: set[str] = set()
        for key in band_keys(hashvalues, self.config):
            found.update(self._buckets.get(key, ()))
        return [self._entries[doc] for doc in sorted(found)]

    def evict_older_than(self, ts: float) -> int:
        """Remove entries with seen_at < ts; returns how many were removed."""
        removed = 0
        while self._clock and self._clock[0][0] < ts:
            seen_at, document_id = heapq.heappop(self._clock)
            entry = self._entries.get(document_id)
            # A replaced entry left its old clock pair behind: only the current one counts.
            if entry is not None and entry.seen_at == seen_at and self.remove(document_id):
                removed += 1
        return removed

    @classmethod
    def from_entries(cls, entries: list[IndexEntry], config: LSHConfig = DEFAULT_LSH) -> Self:
        index = cls(config)
        for entry in entries:
            index.add(entry)
        return index
