"""Observability through the real app on every backend: per-route request metrics by route
template, the queue gauges read at scrape time (and absent, not failing, with Redis down),
dead letters, ingest-to-done latency, X-Request-ID, the access line and the contextvars that
carry request_id and ingest_id; and a `canonry worker` process serving its own /metrics.

The app's metrics live in the test process's one registry, so counters are compared before
and after (deltas); the worker subprocess starts from zero.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from structlog.contextvars import get_contextvars, merge_contextvars
from structlog.testing import capture_logs
from structlog.typing import EventDict

from canonry.service.app import create_app
from canonry.service.config import Settings
from canonry.service.keys import QUEUE
from canonry.service.worker_process import drained
from tests import synthetic
from tests.servers import AUTH_HEADERS, TEST_API_KEY, PrivateRedis, api_client, free_port
from tests.test_production import worker_env

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
DOC_ROUTE = "/documents/{document_id}"


async def scrape(client: TestClient | aiohttp.ClientSession, url: str = "/metrics") -> Samples:
    response = await client.get(url)
    assert response.status == 200, await response.text()
    return parse(await response.text())


def parse(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 for a labelled sample not there yet (a counter not yet touched)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def gauge(samples: Samples, name: str) -> float | None:
    return samples.get((name, frozenset()))


async def wait_until_drained(client: TestClient) -> None:
    async with asyncio.timeout(120):
        await drained(client.app[QUEUE])


async def post(client: TestClient, articles: list[dict]) -> list[str]:
    response = await client.post("/ingest", json={"articles": articles})
    assert response.status == 202, await response.text()
    return [receipt["ingest_id"] for receipt in (await response.json())["receipts"]]


def stories() -> tuple[list[dict], str]:
    """Two stories, an exact copy of the first at another URL, and a story too long to store
    under a limit between them (returned too: its ingest is dead-lettered)."""
    first, second = synthetic.story(0), synthetic.story(1)
    articles = [{"url": "https://wire.example/0", "text": first},
                {"url": "https://wire.example/1", "text": second},
                {"url": "https://copy.example/0", "text": first}]
    long = {"url": "https://wire.example/long", "text": synthetic.story(2, paragraphs=60)}
    assert len(long["text"]) > 3 * max(len(first), len(second))
    return [*articles, long], long["url"]


def long_limit() -> int:
    return max(len(synthetic.story(0)), len(synthetic.story(1))) + 200


# -- HTTP requests ------------------------------------------------------------------------------

async def test_requests_are_counted_by_route_template_method_and_status(
    client: TestClient,
) -> None:
    before = await scrape(client)
    for doc in ("doc_nope", "doc_other"):
        assert (await client.get(f"/documents/{doc}")).status == 404
    assert (await client.get("/no/such/path")).status == 404
    assert (await client.get("/another/unknown")).status == 404
    refused = await client.post("/ingest", json={}, headers={"Authorization": "Bearer wrong"})
    assert refused.status == 401  # answered by the auth middleware: still counted
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "canonry_http_requests_total"
    assert delta(requests, route=DOC_ROUTE, method="GET", status="404") == 2
    assert delta(requests, route="unmatched", method="GET", status="404") == 2
    assert delta(requests, route="/ingest", method="POST", status="401") == 1
    # The first scrape was counted once it had answered.
    assert delta(requests, route="/metrics", method="GET", status="200") == 1
    routes = {dict(labels).get("route") for (name, labels) in after if name == requests}
    assert not any("doc_nope" in route or "/no/such" in route for route in routes if route)
    histogram = "canonry_http_request_duration_seconds"
    assert delta(f"{histogram}_count", route=DOC_ROUTE, method="GET", status="404") == 2
    assert delta(f"{histogram}_bucket", route=DOC_ROUTE, method="GET", status="404",
                 le="+Inf") == 2
    assert delta(f"{histogram}_sum", route=DOC_ROUTE, method="GET", status="404") > 0


# -- queue, dead letters, ingest-to-done ---------------------------------------------------------

@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[TestClient]:
    """The app with workers and a stored-text limit the long story exceeds."""
    app = create_app(dataclasses.replace(settings, max_text_chars=long_limit()))
    async with api_client(app) as client:
        yield client


async def test_processing_metrics_dead_letters_and_ingest_to_done(limited: TestClient) -> None:
    before = await scrape(limited)
    articles, long_url = stories()
    ids = await post(limited, articles)
    await wait_until_drained(limited)
    statuses = {a["url"]: (await (await limited.get(f"/ingest/{i}")).json())["status"]
                for a, i in zip(articles, ids, strict=True)}
    assert statuses.pop(long_url) == "failed" and set(statuses.values()) == {"done"}
    after = await scrape(limited)

    processed = total(after, "canonry_ingests_processed_total") - total(
        before, "canonry_ingests_processed_total")
    assert processed == 3
    exact = "canonry_ingests_processed_total"
    assert value(after, exact, match="exact") - value(before, exact, match="exact") == 1
    to_done = "canonry_ingest_to_done_seconds_count"
    assert value(after, to_done) - value(before, to_done) == processed
    failed = "canonry_ingests_failed_total"
    assert value(after, failed) - value(before, failed) == 1
    # A fresh database (embedded: its failed row) or a fresh Redis prefix: exactly this one.
    assert gauge(after, "canonry_dead_letters") == 1
    assert gauge(after, "canonry_queue_up") == 1
    for name in ("canonry_queue_depth", "canonry_queue_pending", "canonry_queue_delayed",
                 "canonry_queue_oldest_message_age_seconds"):
        assert gauge(after, name) == 0, name


@pytest.fixture
async def api_only(settings: Settings) -> AsyncIterator[TestClient]:
    """No workers: what is posted stays in the queue for the test to look at."""
    async with api_client(create_app(settings, run_workers=False)) as client:
        yield client


async def test_queue_gauges_show_waiting_and_pending_work(api_only: TestClient) -> None:
    empty = await scrape(api_only)
    assert gauge(empty, "canonry_queue_depth") == 0
    assert gauge(empty, "canonry_dead_letters") == 0
    articles, _ = stories()
    await post(api_only, articles)
    waiting = await scrape(api_only)
    assert gauge(waiting, "canonry_queue_depth") == 4
    assert gauge(waiting, "canonry_queue_pending") == 0
    age = gauge(waiting, "canonry_queue_oldest_message_age_seconds")
    assert age is not None and math.isfinite(age) and age >= 0
    # Take one as a worker would: delivered, not acked.
    (delivery,) = await api_only.app[QUEUE].receive(1, 0)
    taken = await scrape(api_only)
    assert (gauge(taken, "canonry_queue_depth"), gauge(taken, "canonry_queue_pending")) == (4, 1)
    await api_only.app[QUEUE].release([(delivery, 3600.0)])
    released = await scrape(api_only)
    assert [gauge(released, name) for name in (
        "canonry_queue_depth", "canonry_queue_pending", "canonry_queue_delayed")] == [3, 0, 1]


@pytest.mark.parametrize("backend", ["redis"])
async def test_metrics_keep_serving_with_redis_down(settings: Settings, tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path)
    await redis.start()
    try:
        own = dataclasses.replace(settings, redis_url=redis.url, allow_open=True)
        async with api_client(create_app(own, run_workers=False)) as client:
            assert gauge(await scrape(client), "canonry_queue_up") == 1
            await redis.kill()
            with capture_logs() as logs:
                down = await scrape(client)
                again = await scrape(client)
            for samples in (down, again):
                assert gauge(samples, "canonry_queue_up") == 0
                for name in ("canonry_queue_depth", "canonry_queue_pending",
                             "canonry_queue_oldest_message_age_seconds", "canonry_dead_letters"):
                    assert gauge(samples, name) is None, name  # absent, not a misleading 0
                # The rest of the registry is still there.
                assert any(name == "canonry_http_requests_total" for name, _ in samples)
            # One line for the outage, not one per scrape.
            assert [e["event"] for e in logs].count("queue_stats_unavailable") <= 1
    finally:
        await redis.kill()


# -- request ids and log lines -------------------------------------------------------------------

async def test_x_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "req-123.abc_XYZ"})
    assert given.headers["X-Request-ID"] == "req-123.abc_XYZ"
    generated = [(await client.get(path)).headers["X-Request-ID"]
                 for path in ("/healthz", "/healthz", "/no/such/path", "/documents/doc_x")]
    assert len(set(generated)) == 4 and all(len(rid) >= 16 for rid in generated)
    for bad in ("has space", "x" * 200, "", "tab\tinside"):
        response = await client.get("/healthz", headers={"X-Request-ID": bad})
        echoed = response.headers["X-Request-ID"]
        assert echoed != bad and echoed.isalnum(), (bad, echoed)
    # Errors from every layer carry it: the auth middleware's 401, a handler's 422.
    refused = await client.get("/documents", headers={"Authorization": "Bearer wrong",
                                                      "X-Request-ID": "r-401"})
    assert (refused.status, refused.headers["X-Request-ID"]) == (401, "r-401")
    invalid = await client.get("/documents?limit=x", headers={"X-Request-ID": "r-422"})
    assert (invalid.status, invalid.headers["X-Request-ID"]) == (422, "r-422")


async def test_a_streamed_response_carries_the_request_id(client: TestClient) -> None:
    async with asyncio.timeout(30):
        response = await client.get("/events", headers={"Accept": "text/event-stream",
                                                         "X-Request-ID": "r-stream"})
        assert response.status == 200
        assert response.headers["X-Request-ID"] == "r-stream"
        response.close()


async def test_one_access_line_per_request_carrying_the_request_id(client: TestClient) -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        await client.get("/documents/doc_x", headers={"X-Request-ID": "r-access"})
        await client.get("/documents", headers={"Authorization": "Bearer wrong",
                                                "X-Request-ID": "r-auth"})
        await client.get("/healthz", headers={"X-Request-ID": "r-probe"})
        await client.get("/metrics")
    access = [e for e in logs if e["event"] == "http_request"]
    (line,) = [e for e in access if e["request_id"] == "r-access"]
    assert (line["method"], line["route"], line["status"], line["log_level"]) == (
        "GET", DOC_ROUTE, 404, "info")
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    # A line the auth middleware logs itself gets the id through the contextvars.
    (refusal,) = [e for e in logs if e["event"] == "auth_refused"]
    assert refusal["request_id"] == "r-auth"
    assert [e["status"] for e in access if e["request_id"] == "r-auth"] == [401]
    # Probes and scrapes would flood the log at info: debug only.
    quiet = [e for e in access if e["route"] in ("/healthz", "/metrics")]
    assert quiet and {e["log_level"] for e in quiet} == {"debug"}


def _with_context(logger: object, method: str, event: EventDict) -> EventDict:
    """Records what the contextvars held when the line was logged."""
    event["context"] = get_contextvars()
    return event


async def test_worker_lines_for_an_ingest_carry_its_id_through_contextvars(
    limited: TestClient,
) -> None:
    articles, long_url = stories()
    with capture_logs(processors=[_with_context]) as logs:
        ids = await post(limited, articles)
        await wait_until_drained(limited)
    by_url = {a["url"]: i for a, i in zip(articles, ids, strict=True)}
    (failed,) = [e for e in logs if e["event"] == "ingest_failed"]
    assert failed["context"].get("ingest_id") == by_url[long_url]
    done = [e for e in logs if e["event"] == "ingest_done"]
    assert sorted(e["context"]["ingest_id"] for e in done) == sorted(
        i for url, i in by_url.items() if url != long_url)
    assert not any("ingest_id" in e["context"] for e in logs
                   if e["event"] in ("http_request", "engine_started"))


# -- the worker process's own /metrics -----------------------------------------------------------

@pytest.mark.parametrize("backend", ["redis"])
async def test_canonry_worker_serves_its_metrics(settings: Settings) -> None:
    articles, _ = stories()
    articles = articles[:3]  # 2 stories and a copy
    async with api_client(create_app(settings, run_workers=False)) as api:
        await post(api, articles)
    port = free_port()
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canonry.service.cli", "worker",
        env=worker_env(settings, CANONRY_METRICS_PORT=str(port)),
        stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(120):
            while True:
                try:
                    samples = await scrape(session, url)
                except aiohttp.ClientConnectionError:
                    samples = {}
                if (total(samples, "canonry_ingests_processed_total") == 3
                        and gauge(samples, "canonry_queue_depth") == 0):
                    break
                assert worker.returncode is None, "the worker exited"
                await asyncio.sleep(0.2)  # polling another process: no event to await
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await worker.communicate()
    assert worker.returncode == 0, stderr.decode()[-3000:]
    assert value(samples, "canonry_ingests_processed_total", match="new") == 2
    assert value(samples, "canonry_ingests_processed_total", match="exact") == 1
    assert value(samples, "canonry_ingest_to_done_seconds_count") == 3
    assert value(samples, "canonry_batch_seconds_count") >= 1
    assert gauge(samples, "canonry_queue_up") == 1
    assert gauge(samples, "canonry_dead_letters") == 0


@pytest.mark.parametrize("backend", ["redis"])
async def test_a_workers_metrics_take_the_apis_key_and_scope(settings: Settings) -> None:
    port = free_port()
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canonry.service.cli", "worker",
        env=worker_env(settings, CANONRY_METRICS_PORT=str(port), CANONRY_API_KEYS=
                       f"{TEST_API_KEY}=admin,reader-key-of-16-chars=read",
                       CANONRY_METRICS_SCOPE="admin"),
        stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(60):
            while True:  # until the worker listens
                try:
                    async with session.get(url) as response:
                        anonymous = response.status
                        break
                except aiohttp.ClientConnectionError:
                    assert worker.returncode is None, "the worker exited"
                    await asyncio.sleep(0.1)  # another process starting: nothing to await
            async with session.get(url, headers={"X-API-Key": "reader-key-of-16-chars"}) as r:
                reader = r.status
            async with session.get(url, headers=AUTH_HEADERS) as response:
                admin = response.status
                assert "canonry_queue_depth" in await response.text()
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await worker.communicate()
    assert worker.returncode == 0, stderr.decode()[-3000:]
    assert (anonymous, reader, admin) == (401, 403, 200)
