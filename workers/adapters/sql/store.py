"""The store on SQLite (embedded) or PostgreSQL (production), through one SQLAlchemy Core module.

Every batch of decisions is one transaction — documents, provenance, signatures, the learned
boilerplate counts and the ingests' final status commit together or not at all — and is
idempotent: a message processed twice finds its ingest `done` and changes nothing. Statements
are executemany over a batch (compiled once, cached), never one per article.
"""

from __future__ import annotations

import asyncio
import heapq
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Row, String, bindparam, func, null, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from canonry.schemas.tables import (
    alias_signatures,
    backfill_checkpoints,
    documents,
    ingests,
    outbox,
    provenance,
    signatures,
    url_aliases,
)
from canonry.workers.adapters.sql import chrome_store
from canonry.workers.adapters.sql.database import (
    insert_ignoring_conflicts,
    is_postgres,
    make_engine,
    serialize_decisions,
    upsert_replacing,
)
from canonry.workers.analysis import SourceChrome
from canonry.workers.article import Extracted
from canonry.workers.dedup.fingerprint import (
    Fingerprint,
    decode_hashvalue_rows,
    decode_hashvalues,
    encode_hashvalues,
)
from canonry.workers.dedup.lsh import IndexEntry, SignatureBlock
from canonry.workers.identity import alias_key_for
from canonry.workers.ports import (
    ONE_RUN_INPUT,
    OPEN_STATES,
    Checkpoint,
    Decision,
    Event,
    Failure,
    Ingest,
    NewIngest,
    Outcome,
    UrlDocument,
)
from canonry.workers.urls import url_key


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class SqlStore:
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
    def connect(cls, url: str) -> SqlStore:
        return cls(make_engine(url))

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(select(1))

    # -- acceptance -------------------------------------------------------------------------

    async def accept(self, items: Sequence[NewIngest], checkpoint: Checkpoint | None = None,
                     backfill_input: str | None = None) -> tuple[list[str], set[str]]:
        """Insert new ingests, ignoring re-posts; return each item's status and the new ids.
        A backfill's `checkpoint` (how far its input has been read) commits with them, and so
        does `backfill_input`, the name its outcomes are counted by (`backfill_outcomes`)."""
        if not items and checkpoint is None:
            return [], set()
        rows = [_ingest_row(item, backfill_input) for item in _unique(items)]
        status: dict[str, str] = {}
        created: set[str] = set()
        async with self._writing() as conn:
            if rows:
                inserted = await conn.execute(
                    insert_ignoring_conflicts(conn, ingests).returning(ingests.c.id), rows
                )
                created = set(inserted.scalars())
                found = (await conn.execute(
                    select(ingests.c.id, ingests.c.status, ingests.c.backfill_input)
                    .where(ingests.c.id.in_([row["id"] for row in rows]))
                )).all()
                status = {row.id: row.status for row in found}
                if backfill_input is not None:
                    await _tag_known(conn, found, backfill_input)
            if checkpoint is not None:
                await conn.execute(
                    upsert_replacing(conn, backfill_checkpoints, ["input"],
                                     ["records", "updated_at"]),
                    [{"input": checkpoint.input, "records": checkpoint.records,
                      "updated_at": datetime.now(UTC)}])
        return [status[item.id] for item in items], created

    async def checkpoint(self, input_name: str) -> int:
        """Records of `input_name` a backfill has committed so far (0 if none)."""
        async with self.engine.connect() as conn:
            records = await conn.scalar(select(backfill_checkpoints.c.records)
                                        .where(backfill_checkpoints.c.input == input_name))
        return int(records or 0)

    async def backfill_outcomes(self, inputs: Collection[str], open_only: bool = False
                                ) -> dict[tuple[str, str], int]:
        """(status, match or error code) → count, over the ingests of these backfill inputs
        (only the unfinished ones with `open_only`): one query whose parameters are the input
        names however many ingests they hold; the full count is read from
        `ix_ingests_backfill_input` alone, an `open_only` poll reads only the open rows."""
        query = (select(ingests.c.status, ingests.c.match, ingests.c.error_code, func.count())
                 .where(ingests.c.backfill_input.in_(list(inputs)))
                 .group_by(ingests.c.status, ingests.c.match, ingests.c.error_code))
        if open_only:
            query = query.where(ingests.c.status.in_(OPEN_STATES))
        counts: dict[tuple[str, str], int] = {}
        async with self.engine.connect() as conn:
            for status, match, error_code, count in await conn.execute(query):
                key = (status, match or error_code or "")
                counts[key] = counts.get(key, 0) + count
        return counts

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

    async def start_attempts(self, ingest_ids: Sequence[str]) -> dict[str, Ingest]:
        """Mark open ingests `processing` and count the attempt, in one statement."""
        if not ingest_ids:
            return {}
        async with self._writing() as conn:
            result = await conn.execute(
                update(ingests)
                .where(ingests.c.id.in_(ingest_ids), ingests.c.status.in_(OPEN_STATES))
                .values(status="processing", attempts=ingests.c.attempts + 1, updated_at=utcnow())
                .returning(*_INGEST_COLUMNS)
            )
            return {row["id"]: _ingest(row) for row in result.mappings()}

    async def source_chrome(self, sources: Collection[str]) -> dict[str, SourceChrome]:
        if not sources:
            return {}
        async with self.engine.connect() as conn:
            return await chrome_store.load_sources(conn, sources)

    async def cross_source_chrome(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            return await chrome_store.load_cross_source(conn)

    async def exact_documents(self, text_hashes: Collection[str]) -> dict[str, str]:
        if not text_hashes:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(signatures.c.text_hash, signatures.c.document_id)
                                      .where(signatures.c.text_hash.in_(list(text_hashes))))
            return {text_hash: document_id for text_hash, document_id in rows}

    async def canonical_texts(self, document_ids: Collection[str]) -> dict[str, tuple[str, str]]:
        if not document_ids:
            return {}
        async with self.engine.connect() as conn:
            # The text the signature was taken from: the untrimmed one, where learned
            # boilerplate trimmed the stored text (the same-site check compares page alone).
            # The URL is the canonical text's page, not the document's first one: an upgrade
            # replaced the text, and the same-site check must see whose chrome it carries
            # (read as the first URL, a site's other story matched an upgraded page's leftover
            # chrome through the service). Aliases are read with their own texts.
            text = func.coalesce(signatures.c.match_text, documents.c.text)
            keys = list(document_ids)
            current = (select(documents.c.id, ingests.c.url, text)
                       .join(signatures, signatures.c.document_id == documents.c.id)
                       .join(ingests, ingests.c.id == documents.c.canonical_ingest_id)
                       .where(documents.c.id.in_(keys)))
            aliases = (select(alias_signatures.c.key, alias_signatures.c.url,
                              alias_signatures.c.match_text)
                       .where(alias_signatures.c.key.in_(keys)))
            rows = await conn.execute(union_all(current, aliases))
            return {key: (url, text) for key, url, text in rows}

    async def url_documents(self, urls: Collection[str]) -> dict[str, UrlDocument]:
        """The document each URL (in its normal form: `canonry.workers.urls`) last contributed
        a copy to, through `ix_url_aliases_key`: a flat cost per URL however large the archive.
        Only the copies' own URLs count here; the links pages declare serve lookups alone."""
        if not urls:
            return {}
        keys: dict[str, list[str]] = {}
        for url in urls:
            keys.setdefault(url_key(url), []).append(url)
        query = (
            select(url_aliases.c.url_key, *_INDEX_COLUMNS,
                   documents.c.url.label("canonical_url"))
            .select_from(url_aliases
                         .join(documents, documents.c.id == url_aliases.c.document_id)
                         .join(signatures, signatures.c.document_id == documents.c.id))
            .where(url_aliases.c.url_key.in_(list(keys)), url_aliases.c.kind == "url")
            .order_by(url_aliases.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[str, UrlDocument] = {}
        for row in rows:  # by alias id: the URL's latest contribution wins
            entry = IndexEntry(document_id=row.document_id, text_hash=row.text_hash,
                               hashvalues=decode_hashvalues(row.hashvalues), size=row.size,
                               seen_at=row.seen_at)
            is_canonical = url_key(row.canonical_url) == row.url_key
            for url in keys[row.url_key]:
                found[url] = UrlDocument(entry, is_canonical)
        return found

    async def existing_documents(self, document_ids: Collection[str]) -> set[str]:
        if not document_ids:
            return set()
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(documents.c.id)
                                      .where(documents.c.id.in_(list(document_ids))))
            return set(rows.scalars())

    async def record(self, decisions: Sequence[Decision]) -> list[Outcome]:
        """One transaction for the whole batch, decided in order (see `_BatchWrite`)."""
        if not decisions:
            return []
        async with self._writing() as conn:
            await serialize_decisions(conn)
            write = _BatchWrite(conn, utcnow())
            outcomes = await write.plan(decisions)
            await write.execute()
        return outcomes

    async def record_failures(self, failures: Sequence[Failure]) -> None:
        """Note attempts' errors; a final one marks its ingest failed (it is dead-lettered)."""
        if not failures:
            return
        statement = (
            update(ingests)
            # Not status IN (...): an expanding IN cannot be run as executemany.
            .where(ingests.c.id == bindparam("b_id"),
                   or_(*(ingests.c.status == state for state in OPEN_STATES)))
            .values(status=bindparam("b_status"), error=bindparam("b_error"),
                    error_code=bindparam("b_code"), updated_at=bindparam("b_now"))
        )
        now = utcnow()
        async with self._writing() as conn:
            await conn.execute(statement, [
                {"b_id": f.ingest_id, "b_status": "failed" if f.final else "queued",
                 "b_error": f.message[:4000], "b_code": f.code, "b_now": now}
                for f in failures
            ])

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
            await serialize_decisions(conn)
            current = (await conn.execute(
                select(documents.c.text, documents.c.version, signatures.c.text_hash)
                .join(signatures, signatures.c.document_id == documents.c.id)
                .where(documents.c.id == document_id)
            )).first()
            if current is None or (current.text, current.text_hash) == (extracted.text,
                                                                        fp.text_hash):
                return False
            if await _text_hash_owner(conn, fp.text_hash) not in (None, document_id):
                return False  # another document already has exactly this text
            await conn.execute(update(signatures).where(signatures.c.document_id == document_id)
                               .values(_signature_values(fp, extracted)))
            if current.text == extracted.text:
                # Only the signature moved (stored before 0007, it was taken from the trimmed
                # text): readers see the same text, so no new version and no event.
                return False
            seq = await _last_change_seq(conn) + 1
            await conn.execute(update(documents).where(documents.c.id == document_id).values(
                text=extracted.text, version=current.version + 1, updated_at=now,
                change_seq=seq,
            ))
            await conn.execute(outbox.insert().values(
                seq=seq, type="document.updated", document_id=document_id,
                version=current.version + 1, ingest_id=None, at=now))
        return True

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(outbox).where(outbox.c.seq > seq)
                                      .order_by(outbox.c.seq).limit(limit))
            return [Event(row.seq, row.type, row.document_id, row.version, row.ingest_id,
                          as_utc(row.at)) for row in rows]

    async def last_event_seq(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.max(outbox.c.seq)))).scalar() or 0)

    async def prune_chrome(self, seen_before: float) -> int:
        """Forget article lines the boilerplate model saw once, before `seen_before`."""
        pruned = 0
        while True:
            async with self._writing() as conn:
                await serialize_decisions(conn)  # same lock order as every decision
                step = await chrome_store.prune(conn, seen_before)
            pruned += step
            if step == 0:
                return pruned

    async def requeue(self, ingest_id: str) -> bool:
        """Put a dead-lettered ingest back to `queued` with a fresh attempt budget.

        Besides `failed`, an ingest left `processing` qualifies: the queue's delivery guard
        dead-letters a message whose consumers kept dying before they could record anything.
        """
        async with self._writing() as conn:
            result = await conn.execute(
                update(ingests)
                .where(ingests.c.id == ingest_id, ingests.c.status != "done")
                .values(status="queued", attempts=0, error=None, error_code=None,
                        updated_at=utcnow())
            )
            return result.rowcount > 0

    async def failed_ingests(self, limit: int) -> list[dict[str, Any]]:
        """The embedded dead-letter list: failed ingests, most recent first."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(ingests.c.id, ingests.c.url, ingests.c.attempts, ingests.c.error,
                       ingests.c.error_code, ingests.c.updated_at)
                .where(ingests.c.status == "failed")
                .order_by(ingests.c.updated_at.desc()).limit(limit)
            )
            return [dict(row) for row in result.mappings()]

    async def index_entries(self, seen_since: float) -> list[IndexEntry]:
        """Signatures of documents first seen since `seen_since`: what the LSH index holds."""
        async with self.engine.connect() as conn:
            result = await conn.execute(_indexed(seen_since=seen_since))
            return [_index_entry(row) for row in result]

    async def signature_blocks(self, seen_since: float,
                               size: int = 20_000) -> AsyncIterator[SignatureBlock]:
        """`index_entries` for a bulk load: streamed (server-side cursors), `size` documents
        a block, in seen_at order, only the columns an index needs, decoded as arrays. The
        canonicals' and the aliases' signatures are read side by side, each in its seen_at
        index's order, and merged as they come: nothing sorts the whole window."""
        current = (select(signatures.c.document_id, signatures.c.seen_at, signatures.c.hashvalues)
                   .where(signatures.c.seen_at >= seen_since)
                   .order_by(signatures.c.seen_at, signatures.c.document_id))
        aliases = (select(alias_signatures.c.key, alias_signatures.c.seen_at,
                          alias_signatures.c.hashvalues)
                   .where(alias_signatures.c.seen_at >= seen_since)
                   .order_by(alias_signatures.c.seen_at, alias_signatures.c.key))
        async with self.engine.connect() as first, self.engine.connect() as second:
            streams = [(await conn.stream(query.execution_options(yield_per=size))).partitions(size)
                       for conn, query in ((first, current), (second, aliases))]
            pending: list[Any] = []
            async for rows in merged_partitions(streams, key=lambda row: (row[1], row[0])):
                pending.extend(rows)
                while len(pending) >= size:
                    yield _signature_block(pending[:size])
                    del pending[:size]
            if pending:
                yield _signature_block(pending)

    async def index_entries_of(self, document_ids: Collection[str]) -> list[IndexEntry]:
        """The shared index's candidates, to verify: their signatures, in one query."""
        if not document_ids:
            return []
        async with self.engine.connect() as conn:
            result = await conn.execute(_indexed(keys=list(document_ids)))
            return [_index_entry(row) for row in result]


