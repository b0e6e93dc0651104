"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from canonry.service.keys import INDEX, QUEUE, STORE
from canonry.service.problems import RETRY_AFTER, ProblemError


async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving; says nothing about its dependencies."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready to accept work: the database and the queue backend answer, and the dedup index
    holds every stored signature (not while a restarted Redis is being rebuilt: a copy decided
    then would become a second document, so the workers wait, and so should traffic)."""
    checks: dict[str, str] = {}
    try:
        await request.app[STORE].ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {_reason(exc)}"
    try:
        await request.app[QUEUE].ping()
        checks["queue"] = "ok"
    except Exception as exc:
        checks["queue"] = f"error: {_reason(exc)}"
    if checks["queue"] == "ok":
        try:
            index = request.app[INDEX]
            checks["index"] = "ok" if await index.ready() else "rebuilding after a restart"
        except Exception as exc:
            checks["index"] = f"error: {_reason(exc)}"
    if any(value != "ok" for value in checks.values()):
        raise ProblemError(503, "not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items()),
                           slug="not-ready", headers={"Retry-After": RETRY_AFTER})
    checks["index_entries"] = str(await request.app[INDEX].size())
    return web.json_response({"status": "ready", "checks": checks})


def _reason(exc: BaseException) -> str:
    # The class and the first line only: a database error goes on with its SQL statement.
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
