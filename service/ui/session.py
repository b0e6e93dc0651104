"""How a browser holds the API key: entered once in the key form (POST, never in a URL), kept
in an HttpOnly, SameSite=Strict cookie scoped to /ui for the browser session, and read by the
auth middleware on the viewer's GET routes only (service/auth.py). Every viewer route is a
read: a forged cross-site request could change nothing even if it carried the cookie, and
SameSite=Strict keeps it from carrying it. The two POSTs (enter, forget) refuse cross-site
requests (Sec-Fetch-Site / Origin), so another site cannot log a browser in with its own key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

from aiohttp import web

from canonry.service.auth import UI_COOKIE, prefers_html

UI_PATH = "/ui"
HOME = "/ui/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def safe_next(value: str | None) -> str:
    """A page of the viewer to return to: a path under /ui/, else the stories page. A path
    that starts with /ui/ names this host whatever follows (`//evil.example` does not)."""
    if not value or not value.startswith(HOME):
        return HOME
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return HOME
    return value


def same_origin(request: web.Request) -> bool:
    """False for a request a browser made from another site. Browsers send Sec-Fetch-Site (and
    Origin) with every POST; a client that sends neither is not a browser acting for a page."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc.lower() == request.host.lower()


def _secure(request: web.Request) -> bool:
    # Behind a TLS-terminating proxy the app sees http; the proxy's header only makes the
    # cookie stricter, so trusting it cannot weaken anything.
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def keep_key(response: web.StreamResponse, request: web.Request, key: str) -> None:
    # No max_age: a session cookie, gone when the browser closes.
    response.set_cookie(UI_COOKIE, key, path=UI_PATH, httponly=True, samesite="Strict",
                        secure=_secure(request))


def forget_key(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(UI_COOKIE, path=UI_PATH, httponly=True, samesite="Strict",
                        secure=_secure(request))


def browser_redirects(targets: Mapping[tuple[str, str], str]
                      ) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: a browser asking a route of `targets` for a page is sent (303) to its
    target, before any key is asked: `/` answers API clients with its JSON index and people
    with the story viewer. The target is fixed, so the redirect tells nothing."""

    @web.middleware
    async def redirect(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        method = "GET" if request.method == "HEAD" else request.method
        if resource is not None and prefers_html(request):
            target = targets.get((method, resource.canonical))
            if target is not None:
                raise web.HTTPSeeOther(target, headers={"Vary": "Accept"})
        return await handler(request)

    return redirect