_INGEST_COLUMNS = (
    ingests.c.id, ingests.c.url, ingests.c.source, ingests.c.title, ingests.c.text,
    ingests.c.html, ingests.c.language, ingests.c.published_at, ingests.c.received_at,
    ingests.c.attempts,
)


# What an index entry needs (not `match_text`, a whole text where there is one).
_INDEX_COLUMNS = (signatures.c.document_id, signatures.c.text_hash, signatures.c.hashvalues,
                  signatures.c.size, signatures.c.seen_at)


def _signature_block(rows: Sequence[Any]) -> SignatureBlock:
    ids, seen_at, blobs = zip(*rows, strict=True)
    return SignatureBlock(list(ids), np.array(seen_at, dtype=np.float64),
                          decode_hashvalue_rows(blobs))


async def merged_partitions(sources: Sequence[AsyncIterator[Sequence[Any]]],
                            key: Callable[[Any], Any]) -> AsyncIterator[list[Any]]:
    """Merge streams of row lists, each stream sorted by `key`, into lists in `key` order.
    Each step hands on every buffered row no stream can still undercut (up to the smallest
    last key of the streams not exhausted), merged in C, then refills what it emptied."""
    buffers: list[list[Any]] = [[] for _ in sources]
    exhausted = [False] * len(sources)

    async def refill(i: int) -> None:
        while not buffers[i] and not exhausted[i]:
            part = await anext(sources[i], None)
            if part is None:
                exhausted[i] = True
            else:
                buffers[i] = list(part)

    for i in range(len(sources)):
        await refill(i)
    while any(buffers):
        limits = [key(buffer[-1]) for buffer, done in zip(buffers, exhausted, strict=True)
                  if buffer and not done]
        taken = []
        for i, buffer in enumerate(buffers):
            cut = len(buffer) if not limits else bisect_right(buffer, min(limits), key=key)
            taken.append(buffer[:cut])
            buffers[i] = buffer[cut:]
        yield list(heapq.merge(*taken, key=key))
        for i in range(len(sources)):
            await refill(i)


