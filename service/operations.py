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
from canonry.workers.analysis import Analysis, AnalysisBatch, analyse_batch
from canonry.workers.dedup.lsh import IndexEntry


async def dlq_list(settings: Settings, limit: int) -> list[str]:
    """The queue's dead letters, then failed ingests it does not list (the embedded default's
    only record), one line each: ingest id, when, error."""
    lines = []
    async with open_backends(settings, writer=False) as backends:
        listed = set()
        for letter in await backends.queue.dead_letters(limit):
            at = datetime.fromtimestamp(letter.failed_at, UTC).isoformat(timespec="seconds")
            lines.append(f"{letter.ingest_id}\t{at}\t{letter.error}")
            listed.add(letter.ingest_id)
        for row in await backends.store.failed_ingests(limit):
            if row["id"] not in listed and len(lines) < limit:
                lines.append(f"{row['id']}\t{row['updated_at']}\t{row['error_code']}: "
                             f"{row['error']}")
    return lines


async def dlq_replay(settings: Settings, ingest_ids: Sequence[str]) -> list[str]:
    """Re-queue the named dead letters (all, when none are named) with a fresh attempt budget;
    the ingest ids re-queued. The embedded queue lives in `canonry serve`: it dispatches them
    when it next starts (or run `canonry worker --burst`)."""
    async with open_backends(settings) as backends:
        store, queue = backends.store, backends.queue
        names = list(ingest_ids) or list(dict.fromkeys(
            [dead.ingest_id for dead in await queue.dead_letters(1_000_000)]
            + [row["id"] for row in await store.failed_ingests(1_000_000)]))
        requeued = [ingest_id for ingest_id in names if await store.requeue(ingest_id)]
        if backends.embedded:
            return requeued
        return await queue.replay(requeued)


async def reindex(settings: Settings) -> int:
    """Rebuild the shared Redis index from the signatures in the database."""
    async with open_backends(settings) as backends:
        if backends.embedded:
            raise SystemExit("the embedded index lives in memory and is rebuilt at every start")
        return await reconciler(settings, backends).reindex()


async def reclean(settings: Settings, source: str | None, batch: int = 200) -> tuple[int, int]:
    """Re-clean stored documents from their raw payload with the boilerplate learned since;
    a changed text becomes a new version. Returns (seen, changed)."""
    seen = changed = 0
    async with open_backends(settings) as backends:
        store, index = backends.store, backends.index
        cross = await store.cross_source_chrome()
        after = ""
        while page := await store.canonicals(source, after, batch):
            ingests = [ingest for _, ingest in page]
            known = await store.source_chrome({ingest.source for ingest in ingests})
            results = await asyncio.to_thread(
                analyse_batch, AnalysisBatch([i.raw for i in ingests], known, cross))
            for (document_id, ingest), result in zip(page, results, strict=True):
                seen += 1
                if not isinstance(result, Analysis):
                    continue  # never replace a text with nothing
                fp = result.fingerprint
                if await store.record_reclean(document_id, result.extracted, fp):
                    changed += 1
                    await backends.events.committed()
                    if not backends.embedded:  # the embedded index is rebuilt at start
                        await index.replace([IndexEntry(document_id, fp.text_hash,
                                                        fp.hashvalues, fp.size,
                                                        ingest.received_at.timestamp())])
            after = page[-1][0]
    return seen, changed
