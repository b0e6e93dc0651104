"""Durable acceptance with group commit: many POST /ingest requests, one transaction.

Each request must be committed before its 202, but a commit per request makes the database's
commit rate the API's ceiling (and on SQLite every commit takes the single write lock the
workers also need). Requests that arrive while a commit is in progress wait for the next one
and share it: one multi-row insert, one enqueue, then every waiting request gets its receipts.
Under light load a request commits alone, at once; under heavy load the groups grow by
themselves. A group that fails is retried request by request, so one request's bad rows never
fail its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from canonry.workers.ports import Checkpoint, NewIngest, Store, WorkQueue


@dataclass(frozen=True, slots=True)
class Accepted:
    statuses: list[str]  # per item, in order: "queued" for new and waiting ones
    created: set[str]  # ids this commit inserted (not re-posts)


async def accept_and_dispatch(store: Store, queue: WorkQueue, items: Sequence[NewIngest],
                              checkpoint: Checkpoint | None = None,
                              backfill_input: str | None = None) -> Accepted:
    """Commit the items (with a backfill's checkpoint and input name), then dispatch those
    still waiting (a re-post of one not yet processed is dispatched again: harmless, the worker
    acks what is already done)."""
    statuses, created = await store.accept(items, checkpoint, backfill_input)
    waiting = [item.id for item, status in zip(items, statuses, strict=True)
               if status == "queued"]
    await queue.enqueue(list(dict.fromkeys(waiting)))
    return Accepted(statuses, created)


@dataclass
class _Request:
    items: Sequence[NewIngest]
    done: asyncio.Future[Accepted] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit:
    """max_items: most articles in one group (a bound on one transaction's size)."""

    def __init__(self, store: Store, queue: WorkQueue, max_items: int = 5000) -> None:
        self.store = store
        self.queue = queue
        self.max_items = max_items
        self._waiting: list[_Request] = []
        self._committing: asyncio.Task[None] | None = None

    async def accept(self, items: Sequence[NewIngest]) -> Accepted:
        request = _Request(items)
        self._waiting.append(request)
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_all())
        # A client that goes away does not cancel the commit its articles are in.
        return await asyncio.shield(request.done)

    async def _commit_all(self) -> None:
        while self._waiting:
            group, size = [], 0
            while self._waiting and (not group or size + len(self._waiting[0].items)
                                     <= self.max_items):
                request = self._waiting.pop(0)
                group.append(request)
                size += len(request.items)
            await self._commit(group)

    async def _commit(self, group: list[_Request]) -> None:
        try:
            accepted = await accept_and_dispatch(
                self.store, self.queue, [item for r in group for item in r.items])
        except Exception as exc:
            if len(group) == 1:
                group[0].done.set_exception(exc)
                return
            for request in group:  # alone, each request commits or fails on its own
                await self._commit([request])
            return
        start = 0
        for request in group:
            end = start + len(request.items)
            ids = {item.id for item in request.items}
            request.done.set_result(Accepted(accepted.statuses[start:end],
                                             accepted.created & ids))
            start = end
