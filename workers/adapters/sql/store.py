"""The write side of the database: accepting ingests and recording dedup decisions.

Every decision is one transaction — document, provenance, signature, event and the ingest's
final status commit together or not at all — and is idempotent: a message processed twice (a
redelivery after a crash) finds its ingest `done` and changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from canonry.schemas.tables import documents, events, ingests, provenance, signatures
from canonry.workers.adapters.sql import chrome_store
from canonry.workers.adapters.sql.database import (
    insert_ignoring_conflicts,
    is_postgres,
    make_engine,
    serialize_event_order,
)
from canonry.workers.article import Extracted, RawArticle
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.dedup.fingerprint import Fingerprint, decode_hashvalues, encode_hashvalues
from canonry.workers.dedup.lsh import IndexEntry
from canonry.workers.dedup.match import Verdict
from canonry.workers.identity import document_id_for

OPEN_STATES = ("queued", "processing")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, slots=True)
class NewIngest:
    id: str
    url: str
    source: str
    content_hash: str
    title: str | None
    text: str | None
    html: str | None
    language: str | None
    published_at: datetime | None
    metadata: dict[str, Any] | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Ingest:
    """An ingest being processed: its raw payload and what the worker needs to record it."""

    id: str
    url: str
    source: str
    title: str | None
    text: str | None
    html: str | None
    language: str | None
    published_at: datetime | None
    received_at: datetime
    attempts: int

    @property
    def raw(self) -> RawArticle:
        return RawArticle(url=self.url, text=self.text, html=self.html, title=self.title,
                          source=self.source, language=self.language)

    @property
    def own_document_id(self) -> str:
        """The id this ingest's document gets if it turns out to be a new story."""
        return document_id_for(self.id)


