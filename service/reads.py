"""The read side of the API: ingest status, canonical documents, provenance pages, the change
feed and URL lookup. Read-only queries; every write goes through the worker's store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
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


def _utc(row: Any, *names: str) -> dict[str, Any]:
    data = dict(row)
    for name in names:
        data[name] = as_utc(data[name])
    return data


def _document(row: Any) -> DocumentOut:
    return DocumentOut(**_utc(row, "published_at", "first_seen_at", "updated_at"))


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
                select(*_DOCUMENT_COLUMNS).where(documents.c.id == document_id)
            )).mappings().first()
        if row is None:
            return None
        page = await self.provenance(document_id, after=0, limit=provenance_limit)
        return _document(row).model_copy(update={"provenance": page.provenance})

    async def provenance(self, document_id: str, after: int, limit: int) -> ProvenancePage:
        if not is_document_id(document_id):
            return ProvenancePage(provenance=[], next=None)
        query = (
            select(provenance)
            .where(provenance.c.document_id == document_id, provenance.c.id > after)
            .order_by(provenance.c.id)
            .limit(limit + 1)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        return ProvenancePage(
            provenance=[_provenance({k: v for k, v in r.items()
                                     if k not in {"id", "document_id"}}) for r in rows],
            next=str(rows[-1]["id"] if rows else after) if more else None,
        )

    async def feed(self, after: int, limit: int) -> DocumentPage:
        """Documents changed after the cursor, oldest change first; resume from `next`."""
        query = (
            select(*_DOCUMENT_COLUMNS)
            .where(documents.c.change_seq > after)
            .order_by(documents.c.change_seq)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        cursor = rows[-1]["change_seq"] if rows else after
        return DocumentPage(documents=[_document(r) for r in rows], next=str(cursor))

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
