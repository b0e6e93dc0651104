"""API keys with scopes: who may call which route.

`CANONRY_API_KEYS` lists the keys, comma-separated, each `KEY=SCOPE[+SCOPE…]` with the scopes
`ingest` (POST /ingest), `read` (every read route and POST /similar) and `admin` (operator
routes; /metrics when CANONRY_METRICS_SCOPE=admin). A key may be written as `sha256:HEX=…`, its
SHA-256 in hex, so the setting (a Secret, a config file) need not hold the key itself. A scope
grants only itself: `admin` does not imply `read`.

Keys are sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`; the story viewer's pages (GET
routes marked `browser`, read-only) also take the key a person entered in its form, from the
`UI_COOKIE` cookie (HttpOnly, SameSite=Strict, Path=/ui: a cross-site request never carries it,
and no API route accepts it). A browser without a key is sent to that form instead of a 401;
any other client still gets the 401. Only the SHA-256 of each key
is kept in memory; a presented key is hashed and compared against every known digest with
`hmac.compare_digest`, all of them every time, so neither the match nor its position shows in
the time taken.

Without keys the service is open. That is the embedded default on loopback; a node that other
hosts can reach (bound to a non-loopback address) or that uses the production backends refuses
to start without keys unless CANONRY_ALLOW_OPEN=1 says so (`check_exposure`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog
from aiohttp import web
from prometheus_client import Counter
from yarl import URL

from canonry.service.config import Settings
from canonry.service.problems import ProblemError

log = structlog.get_logger("canonry.auth")

SCOPES = ("ingest", "read", "admin")
ANY_KEY = "any"  # a route any valid key may call, whatever its scopes (e.g. /openapi.json)
REALM = "canonry"
MIN_KEY_CHARS = 16  # shorter keys work (tests, examples) but are logged as guessable
UI_COOKIE = "canonry_ui_key"
KEY_FORM_PATH = "/ui/key"

REFUSED = Counter("canonry_auth_refused_total", "Requests refused for want of a key or a scope",
                  ["reason"])

_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    digest: bytes  # SHA-256 of the key
    scopes: frozenset[str]
    short: bool = False  # guessable: fewer than MIN_KEY_CHARS characters (logged at start)

    @property
    def label(self) -> str:
        """Names the key in logs without revealing it: the first 8 hex digits of its digest."""
        return self.digest.hex()[:8]


def parse_api_keys(spec: str | None) -> tuple[ApiKey, ...]:
    """The keys of a CANONRY_API_KEYS value; ValueError names the first malformed entry."""
    keys: dict[bytes, ApiKey] = {}
    for position, entry in enumerate((spec or "").split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        secret, sep, scope_list = entry.rpartition("=")
        if not sep or not secret or not scope_list:
            raise ValueError(f"entry {position} is not KEY=SCOPE[+SCOPE]")
        scopes = frozenset(s.strip() for s in scope_list.split("+"))
        unknown = scopes - set(SCOPES)
        if unknown:
            raise ValueError(f"entry {position}: unknown scope {', '.join(sorted(unknown))} "
                             f"(scopes: {', '.join(SCOPES)})")
        short = False
        if secret.startswith("sha256:"):
            hex_digest = secret.removeprefix("sha256:").lower()
            if not _DIGEST.fullmatch(hex_digest):
                raise ValueError(f"entry {position}: sha256: needs 64 hex digits")
            digest = bytes.fromhex(hex_digest)
        else:
            digest = hashlib.sha256(secret.encode()).digest()
            short = len(secret) < MIN_KEY_CHARS
        if digest in keys:
            raise ValueError(f"entry {position}: the same key is listed twice")
        keys[digest] = ApiKey(digest, scopes, short)
    return tuple(keys.values())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or "0.0.0.0"/"::" style wildcard: reachable from outside


def check_exposure(settings: Settings) -> str | None:
    """Refuse (SystemExit) to run open where others can reach the service; a warning to log
    when CANONRY_ALLOW_OPEN=1 overrides that, else None."""
    if settings.api_keys:
        return None
    reasons = []
    if not _is_loopback(settings.host):
        reasons.append(f"bound to {settings.host}, not a loopback address")
    if not settings.database_url.startswith("sqlite"):
        reasons.append("using a database server")
    if settings.redis_url:
        reasons.append("using Redis")
    if not reasons:
        return None
    why = "; ".join(reasons)
    if settings.allow_open:
        return f"running without API keys although {why} (CANONRY_ALLOW_OPEN=1)"
    raise SystemExit(f"canonry: refusing to start without API keys: {why}. Set "
                     "CANONRY_API_KEYS (KEY=SCOPE[+SCOPE], scopes ingest, read, admin), or "
                     "CANONRY_ALLOW_OPEN=1 to run open on purpose.")


class Authenticator:
    """The keys of one app, and the scope each (method, route) needs."""

    def __init__(self, keys: tuple[ApiKey, ...], scopes: Mapping[tuple[str, str], str | None],
                 browser_routes: frozenset[tuple[str, str]] = frozenset()):
        self.keys = keys
        self.scopes = scopes  # (method, path template) → scope; None: open
        self.browser_routes = browser_routes  # (method, template) that take the UI's cookie

    def find(self, presented: str) -> ApiKey | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = None
        for key in self.keys:  # every key, every time: constant time in which one matched
            if hmac.compare_digest(key.digest, digest):
                found = key
        return found

    def required_scope(self, request: web.Request) -> str | None:
        """The scope a request needs: its route's, or any valid key for paths no route serves
        (a client without a key learns nothing of what exists)."""
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else None
        method = "GET" if request.method == "HEAD" else request.method
        if template is not None and (method, template) in self.scopes:
            return self.scopes[(method, template)]
        return ANY_KEY

    def is_browser_route(self, request: web.Request) -> bool:
        resource = request.match_info.route.resource
        method = "GET" if request.method == "HEAD" else request.method
        return resource is not None and (method, resource.canonical) in self.browser_routes


def prefers_html(request: web.Request) -> bool:
    """Whether the client asks for a page rather than JSON: text/html accepted with a higher
    quality than application/json (a browser's navigation; `*/*` alone, as API clients and
    aiohttp send, is not a preference)."""
    html = json = 0.0
    for item in request.headers.get("Accept", "").split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media.lower() in ("text/html", "application/xhtml+xml"):
            html = max(html, quality)
        elif media.lower() == "application/json":
            json = max(json, quality)
    return html > 0 and html > json


def key_form_redirect(request: web.Request, reason: str | None = None) -> web.HTTPSeeOther:
    """Where a browser without a (valid) key is sent: the key form, then back here."""
    query = {"next": request.path_qs}
    if reason:
        query["reason"] = reason
    return web.HTTPSeeOther(str(URL(KEY_FORM_PATH).with_query(query)))


def presented_key(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("X-API-Key") or None


def _challenge(error: str | None = None, scope: str | None = None) -> dict[str, str]:
    params = [f'realm="{REALM}"']
    if error:
        params.append(f'error="{error}"')
    if scope:
        params.append(f'scope="{scope}"')
    return {"WWW-Authenticate": "Bearer " + ", ".join(params)}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(authenticator: Authenticator) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        scope = authenticator.required_scope(request)
        if scope is None:
            return await handler(request)
        presented = presented_key(request)
        browser = authenticator.is_browser_route(request)
        if presented is None and browser:
            presented = request.cookies.get(UI_COOKIE) or None
        if presented is None:
            REFUSED.labels("missing").inc()
            if browser and prefers_html(request):
                raise key_form_redirect(request)
            raise ProblemError(401, "an API key is required: send Authorization: Bearer KEY "
                                    "or X-API-Key: KEY", slug="unauthorized",
                               headers=_challenge())
        key = authenticator.find(presented)
        if key is None:
            REFUSED.labels("invalid").inc()
            log.info("auth_refused", reason="invalid", path=request.path,
                     remote=request.remote)
            if browser and prefers_html(request):
                raise key_form_redirect(request, "invalid")
            raise ProblemError(401, "the API key is not valid", slug="unauthorized",
                               headers=_challenge("invalid_token"))
        if scope != ANY_KEY and scope not in key.scopes:
            REFUSED.labels("scope").inc()
            log.info("auth_refused", reason="scope", key=key.label, scope=scope,
                     path=request.path)
            raise ProblemError(403, f"this API key lacks the `{scope}` scope",
                               slug="insufficient-scope",
                               headers=_challenge("insufficient_scope", scope))
        return await handler(request)

    return authenticate
