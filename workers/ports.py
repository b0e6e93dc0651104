"""The ports: what the engine needs from a queue, an index and a store, in batches.

Every operation on the hot path takes or returns a batch, so that one round trip (one XREADGROUP,
one pipeline, one transaction) serves many articles. The adapters live in `adapters/memory`
(embedded queue and index), `adapters/redis` (Streams queue, shared index) and `adapters/sql`
(SQLite and PostgreSQL through one SQLAlchemy Core module); nothing outside `adapters/` and
`service/backends.py` names an adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from canonry.workers.analysis import SourceChrome
from canonry.workers.article import Extracted, RawArticle
from canonry.workers.dedup.fingerprint import Fingerprint
from canonry.workers.dedup.lsh import IndexEntry, SignatureBlock
from canonry.workers.dedup.match import Verdict
from canonry.workers.identity import document_id_for

# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message handed to a worker. `token` is the backend's message id ("" in-process)."""

    ingest_id: str
    token: str = ""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """What a queue holds right now, for the metrics (read at scrape time).

    depth:   messages not finished: waiting to be delivered, or delivered and not answered
             (those waiting for a retry are `delayed` instead).
    pending: delivered to a consumer and not answered yet.
    delayed: waiting for a retry.
    oldest_age_seconds: how long the oldest message of `depth` has been there; None if none.
    dead_letters: dead letters the queue keeps; None where it keeps none (the embedded queue:
             its dead letters are the failed ingest rows).
    """

    depth: int
    pending: int
    delayed: int
    oldest_age_seconds: float | None
    dead_letters: int | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message given up on. `failed_at` is seconds since the epoch; `id` is the queue's own
    name for the entry ("" where the queue keeps none)."""

    ingest_id: str
    error: str
    failed_at: float
    id: str = ""


@dataclass(frozen=True, slots=True)
class NewIngest:
    """An accepted article, as the API commits it."""

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
class Checkpoint:
    """How far a backfill has read one input: `records` from its start are committed."""

    input: str
    records: int


# A backfill input named so (standard input) belongs to one run alone: no checkpoint resumes
# it, so a later run may take its ingests over (see `Store.accept`).
ONE_RUN_INPUT = "-:"
# An ingest in one of these states is still to be processed (or being processed).
OPEN_STATES = ("queued", "processing")


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


@dataclass(frozen=True, slots=True)
class UrlDocument:
    """The document a URL last contributed to, and whether the URL is its canonical one."""

    entry: IndexEntry
    url_is_canonical: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """One article's verdict with everything its commit writes."""

    ingest: Ingest
    verdict: Verdict
    extracted: Extracted
    fingerprint: Fingerprint
    line_keys: Sequence[str]

    @property
    def document_id(self) -> str:
        if self.verdict.kind == "new":
            return self.ingest.own_document_id
        assert self.verdict.document_id is not None
        return self.verdict.document_id


Outcome = Literal["recorded", "upgraded", "duplicate", "waiting"]
"""What committing a decision did: recorded; recorded and the canonical text was upgraded (the
index must learn its new signature); nothing, the ingest was already finished (a duplicate
delivery); nothing, the matched canonical is not committed yet (retry later)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """An attempt's error. `final` marks the ingest failed (it is dead-lettered)."""

    ingest_id: str
    code: str
    message: str
    final: bool


EventType = Literal["document.created", "document.updated", "duplicate.added"]


@dataclass(frozen=True, slots=True)
class Event:
    """One change to a document, written to the outbox in the transaction that made it.

    `seq` is the change's position in the feed (`documents.change_seq`): gap-free and in commit
    order, so a consumer resumes after the last `seq` it saw and a republished event is
    recognisable by it.
    """

    seq: int
    type: EventType
    document_id: str
    version: int
    ingest_id: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """Insert `entry` into the index unless a candidate outside `seen` exists."""

    entry: IndexEntry
    seen: Collection[str]


class IndexNotReady(Exception):
    """The index does not hold every stored signature yet (a restarted Redis being rebuilt):
    nothing may be decided against it. Not the article's fault: wait, do not count a try."""


