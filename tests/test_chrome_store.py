"""The learned boilerplate model in the database: counted per page, loaded as a slice, and
pruned of article lines seen once, so it grows with the window, not with the archive."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from canonry.schemas.tables import chrome_line_sources
from canonry.service.config import Settings
from canonry.workers.adapters.sql import chrome_store
from canonry.workers.adapters.sql.store import Store


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_counts_slices_and_prunes(settings: Settings) -> None:
    store = Store.connect(settings.database_url)
    try:
        async with store.engine.begin() as conn:
            for page in range(3):  # "menu" on every page; one article line per page
                await chrome_store.observe_page(conn, "site", ["menu", f"article-{page}"], 100.0)
            await chrome_store.observe_page(conn, "other", ["menu"], 100.0)
        async with store.engine.connect() as conn:
            pages, lines = await chrome_store.load_source(conn, "site")
        assert pages == 3 and lines == {"menu": 3}  # only lines that could be chrome

        assert await store.prune_chrome(seen_before=50.0) == 0  # nothing that old
        assert await store.prune_chrome(seen_before=200.0) == 4  # 3 article lines + other/menu
        async with store.engine.connect() as conn:
            assert await chrome_store.load_source(conn, "site") == (3, {"menu": 3})
            rows = await conn.execute(select(chrome_line_sources))
            assert {r.line_hash: r.sources for r in rows} == {"menu": 1}
    finally:
        await store.close()