class CanonicalNotCommitted(Exception):
    """The matched canonical was claimed in the index but its transaction has not landed yet."""


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite has one writer per file: queue writers here rather than in SQLite's busy loop,
        # where a deferred transaction upgrading to a write can fail outright.
        self._write_lock = asyncio.Lock() if not is_postgres(engine) else None

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    @classmethod
    def connect(cls, url: str) -> Store:
        return cls(make_engine(url))

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(select(1))

    # -- acceptance -------------------------------------------------------------------------

    async def accept(self, items: Sequence[NewIngest]) -> tuple[list[str], set[str]]:
        """Insert new ingests, ignoring re-posts; return each item's status and the new ids."""
        if not items:
            return [], set()
        rows = [_ingest_row(item) for item in _unique(items)]
        async with self._writing() as conn:
            inserted = await conn.execute(
                insert_ignoring_conflicts(conn, ingests, rows).returning(ingests.c.id)
            )
            created = set(inserted.scalars())
            found = await conn.execute(select(ingests.c.id, ingests.c.status).where(
                ingests.c.id.in_([row["id"] for row in rows])
            ))
            status = {row.id: row.status for row in found}
        return [status[item.id] for item in items], created

    async def open_ingest_ids(self, untouched_since: datetime | None = None) -> list[str]:
        """Ingests accepted but not finished: what a restart must queue again.

        With `untouched_since`, only those no worker has touched since then: the reconciler's
        view, which finds messages a queue lost (a Redis restart without persistence).
        """
        query = select(ingests.c.id).where(ingests.c.status.in_(OPEN_STATES))
        if untouched_since is not None:
            query = query.where(ingests.c.updated_at < untouched_since)
        async with self.engine.connect() as conn:
            result = await conn.execute(query.order_by(ingests.c.received_at, ingests.c.id))
            return list(result.scalars())

    # -- processing -------------------------------------------------------------------------

    async def start_attempt(self, ingest_id: str) -> Ingest | None:
        """Mark an ingest `processing` and count the attempt; None when there is nothing to do."""
        async with self._writing() as conn:
            result = await conn.execute(
                update(ingests)
                .where(ingests.c.id == ingest_id, ingests.c.status.in_(OPEN_STATES))
                .values(status="processing", attempts=ingests.c.attempts + 1, updated_at=utcnow())
                .returning(*_INGEST_COLUMNS)
            )
            row = result.mappings().first()
        return _ingest(row) if row is not None else None

    async def url_document(self, url: str) -> tuple[IndexEntry, bool] | None:
        """The document this URL last contributed to, with its signature, and whether the URL
        is that document's canonical one."""
        query = (
            select(signatures, documents.c.url.label("canonical_url"))
            .select_from(provenance.join(documents, documents.c.id == provenance.c.document_id)
                         .join(signatures, signatures.c.document_id == documents.c.id))
            .where(provenance.c.url == url)
            .order_by(provenance.c.id.desc()).limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        entry = IndexEntry(document_id=row.document_id, text_hash=row.text_hash,
                           hashvalues=decode_hashvalues(row.hashvalues), size=row.size,
                           seen_at=row.seen_at)
        return entry, row.canonical_url == url

    async def document_exists(self, document_id: str) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.scalar(select(documents.c.id).where(documents.c.id == document_id))
            return found is not None

    async def find_exact(self, text_hash: str) -> str | None:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(signatures.c.document_id).where(signatures.c.text_hash == text_hash)
            )
            return result.scalar()

    async def chrome_model(self, source: str, cross_source: dict[str, int]) -> ChromeModel:
        """What the boilerplate model knows that matters for a page of `source`."""
        async with self.engine.connect() as conn:
            pages, lines = await chrome_store.load_source(conn, source)
        return chrome_store.model_for(source, pages, lines, cross_source)

    async def cross_source_chrome(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            return await chrome_store.load_cross_source(conn)

    async def record_new(
        self, ingest: Ingest, extracted: Extracted, fp: Fingerprint,
        page_lines: Collection[str] | None = None,
    ) -> str:
        """A new story: its document, first provenance entry, signature and `created` event;
        `page_lines` (line keys) are counted for the boilerplate model in the same commit."""
        now = utcnow()
        doc_id = ingest.own_document_id
        async with self._writing() as conn:
            await serialize_event_order(conn)
            if not await _finish(conn, ingest.id, doc_id, "new", None):
                return doc_id  # another delivery of this message finished it first
            if page_lines is not None:
                await chrome_store.observe_page(conn, ingest.source, page_lines,
                                                now.timestamp())
            seq = await _record_event(conn, doc_id, "created", 1, ingest.id, now)
            await conn.execute(documents.insert().values({
                "id": doc_id,
                "title": ingest.title or extracted.title,
                "text": extracted.text,
                "language": ingest.language or extracted.language,
                "url": ingest.url,
                "source": ingest.source,
                "published_at": ingest.published_at or extracted.published_at,
                "first_seen_at": ingest.received_at,
                "updated_at": now,
                "version": 1,
                "canonical_ingest_id": ingest.id,
                "provenance_count": 1,
                "change_seq": seq,
            }))
            await conn.execute(signatures.insert().values(
                document_id=doc_id,
                text_hash=fp.text_hash,
                hashvalues=encode_hashvalues(fp.hashvalues),
                size=fp.size,
                seen_at=ingest.received_at.timestamp(),
            ))
            await _add_provenance(conn, doc_id, ingest, "new", None)
        return doc_id

    async def record_copy(
        self, ingest: Ingest, verdict: Verdict, extracted: Extracted, fp: Fingerprint,
        page_lines: Collection[str] | None = None,
    ) -> bool:
        """A copy of an existing story; upgrades the canonical text when the verdict says so.

        Returns whether the canonical text was upgraded. Raises CanonicalNotCommitted when the
        matched document is not (yet) in the database.
        """
        assert verdict.document_id is not None
        now = utcnow()
        doc_id = verdict.document_id
        async with self._writing() as conn:
            await serialize_event_order(conn)
            version = (await conn.execute(
                select(documents.c.version).where(documents.c.id == doc_id)
            )).scalar()
            if version is None:
                raise CanonicalNotCommitted(doc_id)
            if not await _finish(conn, ingest.id, doc_id, verdict.kind, verdict.similarity):
                return False
            if page_lines is not None:
                await chrome_store.observe_page(conn, ingest.source, page_lines,
                                                now.timestamp())
            await _add_provenance(conn, doc_id, ingest, verdict.kind, verdict.similarity)
            changes: dict[str, Any] = {"provenance_count": documents.c.provenance_count + 1}
            if verdict.upgrade and await _replace_signature(conn, doc_id, fp):
                version += 1
                changes.update(_upgraded_text(version, ingest, extracted, now))
            kind = "upgraded" if "text" in changes else "copy_added"
            changes["change_seq"] = await _record_event(conn, doc_id, kind, version, ingest.id,
                                                        now)
            await conn.execute(update(documents).where(documents.c.id == doc_id).values(changes))
        return kind == "upgraded"

    async def canonicals(
        self, source: str | None, after: str, limit: int
    ) -> list[tuple[str, Ingest]]:
        """(document id, canonical ingest with its raw payload), by document id: re-cleaning."""
        query = (
            select(documents.c.id.label("document_id"), *_INGEST_COLUMNS)
            .join(ingests, ingests.c.id == documents.c.canonical_ingest_id)
            .where(documents.c.id > after).order_by(documents.c.id).limit(limit)
        )
        if source is not None:
            query = query.where(documents.c.source == source)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [(row["document_id"], _ingest(row)) for row in rows]

    async def record_reclean(
        self, document_id: str, extracted: Extracted, fp: Fingerprint
    ) -> bool:
        """Store a document's re-cleaned text as a new version; False when nothing changed."""
        now = utcnow()
        async with self._writing() as conn:
            await serialize_event_order(conn)
            current = (await conn.execute(
                select(documents.c.text, documents.c.version).where(documents.c.id == document_id)
            )).first()
            if current is None or current.text == extracted.text:
                return False
            if not await _replace_signature(conn, document_id, fp):
                return False
            version = current.version + 1
            seq = await _record_event(conn, document_id, "recleaned", version, None, now)
            await conn.execute(update(documents).where(documents.c.id == document_id).values(
                text=extracted.text, version=version, updated_at=now, change_seq=seq,
            ))
        return True

    async def prune_chrome(self, seen_before: float) -> int:
        """Forget article lines the boilerplate model saw once, before `seen_before`."""
        pruned = 0
        while True:
            async with self._writing() as conn:
                await serialize_event_order(conn)  # same lock order as every decision
                step = await chrome_store.prune(conn, seen_before)
            pruned += step
            if step == 0:
                return pruned

    async def record_failure(self, ingest_id: str, error: str, *, final: bool) -> None:
        """Note an attempt's error; `final` marks the ingest failed (it is dead-lettered)."""
        async with self._writing() as conn:
            await conn.execute(
                update(ingests)
                .where(ingests.c.id == ingest_id, ingests.c.status.in_(OPEN_STATES))
                .values(status="failed" if final else "queued", error=error[:4000],
                        updated_at=utcnow())
            )

    async def requeue(self, ingest_id: str) -> bool:
        """Put a dead-lettered ingest back to `queued` with a fresh attempt budget.

        Besides `failed`, an ingest left `processing` qualifies: the queue's delivery guard
        dead-letters a message whose consumers kept dying before they could record anything.
        """
        async with self._writing() as conn:
            result = await conn.execute(
                update(ingests)
                .where(ingests.c.id == ingest_id, ingests.c.status != "done")
                .values(status="queued", attempts=0, error=None, updated_at=utcnow())
            )
            return result.rowcount > 0

    async def failed_ingests(self, limit: int) -> list[dict[str, Any]]:
        """The embedded dead-letter list: failed ingests, most recent first."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(ingests.c.id, ingests.c.url, ingests.c.attempts, ingests.c.error,
                       ingests.c.updated_at)
                .where(ingests.c.status == "failed")
                .order_by(ingests.c.updated_at.desc()).limit(limit)
            )
            return [dict(row) for row in result.mappings()]

    async def index_entries(self, seen_since: float) -> list[IndexEntry]:
        """Signatures of documents first seen since `seen_since`: what the LSH index holds."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(signatures).where(signatures.c.seen_at >= seen_since)
                .order_by(signatures.c.seen_at)
            )
            return [
                IndexEntry(document_id=row.document_id, text_hash=row.text_hash,
                           hashvalues=decode_hashvalues(row.hashvalues), size=row.size,
                           seen_at=row.seen_at)
                for row in result
            ]


