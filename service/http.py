"""The HTTP edges no route handler sees: reading bodies under a deadline, aiohttp's own parser
errors, idle and slow connections, and the server loop of `canonry serve`.

- A request body is read once, here, within CANONRY_READ_TIMEOUT_SECONDS (408 past it); a body
  that does not decode as its Content-Encoding says is a 400; a client that disconnects
  mid-body is logged at info — nobody is left to answer and it is not our error.
- A request aiohttp cannot parse (a request line or header over 8,190 bytes, a malformed
  method, a broken chunk) never reaches the app: aiohttp answers it itself, as text/plain.
  `ProblemRequestHandler` renders those as Problem Details too and logs them at info without
  a traceback (they are the client's errors).
- An idle connection, or one that has not sent a whole request head, is closed after
  CANONRY_KEEPALIVE_SECONDS: aiohttp's keep-alive timer runs from the moment a connection opens
  and fires while no complete request is waiting.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest

from canonry.service.config import Settings
from canonry.service.problems import problem_response

log = structlog.get_logger("canonry.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _closing(response: web.Response) -> web.Response:
    response.force_close()  # the rest of the stream cannot be trusted to start a new request
    return response


def body_deadline(read_timeout: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: read the whole body before the handler runs (handlers then get it from
    `request.read()` at once), within `read_timeout` seconds."""

    @web.middleware
    async def read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(read_timeout):
                    await request.read()  # 413 past client_max_size (HTTPRequestEntityTooLarge)
            except TimeoutError:
                log.info("body_read_timeout", path=request.path, remote=request.remote,
                         seconds=read_timeout)
                return _closing(problem_response(
                    408, f"the body did not arrive within {read_timeout:g} s",
                    slug="request-timeout"))
            except RequestPayloadError:
                return _closing(problem_response(
                    400, "the body could not be read: it does not match its Content-Encoding, "
                         "or it ended early", slug="unreadable-body"))
            except ConnectionError:
                log.info("client_disconnected", path=request.path, remote=request.remote)
                return _closing(problem_response(400, "the client disconnected mid-body",
                                                 slug="unreadable-body"))
        return await handler(request)

    return read_body


def _describe(exc: BaseException | None) -> str:
    """What was wrong, in our words: aiohttp's messages quote the client's bytes back."""
    if isinstance(exc, http_exceptions.LineTooLong):
        return "a request line or header is longer than 8190 bytes"
    if isinstance(exc, http_exceptions.BadHttpMethod):
        return "the request method is not a valid HTTP method"
    if isinstance(exc, http_exceptions.InvalidHeader):
        return "a request header is malformed"
    if isinstance(exc, http_exceptions.InvalidURLError):
        return "the request target is not a valid URL"
    return "the request is not valid HTTP/1.1"


class ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, with its own 4xx answers rendered as Problem Details."""

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        if status >= 500:  # unreachable from the app (problem_middleware answers 500s)
            return super().handle_error(request, status, exc, message)
        reason = message or (type(exc).__name__ if exc else "")
        log.info("bad_http_request", status=status, remote=request.remote, reason=reason[:200])
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already sent")
        return _closing(problem_response(status, _describe(exc), slug="bad-http-request"))


class ProblemServer(web.Server):
    """`web.Server` whose connections are handled by `ProblemRequestHandler`."""

    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class CanonryRunner(web.AppRunner):
    """`web.AppRunner` serving through `ProblemServer`. aiohttp has no public hook for the
    handler class; the server it builds is given that one extra method (no new state), and
    tests/test_http_edges.py fails if an aiohttp upgrade changes how this works."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = ProblemServer
        return server


def runner(app: web.Application, settings: Settings) -> CanonryRunner:
    return CanonryRunner(app, access_log=None, keepalive_timeout=settings.keepalive_seconds)


async def serve(app: web.Application, settings: Settings) -> None:
    """Serve `app` on settings.host:port until SIGINT or SIGTERM, then shut down gracefully
    (stop listening, finish in-flight requests and batches, release the backends)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    app_runner = runner(app, settings)
    await app_runner.setup()
    try:
        site = web.TCPSite(app_runner, settings.host, settings.port)
        await site.start()
        log.info("serving", url=site.name)
        await stop.wait()
        log.info("stopping")
    finally:
        await app_runner.cleanup()
