"""The app factory: `create_app(settings)` wires the backends, the engine and the routes.

Resources are acquired and released in `cleanup_ctx`, in order: backends (database, queue,
index), then the engine (index rebuild, recovery of unfinished work, worker tasks).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from canonry.service import keys
from canonry.service.acceptance import GroupCommit
from canonry.service.backends import open_backends
from canonry.service.config import Settings
from canonry.service.engine import running_engine
from canonry.service.openapi import openapi
from canonry.service.problems import problem_middleware
from canonry.service.reads import Reads
from canonry.service.routes import add_routes

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def create_app(settings: Settings, *, run_workers: bool = True) -> web.Application:
    app = web.Application(middlewares=[problem_middleware], client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.append(_backends)
    app.cleanup_ctx.append(_engine(run_workers))
    add_routes(app)
    app.router.add_get("/openapi.json", openapi)
    return app


async def _backends(app: web.Application) -> AsyncIterator[None]:
    async with open_backends(app[keys.SETTINGS]) as backends:
        app[keys.BACKENDS] = backends
        app[keys.STORE] = backends.store
        app[keys.QUEUE] = backends.queue
        app[keys.INDEX] = backends.index
        app[keys.READS] = Reads(backends.database)
        app[keys.ACCEPTANCE] = GroupCommit(backends.store, backends.queue)
        yield


def _engine(run_workers: bool) -> CleanupContext:
    async def engine(app: web.Application) -> AsyncIterator[None]:
        async with running_engine(app[keys.SETTINGS], app[keys.BACKENDS],
                                  run_workers=run_workers):
            yield

    return engine
