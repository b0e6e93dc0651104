"""The learned boilerplate model in the database: counted per page, loaded as a slice, and
pruned of article lines seen once, so it grows with the window, not with the archive."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from canonry.schemas.tables import chrome_line_sources
from canonry.service.config import Settings
from canonry.workers.adapters.sql import chrome_store
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.ports import SourceChrome


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_counts_slices_and_prunes(settings: Settings) -> None:
    store = SqlStore.connect(settings.database_url)
    try:
        async with store.engine.begin() as conn:
            # Two pages in one batch, one in the next: counted the same as one at a time.
            await chrome_store.count_pages(
                conn, [("site", ["article-0", "menu"]), ("site", ["article-1", "menu"])], 100.0)
            await chrome_store.count_pages(
                conn, [("site", ["article-2", "menu"]), ("other", ["menu"])], 100.0)
        async with store.engine.connect() as conn:
            known = await chrome_store.load_sources(conn, ["site", "never-seen"])
        # only lines that could be chrome; a source never seen is left out
        assert known == {"site": SourceChrome(3, {"menu": 3})}

        assert await store.prune_chrome(seen_before=50.0) == 0  # nothing that old
        assert await store.prune_chrome(seen_before=200.0) == 4  # 3 article lines + other/menu
        async with store.engine.connect() as conn:
            assert await chrome_store.load_sources(conn, ["site"]) == {
                "site": SourceChrome(3, {"menu": 3})}
            rows = await conn.execute(select(chrome_line_sources))
            assert {r.line_hash: r.sources for r in rows} == {"menu": 1}
    finally:
        await store.close()