_INGEST_COLUMNS = (
    ingests.c.id, ingests.c.url, ingests.c.source, ingests.c.title, ingests.c.text,
    ingests.c.html, ingests.c.language, ingests.c.published_at, ingests.c.received_at,
    ingests.c.attempts,
)


def _ingest(row: Any) -> Ingest:
    values = {column.name: row[column.name] for column in _INGEST_COLUMNS}
    values["published_at"] = as_utc(values["published_at"])
    values["received_at"] = as_utc(values["received_at"])
    return Ingest(**values)


def _unique(items: Sequence[NewIngest]) -> list[NewIngest]:
    return list({item.id: item for item in items}.values())


def _ingest_row(item: NewIngest) -> dict[str, Any]:
    return {
        "id": item.id, "url": item.url, "source": item.source,
        "content_hash": item.content_hash, "title": item.title, "text": item.text,
        "html": item.html, "language": item.language, "published_at": item.published_at,
        "metadata": item.metadata, "received_at": item.received_at, "status": "queued",
        "attempts": 0, "updated_at": item.received_at,
    }


async def _finish(
    conn: AsyncConnection, ingest_id: str, doc_id: str, match: str, similarity: float | None
) -> bool:
    """Mark the ingest done, in the decision's transaction; False if it already was (a
    duplicate delivery), which leaves the rest of the decision unrecorded."""
    result = await conn.execute(
        update(ingests)
        .where(ingests.c.id == ingest_id, ingests.c.status.in_(OPEN_STATES))
        .values(status="done", document_id=doc_id, match=match, similarity=similarity,
                error=None, updated_at=utcnow())
    )
    return result.rowcount > 0


