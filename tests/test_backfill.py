"""`canonry backfill FILE`: an archive through the same validation, store and queue as
POST /ingest; bad lines are reported and skipped, the rest processed to the end."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from canonry.schemas.api import ArticleIn
from canonry.schemas.tables import documents, ingests
from canonry.service.backfill import backfill
from canonry.service.config import Settings
from canonry.service.ingest import new_ingests
from canonry.workers.adapters.sql.store import SqlStore as Store
from tests.shared_data import seeds


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """With Redis, backfill only enqueues (the worker fleet processes): embedded stores here."""
    return str(request.param)


async def test_backfill_processes_an_archive(settings: Settings, tmp_path: Path) -> None:
    archive = tmp_path / "archive.jsonl.gz"
    with gzip.open(archive, "wt") as handle:
        for path, _ in seeds():
            handle.write(json.dumps({"url": f"https://archive.example/{path.stem}",
                                     "text": path.read_text()}) + "\n")
        handle.write(json.dumps({"url": "not a url", "text": "x"}) + "\n")
        handle.write("{broken json\n")

    assert await backfill(settings, str(archive), batch_size=2) == 1  # something was skipped

    store = Store.connect(settings.database_url)
    try:
        async with store.engine.connect() as conn:
            statuses = dict((await conn.execute(
                select(ingests.c.status, func.count()).group_by(ingests.c.status))).all())
            assert statuses == {"done": 5}
            assert await conn.scalar(select(func.count()).select_from(documents)) == 5
    finally:
        await store.close()


async def test_a_restart_queues_open_ingests_in_the_order_they_were_sent(
    settings: Settings
) -> None:
    # Matching is not transitive, so the order copies are judged in decides which documents a
    # story ends as: what a restart queues again must come in the order it was sent (the
    # order a run that never stopped processes it in), not in id (hash) order.
    articles = [ArticleIn(url=f"https://order.example/{n}", text=f"Story {n}.") for n in range(50)]
    items = new_ingests(articles)
    assert [i.id for i in items] != sorted(i.id for i in items)  # hash order differs
    store = Store.connect(settings.database_url)
    try:
        await store.accept(items)
        assert await store.open_ingest_ids() == [i.id for i in items]
    finally:
        await store.close()