def _indexed(*, seen_since: float | None = None, keys: list[str] | None = None) -> Any:
    """What the LSH index holds, as `_INDEX_COLUMNS` plus `alias_of`: every canonical's
    signature and every alias's (under its own key), those first seen since `seen_since` (in
    seen_at order) or those under `keys`."""
    current = select(*_INDEX_COLUMNS, null().label("alias_of"))
    aliases = select(alias_signatures.c.key.label("document_id"), alias_signatures.c.text_hash,
                     alias_signatures.c.hashvalues, alias_signatures.c.size,
                     alias_signatures.c.seen_at, alias_signatures.c.document_id.label("alias_of"))
    if seen_since is not None:
        current = current.where(signatures.c.seen_at >= seen_since)
        aliases = aliases.where(alias_signatures.c.seen_at >= seen_since)
    if keys is not None:
        current = current.where(signatures.c.document_id.in_(keys))
        aliases = aliases.where(alias_signatures.c.key.in_(keys))
    both = union_all(current, aliases)
    if seen_since is None:
        return both
    ordered = both.subquery()
    return select(ordered).order_by(ordered.c.seen_at, ordered.c.document_id)


def _index_entry(row: Any) -> IndexEntry:
    return IndexEntry(document_id=row.document_id, text_hash=row.text_hash,
                      hashvalues=decode_hashvalues(row.hashvalues), size=row.size,
                      seen_at=row.seen_at, alias_of=getattr(row, "alias_of", None))


