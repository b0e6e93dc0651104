"""The read side of the API: ingest status, canonical documents, provenance pages, the change
feed and URL lookup. Read-only queries; every write goes through the worker's store."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from canonry.schemas.api import (
    DocumentOut,
    DocumentPage,
    IngestError,
    IngestStatus,
    LookupOut,
    ProvenanceOut,
    ProvenancePage,
    url_is_storable,
)
from canonry.schemas.tables import documents, ingests, provenance
from canonry.workers.adapters.sql.store import as_utc
from canonry.workers.identity import is_document_id, is_ingest_id

_DOCUMENT_COLUMNS = [c for c in documents.c if c.name not in {"canonical_ingest_id"}]
# A document's date is its earliest copy's, computed on read: a MIN over its provenance rows
# (ix_provenance_document finds them) costs PostgreSQL ~2-4 us per document (5,000 documents,
# 4 copies each or 10 % with 100: +0.4-0.8 ms per 200-document fetch) against the ~20 us each
# takes in Reads.feed (~50k documents/s on 2 cores); a column kept on write would save that
# for a migration, a backfill and a read-modify-write in every decision batch.
_EARLIEST_COPY = (
    select(func.min(provenance.c.published_at))
    .where(provenance.c.document_id == documents.c.id)
    .correlate(documents)
    .scalar_subquery()
    .label("earliest_copy_at")
)
# With the metadata of the ingest whose text is canonical (its primary key: one index probe).
_DOCUMENT_READ = select(*_DOCUMENT_COLUMNS, ingests.c.metadata, _EARLIEST_COPY).select_from(
    documents.outerjoin(ingests, ingests.c.id == documents.c.canonical_ingest_id)
)
_PROVENANCE_READ = select(provenance, ingests.c.metadata).select_from(
    provenance.outerjoin(ingests, ingests.c.id == provenance.c.ingest_id)
)
# Feed rows fetched per query while a page fills: memory stays near one page's byte budget
# (a row's text may be CANONRY_MAX_TEXT_CHARS long) instead of `limit` whole texts.
FEED_FETCH = 200
# The longest cursor a page can carry: ids and change sequences are 64-bit integers.
_LONGEST_CURSOR = str(2**63)


class _Budget:
    """Items of a list page while its JSON body stays within `max_bytes` (None: unbounded).

    Exact, not estimated: pydantic writes a page compactly as its envelope, then the items'
    own JSON joined by commas, so the body's size is the sum of those parts. The first item
    always fits, so a page of one oversized item still moves its cursor on."""

    def __init__(self, envelope: BaseModel, max_bytes: int | None) -> None:
        self.left = None if max_bytes is None else max_bytes - _size(envelope)
        self.items = 0

    def take(self, item: BaseModel) -> bool:
        if self.left is not None:
            need = _size(item) + (1 if self.items else 0)
            if self.items and need > self.left:
                return False
            self.left -= need
        self.items += 1
        return True


def _size(model: BaseModel) -> int:
    return len(model.__pydantic_serializer__.to_json(model))


def _utc(row: Any, *names: str) -> dict[str, Any]:
    data = dict(row)
    for name in names:
        data[name] = as_utc(data[name])
    return data


def _document(row: Any) -> DocumentOut:
    data = _utc(row, "published_at", "first_seen_at", "updated_at", "earliest_copy_at")
    # The founding article's own date may come from its HTML, which no provenance row holds.
    dates = [d for d in (data["published_at"], data.pop("earliest_copy_at")) if d is not None]
    data["published_at"] = min(dates, default=None)
    return DocumentOut(**data)


def _provenance(row: Any) -> ProvenanceOut:
    return ProvenanceOut(**_utc(row, "published_at", "received_at"))


class Reads:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def ingest(self, ingest_id: str) -> IngestStatus | None:
        if not is_ingest_id(ingest_id):
            return None
        query = select(
            ingests.c.id.label("ingest_id"), ingests.c.status, ingests.c.url,
            ingests.c.received_at, ingests.c.attempts, ingests.c.document_id, ingests.c.match,
            ingests.c.similarity, ingests.c.error, ingests.c.error_code,
        ).where(ingests.c.id == ingest_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        data = _utc(row, "received_at")
        message, code = data.pop("error"), data.pop("error_code")
        if message is not None:
            # Rows from before error codes existed carry only a message.
            data["error"] = IngestError(code=code or "pipeline_error", message=message)
        return IngestStatus(**data)

    async def document(self, document_id: str, provenance_limit: int) -> DocumentOut | None:
        if not is_document_id(document_id):
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                _DOCUMENT_READ.where(documents.c.id == document_id)
            )).mappings().first()
        if row is None:
            return None
        page = await self.provenance(document_id, after=0, limit=provenance_limit)
        return _document(row).model_copy(update={"provenance": page.provenance})

    async def provenance(self, document_id: str, after: int, limit: int,
                         max_bytes: int | None = None) -> ProvenancePage:
        """A page of copies after the cursor, at most `limit`, and fewer when the next one
        would take the JSON body past `max_bytes`; `next` resumes after the last one."""
        if not is_document_id(document_id):
            return ProvenancePage(provenance=[], next=None)
        query = (
            _PROVENANCE_READ
            .where(provenance.c.document_id == document_id, provenance.c.id > after)
            .order_by(provenance.c.id)
            .limit(limit + 1)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        budget = _Budget(ProvenancePage(provenance=[], next=_LONGEST_CURSOR), max_bytes)
        items: list[ProvenanceOut] = []
        cursor = after
        for row in rows[:limit]:
            item = _provenance({k: v for k, v in row.items() if k not in {"id", "document_id"}})
            if not budget.take(item):
                return ProvenancePage(provenance=items, next=str(cursor))
            items.append(item)
            cursor = row["id"]
        return ProvenancePage(provenance=items, next=str(cursor) if len(rows) > limit else None)

    async def feed(self, after: int, limit: int, max_bytes: int | None = None) -> DocumentPage:
        """Documents changed after the cursor, oldest change first; resume from `next`. At most
        `limit`, and fewer when the next one would take the JSON body past `max_bytes`."""
        budget = _Budget(DocumentPage(documents=[], next=_LONGEST_CURSOR), max_bytes)
        items: list[DocumentOut] = []
        cursor = after
        async with self.engine.connect() as conn:
            while len(items) < limit:
                want = min(FEED_FETCH, limit - len(items))
                rows = (await conn.execute(
                    _DOCUMENT_READ
                    .where(documents.c.change_seq > cursor)
                    .order_by(documents.c.change_seq)
                    .limit(want)
                )).mappings().all()
                for row in rows:
                    item = _document(row)
                    if not budget.take(item):
                        return DocumentPage(documents=items, next=str(cursor))
                    items.append(item)
                    cursor = row["change_seq"]
                if len(rows) < want:
                    break
        return DocumentPage(documents=items, next=str(cursor))

    async def lookup(self, url: str) -> LookupOut | None:
        if not url_is_storable(url):
            return None  # no article was accepted with it
        query = (
            select(provenance.c.document_id, provenance.c.ingest_id)
            .where(provenance.c.url == url)
            .order_by(provenance.c.id.desc())
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return None
        # The newest copy at this URL tells where the URL belongs now.
        document_id = rows[0].document_id
        return LookupOut(url=url, document_id=document_id,
                         ingest_ids=[r.ingest_id for r in rows if r.document_id == document_id])

    async def titles(self, document_ids: list[str]) -> dict[str, str | None]:
        if not document_ids:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(documents.c.id, documents.c.title).where(documents.c.id.in_(document_ids))
            )
            return {row.id: row.title for row in rows}
