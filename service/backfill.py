"""`canonry backfill FILE`: an archive through the same validation, store and queue as
POST /ingest. Invalid lines are reported and skipped, not fatal: one bad row in a million
should not stop an archive. With the embedded backends the command also runs the workers until
everything is processed; with Redis it only enqueues and the worker fleet does the rest."""

from __future__ import annotations

import json
import sys
from typing import Any

from canonry.service.acceptance import accept_and_dispatch
from canonry.service.backends import open_backends
from canonry.service.config import Settings
from canonry.service.engine import running_engine
from canonry.service.ingest import ProblemError, new_ingests, validate_articles
from canonry.service.worker_process import drained
from canonry.workers.jsonl import jsonl_lines


def _article(line: str) -> Any:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProblemError(400, f"invalid JSON: {exc}") from None
    return validate_articles([item], batch=False)[0]


async def backfill(settings: Settings, path: str, *, batch_size: int = 500) -> int:
    accepted = skipped = 0
    async with open_backends(settings) as backends, running_engine(
        settings, backends, run_workers=backends.embedded
    ):
        batch: list[Any] = []
        for number, line in jsonl_lines(path):
            try:
                batch.append(_article(line))
            except ProblemError as exc:
                skipped += 1
                reasons = "; ".join(f"{e.field}: {e.message}" for e in exc.errors or [])
                print(f"line {number}: skipped: {reasons or exc.detail}", file=sys.stderr)
            if len(batch) >= batch_size:
                await accept_and_dispatch(backends.store, backends.queue, new_ingests(batch))
                accepted, batch = accepted + len(batch), []
        if batch:
            await accept_and_dispatch(backends.store, backends.queue, new_ingests(batch))
            accepted += len(batch)
        if backends.embedded:
            await drained(backends.queue)
    print(f"accepted {accepted} articles, skipped {skipped}")
    return 0 if skipped == 0 else 1
