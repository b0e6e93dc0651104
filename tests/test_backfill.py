"""`canonry backfill FILE`: an archive through the same validation, store and queue as
POST /ingest; bad lines are reported and skipped, the rest processed to the end."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import zstandard
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from canonry.schemas.api import ArticleIn
from canonry.schemas.tables import documents, ingests, provenance
from canonry.service.app import create_app
from canonry.service.archives import open_input
from canonry.service.backends import open_backends
from canonry.service.backfill import BackfillOptions, backfill
from canonry.service.config import Settings
from canonry.service.ingest import new_ingests
from canonry.service.keys import QUEUE
from canonry.service.migrations import upgrade
from canonry.service.worker_process import drained
from canonry.workers.adapters.sql.store import SqlStore as Store
from canonry.workers.jsonl import read_jsonl
from canonry.workers.ports import ONE_RUN_INPUT, Checkpoint
from tests import synthetic
from tests.servers import api_client, create_database, delete_prefix, drop_database
from tests.shared_data import seeds, shared_dir
from tests.test_production import finished, start_worker, worker_env

STORY = synthetic.story(1)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """With Redis, backfill only enqueues (the worker fleet processes): embedded stores here."""
    return str(request.param)


@asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[Store]:
    store = Store.connect(settings.database_url)
    try:
        yield store
    finally:
        await store.close()


async def status_counts(store: Store) -> dict[str, int]:
    async with store.engine.connect() as conn:
        return dict((await conn.execute(
            select(ingests.c.status, func.count()).group_by(ingests.c.status))).all())


async def document_count(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(documents)) or 0)


async def document_view(store: Store) -> set[tuple[frozenset[str], str]]:
    """Each document as the URLs of its copies and its canonical text: what two runs of one
    archive must agree on. (Which copy founded a story can differ between two clean runs
    too: workers judge batches concurrently, and a story's first copies race.)"""
    async with store.engine.connect() as conn:
        texts = dict((await conn.execute(select(documents.c.id, documents.c.text))).all())
        copies: dict[str, set[str]] = {}
        for document_id, url in await conn.execute(select(provenance.c.document_id,
                                                          provenance.c.url)):
            copies.setdefault(document_id, set()).add(url)
    return {(frozenset(copies[document_id]), text) for document_id, text in texts.items()}


def write_archive(path: Path, articles: list[dict]) -> Path:
    """A JSONL archive of synthetic articles (their `cluster` label left out)."""
    path.write_text("".join(json.dumps({k: v for k, v in a.items() if k != "cluster"}) + "\n"
                            for a in articles))
    return path


async def start_backfill(config: Settings, archive: Path, *args: str, **env: str
                         ) -> asyncio.subprocess.Process:
    """`canonry backfill ARCHIVE --no-progress ARGS` in a process of its own, on `config`'s
    database (and Redis), output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canonry.service.cli", "backfill", str(archive), "--no-progress",
        *args, env={**worker_env(config), **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


def assert_covers(outcomes: dict, records: int, documents: int) -> None:
    """Outcomes of every record of an archive (a resumed run's: the killed run's half too)."""
    assert outcomes["new_documents"] == documents
    assert documents + sum(outcomes["duplicates"].values()) == records
    assert outcomes["failed"] == {}


def html_pages(count: int) -> list[tuple[str, str]]:
    """Real article pages (the extraction dev set): (URL, HTML)."""
    rows = read_jsonl(shared_dir() / "data" / "extraction-dev.jsonl.gz")
    pages = ((row["url"], row["html"]) for row in rows if row.get("html"))
    return [page for page, _ in zip(pages, range(count), strict=False)]


@asynccontextmanager
async def fresh_database(settings: Settings, admin_url: str, tmp_path: Path
                         ) -> AsyncIterator[Settings]:
    """Settings like `settings` on an empty database of the same kind."""
    if settings.database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / uuid.uuid4().hex}.db"
        await upgrade(url)
        yield replace(settings, database_url=url)
        return
    name = f"canonry_test_{uuid.uuid4().hex[:12]}"
    url = await create_database(admin_url, name)
    try:
        await upgrade(url)
        yield replace(settings, database_url=url)
    finally:
        await drop_database(admin_url, name)


async def test_backfill_processes_an_archive(settings: Settings, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "archive.jsonl.gz"
    with gzip.open(archive, "wt") as handle:
        for path, _ in seeds():
            handle.write(json.dumps({"url": f"https://archive.example/{path.stem}",
                                     "text": path.read_text()}) + "\n")
        handle.write(json.dumps({"url": "not a url", "text": "x"}) + "\n")
        handle.write("{broken json\n")

    summary = await backfill(settings, [str(archive)], BackfillOptions(batch_size=2))
    assert summary.exit_code == 1  # something was skipped
    assert (summary.read, summary.accepted, summary.invalid) == (7, 5, 2)
    assert summary.outcomes == {"new_documents": 5, "duplicates": {}, "failed": {}}
    report = capsys.readouterr().err
    assert f"{archive}:6: skipped: url: " in report  # file, line and field
    assert f"{archive}:7: skipped: invalid JSON" in report

    async with connected(settings) as store:
        assert await status_counts(store) == {"done": 5}
        assert await document_count(store) == 5
    # Run again: the checkpoint says all 7 records are in; nothing is read, nothing added.
    again = await backfill(settings, [str(archive)], BackfillOptions(batch_size=2))
    assert (again.read, again.resumed, again.accepted) == (0, 7, 0)
    # From the start (--restart): every valid record is an ingest that exists already.
    restarted = await backfill(settings, [str(archive)], BackfillOptions(restart=True))
    assert (restarted.read, restarted.accepted, restarted.already) == (7, 0, 5)
    async with connected(settings) as store:
        assert await document_count(store) == 5


def test_records_a_checkpoint_covers_are_counted_not_read(tmp_path: Path) -> None:
    """A resumed run of a long archive must not parse (or read) what it skips: the records a
    checkpoint covers come back numbered, without article or error, even when broken."""
    good = json.dumps({"url": "https://a.example/1", "text": STORY})
    archive = tmp_path / "a.jsonl"
    archive.write_text("{broken json\n\n" + good + "\n{broken again\n")
    records = list(open_input(str(archive)).records(skip=1))
    assert [(r.number, r.article is None, r.error is None) for r in records] == [
        (1, True, True), (2, False, True), (3, True, False)]
    assert records[2].error.startswith("invalid JSON")
    assert records[0].where.endswith(":1") and records[1].where.endswith(":3")  # blank skipped
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.txt").write_text(STORY)  # no URL anywhere: an error, were it read
    (pages / "b.txt").write_text(STORY)
    counted, read = open_input(str(pages)).records(skip=1)
    assert (counted.article, counted.error) == (None, None) and "no URL" in read.error


async def test_dry_run_validates_without_enqueuing(settings: Settings, tmp_path: Path) -> None:
    archive = tmp_path / "a.jsonl"
    archive.write_text(json.dumps({"url": "https://a.example/1", "text": STORY}) + "\n"
                       + json.dumps({"url": "https://a.example/2"}) + "\n")
    summary = await backfill(settings, [str(archive)], BackfillOptions(dry_run=True))
    assert (summary.read, summary.accepted, summary.invalid) == (2, 1, 1)
    assert summary.outcomes is None
    async with connected(settings) as store:
        assert await status_counts(store) == {}
        assert await store.checkpoint(str(archive.resolve())) == 0


async def test_max_errors_stops_and_a_rerun_continues_at_the_checkpoint(
    settings: Settings, tmp_path: Path
) -> None:
    lines = [json.dumps({"url": f"https://wire.example/{n}", "text": synthetic.story(n)})
             for n in range(12)]
    lines.insert(8, "not json")  # record 9
    archive = tmp_path / "wire.jsonl.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(("\n".join(lines) + "\n").encode()))

    stopped = await backfill(settings, [str(archive)], BackfillOptions(batch_size=3,
                                                                        max_errors=0))
    assert stopped.exit_code == 3 and stopped.aborted
    assert (stopped.read, stopped.accepted, stopped.invalid) == (9, 8, 1)
    async with connected(settings) as store:
        assert await store.checkpoint(str(archive.resolve())) == 9  # committed with record 8

    resumed = await backfill(settings, [str(archive)], BackfillOptions(batch_size=3))
    assert (resumed.resumed, resumed.read, resumed.accepted) == (9, 4, 4)
    # Its outcomes are the whole archive's, the 8 the stopped run accepted included.
    assert resumed.outcomes == {"new_documents": 12, "duplicates": {}, "failed": {}}
    async with connected(settings) as store:
        assert await status_counts(store) == {"done": 12}
        assert await document_count(store) == 12


def wire(number: int, host: str = "wire.example") -> dict:
    return {"url": f"https://{host}/{number}", "text": synthetic.story(number)}


async def test_outcomes_count_exactly_the_ingests_of_the_runs_inputs(
    settings: Settings, tmp_path: Path
) -> None:
    async with api_client(create_app(settings)) as client:  # stories 0 and 9 over HTTP
        response = await client.post("/ingest", json={"articles": [wire(0), wire(9)]})
        assert response.status == 202, await response.text()
        await drained(client.app[QUEUE])
    other = write_archive(tmp_path / "other.jsonl", [wire(5), wire(6), wire(7)])
    assert (await backfill(settings, [str(other)])).outcomes == {
        "new_documents": 3, "duplicates": {}, "failed": {}}

    archive = write_archive(tmp_path / "archive.jsonl", [
        wire(0), wire(1), wire(2), {**wire(1), "url": "https://copy.example/1"}, wire(3),
        wire(5)])
    summary = await backfill(settings, [str(archive)], BackfillOptions(batch_size=2))
    assert (summary.read, summary.accepted, summary.already) == (6, 4, 2)
    # Stories 1-3 and their copy, and story 0: posted over HTTP, no input had it, so the run
    # that reads it counts it. Not story 9 (HTTP only), nor 6 and 7 (the other archive's),
    # nor 5: the other archive read it first, and an ingest counts under one input.
    assert summary.outcomes == {"new_documents": 4, "duplicates": {"exact": 1}, "failed": {}}
    # Both inputs in one run: every ingest of either, each once.
    both = await backfill(settings, [str(archive), str(other)])
    assert (both.read, both.resumed) == (0, 9)
    assert both.outcomes == {"new_documents": 7, "duplicates": {"exact": 1}, "failed": {}}


async def test_standard_input_counts_what_it_reads_each_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Standard input has no checkpoint and no lasting name: each run counts its own records,
    # those an earlier run read from standard input too, and no others.
    def stdin(articles: list[dict]) -> None:
        data = "".join(json.dumps(a) + "\n" for a in articles).encode()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    stdin([wire(0), wire(1)])
    first = await backfill(settings, ["-"])
    assert first.outcomes == {"new_documents": 2, "duplicates": {}, "failed": {}}
    stdin([wire(1), wire(2)])
    second = await backfill(settings, ["-"])
    assert (second.accepted, second.already) == (1, 1)
    assert second.outcomes == {"new_documents": 2, "duplicates": {}, "failed": {}}


async def test_waiting_names_inputs_not_the_runs_ingests(
    settings: Settings, tmp_path: Path
) -> None:
    # What the run holds to wait with, seen from the database: a statement naming more of its
    # ingests than one batch (of the reader or of a worker) could only come from a list of
    # everything it accepted. Counted for every statement this process sends, on any engine.
    batch, records = 5, 30
    settings = replace(settings, worker_batch=batch)
    archive = write_archive(tmp_path / "wire.jsonl", [wire(n) for n in range(records)])
    ids = {item.id for item in new_ingests([ArticleIn(**wire(n)) for n in range(records)])}
    named: list[int] = []

    def values(parameters: object) -> Iterator[object]:
        if isinstance(parameters, Mapping):
            parameters = list(parameters.values())
        if isinstance(parameters, list | tuple):
            for value in parameters:
                yield from values(value)
        else:
            yield parameters

    def count(conn: object, cursor: object, statement: str, parameters: object,
              context: object, executemany: bool) -> None:
        sets = parameters if executemany else [parameters]
        named.extend(sum(isinstance(value, str) and value in ids for value in values(one))
                     for one in sets)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        summary = await backfill(settings, [str(archive)], BackfillOptions(batch_size=batch))
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert summary.accepted == records
    assert summary.outcomes == {"new_documents": records, "duplicates": {}, "failed": {}}
    assert max(named) == batch  # a batch's: the reader's check of what it inserted


async def test_an_ingest_counts_under_the_first_input_that_read_it(settings: Settings) -> None:
    # New ingests get the input; known ones only if none has them yet (posted over HTTP) or
    # a standard-input run's (no checkpoint resumes it): no run takes another input's.
    items = new_ingests([ArticleIn(url=f"https://tag.example/{n}", text=f"Story {n}.")
                         for n in range(4)])
    http, first, stdin, fresh = items
    async with connected(settings) as store:
        await store.accept([http])
        await store.accept([first], Checkpoint("/a.jsonl", 1), "/a.jsonl")
        await store.accept([stdin], None, f"{ONE_RUN_INPUT}run1")
        await store.accept(items, Checkpoint("/b.jsonl", 4), "/b.jsonl")
        async with store.engine.connect() as conn:
            tags = dict((await conn.execute(select(ingests.c.id, ingests.c.backfill_input)))
                        .all())
    assert tags == {http.id: "/b.jsonl", first.id: "/a.jsonl", stdin.id: "/b.jsonl",
                    fresh.id: "/b.jsonl"}


async def test_a_directory_and_a_warc_backfill_like_their_jsonl_twin(
    settings: Settings, tmp_path: Path, postgres_admin_url: str
) -> None:
    pages = html_pages(8)
    twin = tmp_path / "twin.jsonl"
    twin.write_text("".join(json.dumps({"url": url, "html": html}) + "\n"
                            for url, html in pages))
    directory = tmp_path / "pages"
    directory.mkdir()
    for number, (url, html) in enumerate(pages):
        (directory / f"{number:03}.html").write_text(html)
        (directory / f"{number:03}.json").write_text(json.dumps({"url": url}))
    warc = tmp_path / "pages.warc.gz"
    with warc.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for url, html in pages:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(html.encode()), http_headers=headers))

    views = []
    for archive in (twin, directory, warc):
        async with fresh_database(settings, postgres_admin_url, tmp_path) as other:
            summary = await backfill(other, [str(archive)], BackfillOptions(batch_size=3))
            assert (summary.read, summary.invalid) == (len(pages), 0), archive
            async with connected(other) as store:
                views.append(await document_view(store))
    assert len(views[0]) >= 4 and views[0] == views[1] == views[2]


async def test_a_restart_queues_open_ingests_in_the_order_they_were_sent(
    settings: Settings
) -> None:
    # Matching is not transitive, so the order copies are judged in decides which documents a
    # story ends as: what a restart queues again must come in the order it was sent (the
    # order a run that never stopped processes it in), not in id (hash) order.
    articles = [ArticleIn(url=f"https://order.example/{n}", text=f"Story {n}.") for n in range(50)]
    items = new_ingests(articles)
    assert [i.id for i in items] != sorted(i.id for i in items)  # hash order differs
    async with connected(settings) as store:
        await store.accept(items)
        assert await store.open_ingest_ids() == [i.id for i in items]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_killed_backfill_rerun_ends_like_a_clean_run(
    settings: Settings, tmp_path: Path, postgres_admin_url: str, backend: str
) -> None:
    articles = synthetic.articles(150)
    archive = write_archive(tmp_path / "wire.jsonl", articles)

    async def run(config: Settings, *extra: str) -> tuple[int, bytes, bytes]:
        process = await start(config, *extra)
        out, err = await process.communicate()
        return process.returncode or 0, out, err

    async def start(config: Settings, *extra: str) -> asyncio.subprocess.Process:
        return await start_backfill(config, archive, "--batch", "25", *extra)

    async with fresh_database(settings, postgres_admin_url, tmp_path) as clean:
        code, _, err = await run(clean)
        assert code == 0, err.decode()[-2000:]
        async with connected(clean) as store:
            expected = await document_view(store)

    # The victim reads a pipe at the archive's path holding only its first third: it commits
    # every whole batch of those and then waits for more, so it is killed at a known point
    # (mid-batch, the rest of its records accepted by nobody), whatever the machine's speed.
    lines = archive.read_text().splitlines(keepends=True)
    given = len(lines) // 3
    archive.unlink()
    os.mkfifo(archive)
    writer: list[int] = []

    def feed() -> None:  # opening blocks until the victim opens the pipe to read it
        writer.append(os.open(archive, os.O_WRONLY))
        data = "".join(lines[:given]).encode()
        while data:
            data = data[os.write(writer[0], data):]

    feeding = asyncio.create_task(asyncio.to_thread(feed))
    victim = await start(settings)
    try:
        async with connected(settings) as store:
            name = str(archive.resolve())
            committed = given // 25 * 25  # --batch 25: the whole batches of what it was given
            async with asyncio.timeout(300):
                while await store.checkpoint(name) < committed:
                    assert victim.returncode is None, "stopped before it could be killed"
                    await asyncio.sleep(0.05)
            assert victim.returncode is None  # still running, waiting on the pipe
            victim.send_signal(signal.SIGKILL)
            assert await victim.wait() == -signal.SIGKILL
            at_kill = await store.checkpoint(name)
            assert 0 < at_kill == committed < len(articles)  # the precondition: killed halfway
    finally:
        if not writer:  # the victim never opened the pipe: open it here so feed() returns
            os.close(os.open(archive, os.O_RDONLY | os.O_NONBLOCK))
        with contextlib.suppress(BrokenPipeError):
            await feeding
        if writer:
            os.close(writer[0])
    archive.unlink()
    write_archive(archive, articles)  # the whole archive at the same path for the re-run
    async with connected(settings) as store:
        code, out, err = await run(settings, "--json")
        assert code == 0, err.decode()[-2000:]
        summary = json.loads(out)
        assert summary["resumed"] == at_kill and summary["read"] == len(articles) - at_kill
        assert await status_counts(store) == {"done": len(articles)}
        assert await document_view(store) == expected
        assert_covers(summary["outcomes"], len(articles), len(expected))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_backfill_ends_like_posting_over_http(
    settings: Settings, tmp_path: Path, postgres_admin_url: str, backend: str
) -> None:
    # The syndication dev set plus the seeds, once through `canonry backfill`, once posted
    # to the API in batches: the same stories, the same copies, the same texts.
    fields = ("url", "text", "html", "title", "published_at", "source", "language")
    rows = read_jsonl(shared_dir() / "data" / "syndication-dev.jsonl.gz")
    articles = [{k: v for k, v in row.items() if k in fields} for row in rows]
    articles += [{"url": f"https://seed.example/{path.stem}", "text": path.read_text()}
                 for path, _ in seeds()]
    archive = tmp_path / "all.jsonl"
    archive.write_text("".join(json.dumps(a) + "\n" for a in articles))

    summary = await backfill(settings, [str(archive)], BackfillOptions(progress=False))
    assert summary.outcomes is not None and summary.outcomes["failed"] == {}
    async with connected(settings) as store:
        backfilled = await document_view(store)

    async with fresh_database(settings, postgres_admin_url, tmp_path) as other, \
            api_client(create_app(other)) as client:
        for start in range(0, len(articles), 100):
            response = await client.post("/ingest", json={"articles": articles[start:start + 100]})
            assert response.status == 202, await response.text()
        await drained(client.app[QUEUE])
        async with connected(other) as store:
            posted = await document_view(store)
    assert len(backfilled) == summary.outcomes["new_documents"] > 100
    assert backfilled == posted


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["redis"])
async def test_a_bounded_backfill_killed_while_it_waits_resumes_on_redis(
    settings: Settings, tmp_path: Path, postgres_admin_url: str, backend: str
) -> None:
    # Production: the backfill only enqueues; with no worker running, it fills its lane to
    # CANONRY_BACKFILL_MAX_QUEUED and waits there (back-pressure) — where it is killed. Run
    # again beside two workers, it continues from its checkpoint and ends like a clean run.
    articles = synthetic.articles(60)
    archive = write_archive(tmp_path / "wire.jsonl", articles)
    bound = 40

    async def backfill_process(config: Settings, *extra: str) -> asyncio.subprocess.Process:
        return await start_backfill(config, archive, "--batch", "10", *extra,
                                    CANONRY_BACKFILL_MAX_QUEUED=str(bound))

    async def with_workers(config: Settings, *extra: str) -> dict:
        workers = [await start_worker(worker_env(config)) for _ in range(2)]
        process = await backfill_process(config, "--wait", "--json", *extra)
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()[-2000:]
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
            await finished(worker)
        return json.loads(out)

    async with fresh_database(settings, postgres_admin_url, tmp_path) as clean:
        clean = replace(clean, redis_prefix=settings.redis_prefix + "-clean")
        await with_workers(clean)
        async with connected(clean) as store:
            expected = await document_view(store)
        await delete_prefix(clean.redis_url or "", clean.redis_prefix)

    victim = await backfill_process(settings)
    async with connected(settings) as store, open_backends(settings) as backends:
        name = str(archive.resolve())
        async with asyncio.timeout(120):
            while (await backends.queue.backfill.stats()).depth < bound:
                assert victim.returncode is None, (await victim.communicate())[1].decode()
                await asyncio.sleep(0.05)
        at_kill = await store.checkpoint(name)
        assert victim.returncode is None and at_kill < len(articles)  # waiting, halfway
        victim.send_signal(signal.SIGKILL)
        assert await victim.wait() == -signal.SIGKILL
        assert (await backends.queue.backfill.stats()).depth <= bound + 10  # one batch over

        summary = await with_workers(settings)
        assert summary["resumed"] == at_kill
        assert summary["read"] == len(articles) - at_kill
        assert await status_counts(store) == {"done": len(articles)}
        assert await document_view(store) == expected
        assert_covers(summary["outcomes"], len(articles), len(expected))
