"""The read side of the API: ingest status, canonical documents, provenance pages, the change
feed and URL lookup. Read-only queries; every write goes through the worker's store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
from canonry.schemas.tables import documents, ingests, provenance, url_aliases
from canonry.workers.adapters.sql.store import as_utc
from canonry.workers.identity import is_document_id, is_ingest_id
from canonry.workers.urls import normalize_url, url_key

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
# Rows a lookup reads at most: a URL that thousands of pages declare as theirs (a syndicator's
# "canonical" to the original) is still one document, found among the newest.
LOOKUP_ROWS = 1000
ALIASES_SHOWN = 50
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


def _document(row: Any, aliases: dict[str, list[str]]) -> DocumentOut:
    data = _utc(row, "published_at", "first_seen_at", "updated_at", "earliest_copy_at")
    # The founding article's own date may come from its HTML, which no provenance row holds.
    dates = [d for d in (data["published_at"], data.pop("earliest_copy_at")) if d is not None]
    data["published_at"] = min(dates, default=None)
    return DocumentOut(**data, aliases=aliases.get(data["id"], []))


async def _aliases(conn: AsyncConnection, document_ids: list[str]) -> dict[str, list[str]]:
    """The addresses the documents' pages declared for themselves, oldest first, one per normal
    form and at most ALIASES_SHOWN each (GET /lookup finds them all)."""
    if not document_ids:
        return {}
    rows = await conn.execute(
        select(url_aliases.c.document_id, url_aliases.c.url_key, url_aliases.c.url)
        .where(url_aliases.c.document_id.in_(document_ids), url_aliases.c.kind != "url")
        .order_by(url_aliases.c.id)
    )
    found: dict[str, dict[str, str]] = {}
    for document_id, key, url in rows:
        shown = found.setdefault(document_id, {})
        if len(shown) < ALIASES_SHOWN:
            shown.setdefault(key, url)
    return {document_id: list(shown.values()) for document_id, shown in found.items()}


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """Which documents a feed page shows: by the founding copy's source, by language (a
    primary tag takes its regional forms: `en` is also `en-GB`), first seen at or after."""

    source: str | None = None
    language: str | None = None
    since: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.source is not None:
            out.append(documents.c.source == self.source)
        if self.language is not None:
            language = func.lower(documents.c.language)
            tag = self.language.lower()
            out.append(or_(language == tag, language.like(tag + "-%")))
        if self.since is not None:
            out.append(documents.c.first_seen_at >= self.since)
        return out


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
            aliases = await _aliases(conn, [document_id])
        page = await self.provenance(document_id, after=0, limit=provenance_limit)
        return _document(row, aliases).model_copy(update={"provenance": page.provenance})

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

    async def copy(self, document_id: str, ingest_id: str) -> ProvenanceOut | None:
        """One copy of a document, by its ingest (None when that ingest is not its copy)."""
        if not (is_document_id(document_id) and is_ingest_id(ingest_id)):
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                _PROVENANCE_READ.where(provenance.c.ingest_id == ingest_id,
                                       provenance.c.document_id == document_id)
            )).mappings().first()
        if row is None:
            return None
        return _provenance({k: v for k, v in row.items() if k not in {"id", "document_id"}})

    async def feed(self, after: int, limit: int, max_bytes: int | None = None,
                   where: FeedFilter | None = None) -> DocumentPage:
        """Documents changed after the cursor, oldest change first; resume from `next`. At most
        `limit`, and fewer when the next one would take the JSON body past `max_bytes`.

        With a filter, `next` still moves past the documents it left out: the feed's head is
        read first (every change up to it has committed: changes commit in sequence order), the
        page is read up to it, and a page that is not full ends at the head. So a reader of a
        rare source does not rescan the same non-matching changes at every poll."""
        budget = _Budget(DocumentPage(documents=[], next=_LONGEST_CURSOR), max_bytes)
        items: list[DocumentOut] = []
        cursor = after
        conditions = where.conditions() if where is not None else []
        async with self.engine.connect() as conn:
            head = int(await conn.scalar(select(func.max(documents.c.change_seq))) or 0)
            while len(items) < limit:
                want = min(FEED_FETCH, limit - len(items))
                rows = (await conn.execute(
                    _DOCUMENT_READ
                    .where(documents.c.change_seq > cursor, documents.c.change_seq <= head,
                           *conditions)
                    .order_by(documents.c.change_seq)
                    .limit(want)
                )).mappings().all()
                aliases = await _aliases(conn, [row["id"] for row in rows])
                for row in rows:
                    item = _document(row, aliases)
                    if not budget.take(item):
                        return DocumentPage(documents=items, next=str(cursor))
                    items.append(item)
                    cursor = row["change_seq"]
                if len(rows) < want:
                    cursor = max(cursor, head)  # nothing else up to the head matches
                    break
        return DocumentPage(documents=items, next=str(cursor))

    async def lookup(self, url: str) -> LookupOut | None:
        """The document a URL belongs to, by any spelling of it (its normal form) and by the
        addresses pages declared for themselves. A copy's own URL outranks a declared link; among
        equals the newest tells where the URL belongs now."""
        if not url_is_storable(url):
            return None  # no article was accepted with it
        query = (
            select(url_aliases.c.document_id, url_aliases.c.ingest_id, url_aliases.c.kind)
            .where(url_aliases.c.url_key == url_key(url))
            .order_by(url_aliases.c.id.desc())
            .limit(LOOKUP_ROWS)
        )
        async with self.engine.connect() as conn:
            # Copies sent with the URL first: however many pages declare it, they decide.
            rows = (await conn.execute(query.where(url_aliases.c.kind == "url"))).all()
            if not rows:
                rows = (await conn.execute(query)).all()
        if not rows:
            return None
        best = rows[0]  # the newest
        matches = [r for r in rows if r.document_id == best.document_id and r.kind == best.kind]
        return LookupOut(url=url, normalized_url=normalize_url(url),
                         document_id=best.document_id, matched_by=best.kind,
                         ingest_ids=[r.ingest_id for r in matches])

    async def titles(self, document_ids: list[str]) -> dict[str, str | None]:
        if not document_ids:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(documents.c.id, documents.c.title).where(documents.c.id.in_(document_ids))
            )
            return {row.id: row.title for row in rows}