def _ingest(row: Any) -> Ingest:
    values = {column.name: row[column.name] for column in _INGEST_COLUMNS}
    values["published_at"] = as_utc(values["published_at"])
    values["received_at"] = as_utc(values["received_at"])
    return Ingest(**values)


def _unique(items: Sequence[NewIngest]) -> list[NewIngest]:
    return list({item.id: item for item in items}.values())


async def _tag_known(conn: AsyncConnection, found: Sequence[Row[Any]], backfill_input: str
                     ) -> None:
    """Give ingests that existed already (re-read records) this backfill input, if no input
    has them yet (posted over HTTP) or only a one-run input (standard input, never resumed).

    Otherwise an ingest keeps the input that read it first, so no run takes ingests from
    another: a run waits for every ingest it created whatever runs beside it, and a resumed
    run counts what its killed run accepted. The price: a record also in an input read before
    is counted by that input's runs, not this one (its summary counts it as already known)."""
    taken = [row.id for row in found if row.backfill_input != backfill_input
             and (row.backfill_input is None or row.backfill_input.startswith(ONE_RUN_INPUT))]
    if not taken:
        return
    # These rows may be in a worker's decision batch: locked, as it locks them, after the
    # decision lock (`serialize_decisions`), so the two cannot deadlock. Taking it after this
    # transaction's INSERT keeps the lock order all the same: the INSERT locked only its own
    # new rows, which no other transaction sees yet (ON CONFLICT DO NOTHING locks no existing
    # row). Only a batch that re-reads known, untagged ingests waits for the decision lock.
    await serialize_decisions(conn)
    await conn.execute(
        update(ingests)
        .where(ingests.c.id.in_(taken),
               or_(ingests.c.backfill_input.is_(None),
                   ingests.c.backfill_input.startswith(ONE_RUN_INPUT, autoescape=True)))
        .values(backfill_input=backfill_input))


