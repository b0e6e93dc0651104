"""One error shape for every error: RFC 9457 Problem Details (`application/problem+json`).

Handlers raise `ProblemError`; the middleware turns it, aiohttp's own HTTP errors and any
unexpected exception into a problem document, so a client never parses two error formats.
A backend that cannot be reached (`is_unavailable`) is a 503 with Retry-After on every route,
decided here once rather than in each handler; its error (which may carry SQL and article text)
goes to the log, never into the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus

import structlog
from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from canonry.schemas.api import FieldError, Problem

log = structlog.get_logger("canonry.api")

PROBLEM_TYPE = "https://canonry.dev/problems/"
CONTENT_TYPE = "application/problem+json"
RETRY_AFTER = "5"  # seconds a client is told to wait while a backend is unreachable
BACKEND_ERRORS = (OSError, DBAPIError, RedisError)


def is_unavailable(exc: BaseException) -> bool:
    """A backend that cannot be reached (retrying later helps), as opposed to a statement it
    refused (retrying never helps: that is a bug or input validation missed, not a 503)."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))
    return isinstance(exc, BACKEND_ERRORS)


def unavailable(what: str = "a backend (database or Redis) is unreachable") -> ProblemError:
    """The 503 every route answers while a backend is down."""
    return ProblemError(503, f"{what}; retry later", slug="unavailable",
                        headers={"Retry-After": RETRY_AFTER})


class ProblemError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.errors = errors
        self.headers = headers or {}


def problem_response(
    status: int, detail: str | None, *, slug: str | None = None,
    errors: list[FieldError] | None = None, headers: dict[str, str] | None = None,
) -> web.Response:
    slug = slug or HTTPStatus(status).phrase.lower().replace(" ", "-")
    body = Problem(
        type=PROBLEM_TYPE + slug, title=HTTPStatus(status).phrase, status=status, detail=detail,
        errors=errors,
    )
    return web.Response(
        status=status, text=body.model_dump_json(exclude_none=True), content_type=CONTENT_TYPE,
        headers=headers,
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProblemError as exc:
        return problem_response(exc.status, exc.detail, slug=exc.slug, errors=exc.errors,
                                headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return problem_response(exc.status, exc.text or exc.reason, headers=headers)
    except Exception as exc:
        if is_unavailable(exc):
            # Expected during an outage: one warning, no traceback; the text is cut because
            # a database error quotes its statement and parameters (an article's text).
            log.warning("backend_unavailable", path=request.path,
                        error=f"{type(exc).__name__}: {exc}"[:500])
            problem = unavailable()
            return problem_response(problem.status, problem.detail, slug=problem.slug,
                                    headers=problem.headers)
        log.exception("unhandled_error", path=request.path)
        return problem_response(500, "internal error; it has been logged")
