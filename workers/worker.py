"""The worker loop: take an ingest id off the queue, run the pure pipeline, decide, record, ack.

One article's way through `Worker.handle`:
1. `start_attempt` marks it processing and counts the attempt (a crash loop still ends);
2. parse → normalise → clean → fingerprint, in a thread (pure CPU work, no I/O);
3. exact match by clean-text hash in the database, else LSH candidates verified by `decide`;
   a new story is *claimed* in the index, which hands back any rival that claimed first;
4. document, provenance, signature, event and status commit in one transaction;
5. ack — only after the commit. Errors are retried with backoff; after `max_attempts` the
   message is dead-lettered and the ingest marked `failed` with its error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import structlog

from canonry.workers import metrics
from canonry.workers.adapters.memory.index import DedupIndex
from canonry.workers.adapters.memory.queue import Delivery, WorkQueue
from canonry.workers.adapters.sql.store import CanonicalNotCommitted, Ingest, Store
from canonry.workers.article import Extracted, RawArticle
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.clean.extract import extract_page
from canonry.workers.dedup.fingerprint import Fingerprint, fingerprint
from canonry.workers.dedup.lsh import IndexEntry
from canonry.workers.dedup.match import Verdict, decide
from canonry.workers.dedup.updates import decide_update

log = structlog.get_logger("canonry.worker")

MAX_BACKOFF = 30.0
# Waiting for a rival's canonical to commit is not the article's fault, and neither is a
# worker dying under it: both get a larger budget than an error in the pipeline does.
PATIENCE = 3
CROSS_SOURCE_TTL = 60.0  # the cross-source chrome lines change slowly; share one read a minute

ExtractFn = Callable[[RawArticle, ChromeModel], tuple[Extracted, list[str]]]


class PermanentError(Exception):
    """The article itself is the problem: retrying cannot help."""


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker behaves.

    concurrency:   messages handled at once by this process.
    max_attempts:  tries before a message is dead-lettered (the count survives crashes: it lives
                   in the ingest row, so a message that kills its worker still ends, after
                   PATIENCE times as many; so does one waiting for a rival's commit).
    retry_backoff: seconds before the first retry; doubles per attempt, capped at 30 s.
    window_seconds: documents first seen longer ago than this are evicted from the LSH index.
    poll_seconds:  how long one receive waits before the loop checks for a stop request.
    """

    concurrency: int = 2
    max_attempts: int = 5
    retry_backoff: float = 0.5
    window_seconds: float = 30 * 86400.0
    poll_seconds: float = 1.0