def _ingest_row(item: NewIngest, backfill_input: str | None = None) -> dict[str, Any]:
    return {
        "id": item.id, "url": item.url, "source": item.source,
        "content_hash": item.content_hash, "title": item.title, "text": item.text,
        "html": item.html, "language": item.language, "published_at": item.published_at,
        "metadata": item.metadata, "received_at": item.received_at, "status": "queued",
        "attempts": 0, "updated_at": item.received_at, "backfill_input": backfill_input,
    }


def _signature_values(fp: Fingerprint, extracted: Extracted) -> dict[str, Any]:
    return {"text_hash": fp.text_hash, "hashvalues": encode_hashvalues(fp.hashvalues),
            "size": fp.size, "match_text": extracted.untrimmed}


async def _text_hash_owner(conn: AsyncConnection, text_hash: str) -> str | None:
    return await conn.scalar(select(signatures.c.document_id)
                             .where(signatures.c.text_hash == text_hash))


async def _last_change_seq(conn: AsyncConnection) -> int:
    """The highest feed position committed. Read under `serialize_decisions`, so the numbers
    a transaction hands out after it commit in order (a feed reader never skips one). Every
    position handed out has its outbox event, so the outbox's key holds the maximum."""
    return int(await conn.scalar(select(func.max(outbox.c.seq))) or 0)