# -- ports -------------------------------------------------------------------------------------


class WorkQueue(Protocol):
    """Messages are ingest ids; the database holds the articles, so the queue never holds the
    only copy of anything."""

    async def enqueue(self, ingest_ids: Sequence[str]) -> None:
        """Dispatch accepted ingests to the workers."""

    async def receive(self, max_count: int, wait: float) -> list[Delivery]:
        """Up to `max_count` messages; empty when none arrived within `wait` seconds."""

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Their work is committed: never deliver them again."""

    async def release(self, deliveries: Sequence[tuple[Delivery, float]]) -> None:
        """Hand messages back, each for another try after its delay in seconds."""

    async def dead_letter(self, deliveries: Sequence[tuple[Delivery, str]]) -> None:
        """Give up on messages: keep each, with its error, where operators can replay it."""

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        """Messages the queue itself keeps as dead letters (failed ingests are in the store)."""

    async def replay(self, ingest_ids: Sequence[str] | None = None) -> list[str]:
        """Queue these dead letters (all, when None) again; the ingest ids dispatched."""

    async def drained(self) -> bool:
        """No work left: nothing queued, in flight or waiting for a retry."""

    async def wait_drained(self) -> None:
        """Return once `drained()` (burst workers, backfill)."""

    async def ping(self) -> None:
        """Raise when the backend does not answer."""

    async def stats(self) -> QueueStats:
        """Sizes and the oldest message's age, read-only and cheap (each /metrics scrape)."""

    async def close(self) -> None: ...


class DedupIndex(Protocol):
    """The LSH index: derived data (signatures live in the store), rebuilt by `load`.

    `claim` is the one operation that needs care: "insert me unless a candidate appeared that I
    have not judged", atomic per claim against every other claim, so two workers seeing two
    copies of a story at once still produce one canonical.
    """

    async def ready(self) -> bool:
        """The index holds every stored signature, so articles may be decided against it;
        false while a shared index that lost its data (a Redis restart) is being rebuilt."""

    async def candidates(self, signatures: Sequence[Sequence[int]]) -> list[list[IndexEntry]]:
        """Per signature, the entries sharing at least one band, by document id."""

    async def claim(self, claims: Sequence[Claim]) -> list[list[IndexEntry]]:
        """Claims in order; per claim, the unjudged candidates found (empty: inserted).
        May raise `IndexNotReady` (a shared index that is being rebuilt)."""

    async def committed(self, document_ids: Sequence[str]) -> None:
        """These claimed documents are in the store now (a shared index that keeps claimed
        entries only until the store has them can drop them)."""

    async def replace(self, entries: Sequence[IndexEntry]) -> None:
        """Documents whose canonical text changed: index their new signatures instead; and
        aliases (`IndexEntry.alias_of`), under their own keys, beside their documents'."""

    async def remove(self, document_ids: Sequence[str]) -> None: ...

    async def load(self, entries: Iterable[IndexEntry]) -> None:
        """Add entries in bulk (the rebuild from stored signatures)."""

    async def evict_older_than(self, timestamp: float) -> int:
        """Drop entries first seen before `timestamp`; return how many."""

    async def size(self) -> int: ...

    async def clear(self) -> int:
        """Drop everything (before a rebuild); how many keys or entries went."""

    async def close(self) -> None: ...


class SignatureSource(Protocol):
    """Where an index that keeps no signatures reads the entries of its candidates."""

    async def index_entries_of(self, document_ids: Collection[str]) -> list[IndexEntry]:
        """The stored entries under these keys, documents' and aliases' (those unknown are
        left out)."""


