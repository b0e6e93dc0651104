"""The worker: take a batch of ingest ids off the queue, analyse it on every core, decide,
record, ack.

A batch's way through `Worker.handle_batch`:
1. `start_attempts` marks the batch processing and counts an attempt each (one statement);
2. the boilerplate learned for the batch's sources is loaded (one query) and the pure analysis
   (extract → fingerprint) runs in the process pool;
3. exact matches by text hash and known URLs (one query each), LSH candidates (one round trip);
   then, in memory and in order, each article is judged against the index's candidates *and*
   the new stories of the articles before it in the batch — copies of one story arriving
   together resolve to one document exactly as they would one at a time. New stories are
   claimed in the index (one round trip); an article whose claim meets a rival that another
   worker claimed meanwhile is judged again with it, and so are the copies that followed it;
4. all decisions commit in one transaction; then one ack for the batch.
Each article fails alone: an error in its analysis, its claim or its commit retries it (with
backoff, attempts counted in the database) or, after `max_attempts`, dead-letters it, while its
neighbours go on. A commit that fails for the batch is retried one article at a time, so one
poison row cannot hold back the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import structlog
from structlog.contextvars import bound_contextvars

from canonry.workers import metrics
from canonry.workers.analysis import EMPTY_AFTER_CLEANING, Analysis, AnalysisBatch, AnalysisError
from canonry.workers.article import publisher_of
from canonry.workers.dedup.fingerprint import Fingerprint
from canonry.workers.dedup.lsh import BandIndex, IndexEntry
from canonry.workers.dedup.match import (
    DEFAULT_MATCH,
    Verdict,
    decide,
    may_replace,
    nearest_in_doubt,
    score,
    still_one_story,
    verified_similarity,
)
from canonry.workers.dedup.updates import decide_update
from canonry.workers.identity import alias_key_for
from canonry.workers.outage import Outage
from canonry.workers.pool import Analyser, InlineAnalyser
from canonry.workers.ports import (
    Claim,
    Decision,
    DedupIndex,
    Delivery,
    EventBus,
    Failure,
    IndexNotReady,
    Ingest,
    Store,
    UrlDocument,
    WorkQueue,
)

log = structlog.get_logger("canonry.worker")

MAX_BACKOFF = 30.0
# Waiting for a rival's canonical to commit is not the article's fault, and neither is a
# worker dying under it: both get a larger budget than an error in the pipeline does.
PATIENCE = 3
CROSS_SOURCE_TTL = 60.0  # the cross-source chrome lines change slowly; share one read a minute
# Claim rounds per batch before the articles still contested are retried later instead.
MAX_CLAIM_ROUNDS = 4

ATTEMPTS_EXHAUSTED = "attempts_exhausted"
CANONICAL_NOT_COMMITTED = "canonical_not_committed"
STORE_ERROR = "store_error"
INDEX_ERROR = "index_error"
TOO_LONG = "too_long"
# Failures that say what an article is, not what went wrong: logged at info, never retried.
REFUSED_CONTENT = frozenset({EMPTY_AFTER_CLEANING, TOO_LONG})
# While the index is being rebuilt, how soon to look again (a rebuild takes seconds at most;
# work should resume within one of these of its end).
INDEX_WAIT_MAX = 1.0

Gate = Callable[[], Awaitable[bool]]
"""Asked before every receive: may articles be decided now? It may repair first (the Redis
reconciler's `ensure_ready` rebuilds a lost index); False: wait, take no work."""


def _texts_to_read(fp: Fingerprint, candidates: list[IndexEntry]) -> list[str]:
    """The candidates whose canonical text the decision may need: those that verify (for the
    same-site check) and the nearest the signatures leave in doubt (to be compared on the texts
    when none verifies, or none passes that check). Few: most articles have no candidate."""
    verified = [c.document_id for c in candidates
                if verified_similarity(score(fp, c), DEFAULT_MATCH) is not None]
    return verified + [c.document_id for c in nearest_in_doubt(fp, candidates, DEFAULT_MATCH)]


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker behaves.

    concurrency:   batches in flight at once in this process (one is analysed while another
                   commits).
    batch_size:    messages taken per receive.
    max_attempts:  tries before a message is dead-lettered (the count survives crashes: it lives
                   in the ingest row, so a message that kills its worker still ends, after
                   PATIENCE times as many; so does one waiting for a rival's commit).
    retry_backoff: seconds before the first retry; doubles per attempt, capped at 30 s.
    window_seconds: documents first seen longer ago than this are evicted from the LSH index.
    poll_seconds:  how long one receive waits before the loop checks for a stop request.
    max_text_chars: the longest clean text stored; a longer article fails (`too_long`) before
                   it is decided, so it neither becomes a document nor replaces one's text.
    """

    concurrency: int = 2
    batch_size: int = 100
    max_attempts: int = 5
    retry_backoff: float = 0.5
    window_seconds: float = 30 * 86400.0
    poll_seconds: float = 1.0
    max_text_chars: int = 200_000


@dataclass(slots=True)
class _Item:
    """One article of a batch on its way to a decision."""

    delivery: Delivery
    ingest: Ingest
    analysis: Analysis
    verdict: Verdict | None = None

    @property
    def own_id(self) -> str:
        return self.ingest.own_document_id

    def entry(self) -> IndexEntry:
        fp = self.analysis.fingerprint
        return IndexEntry(document_id=self.own_id, text_hash=fp.text_hash,
                          hashvalues=fp.hashvalues, size=fp.size,
                          seen_at=self.ingest.received_at.timestamp())

    def decision(self) -> Decision:
        assert self.verdict is not None
        return Decision(self.ingest, self.verdict, self.analysis.extracted,
                        self.analysis.fingerprint, self.analysis.line_keys)


class Worker:
    def __init__(
        self,
        store: Store,
        queue: WorkQueue,
        index: DedupIndex,
        options: WorkerOptions | None = None,
        analyser: Analyser | None = None,
        gate: Gate | None = None,
        events: EventBus | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.index = index
        self.options = options or WorkerOptions()
        self.analyser = analyser or InlineAnalyser()
        self.gate = gate  # None: always open (an index this process loaded itself)
        self.events = events  # None: nobody follows this process's events
        # Shared by the consumers: one line when receiving starts failing, one when it works
        # again; likewise for waiting on an index rebuild.
        self._queue_outage = Outage(log, "queue_unavailable", "queue_available")
        self._index_wait = Outage(log, "index_not_ready", "index_ready",
                                  max_delay=INDEX_WAIT_MAX)
        self._stopping = asyncio.Event()
        self._receiving: set[asyncio.Task[list[Delivery]]] = set()
        self._cross_source: tuple[float, dict[str, int]] = (-CROSS_SOURCE_TTL, {})
        # Ingests a batch of this worker is processing, and which batch: a second delivery of
        # one (a re-post dispatched it again while it was queued) is acked, not processed
        # twice. The first delivery is still held, so nothing is lost if this process dies.
        self._in_flight: dict[str, object] = {}

    def stop(self) -> None:
        """Stop taking work; batches in flight are finished (or handed back) first.

        Waiting receives are cancelled at once. Messages a backend delivered in that instant
        stay pending for this consumer and are reclaimed later (XAUTOCLAIM), never lost.
        """
        self._stopping.set()
        for task in self._receiving:
            task.cancel()

    async def run(self) -> None:
        consumers = [asyncio.create_task(self._consume()) for _ in range(self.options.concurrency)]
        try:
            await asyncio.gather(*consumers)
        finally:
            for task in consumers:
                task.cancel()

    async def announce(self) -> None:
        """Carry the events just committed on (the Redis event stream) and wake this process's
        readers. Best effort: the outbox holds them, and the periodic relay publishes what a
        failure here (or a crash before it) left behind."""
        if self.events is None:
            return
        try:
            await self.events.committed()
        except Exception as exc:
            log.warning("events_publish_failed", error=str(exc))

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once for a stop request."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _gate_open(self) -> bool:
        """Ask the gate; while it is closed (or cannot be asked: Redis is down), wait here
        without taking any message, so no article is decided and no attempt is counted."""
        if self.gate is None:
            return True
        try:
            open_ = await self.gate()
        except Exception as exc:
            await self._pause(self._queue_outage.failed(exc))
            return False
        if not open_:
            await self._pause(self._index_wait.failed("the index is being rebuilt"))
            return False
        self._index_wait.recovered()
        return True

    async def _consume(self) -> None:
        while not self._stopping.is_set():
            if not await self._gate_open():
                continue
            receiving = asyncio.create_task(
                self.queue.receive(self.options.batch_size, self.options.poll_seconds))
            self._receiving.add(receiving)
            try:
                deliveries = await receiving
            except asyncio.CancelledError:
                if self._stopping.is_set() and receiving.cancelled():
                    return
                raise
            except Exception as exc:  # the queue's backend is down: back off, keep the loop
                await self._pause(self._queue_outage.failed(exc))
                continue
            finally:
                self._receiving.discard(receiving)
            self._queue_outage.recovered()
            if not deliveries:
                continue
            try:
                await self.handle_batch(deliveries)
            except Exception as exc:
                # An ack or release the backend refused. The messages stay pending and are
                # redelivered (reclaimed) later; what was committed makes that a no-op.
                log.warning("queue_operation_failed", messages=len(deliveries), error=str(exc))
                await asyncio.sleep(self.options.retry_backoff)

    async def handle_batch(self, deliveries: Sequence[Delivery]) -> None:
        batch = object()
        mine: list[Delivery] = []
        duplicates: list[Delivery] = []
        for delivery in deliveries:
            (duplicates if delivery.ingest_id in self._in_flight else mine).append(delivery)
        claimed = {delivery.ingest_id for delivery in mine}
        self._in_flight.update(dict.fromkeys(claimed, batch))
        try:
            if duplicates:
                await self.queue.ack(duplicates)
            if mine:
                await self._handle_batch(mine)
        finally:
            # Only what is still this batch's: a released ingest may be another batch's now.
            for ingest_id in claimed:
                if self._in_flight.get(ingest_id) is batch:
                    del self._in_flight[ingest_id]

    async def _release(self, deliveries: Sequence[tuple[Delivery, float]]) -> None:
        """Hand messages back to be delivered again: their next delivery is a retry, not a
        duplicate, so they stop counting as in flight here."""
        for delivery, _ in deliveries:
            self._in_flight.pop(delivery.ingest_id, None)
        await self.queue.release(deliveries)

    async def _handle_batch(self, deliveries: Sequence[Delivery]) -> None:
        started = time.perf_counter()
        metrics.BATCH_SIZE.observe(len(deliveries))
        try:
            ingests = await self.store.start_attempts(
                list(dict.fromkeys(d.ingest_id for d in deliveries)))
        except Exception as exc:  # database unreachable: hand back without counting a try
            log.warning("start_attempts_failed", messages=len(deliveries), error=str(exc))
            await self._release([(d, self.options.retry_backoff) for d in deliveries])
            return
        work: list[tuple[Delivery, Ingest]] = []
        finished: list[Delivery] = []  # already done or failed, unknown, or twice in the batch
        exhausted: list[tuple[Delivery, Ingest]] = []
        for delivery in deliveries:
            ingest = ingests.pop(delivery.ingest_id, None)
            if ingest is None:
                finished.append(delivery)
            elif ingest.attempts > self.options.max_attempts * PATIENCE:
                exhausted.append((delivery, ingest))
            else:
                work.append((delivery, ingest))
        await self.queue.ack(finished)
        await self._give_up([(d, i, ATTEMPTS_EXHAUSTED, "gave up: attempts exhausted without "
                              "finishing (the worker may have crashed on this article)")
                             for d, i in exhausted])
        if work:
            await self._process(work)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    async def _process(self, work: list[tuple[Delivery, Ingest]]) -> None:
        try:
            batch = await self._analysis_batch([ingest for _, ingest in work])
            results = await self.analyser.analyse(batch)
        except Exception as exc:  # the store (chrome) or the pool itself failed
            await self._retry([(d, i, STORE_ERROR, f"{type(exc).__name__}: {exc}")
                               for d, i in work])
            return
        items: list[_Item] = []
        failed: list[tuple[Delivery, Ingest, AnalysisError]] = []
        for (delivery, ingest), result in zip(work, results, strict=True):
            if isinstance(result, Analysis):
                result = self._storable(result)
            if isinstance(result, AnalysisError):
                failed.append((delivery, ingest, result))
            else:
                items.append(_Item(delivery, ingest, result))
        await self._give_up([(d, i, e.code, e.message) for d, i, e in failed if e.permanent])
        await self._retry([(d, i, e.code, e.message) for d, i, e in failed if not e.permanent])
        if not items:
            return
        try:
            contested = await self._decide(items)
        except IndexNotReady:
            # Redis restarted under this batch: the claims found the index empty. Not the
            # articles' fault: back to the queue without a failure, decided after the rebuild.
            log.info("index_not_ready_mid_batch", articles=len(items))
            await self._release([(it.delivery, self.options.retry_backoff) for it in items])
            return
        except Exception as exc:  # the index or the store is unreachable
            await self._retry([(it.delivery, it.ingest, INDEX_ERROR,
                                f"{type(exc).__name__}: {exc}") for it in items])
            return
        await self._retry([(it.delivery, it.ingest, CANONICAL_NOT_COMMITTED,
                            "the story is being claimed by another worker") for it in contested])
        waiting = {id(it) for it in contested}
        decided = [it for it in items if id(it) not in waiting]
        await self._record(decided)

    def _storable(self, analysis: Analysis) -> Analysis | AnalysisError:
        """A text past the stored maximum fails for good: retrying cleans it the same way."""
        length, limit = len(analysis.extracted.match_text), self.options.max_text_chars
        if length <= limit:
            return analysis
        return AnalysisError(TOO_LONG, f"the clean text has {length} characters; at most {limit} "
                                       "are stored (CANONRY_MAX_TEXT_CHARS)", True)

    async def _analysis_batch(self, ingests: list[Ingest]) -> AnalysisBatch:
        sources = await self.store.source_chrome({ingest.source for ingest in ingests})
        return AnalysisBatch([ingest.raw for ingest in ingests], sources,
                             await self._cross_source_chrome())

    async def _cross_source_chrome(self) -> dict[str, int]:
        fetched_at, lines = self._cross_source
        if time.monotonic() - fetched_at > CROSS_SOURCE_TTL:
            lines = await self.store.cross_source_chrome()
            self._cross_source = (time.monotonic(), lines)
        return lines

    # -- deciding ----------------------------------------------------------------------------

    async def _decide(self, items: list[_Item]) -> list[_Item]:
        """Give every item its verdict, in order; the items still contested after
        MAX_CLAIM_ROUNDS are returned (to be retried later)."""
        fps = [it.analysis.fingerprint for it in items]
        exact = await self.store.exact_documents({fp.text_hash for fp in fps})
        urls = await self.store.url_documents({it.ingest.url for it in items})
        open_items = []
        for it in items:
            if (doc := exact.get(it.analysis.fingerprint.text_hash)) is not None:
                it.verdict = Verdict(kind="exact", document_id=doc, similarity=1.0, upgrade=False)
            else:
                open_items.append(it)
        found = await self.index.candidates([it.analysis.fingerprint.hashvalues
                                             for it in open_items])
        # Our own entry is there when an earlier attempt claimed and then crashed before commit.
        indexed = {id(it): [c for c in cands if c.document_id != it.own_id]
                   for it, cands in zip(open_items, found, strict=True)}
        # The canonical texts of the candidates that verify, for the same-site check, or that
        # the signatures leave in doubt, to compare on the texts; and this batch's own texts
        # (its new stories are candidates of the articles after them).
        texts = await self.store.canonical_texts({
            document_id for it in open_items
            for document_id in _texts_to_read(it.analysis.fingerprint, indexed[id(it)])})
        texts.update((it.own_id, (it.ingest.url, it.analysis.extracted.match_text))
                     for it in items)
        batch_new = BandIndex()  # the new stories of this batch, as they are decided
        rivals = BandIndex()  # entries other workers claimed, met while claiming
        todo = open_items
        for round_ in range(MAX_CLAIM_ROUNDS):
            if round_:  # rivals committed since they were met: their texts now
                texts.update(await self.store.canonical_texts({
                    key for it in todo
                    for key in _texts_to_read(it.analysis.fingerprint,
                                              rivals.query(it.analysis.fingerprint.hashvalues))
                    if key not in texts}))
            claims: list[Claim] = []
            claimers: list[_Item] = []
            for it in todo:
                hashvalues = it.analysis.fingerprint.hashvalues
                pool = [*indexed[id(it)], *batch_new.query(hashvalues), *rivals.query(hashvalues)]
                it.verdict = self._verdict(it, pool, urls.get(it.ingest.url), texts)
                if it.verdict.kind == "new":
                    batch_new.replace(it.entry())
                    # A candidate that verifies or is in doubt whose text is not at hand
                    # (another worker's claim, not committed yet) was not judged: the claim
                    # loses to it, and the article is judged again once that text is stored.
                    unread = {key for key in _texts_to_read(it.analysis.fingerprint, pool)
                              if key not in texts}
                    claims.append(Claim(it.entry(), {c.document_id for c in pool} - unread))
                    claimers.append(it)
            lost = set()
            for it, unjudged in zip(claimers, await self.index.claim(claims), strict=True):
                if unjudged:
                    batch_new.remove(it.own_id)
                    for entry in unjudged:
                        rivals.replace(entry)
                    lost.add(it.own_id)
            if not lost:
                return []
            # Judge again: the losers, with their rivals, and every article that followed one.
            todo = [it for it in open_items if it.own_id in lost or (
                it.verdict is not None and it.verdict.document_id in lost)]
        return todo

    @staticmethod
    def _verdict(item: _Item, pool: list[IndexEntry], prior: UrlDocument | None,
                 texts: dict[str, tuple[str, str]]) -> Verdict:
        fp, text = item.analysis.fingerprint, item.analysis.extracted.match_text
        site = publisher_of(item.ingest.url)

        def confirm(entry: IndexEntry) -> bool:
            """A candidate of the same site must be one story beyond the lines both share (its
            chrome). One whose text is not at hand (another worker's uncommitted claim) is
            not judged yet: taken on its signature alone, it could commit before this article
            does and join a site's other story on its chrome, unchecked. The claim loses to it
            instead (`_decide`), and the article waits for its text."""
            known = texts.get(entry.document_id)
            return known is not None and (publisher_of(known[0]) != site
                                          or still_one_story(text, known[1]))

        def text_of(entry: IndexEntry) -> str | None:
            known = texts.get(entry.document_id)
            return None if known is None else known[1]

        verdict = decide(fp, pool, text=text, confirm=confirm, text_of=text_of)
        if prior is None:
            return verdict
        # A known URL with changed content: a new version of its document when the URL is the
        # canonical one (and the text is shaped like an article, as any upgrade must be), or
        # (below the copy bar) still the same story.
        if verdict.kind == "near" and verdict.document_id == prior.entry.document_id:
            upgrade = verdict.upgrade or (prior.url_is_canonical
                                          and may_replace(fp, prior.entry, text=text))
            return replace(verdict, upgrade=upgrade, alias=verdict.alias and not upgrade)
        if verdict.kind == "new":
            update = decide_update(fp, prior.entry, prior.url_is_canonical, text=text)
            if update is not None and update.document_id != item.own_id:
                return update
        return verdict

    # -- recording ---------------------------------------------------------------------------

    async def _record(self, items: list[_Item]) -> None:
        if not items:
            return
        try:
            outcomes = await self.store.record([it.decision() for it in items])
        except Exception as exc:
            if len(items) == 1:
                it = items[0]
                await self._retry([(it.delivery, it.ingest, STORE_ERROR,
                                    f"{type(exc).__name__}: {exc}")])
                return
            log.warning("batch_commit_failed", articles=len(items), error=str(exc))
            for it in items:  # alone, each article commits or fails on its own
                await self._record([it])
            return
        # Counted at the commit, before the ack: whoever sees the queue drained sees them.
        committed_at = time.time()
        for it, outcome in zip(items, outcomes, strict=True):
            if outcome in ("recorded", "upgraded") and it.verdict is not None:
                metrics.PROCESSED.labels(match=it.verdict.kind).inc()
                metrics.INGEST_TO_DONE.observe(
                    max(0.0, committed_at - it.ingest.received_at.timestamp()))
                with bound_contextvars(ingest_id=it.ingest.id):
                    log.debug("ingest_done", match=it.verdict.kind,
                              document_id=it.decision().document_id,
                              similarity=it.verdict.similarity)
        done = [it for it, outcome in zip(items, outcomes, strict=True) if outcome != "waiting"]
        waiting = [it for it, outcome in zip(items, outcomes, strict=True) if outcome == "waiting"]
        upgraded = [it for it, outcome in zip(items, outcomes, strict=True)
                    if outcome == "upgraded"]
        stored = [it.own_id for it, outcome in zip(items, outcomes, strict=True)
                  if outcome in ("recorded", "duplicate") and it.verdict is not None
                  and it.verdict.kind == "new"]
        try:  # the store has their signatures now; a miss only lingers until its TTL
            await self.index.committed(stored)
        except Exception as exc:
            log.warning("index_committed_failed", error=str(exc))
        # The aliases these decisions may have written (upgrades' former canonicals, copies
        # that told the story differently), indexed as the store holds them: a document
        # upgraded twice in one batch kept one, and one upgraded by another worker meanwhile
        # kept the signature that worker replaced.
        alias_keys = [alias_key_for(it.ingest.id) for it, outcome in zip(items, outcomes,
                                                                        strict=True)
                      if outcome == "upgraded" or (outcome == "recorded" and it.verdict is not None
                                                   and it.verdict.alias)]
        if upgraded or alias_keys:  # the index is derived data: a reindex repairs a miss
            try:
                aliases = await self.store.index_entries_of(alias_keys) if alias_keys else []
                await self.index.replace(
                    [replace(it.entry(), document_id=it.decision().document_id)
                     for it in upgraded] + aliases)
            except Exception as exc:
                log.warning("index_replace_failed", error=str(exc))
        await self.queue.ack([it.delivery for it in done])
        if any(outcome in ("recorded", "upgraded") for outcome in outcomes):
            await self.announce()
        await self._retry([(it.delivery, it.ingest, CANONICAL_NOT_COMMITTED,
                            "the matched canonical is not committed yet") for it in waiting])

    # -- failing -----------------------------------------------------------------------------

    async def _retry(self, failures: Sequence[tuple[Delivery, Ingest, str, str]]) -> None:
        """Retry each with backoff, or give up on those out of attempts."""
        if not failures:
            return
        retries, final = [], []
        for delivery, ingest, code, message in failures:
            patience = PATIENCE if code in (CANONICAL_NOT_COMMITTED,) else 1
            if ingest.attempts >= self.options.max_attempts * patience:
                final.append((delivery, ingest, code, message))
            else:
                retries.append((delivery, ingest, code, message))
        await self._give_up(final)
        if not retries:
            return
        for _, ingest, code, message in retries:
            emit = log.info if code == CANONICAL_NOT_COMMITTED else log.warning
            with bound_contextvars(ingest_id=ingest.id):
                emit("ingest_retry", attempt=ingest.attempts, code=code, error=message)
        try:
            await self.store.record_failures([Failure(i.id, code, message, final=False)
                                              for _, i, code, message in retries])
        except Exception as exc:
            log.warning("record_failures_failed", articles=len(retries), error=str(exc))
        await self._release([
            (delivery, min(self.options.retry_backoff * 2 ** (ingest.attempts - 1), MAX_BACKOFF))
            for delivery, ingest, _, _ in retries
        ])

    async def _give_up(self, failures: Sequence[tuple[Delivery, Ingest, str, str]]) -> None:
        if not failures:
            return
        for _, ingest, code, message in failures:
            # An article refused for what it is (nothing left, too long) is the sender's
            # outcome, not the service's error: it must not page anyone.
            emit = log.info if code in REFUSED_CONTENT else log.error
            with bound_contextvars(ingest_id=ingest.id):
                emit("ingest_failed", attempts=ingest.attempts, code=code, error=message)
        try:
            await self.store.record_failures([Failure(i.id, code, message, final=True)
                                              for _, i, code, message in failures])
        except Exception as exc:  # keep the messages: the failures are not recorded yet
            log.warning("record_failures_failed", articles=len(failures), error=str(exc))
            await self._release([(d, self.options.retry_backoff) for d, *_ in failures])
            return
        metrics.FAILED.inc(len(failures))
        await self._withdraw_claims([ingest for _, ingest, _, _ in failures])
        await self.queue.dead_letter([(d, f"{code}: {message}") for d, _, code, message
                                      in failures])

    async def _withdraw_claims(self, ingests: list[Ingest]) -> None:
        """An attempt may have claimed an ingest's document in the index before failing.
        Left there, the claim would stand for a document that never exists, and every copy
        matched to it would wait for it until it, too, ran out of tries."""
        try:
            own = [ingest.own_document_id for ingest in ingests]
            existing = await self.store.existing_documents(own)
            await self.index.remove([doc for doc in own if doc not in existing])
        except Exception as exc:  # best effort: `canonry reindex` clears it too
            log.warning("withdraw_claim_failed", articles=len(ingests), error=str(exc))

    # -- chores --------------------------------------------------------------------------------

    async def evict_expired(self) -> int:
        """The hourly chore: drop index entries and once-seen chrome lines past the window."""
        cutoff = time.time() - self.options.window_seconds
        evicted = await self.index.evict_older_than(cutoff)
        return evicted + await self.store.prune_chrome(cutoff)

    async def rebuild_index(self) -> int:
        entries = await self.store.index_entries(time.time() - self.options.window_seconds)
        await self.index.load(entries)
        return len(entries)

    async def redispatch_open(self) -> int:
        """Queue every accepted-but-unfinished ingest again (the embedded restart path)."""
        ids = await self.store.open_ingest_ids()
        await self.queue.enqueue(ids)
        return len(ids)