_FINISH = (
    update(ingests)
    .where(ingests.c.id == bindparam("b_id"))
    .values(status="done", document_id=bindparam("b_document"), match=bindparam("b_match"),
            similarity=bindparam("b_similarity"), error=None, error_code=None,
            updated_at=bindparam("b_now"))
)
_COPIES_ADDED = (
    update(documents)
    .where(documents.c.id == bindparam("b_id"))
    .values(provenance_count=documents.c.provenance_count + bindparam("b_added"),
            change_seq=bindparam("b_seq"))
)
_UPGRADED = (
    update(documents)
    .where(documents.c.id == bindparam("b_id"))
    .values(provenance_count=documents.c.provenance_count + bindparam("b_added"),
            change_seq=bindparam("b_seq"), text=bindparam("b_text"),
            version=bindparam("b_version"), updated_at=bindparam("b_now"),
            canonical_ingest_id=bindparam("b_canonical"),
            title=func.coalesce(bindparam("b_title"), documents.c.title))
)
# The signature an upgrade replaces, kept as an alias under the upgrading ingest's key, with
# the URL of the page it was taken from (read before the replacement: the same transaction,
# statements in order).
_FORMER_KEPT = alias_signatures.insert().from_select(
    ["key", "document_id", "text_hash", "hashvalues", "size", "seen_at", "url", "match_text"],
    select(bindparam("b_key", type_=String), signatures.c.document_id, signatures.c.text_hash,
           signatures.c.hashvalues, signatures.c.size, signatures.c.seen_at, ingests.c.url,
           func.coalesce(signatures.c.match_text, documents.c.text))
    .join(documents, documents.c.id == signatures.c.document_id)
    .join(ingests, ingests.c.id == documents.c.canonical_ingest_id)
    .where(signatures.c.document_id == bindparam("b_id")),
)
_SIGNATURE_REPLACED = (
    update(signatures)
    .where(signatures.c.document_id == bindparam("b_id"))
    .values(text_hash=bindparam("b_text_hash"), hashvalues=bindparam("b_hashvalues"),
            size=bindparam("b_size"), match_text=bindparam("b_match_text"))
)


