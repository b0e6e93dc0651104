"""The store's streamed signature read (the index rebuild's input) on both SQL backends: the
same documents and values as `index_entries`, in seen_at order, in blocks of the size asked."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import insert

from canonry.schemas.tables import documents, signatures
from canonry.service.config import Settings
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.dedup.fingerprint import encode_hashvalues


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_blocks_hold_what_index_entries_hold(settings: Settings) -> None:
    rng = random.Random(3)
    now = datetime.now(UTC)
    seen = rng.sample(range(1000), 11)  # stored out of seen_at order
    rows = [(f"doc_{n:02d}", tuple(rng.getrandbits(32) for _ in range(256)), float(t))
            for n, t in enumerate(seen)]
    store = SqlStore.connect(settings.database_url)
    try:
        async with store.engine.begin() as conn:
            await conn.execute(insert(documents), [
                {"id": d, "title": None, "text": "text", "language": None,
                 "url": f"https://example.org/{d}", "source": "test", "published_at": None,
                 "first_seen_at": now, "updated_at": now, "version": 1,
                 "canonical_ingest_id": "ing_" + d, "provenance_count": 1, "change_seq": i + 1}
                for i, (d, _, _) in enumerate(rows)])
            await conn.execute(insert(signatures), [
                {"document_id": d, "text_hash": f"hash-{d}", "hashvalues": encode_hashvalues(hv),
                 "size": 100, "seen_at": t} for d, hv, t in rows])
        since = float(sorted(seen)[2])  # the two oldest are outside the window
        entries = await store.index_entries(since)
        blocks = [b async for b in store.signature_blocks(since, size=4)]
    finally:
        await store.close()
    assert [len(b) for b in blocks] == [4, 4, 1]
    assert [d for b in blocks for d in b.document_ids] == [e.document_id for e in entries]
    assert len(entries) == 9
    assert np.concatenate([b.seen_at for b in blocks]).tolist() == [e.seen_at for e in entries]
    matrix = np.concatenate([b.hashvalues for b in blocks])
    assert matrix.dtype == np.uint32 and matrix.shape == (9, 256)
    assert [tuple(row) for row in matrix.tolist()] == [e.hashvalues for e in entries]
