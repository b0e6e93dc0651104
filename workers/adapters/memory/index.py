"""The LSH index port and its in-memory implementation.

The index is derived data — signatures live in the database and `load` rebuilds it — so it can
be dropped and rebuilt at any time. The one operation that needs care is `claim`: "insert me
unless a candidate appeared that I have not judged yet", atomic with respect to every other
claim. That is what lets two workers seeing two copies of one story at the same moment still
produce one canonical: whoever claims second is handed the first as a new candidate.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Protocol

from canonry.workers.dedup.lsh import BandIndex, IndexEntry, LSHConfig


class DedupIndex(Protocol):
    async def candidates(self, hashvalues: Sequence[int]) -> list[IndexEntry]:
        """Entries sharing at least one LSH band with the signature."""

    async def claim(self, entry: IndexEntry, seen: Collection[str]) -> list[IndexEntry]:
        """Insert `entry` unless candidates outside `seen` exist; return those (empty: inserted)."""

    async def replace(self, entry: IndexEntry) -> None:
        """A document's canonical text changed: index its new signature instead."""

    async def remove(self, document_id: str) -> None: ...

    async def load(self, entries: Iterable[IndexEntry]) -> None:
        """Add entries in bulk (the rebuild from stored signatures)."""

    async def evict_older_than(self, timestamp: float) -> int:
        """Drop entries first seen before `timestamp`; return how many."""

    async def size(self) -> int: ...

    async def close(self) -> None: ...


class MemoryIndex:
    """The embedded index: a `BandIndex` in this process's memory.

    Its methods never await between reading and writing, so within one event loop every
    `claim` is atomic without a lock.
    """

    def __init__(self, config: LSHConfig | None = None) -> None:
        self._bands = BandIndex(config) if config is not None else BandIndex()

    async def candidates(self, hashvalues: Sequence[int]) -> list[IndexEntry]:
        return self._bands.query(hashvalues)

    async def claim(self, entry: IndexEntry, seen: Collection[str]) -> list[IndexEntry]:
        unseen = [
            c for c in self._bands.query(entry.hashvalues)
            if c.document_id not in seen and c.document_id != entry.document_id
        ]
        if not unseen:
            self._bands.replace(entry)
        return unseen

    async def replace(self, entry: IndexEntry) -> None:
        self._bands.replace(entry)

    async def remove(self, document_id: str) -> None:
        self._bands.remove(document_id)

    async def load(self, entries: Iterable[IndexEntry]) -> None:
        for entry in entries:
            self._bands.replace(entry)

    async def evict_older_than(self, timestamp: float) -> int:
        return self._bands.evict_older_than(timestamp)

    async def size(self) -> int:
        return len(self._bands)

    async def close(self) -> None:
        return None