class _BatchWrite:
    """The rows one batch of decisions writes, planned in memory in order, then written with
    one executemany per statement.

    Planning reads what it must first (which ingests are still open, the matched documents,
    the owners of upgraded texts' hashes, the last feed position): under `serialize_decisions`
    nothing changes them until the commit.
    """

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.new_documents: dict[str, dict[str, Any]] = {}
        self.new_signatures: dict[str, dict[str, Any]] = {}
        self.changed: dict[str, dict[str, Any]] = {}  # existing documents: their changes
        self.replaced_signatures: dict[str, dict[str, Any]] = {}
        # Alias signatures: upgraded documents' former ones stored before this batch (copied
        # by key), and rows written as they are (this batch's documents' former ones, copies).
        self.former_copies: list[dict[str, Any]] = []
        self.alias_signature_rows: list[dict[str, Any]] = []
        self.formers_kept: set[str] = set()
        self.provenance: list[dict[str, Any]] = []
        self.url_alias_rows: list[dict[str, Any]] = []
        self.finished: list[dict[str, Any]] = []
        self.pages: list[tuple[str, Sequence[str]]] = []
        self.events: list[dict[str, Any]] = []  # the outbox rows, one per change

    async def plan(self, decisions: Sequence[Decision]) -> list[Outcome]:
        conn = self.conn
        open_ids = set((await conn.execute(select(ingests.c.id).where(
            ingests.c.id.in_([d.ingest.id for d in decisions]),
            ingests.c.status.in_(OPEN_STATES),
        ))).scalars())
        targets = {d.document_id for d in decisions if d.verdict.kind != "new"}
        versions: dict[str, int] = dict((await conn.execute(
            select(documents.c.id, documents.c.version).where(documents.c.id.in_(targets))
        )).all()) if targets else {}
        upgrade_hashes = [d.fingerprint.text_hash for d in decisions if d.verdict.upgrade]
        hash_owner: dict[str, str] = dict((await conn.execute(
            select(signatures.c.text_hash, signatures.c.document_id)
            .where(signatures.c.text_hash.in_(upgrade_hashes))
        )).all()) if upgrade_hashes else {}
        seq = await _last_change_seq(conn)
        outcomes: list[Outcome] = []
        for decision in decisions:
            ingest = decision.ingest
            if ingest.id not in open_ids:
                outcomes.append("duplicate")
                continue
            doc_id = decision.document_id
            if decision.verdict.kind == "new":
                self._new_document(decision)
                hash_owner[decision.fingerprint.text_hash] = doc_id
                versions[doc_id] = 1
                outcome: Outcome = "recorded"
            elif doc_id not in versions:
                outcomes.append("waiting")  # claimed by another worker, not committed yet
                continue
            else:
                outcome = self._copy(decision, versions, hash_owner)
            open_ids.discard(ingest.id)  # the same ingest twice in a batch counts once
            seq += 1
            self._row_of(doc_id)["change_seq"] = seq
            self.events.append({
                "seq": seq, "document_id": doc_id, "version": versions[doc_id],
                "ingest_id": ingest.id, "at": self.now,
                "type": {"recorded": "duplicate.added", "upgraded": "document.updated"}[outcome]
                if decision.verdict.kind != "new" else "document.created",
            })
            self.provenance.append(_provenance_row(decision))
            self.url_alias_rows.extend(_url_alias_rows(decision))
            self.finished.append({
                "b_id": ingest.id, "b_document": doc_id, "b_match": decision.verdict.kind,
                "b_similarity": decision.verdict.similarity, "b_now": self.now,
            })
            if decision.verdict.kind == "new":
                # A copy's lines were counted with its story's first page: counted again, a
                # story syndicated to five sites made its own short lines (subheadings, a
                # standings table) cross-source chrome, cut from its later copies.
                self.pages.append((ingest.source, decision.line_keys))
            outcomes.append(outcome)
        return outcomes

    def _new_document(self, decision: Decision) -> None:
        ingest, extracted, fp = decision.ingest, decision.extracted, decision.fingerprint
        doc_id = decision.document_id
        self.new_documents[doc_id] = {
            "id": doc_id,
            "title": ingest.title or extracted.title,
            "text": extracted.text,
            "language": ingest.language or extracted.language,
            "url": ingest.url,
            "source": ingest.source,
            "published_at": ingest.published_at or extracted.published_at,
            "first_seen_at": ingest.received_at,
            "updated_at": self.now,
            "version": 1,
            "canonical_ingest_id": ingest.id,
            "provenance_count": 0,  # counted with the provenance rows, as for copies
            "change_seq": 0,
        }
        self.new_signatures[doc_id] = {"document_id": doc_id,
                                       **_signature_values(fp, extracted),
                                       "seen_at": ingest.received_at.timestamp()}

    def _copy(self, decision: Decision, versions: dict[str, int],
              hash_owner: dict[str, str]) -> Outcome:
        doc_id, fp = decision.document_id, decision.fingerprint
        row = self._row_of(doc_id)
        owner = hash_owner.get(fp.text_hash)
        if decision.verdict.alias:
            self.alias_signature_rows.append({
                "key": alias_key_for(decision.ingest.id), "document_id": doc_id,
                "text_hash": fp.text_hash, "hashvalues": encode_hashvalues(fp.hashvalues),
                "size": fp.size, "seen_at": decision.ingest.received_at.timestamp(),
                "url": decision.ingest.url, "match_text": decision.extracted.match_text})
        if not decision.verdict.upgrade or owner not in (None, doc_id):
            return "recorded"  # no upgrade, or another document has exactly this text
        versions[doc_id] += 1
        ingest, extracted = decision.ingest, decision.extracted
        self._keep_former(doc_id, alias_key_for(ingest.id))
        row.update(text=extracted.text, version=versions[doc_id], updated_at=self.now,
                   canonical_ingest_id=ingest.id)
        if title := ingest.title or extracted.title:
            row["title"] = title
        signature = _signature_values(fp, extracted)
        if doc_id in self.new_signatures:
            self.new_signatures[doc_id].update(signature)
        else:
            self.replaced_signatures[doc_id] = signature
        hash_owner[fp.text_hash] = doc_id
        return "upgraded"

    def _keep_former(self, doc_id: str, key: str) -> None:
        """Keep the signature `doc_id` has now, before an upgrade replaces it. (A document
        upgraded twice in one batch keeps the first only: the one between was never
        committed, so no copy outside the batch was judged against it.)"""
        if doc_id in self.formers_kept:
            return
        self.formers_kept.add(doc_id)
        created = self.new_documents.get(doc_id)
        if created is not None:
            signature = self.new_signatures[doc_id]
            self.alias_signature_rows.append({
                "key": key, "document_id": doc_id, "text_hash": signature["text_hash"],
                "hashvalues": signature["hashvalues"], "size": signature["size"],
                "seen_at": signature["seen_at"], "url": created["url"],
                "match_text": signature["match_text"] or created["text"]})
        else:
            self.former_copies.append({"b_key": key, "b_id": doc_id})

    def _row_of(self, doc_id: str) -> dict[str, Any]:
        """The row being inserted, or the changes to an existing document (copies counted)."""
        row = self.new_documents.get(doc_id)
        return row if row is not None else self.changed.setdefault(doc_id, {"added": 0})

    async def execute(self) -> None:
        conn = self.conn
        for doc_id in (p["document_id"] for p in self.provenance):
            row = self.new_documents.get(doc_id)
            if row is not None:
                row["provenance_count"] += 1
            else:
                self.changed[doc_id]["added"] += 1
        if self.new_documents:
            await conn.execute(documents.insert(), list(self.new_documents.values()))
            await conn.execute(signatures.insert(), list(self.new_signatures.values()))
        if self.alias_signature_rows:
            await conn.execute(alias_signatures.insert(), self.alias_signature_rows)
        if self.former_copies:  # before the signatures and texts are replaced
            await conn.execute(_FORMER_KEPT, self.former_copies)
        if self.replaced_signatures:
            await conn.execute(_SIGNATURE_REPLACED, [
                {"b_id": doc_id, "b_text_hash": v["text_hash"], "b_hashvalues": v["hashvalues"],
                 "b_size": v["size"], "b_match_text": v["match_text"]}
                for doc_id, v in self.replaced_signatures.items()
            ])
        copies = [(doc_id, row) for doc_id, row in self.changed.items() if "text" not in row]
        upgraded = [(doc_id, row) for doc_id, row in self.changed.items() if "text" in row]
        if copies:
            await conn.execute(_COPIES_ADDED, [
                {"b_id": doc_id, "b_added": row["added"], "b_seq": row["change_seq"]}
                for doc_id, row in copies
            ])
        if upgraded:
            await conn.execute(_UPGRADED, [
                {"b_id": doc_id, "b_added": row["added"], "b_seq": row["change_seq"],
                 "b_text": row["text"], "b_version": row["version"], "b_now": row["updated_at"],
                 "b_canonical": row["canonical_ingest_id"], "b_title": row.get("title")}
                for doc_id, row in upgraded
            ])
        if self.provenance:
            await conn.execute(provenance.insert(), self.provenance)
            await conn.execute(url_aliases.insert(), self.url_alias_rows)
            await conn.execute(_FINISH, self.finished)
        if self.events:
            await conn.execute(outbox.insert(), self.events)
        await chrome_store.count_pages(conn, self.pages, self.now.timestamp())


def _provenance_row(decision: Decision) -> dict[str, Any]:
    ingest, verdict = decision.ingest, decision.verdict
    return {
        "document_id": decision.document_id, "ingest_id": ingest.id, "url": ingest.url,
        "source": ingest.source, "published_at": ingest.published_at,
        "received_at": ingest.received_at, "match": verdict.kind,
        "similarity": verdict.similarity,
    }


def _url_alias_rows(decision: Decision) -> list[dict[str, Any]]:
    """The copy's own URL and each address its page declares (once per normal form)."""
    ingest = decision.ingest
    rows: dict[str, dict[str, Any]] = {}
    for kind, url in (("url", ingest.url), *decision.extracted.links):
        rows.setdefault(url_key(url), {"url": url, "kind": kind, "document_id":
                                       decision.document_id, "ingest_id": ingest.id})
    return [{"url_key": key, **row} for key, row in rows.items()]
