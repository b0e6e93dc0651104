"""Operator commands: the dead-letter queue (`canonry dlq list|replay`), `canonry reindex` and
`canonry reclean`.

Dead letters are named by ingest id in both modes. Embedded, the dead-letter list is the set of
`failed` ingests; with Redis it is the dead-letter stream, and replay also puts the ingest row
back to `queued` with a fresh attempt budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from canonry.service.backends import open_backends
from canonry.service.config import Settings
from canonry.service.engine import reconciler
from canonry.workers.adapters.redis.queue import RedisStreamQueue
from canonry.workers.clean.extract import extract
from canonry.workers.dedup.fingerprint import fingerprint
from canonry.workers.dedup.lsh import IndexEntry


async def dlq_list(settings: Settings, limit: int) -> list[str]:
    lines = []
    async with open_backends(settings) as backends:
        if isinstance(backends.queue, RedisStreamQueue):
            for letter in await backends.queue.dead_letters(limit):
                at = datetime.fromtimestamp(letter.failed_at, UTC).isoformat(timespec="seconds")
                lines.append(f"{letter.ingest_id}\t{at}\t{letter.error}")
        else:
            for row in await backends.store.failed_ingests(limit):
                lines.append(f"{row['id']}\t{row['updated_at']}\t{row['error']}")
    return lines


async def dlq_replay(settings: Settings, ingest_ids: Sequence[str]) -> list[str]:
    """Re-queue the named dead letters (all, when none are named); the ingest ids re-queued."""
    async with open_backends(settings) as backends:
        store = backends.store
        if isinstance(backends.queue, RedisStreamQueue):
            letters = await backends.queue.dead_letters(limit=1_000_000)
            wanted = set(ingest_ids)
            chosen = [dead for dead in letters if not wanted or dead.ingest_id in wanted]
            for letter in chosen:
                await store.requeue(letter.ingest_id)
            return await backends.queue.replay([dead.id for dead in chosen])
        names = ingest_ids or [row["id"] for row in await store.failed_ingests(1_000_000)]
        replayed = [ingest_id for ingest_id in names if await store.requeue(ingest_id)]
        # The embedded queue lives in `canonry serve`; it dispatches these when it next starts
        # (or run `canonry worker --burst`).
        return replayed


async def reindex(settings: Settings) -> int:
    """Rebuild the shared Redis index from the signatures in the database."""
    async with open_backends(settings) as backends:
        if backends.embedded:
            raise SystemExit("the embedded index lives in memory and is rebuilt at every start")
        assert backends.redis is not None and backends.keys is not None
        await backends.redis.delete(backends.keys.index_loaded)
        await backends.index.clear()  # type: ignore[attr-defined]
        return await reconciler(settings, backends).ensure_index()


async def reclean(settings: Settings, source: str | None, batch: int = 200) -> tuple[int, int]:
    """Re-clean stored documents from their raw payload with the boilerplate learned since;
    a changed text becomes a new version (and a `recleaned` event). Returns (seen, changed)."""
    seen = changed = 0
    async with open_backends(settings) as backends:
        store, index = backends.store, backends.index
        cross = await store.cross_source_chrome()
        after = ""
        while page := await store.canonicals(source, after, batch):
            for document_id, ingest in page:
                seen += 1
                chrome = await store.chrome_model(ingest.source, cross)
                extracted = await asyncio.to_thread(extract, ingest.raw, chrome)
                if not extracted.text.strip():
                    continue  # never replace a text with nothing
                fp = fingerprint(extracted.text)
                if await store.record_reclean(document_id, extracted, fp):
                    changed += 1
                    if not backends.embedded:  # the embedded index is rebuilt at start
                        await index.replace(IndexEntry(document_id, fp.text_hash, fp.hashvalues,
                                                       fp.size, ingest.received_at.timestamp()))
            after = page[-1][0]
    return seen, changed
