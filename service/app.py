"""The app factory: `create_app(settings)` wires the backends, the engine and the routes.

Resources are acquired and released in `cleanup_ctx`, in order: backends (database, queue,
index), then the engine (index rebuild, recovery of unfinished work, worker tasks).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web

from canonry.service import keys
from canonry.service.acceptance import GroupCommit
from canonry.service.auth import (
    ANY_KEY,
    Authenticator,
    auth_middleware,
    check_exposure,
    parse_api_keys,
)
from canonry.service.backends import open_backends
from canonry.service.config import Settings
from canonry.service.docs import add_static
from canonry.service.engine import running_engine
from canonry.service.http import body_deadline
from canonry.service.observability import echo_request_id, observe
from canonry.service.openapi import openapi
from canonry.service.problems import problem_middleware
from canonry.service.reads import Reads
from canonry.service.routes import METRICS_PATH, ROUTES, add_routes
from canonry.service.ui.queries import UiQueries
from canonry.service.ui.session import browser_redirects

CleanupContext = Callable[[web.Application], AsyncIterator[None]]

log = structlog.get_logger("canonry.app")


def create_app(settings: Settings, *, run_workers: bool = True) -> web.Application:
    """The app for `settings`; SystemExit when it would run open where others can reach it."""
    if warning := check_exposure(settings):
        log.warning("running_open", detail=warning)
    try:
        api_keys = parse_api_keys(settings.api_keys)
    except ValueError as exc:
        raise SystemExit(f"CANONRY_API_KEYS: {exc}") from None
    if weak := [key.label for key in api_keys if key.short]:
        log.warning("short_api_keys", keys=weak, hint="use keys of 16 characters or more")
    scopes: dict[tuple[str, str], str | None] = {
        (route.method, route.path): route.scope for route in ROUTES}
    scopes[("GET", METRICS_PATH)] = settings.metrics_scope
    scopes[("GET", "/openapi.json")] = ANY_KEY
    # Outermost first: every error becomes Problem Details; the key is checked before the
    # body is read, so a client without one cannot make the server read megabytes.
    # observe: ids and metrics for every answer; a browser at `/` is sent to the viewer.
    middlewares = [observe, problem_middleware, browser_redirects(
        {(r.method, r.path): r.browser_redirect for r in ROUTES if r.browser_redirect})]
    authenticator = None
    if api_keys:
        authenticator = Authenticator(api_keys, scopes, frozenset(
            (r.method, r.path) for r in ROUTES if r.browser))
        middlewares.append(auth_middleware(authenticator))
    middlewares.append(body_deadline(settings.read_timeout_seconds))
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app[keys.SCOPES] = scopes
    app[keys.AUTHENTICATOR] = authenticator
    app.on_response_prepare.append(echo_request_id)
    app[keys.STOPPING] = asyncio.Event()
    app.on_shutdown.append(_stop_streams)
    app.cleanup_ctx.append(_backends)
    app.cleanup_ctx.append(_engine(run_workers))
    add_routes(app)
    add_static(app)
    app.router.add_get("/openapi.json", openapi)
    return app


async def _stop_streams(app: web.Application) -> None:
    app[keys.STOPPING].set()


async def _backends(app: web.Application) -> AsyncIterator[None]:
    async with open_backends(app[keys.SETTINGS]) as backends:
        app[keys.BACKENDS] = backends
        app[keys.STORE] = backends.store
        app[keys.QUEUE] = backends.queue
        app[keys.INDEX] = backends.index
        app[keys.READS] = Reads(backends.database)
        app[keys.UI_QUERIES] = UiQueries(backends.database)
        app[keys.ACCEPTANCE] = GroupCommit(backends.store, backends.queue)
        yield


def _engine(run_workers: bool) -> CleanupContext:
    async def engine(app: web.Application) -> AsyncIterator[None]:
        async with running_engine(app[keys.SETTINGS], app[keys.BACKENDS],
                                  run_workers=run_workers):
            yield

    return engine
