"""The few reads only the UI needs, beside `service/reads.py`: the newest stories with an
optional source and title-word filter, the raw payload of ingests, a document's canonical
ingest. Bounded on every backend: each query reads at most one page of rows, and a filtered
listing scans at most SCAN_WINDOW change numbers per page (its `older` cursor goes on from
where the scan stopped, so older matches are still reachable)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from canonry.schemas.tables import documents, ingests
from canonry.workers.adapters.sql.store import as_utc
from canonry.workers.article import RawArticle
from canonry.workers.identity import is_document_id, is_ingest_id

PAGE = 50
SCAN_WINDOW = 5000
MAX_WORDS = 8


@dataclass(frozen=True, slots=True)
class StoryRow:
    id: str
    title: str | None
    source: str
    language: str | None
    copies: int
    first_seen_at: datetime
    change_seq: int


@dataclass(frozen=True, slots=True)
class StoryPage:
    stories: list[StoryRow]
    older: int | None  # the `before` cursor of the next page; None: nothing older


@dataclass(frozen=True, slots=True)
class IngestRecord:
    """An ingest's raw payload as it arrived, with where processing left it."""

    id: str
    article: RawArticle
    received_at: datetime
    status: str
    document_id: str | None
    match: str | None


def escape_like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def title_words(query: str) -> list[str]:
    """The words a title search needs (all of them), lower-cased, at most MAX_WORDS."""
    return [w.lower() for w in query.split()][:MAX_WORDS]


class UiQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def stories(self, before: int | None, source: str | None, words: list[str],
                      limit: int = PAGE) -> StoryPage:
        """The documents changed most recently (before the cursor), newest first."""
        conditions: list[ColumnElement[bool]] = []
        if source is not None:
            conditions.append(documents.c.source == source)
        # lower() on both sides: LIKE is case-sensitive on PostgreSQL, not on SQLite (whose
        # lower() folds ASCII only: a non-ASCII title word must match its case there).
        conditions.extend(func.lower(documents.c.title).like(f"%{escape_like(w)}%", escape="\\")
                          for w in words)
        async with self.engine.connect() as conn:
            head = before
            if head is None:
                head = int(await conn.scalar(select(func.max(documents.c.change_seq))) or 0) + 1
            floor = max(0, head - SCAN_WINDOW) if conditions else 0
            rows = (await conn.execute(
                select(documents.c.id, documents.c.title, documents.c.source,
                       documents.c.language, documents.c.provenance_count,
                       documents.c.first_seen_at, documents.c.change_seq)
                .where(and_(documents.c.change_seq < head, documents.c.change_seq >= floor,
                            *conditions))
                .order_by(documents.c.change_seq.desc())
                .limit(limit + 1)
            )).all()
        stories = [StoryRow(r.id, r.title, r.source, r.language, r.provenance_count,
                            as_utc(r.first_seen_at), r.change_seq) for r in rows[:limit]]
        if len(rows) > limit:
            return StoryPage(stories, stories[-1].change_seq)
        # The window was scanned to its floor: older changes may still match.
        return StoryPage(stories, floor if floor > 0 else None)

    async def ingests(self, ingest_ids: Collection[str]) -> dict[str, IngestRecord]:
        ids = [i for i in ingest_ids if is_ingest_id(i)]
        if not ids:
            return {}
        query = select(ingests.c.id, ingests.c.url, ingests.c.source, ingests.c.title,
                       ingests.c.text, ingests.c.html, ingests.c.language,
                       ingests.c.received_at, ingests.c.status, ingests.c.document_id,
                       ingests.c.match).where(ingests.c.id.in_(ids))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {r.id: IngestRecord(
            r.id, RawArticle(url=r.url, text=r.text, html=r.html, title=r.title,
                             source=r.source, language=r.language),
            as_utc(r.received_at), r.status, r.document_id, r.match) for r in rows}

    async def canonical_ingest(self, document_id: str) -> str | None:
        if not is_document_id(document_id):
            return None
        async with self.engine.connect() as conn:
            return await conn.scalar(select(documents.c.canonical_ingest_id)
                                     .where(documents.c.id == document_id))
