"""The embedded LSH index: a `BandIndex` in this process's memory.

Its methods never await between reading and writing, so within one event loop every claim is
atomic without a lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from canonry.workers.dedup.lsh import BandIndex, IndexEntry, LSHConfig
from canonry.workers.ports import Claim


class MemoryIndex:
    """`DedupIndex` for one process (the embedded default): rebuilt at every start."""

    def __init__(self, config: LSHConfig | None = None) -> None:
        self._bands = BandIndex(config) if config is not None else BandIndex()

    async def ready(self) -> bool:
        """Always: the process that holds it loads it before it takes any work."""
        return True

    async def candidates(self, signatures: Sequence[Sequence[int]]) -> list[list[IndexEntry]]:
        return [self._bands.query(hashvalues) for hashvalues in signatures]

    async def committed(self, document_ids: Sequence[str]) -> None:
        """Nothing to do: entries live here in full."""

    async def claim(self, claims: Sequence[Claim]) -> list[list[IndexEntry]]:
        answers = []
        for claim in claims:
            entry = claim.entry
            unseen = [
                c for c in self._bands.query(entry.hashvalues)
                if c.document_id not in claim.seen and c.document_id != entry.document_id
            ]
            if not unseen:
                self._bands.replace(entry)
            answers.append(unseen)
        return answers

    async def replace(self, entries: Sequence[IndexEntry]) -> None:
        for entry in entries:
            self._bands.replace(entry)

    async def remove(self, document_ids: Sequence[str]) -> None:
        for document_id in document_ids:
            self._bands.remove(document_id)

    async def load(self, entries: Iterable[IndexEntry]) -> None:
        for entry in entries:
            self._bands.replace(entry)

    async def evict_older_than(self, timestamp: float) -> int:
        return self._bands.evict_older_than(timestamp)

    async def size(self) -> int:
        return len(self._bands)

    async def clear(self) -> int:
        size = len(self._bands)
        self._bands = BandIndex(self._bands.config)
        return size

    async def close(self) -> None:
        return None