class Store(Protocol):
    """The database: accepted ingests, their processing state, documents and provenance.

    Every batch of decisions commits in one transaction and is idempotent: a message processed
    twice finds its ingest finished and changes nothing.
    """

    async def accept(self, items: Sequence[NewIngest], checkpoint: Checkpoint | None = None,
                     backfill_input: str | None = None) -> tuple[list[str], set[str]]:
        """Insert new ingests, ignoring re-posts; each item's status, and the ids created. A
        backfill's checkpoint commits in the same transaction, and its input's name on the
        ingests (new ones, and existing ones no input has yet, or only a one-run input)."""

    async def checkpoint(self, input_name: str) -> int:
        """Records of a backfill input committed so far (0 if none)."""

    async def backfill_outcomes(self, inputs: Collection[str], open_only: bool = False
                                ) -> dict[tuple[str, str], int]:
        """(status, match kind or error code) → how many ingests these backfill inputs hold
        (only unfinished ones with `open_only`)."""

    async def open_ingest_ids(self, untouched_since: datetime | None = None) -> list[str]:
        """Accepted but unfinished ingests (only those untouched since then, if given)."""

    async def start_attempts(self, ingest_ids: Sequence[str]) -> dict[str, Ingest]:
        """Mark open ingests `processing` and count the attempt; finished ones are left out."""

    async def source_chrome(self, sources: Collection[str]) -> dict[str, SourceChrome]:
        """Per source, its learned boilerplate lines (sources never seen are left out)."""

    async def cross_source_chrome(self) -> dict[str, int]:
        """Lines many sources print: line key → number of sources."""

    async def exact_documents(self, text_hashes: Collection[str]) -> dict[str, str]:
        """Documents whose canonical text has one of these hashes: text hash → document id."""

    async def canonical_texts(self, document_ids: Collection[str]) -> dict[str, tuple[str, str]]:
        """Per index key (unknown ones left out): a document's canonical text and the URL of
        the page it came from (after an upgrade, the upgrader's), or an alias's own."""

    async def url_documents(self, urls: Collection[str]) -> dict[str, UrlDocument]:
        """The document each known URL last contributed to."""

    async def existing_documents(self, document_ids: Collection[str]) -> set[str]: ...

    async def record(self, decisions: Sequence[Decision]) -> list[Outcome]:
        """Commit a batch of decisions in one transaction, in order; one outcome each."""

    async def record_failures(self, failures: Sequence[Failure]) -> None: ...

    async def requeue(self, ingest_id: str) -> bool:
        """Put a dead-lettered ingest back to `queued` with a fresh attempt budget."""

    async def failed_ingests(self, limit: int) -> list[dict[str, Any]]: ...

    async def index_entries(self, seen_since: float) -> list[IndexEntry]:
        """Signatures of documents first seen since then, and of aliases: what the LSH index
        holds."""

    def signature_blocks(self, seen_since: float,
                         size: int = 20_000) -> AsyncIterator[SignatureBlock]:
        """The same for a bulk load: streamed, `size` a block, in seen_at order."""

    async def index_entries_of(self, document_ids: Collection[str]) -> list[IndexEntry]:
        """The signatures under these index keys, documents' and aliases' (unknown ones are
        left out), in one query."""

    async def canonicals(self, source: str | None, after: str,
                         limit: int) -> list[tuple[str, Ingest]]:
        """(document id, canonical ingest with its raw payload), by document id."""

    async def record_reclean(self, document_id: str, extracted: Extracted,
                             fp: Fingerprint) -> bool: ...

    async def prune_chrome(self, seen_before: float) -> int: ...

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        """Outbox events after `seq`, oldest first."""

    async def last_event_seq(self) -> int: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class EventBus(Protocol):
    """Where committed events go after the commit, and how readers learn of them.

    The outbox in the database is the record; the bus only carries it further (the Redis event
    stream in production) and wakes the readers of this process (GET /events). A commit calls
    `committed()`; a process that dies before that loses nothing: `relay()` (run periodically)
    publishes whatever the outbox holds beyond what was published.
    """

    async def committed(self) -> None:
        """Events were committed here: publish them, wake local readers (best effort)."""

    async def relay(self) -> int:
        """Publish every outbox event not yet published; how many were."""

    async def wait(self, at_most: float) -> None:
        """Return when this process commits events, or after `at_most` seconds."""
