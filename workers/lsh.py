"""LSH banding of MinHash signatures and a pure in-memory band index.

Banding is a pure function (`band_keys`) so that the production index — a Redis Lua script
owned by the service — stores exactly the keys computed here; `BandIndex` is the same
structure in memory, for the evaluation and for tests.
"""

from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass
from typing import Self

import numpy as np

_WIRE_DTYPE = np.dtype("<u4")  # same as fingerprint's stored form


@dataclass(frozen=True, slots=True)
class LSHConfig:
    """`bands` bands of `rows` signature values each; a pair is a candidate when all rows of at
    least one band agree. For a pair of Jaccard s:

        P(candidate | s) = 1 - (1 - s**rows) ** bands

    an S-curve whose knee (steepest part) is near s* = (1 / bands) ** (1 / rows).

    The verifier (`match.MatchConfig`) accepts a pair at estimated Jaccard >= 0.5, or when the
    smaller text is >= 0.8 contained in a larger one at most twice its size; the lowest Jaccard
    that containment rule can accept is 0.8*0.5 / (1 + 0.5 - 0.8*0.5) = 0.36. Those pairs must be
    candidates almost surely. With 256 permutations:

        bands x rows   knee    P(0.2)  P(0.3)  P(0.36)  P(0.4)  P(0.45)  P(0.5)
        85 x 3         0.23    0.49    0.90    0.982    0.996   0.9997   1.0000
        64 x 4         0.35    0.10    0.41    0.66     0.81    0.93     0.984
        32 x 8         0.65    0.00    0.00    0.01     0.02    0.05     0.12

    85 x 3 (255 of the 256 values) finds a pair at the Jaccard threshold with P > 0.9999 and
    at 0.4 with 0.996; 64 x 4 would lose 1.6 % of pairs right at 0.5. datasketch's own
    choice for threshold 0.8 (it weighs false negatives and positives equally) finds a pair at
    exactly 0.8 only ~40 % of the time, 32 x 8 above finds one at 0.6 42 % of the time: a
    threshold-centred knee is the wrong goal when a miss duplicates a story for good.

    The cost is candidates: half of the pairs at s = 0.2 (news on one topic, leftover chrome)
    come back and are rejected by the verifier, which costs one comparison of 256 integers each.
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


def band_keys(hashvalues: tuple[int, ...], config: LSHConfig = DEFAULT_LSH) -> list[bytes]:
    """One key per band: band number (2 bytes, big-endian) then the band's `rows` hash values
    (4 bytes each, little-endian, as stored). Raw values rather than a hash of them: short
    (14 bytes for 3 rows), collision-free, and trivially the same in any language."""
    needed = config.bands * config.rows
    if len(hashvalues) < needed:
        raise ValueError(f"{len(hashvalues)} hash values cannot fill {needed} band rows")
    raw = np.asarray(hashvalues[:needed], dtype=_WIRE_DTYPE).tobytes()
    width = config.rows * _WIRE_DTYPE.itemsize
    return [
        struct.pack(">H", band) + raw[band * width : (band + 1) * width]
        for band in range(config.bands)
    ]


@dataclass(frozen=True, slots=True)
class IndexEntry:
    document_id: str
    text_hash: str
    hashvalues: tuple[int, ...]
    size: int
    seen_at: float  # when the document was (last) indexed; the eviction clock


class BandIndex:
    """Pure in-memory band index: document → entry, band key → document ids.

    One entry per document: the canonical text's signature (copies are not indexed, they
    resolve to the document they matched). Entries older than the dedup window are evicted by
    `evict_older_than`, so memory stays bounded under an endless feed.
    """

    def __init__(self, config: LSHConfig = DEFAULT_LSH) -> None:
        self.config = config
        self._entries: dict[str, IndexEntry] = {}
        self._keys: dict[str, list[bytes]] = {}
        self._buckets: dict[bytes, set[str]] = {}
        # (seen_at, document_id) in time order; stale pairs (replaced/removed) are skipped.
        self._clock: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, document_id: object) -> bool:
        return document_id in self._entries

    def get(self, document_id: str) -> IndexEntry | None:
        return self._entries.get(document_id)

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

    def query(self, hashvalues: tuple[int, ...]) -> list[IndexEntry]:
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

    def entries(self) -> list[IndexEntry]:
        return [self._entries[doc] for doc in sorted(self._entries)]

    @classmethod
    def from_entries(cls, entries: list[IndexEntry], config: LSHConfig = DEFAULT_LSH) -> Self:
        index = cls(config)
        for entry in entries:
            index.add(entry)
        return index
