"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from canonry.service.keys import INDEX, QUEUE, STORE
from canonry.service.problems import ProblemError


async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving; says nothing about its dependencies."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready to accept work: the database and the queue backend answer."""
    checks: dict[str, str] = {}
    try:
        await request.app[STORE].ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc}"
    try:
        await request.app[QUEUE].ping()
        checks["queue"] = "ok"
    except Exception as exc:
        checks["queue"] = f"error: {exc}"
    if any(value != "ok" for value in checks.values()):
        raise ProblemError(503, "not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items()),
                           slug="not-ready", headers={"Retry-After": "5"})
    checks["index_entries"] = str(await request.app[INDEX].size())
    return web.json_response({"status": "ready", "checks": checks})


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
