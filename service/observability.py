"""Observability of the HTTP side and of the queue: request ids, one access line per request,
per-route request metrics, and the queue gauges read when /metrics is scraped.

- `observe` (the outermost middleware, so 401s, 413s and 500s are counted too) gives every
  request an id — the client's `X-Request-ID` when it is a sane token, else a new one — binds
  it in structlog's contextvars for every line the request logs, counts the request and its
  latency by route template (`/documents/{document_id}`, never the raw path: unmatched paths
  are one label) and logs one `http_request` line (debug for the probes and /metrics, which
  would otherwise flood the log). `echo_request_id` sends the id back on every response,
  streamed ones included (it runs when the headers are prepared).
- The queue gauges are computed at scrape time: a GET /metrics first reads the queue's
  `stats()` (and, embedded, the failed-ingest count) under a short deadline and keeps the
  result in a context variable that `QueueCollector` reads while the registry is rendered.
  Redis down, or too slow: the scrape still answers at once, with `canonry_queue_up 0` and
  the queue gauges absent. `canonry worker` serves the same on CANONRY_METRICS_PORT
  (`metrics_app`).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from canonry.schemas.tables import ingests
from canonry.service import keys
from canonry.service.auth import Authenticator, auth_middleware, parse_api_keys
from canonry.service.backends import Backends
from canonry.service.config import Settings
from canonry.service.problems import problem_middleware
from canonry.service.routes import METRICS_PATH
from canonry.workers.outage import Outage
from canonry.workers.ports import QueueStats

log = structlog.get_logger("canonry.http")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = web.RequestKey("request_id", str)
# A client's id is kept when it is one printable ASCII token of bounded length: it goes into
# every log line of the request and back into a header, so no spaces, controls or megabytes.
_SANE_REQUEST_ID = re.compile(r"[!-~]{1,128}")
QUIET_ROUTES = frozenset({"/healthz", "/readyz", METRICS_PATH})
UNMATCHED = "unmatched"  # one label for every path no route serves (scanners cannot explode it)
CLIENT_GONE = 499  # the client closed the connection before the answer (nginx's convention)
SCRAPE_DEADLINE = 1.0  # seconds the queue may take to answer a scrape before it is skipped

REQUESTS = Counter(
    "canonry_http_requests_total", "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "canonry_http_request_duration_seconds",
    "HTTP request latency, from the request head to the handler's answer",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_id_of(header: str | None) -> str:
    """The client's id if it is a sane token, else a new one."""
    if header is not None and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
    request[REQUEST_ID] = request_id
    route = route_of(request)
    started = time.perf_counter()
    status = 500  # what an exception escaping every inner middleware becomes
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        try:
            if route == METRICS_PATH and keys.BACKENDS in request.app:
                await refresh_queue_stats(request.app[keys.BACKENDS])
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:  # redirects: the problem middleware passes them on
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_GONE
            raise
        finally:
            elapsed = time.perf_counter() - started
            labels = (route, request.method, str(status))
            REQUESTS.labels(*labels).inc()
            REQUEST_SECONDS.labels(*labels).observe(elapsed)
            emit = log.debug if route in QUIET_ROUTES else log.info
            emit("http_request", method=request.method, route=route, status=status,
                 duration_ms=round(elapsed * 1000, 2), request_id=request_id)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the id goes back on every response the middleware saw."""
    if (request_id := request.get(REQUEST_ID)) is not None:
        response.headers[REQUEST_ID_HEADER] = request_id


# -- queue gauges, read at scrape time ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    stats: QueueStats | None  # None: the queue's backend did not answer in time
    dead_letters: int | None


# Per task: the scrape that read the stats is the one that renders them, even with several
# apps in one process (the tests) or a scrape running beside another.
_snapshot: ContextVar[QueueSnapshot | None] = ContextVar("canonry_queue_snapshot", default=None)
_outage = Outage(log, "queue_stats_unavailable", "queue_stats_available")


async def read_queue_stats(backends: Backends) -> QueueSnapshot:
    """The queue's stats and its dead-letter count, or None for what did not answer within
    SCRAPE_DEADLINE (an outage must not make /metrics slow or fail)."""
    try:
        async with asyncio.timeout(SCRAPE_DEADLINE):
            stats = await backends.queue.stats()
            dead = stats.dead_letters
            if dead is None:  # the embedded dead letters are the failed ingest rows (indexed)
                async with backends.database.connect() as conn:
                    dead = int(await conn.scalar(select(func.count()).select_from(ingests)
                                                 .where(ingests.c.status == "failed")) or 0)
    except Exception as exc:  # TimeoutError included
        _outage.failed(exc)
        return QueueSnapshot(None, None)
    _outage.recovered()
    return QueueSnapshot(stats, dead)


async def refresh_queue_stats(backends: Backends) -> None:
    """Read the stats for the registry rendering that follows in this task."""
    _snapshot.set(await read_queue_stats(backends))


class QueueCollector(Collector):
    """The queue gauges of the snapshot this task read; nothing outside a scrape that read
    one. Absent (not zero) when the backend did not answer: a zero would read as "empty"."""

    def describe(self) -> Iterator[Metric]:
        yield from self._families(QueueSnapshot(None, None), describe=True)

    def collect(self) -> Iterator[Metric]:
        snapshot = _snapshot.get()
        if snapshot is not None:
            yield from self._families(snapshot, describe=False)

    @staticmethod
    def _families(snapshot: QueueSnapshot, *, describe: bool) -> Iterator[Metric]:
        stats = snapshot.stats
        up = GaugeMetricFamily("canonry_queue_up",
                               "1: the queue answered this scrape; 0: the queue gauges are absent")
        depth = GaugeMetricFamily(
            "canonry_queue_depth",
            "Messages not finished: waiting, or delivered and not acked (retries excluded)")
        pending = GaugeMetricFamily("canonry_queue_pending",
                                    "Messages delivered to a worker and not acked yet")
        delayed = GaugeMetricFamily("canonry_queue_delayed", "Messages waiting for a retry")
        oldest = GaugeMetricFamily(
            "canonry_queue_oldest_message_age_seconds",
            "Age of the oldest message not finished (0 when there is none)")
        dead = GaugeMetricFamily(
            "canonry_dead_letters",
            "Dead letters kept (Redis: the dead-letter stream; embedded: failed ingests)")
        if not describe:
            up.add_metric([], 0.0 if stats is None else 1.0)
            if stats is not None:
                depth.add_metric([], stats.depth)
                pending.add_metric([], stats.pending)
                delayed.add_metric([], stats.delayed)
                oldest.add_metric([], stats.oldest_age_seconds or 0.0)
            if snapshot.dead_letters is not None:
                dead.add_metric([], snapshot.dead_letters)
        yield from (up, depth, pending, delayed, oldest, dead)


REGISTRY.register(QueueCollector())


def metrics_response() -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def metrics_app(backends: Backends, settings: Settings) -> web.Application:
    """The tiny app `canonry worker` serves on CANONRY_METRICS_PORT: GET /metrics only, behind
    the same key and scope as the API's (CANONRY_METRICS_SCOPE; open by default)."""
    async def metrics(request: web.Request) -> web.Response:
        await refresh_queue_stats(backends)
        return metrics_response()

    middlewares: list[Any] = []
    if api_keys := parse_api_keys(settings.api_keys):
        scopes = {("GET", METRICS_PATH): settings.metrics_scope}
        middlewares = [problem_middleware, auth_middleware(Authenticator(api_keys, scopes))]
    app = web.Application(middlewares=middlewares)
    app.router.add_get(METRICS_PATH, metrics)
    return app
