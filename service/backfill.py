"""`canonry backfill FILE`: an archive through the same validation, store and queue as
POST /ingest. Invalid lines are reported and skipped, not fatal: one bad row in a million
should not stop an archive. With the embedded backends the command also runs the workers until
everything is processed; with Redis it only enqueues and the worker fleet does the rest."""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator
from typing import Any

from canonry.service.backends import Backends, open_backends
from canonry.service.config import Settings
from canonry.service.engine import running_engine
from canonry.service.ingest import ProblemError, new_ingest, validate_articles
from canonry.service.worker_process import drained
from canonry.workers.store import utcnow


def _lines(path: str) -> Iterator[tuple[int, Any]]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    print(f"line {number}: invalid JSON: {exc}", file=sys.stderr)


async def backfill(settings: Settings, path: str, *, batch_size: int = 500) -> int:
    accepted = skipped = 0
    async with open_backends(settings) as backends, running_engine(
        settings, backends, run_workers=backends.embedded
    ):
        batch: list[Any] = []
        for number, item in _lines(path):
            try:
                batch.extend(validate_articles([item], batch=False))
            except ProblemError as exc:
                skipped += 1
                reasons = "; ".join(f"{e.field}: {e.message}" for e in exc.errors or [])
                print(f"line {number}: skipped: {reasons or exc.detail}", file=sys.stderr)
            if len(batch) >= batch_size:
                accepted += await _accept(backends, batch)
                batch = []
        if batch:
            accepted += await _accept(backends, batch)
        if backends.embedded:
            await drained(backends.queue)
    print(f"accepted {accepted} articles, skipped {skipped}")
    return 0 if skipped == 0 else 1


async def _accept(backends: Backends, articles: list[Any]) -> int:
    received_at = utcnow()
    items = [new_ingest(article, received_at) for article in articles]
    statuses, _created = await backends.store.accept(items)
    await backends.queue.enqueue(
        list(dict.fromkeys(i.id for i, s in zip(items, statuses, strict=True) if s == "queued"))
    )
    return len(items)