async def _add_provenance(
    conn: AsyncConnection, doc_id: str, ingest: Ingest, match: str, similarity: float | None
) -> None:
    await conn.execute(provenance.insert().values(
        document_id=doc_id, ingest_id=ingest.id, url=ingest.url, source=ingest.source,
        published_at=ingest.published_at, received_at=ingest.received_at, match=match,
        similarity=similarity,
    ))


async def _replace_signature(conn: AsyncConnection, doc_id: str, fp: Fingerprint) -> bool:
    """Point the document's signature at its new canonical text."""
    try:
        async with conn.begin_nested():
            await conn.execute(update(signatures).where(signatures.c.document_id == doc_id).values(
                text_hash=fp.text_hash, hashvalues=encode_hashvalues(fp.hashvalues), size=fp.size,
            ))
    except IntegrityError:
        # Another document already has exactly this text; keep ours as it is.
        return False
    return True


def _upgraded_text(
    version: int, ingest: Ingest, extracted: Extracted, now: datetime
) -> dict[str, Any]:
    """The fuller version becomes canonical; the id stays, the version grows."""
    values: dict[str, Any] = {"text": extracted.text, "version": version, "updated_at": now,
                              "canonical_ingest_id": ingest.id}
    title = ingest.title or extracted.title
    if title:
        values["title"] = title
    return values


async def _record_event(
    conn: AsyncConnection, doc_id: str, kind: str, version: int, ingest_id: str | None,
    at: datetime,
) -> int:
    """Append to the change log; the returned seq becomes the document's feed cursor.

    The caller took `serialize_event_order` as its transaction's first lock: taking it here,
    after row locks, would let two transactions wait on each other (a deadlock).
    """
    result = await conn.execute(events.insert().values(
        document_id=doc_id, kind=kind, version=version, ingest_id=ingest_id, at=at,
    ).returning(events.c.seq))
    return int(result.scalar_one())