class Worker:
    def __init__(
        self,
        store: Store,
        queue: WorkQueue,
        index: DedupIndex,
        options: WorkerOptions | None = None,
        extract_fn: ExtractFn = extract_page,
    ) -> None:
        self.store = store
        self.queue = queue
        self.index = index
        self.options = options or WorkerOptions()
        self.extract_fn = extract_fn
        self._stopping = asyncio.Event()
        self._receiving: set[asyncio.Task[Delivery | None]] = set()
        self._cross_source: tuple[float, dict[str, int]] = (-CROSS_SOURCE_TTL, {})

    def stop(self) -> None:
        """Stop taking work; messages in flight are finished (or handed back) first.

        Waiting receives are cancelled at once. A message a backend delivered in that instant
        stays pending for this consumer and is reclaimed later (XAUTOCLAIM), never lost.
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

    async def _consume(self) -> None:
        while not self._stopping.is_set():
            receiving = asyncio.create_task(self.queue.receive(self.options.poll_seconds))
            self._receiving.add(receiving)
            try:
                delivery = await receiving
            except asyncio.CancelledError:
                if self._stopping.is_set() and receiving.cancelled():
                    return
                raise
            except Exception as exc:  # the queue's backend is down: back off, keep the loop
                log.warning("queue_receive_failed", error=str(exc))
                await asyncio.sleep(self.options.retry_backoff)
                continue
            finally:
                self._receiving.discard(receiving)
            if delivery is None:
                continue
            try:
                await self.handle(delivery)
            except Exception as exc:
                # An ack or release the backend refused. The message stays pending and is
                # redelivered (reclaimed) later; its commit, if any, makes that a no-op.
                log.warning("queue_operation_failed", ingest_id=delivery.ingest_id,
                            error=str(exc))
                await asyncio.sleep(self.options.retry_backoff)

    async def handle(self, delivery: Delivery) -> None:
        bound = log.bind(ingest_id=delivery.ingest_id)
        try:
            ingest = await self.store.start_attempt(delivery.ingest_id)
        except Exception as exc:  # database unreachable: hand back without counting a try
            bound.warning("start_attempt_failed", error=str(exc))
            await self.queue.release(delivery, self.options.retry_backoff)
            return
        if ingest is None:  # already done, failed, or unknown: a duplicate delivery
            await self.queue.ack(delivery)
            return
        if ingest.attempts > self.options.max_attempts * PATIENCE:
            await self._give_up(delivery, ingest, "gave up: attempts exhausted without finishing "
                                "(the worker may have crashed on this article)")
            return
        started = time.perf_counter()
        try:
            verdict = await self.process(ingest)
        except PermanentError as exc:
            await self._give_up(delivery, ingest, str(exc))
        except Exception as exc:
            await self._retry_or_give_up(delivery, ingest, exc)
        else:
            await self.queue.ack(delivery)
            metrics.PROCESSED.labels(match=verdict.kind).inc()
            metrics.PROCESS_SECONDS.observe(time.perf_counter() - started)
            bound.info("ingest_done", match=verdict.kind, document_id=verdict.document_id,
                       similarity=verdict.similarity)

    async def process(self, ingest: Ingest) -> Verdict:
        chrome = await self.store.chrome_model(ingest.source, await self._cross_source_chrome())
        extracted, fp, lines = await asyncio.to_thread(self._analyse, ingest, chrome)
        verdict = await self._decide(ingest, fp)
        if verdict.kind == "new":
            doc_id = await self.store.record_new(ingest, extracted, fp, lines)
            return replace(verdict, document_id=doc_id)
        if await self.store.record_copy(ingest, verdict, extracted, fp, lines):
            assert verdict.document_id is not None
            await self.index.replace(self._entry(verdict.document_id, ingest, fp))
        return verdict

    def _analyse(
        self, ingest: Ingest, chrome: ChromeModel
    ) -> tuple[Extracted, Fingerprint, list[str]]:
        """The pure part: extract with the chrome learned so far; the page's line keys."""
        extracted, lines = self.extract_fn(ingest.raw, chrome)
        if not extracted.text.strip():
            raise PermanentError("no article text left after cleaning")
        return extracted, fingerprint(extracted.text), lines

    async def _cross_source_chrome(self) -> dict[str, int]:
        fetched_at, lines = self._cross_source
        if time.monotonic() - fetched_at > CROSS_SOURCE_TTL:
            lines = await self.store.cross_source_chrome()
            self._cross_source = (time.monotonic(), lines)
        return lines

    async def _decide(self, ingest: Ingest, fp: Fingerprint) -> Verdict:
        exact = await self.store.find_exact(fp.text_hash)
        if exact is not None:
            return Verdict(kind="exact", document_id=exact, similarity=1.0, upgrade=False)
        own = ingest.own_document_id
        # Our own entry is there when an earlier attempt claimed and then crashed before commit.
        candidates = [c for c in await self.index.candidates(fp.hashvalues) if c.document_id != own]
        verdict = decide(fp, candidates)
        if prior := await self.store.url_document(ingest.url):
            # A known URL with changed content: a new version of its document when the URL is
            # the canonical one, or (below the copy bar) still the same story.
            known, url_is_canonical = prior
            if verdict.kind == "near" and verdict.document_id == known.document_id:
                return replace(verdict, upgrade=verdict.upgrade or url_is_canonical)
            update = decide_update(fp, known, url_is_canonical) if verdict.kind == "new" else None
            if update is not None and update.document_id != own:
                return update
        entry = self._entry(own, ingest, fp)
        while verdict.kind == "new":
            rivals = await self.index.claim(entry, {c.document_id for c in candidates})
            if not rivals:
                break
            candidates.extend(rivals)
            verdict = decide(fp, candidates)
        return verdict

    @staticmethod
    def _entry(document_id: str, ingest: Ingest, fp: Fingerprint) -> IndexEntry:
        return IndexEntry(document_id=document_id, text_hash=fp.text_hash,
                          hashvalues=fp.hashvalues, size=fp.size,
                          seen_at=ingest.received_at.timestamp())

    async def _retry_or_give_up(self, delivery: Delivery, ingest: Ingest, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        waiting = isinstance(exc, CanonicalNotCommitted)
        if ingest.attempts >= self.options.max_attempts * (PATIENCE if waiting else 1):
            await self._give_up(delivery, ingest, error)
            return
        emit = log.info if waiting else log.warning
        emit("ingest_retry", ingest_id=ingest.id, attempt=ingest.attempts, error=error)
        try:
            await self.store.record_failure(ingest.id, error, final=False)
        except Exception as store_exc:
            log.warning("record_failure_failed", ingest_id=ingest.id, error=str(store_exc))
        delay = min(self.options.retry_backoff * 2 ** (ingest.attempts - 1), MAX_BACKOFF)
        await self.queue.release(delivery, delay)

    async def _give_up(self, delivery: Delivery, ingest: Ingest, error: str) -> None:
        log.error("ingest_failed", ingest_id=ingest.id, attempts=ingest.attempts, error=error)
        metrics.FAILED.inc()
        try:
            await self.store.record_failure(ingest.id, error, final=True)
        except Exception as exc:  # keep the message: the failure is not recorded yet
            log.warning("record_failure_failed", ingest_id=ingest.id, error=str(exc))
            await self.queue.release(delivery, self.options.retry_backoff)
            return
        await self._withdraw_claim(ingest)
        await self.queue.dead_letter(delivery, error)

    async def _withdraw_claim(self, ingest: Ingest) -> None:
        """An attempt may have claimed this ingest's document in the index before failing.
        Left there, the claim would stand for a document that never exists, and every copy
        matched to it would wait for it until it, too, ran out of tries."""
        try:
            if not await self.store.document_exists(ingest.own_document_id):
                await self.index.remove(ingest.own_document_id)
        except Exception as exc:  # best effort: `canonry reindex` clears it too
            log.warning("withdraw_claim_failed", ingest_id=ingest.id, error=str(exc))

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
