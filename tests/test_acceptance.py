"""Group commit: concurrent requests share a transaction, each still gets its own receipts,
and one request that cannot be committed fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from canonry.schemas.api import ArticleIn
from canonry.service.acceptance import GroupCommit
from canonry.service.config import Settings
from canonry.service.ingest import new_ingests
from canonry.workers.adapters.memory.queue import InProcessQueue
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.ports import Checkpoint, NewIngest


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class CountingStore(SqlStore):
    """The real store, counting its accept transactions; it refuses articles from a URL
    containing "refused" (as a database refuses a row it cannot store)."""

    def __init__(self, url: str) -> None:
        super().__init__(SqlStore.connect(url).engine)
        self.groups: list[int] = []

    async def accept(self, items: Sequence[NewIngest], checkpoint: Checkpoint | None = None,
                     backfill_input: str | None = None) -> tuple[list[str], set[str]]:
        self.groups.append(len(items))
        if any("refused" in item.url for item in items):
            raise ValueError("row refused")
        return await super().accept(items, checkpoint, backfill_input)


def article(n: int, host: str = "example.org") -> list[NewIngest]:
    return new_ingests([ArticleIn(url=f"https://{host}/{n}", text=f"Story number {n}.")])


async def test_concurrent_requests_share_commits(settings: Settings) -> None:
    store, queue = CountingStore(settings.database_url), InProcessQueue()
    acceptance = GroupCommit(store, queue)
    try:
        requests = [article(n) for n in range(40)]
        answers = await asyncio.gather(*(acceptance.accept(r) for r in requests))
        for request, answer in zip(requests, answers, strict=True):
            assert answer.statuses == ["queued"] and answer.created == {request[0].id}
        assert len(store.groups) < len(requests) and max(store.groups) > 1
        # Every article is committed and dispatched once.
        assert sorted(await store.open_ingest_ids()) == sorted(r[0].id for r in requests)
        assert len(await queue.receive(1000, 0)) == 40
        # A re-post answers with the stored status and creates nothing.
        again = await acceptance.accept(requests[0])
        assert again.statuses == ["queued"] and again.created == set()
    finally:
        await queue.close()
        await store.close()


async def test_a_request_that_cannot_be_committed_fails_alone(settings: Settings) -> None:
    store, queue = CountingStore(settings.database_url), InProcessQueue()
    acceptance = GroupCommit(store, queue)
    try:
        requests = [article(1), article(2, "refused.example"), article(3)]
        first, refused, third = await asyncio.gather(
            *(acceptance.accept(r) for r in requests), return_exceptions=True)
        assert store.groups[0] == 3  # they were one group, which failed, and were split
        assert isinstance(refused, ValueError)
        assert not isinstance(first, BaseException) and first.created == {requests[0][0].id}
        assert not isinstance(third, BaseException) and third.created == {requests[2][0].id}
        assert sorted(await store.open_ingest_ids()) == sorted([requests[0][0].id,
                                                                requests[2][0].id])
    finally:
        await queue.close()
        await store.close()
