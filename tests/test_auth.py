"""API keys and scopes (service/auth.py), through the real app on the embedded default and on
PostgreSQL + Redis, and the refusal to start open where others could reach the service."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import sys
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from canonry.service.app import create_app
from canonry.service.auth import ANY_KEY, check_exposure, parse_api_keys
from canonry.service.config import Settings
from canonry.service.routes import ROUTES

INGEST_KEY = "ingest-key-0123456789"
READ_KEY = "read-key-0123456789ab"
ADMIN_KEY = "admin-key-0123456789a"
HASHED_KEY = "a-key-known-only-by-its-digest"
KEYS = (f"{INGEST_KEY}=ingest, {READ_KEY}=read,{ADMIN_KEY}=admin,"
        f"sha256:{hashlib.sha256(HASHED_KEY.encode()).hexdigest()}=read+ingest")
ARTICLE = {"url": "https://example.org/auth", "text": "A sentence long enough to be an article "
           "body survives cleaning. It has two sentences, and a third one too, for good measure."}
OPEN_PATHS = {"/healthz", "/readyz", "/metrics"}
# The story viewer's key form takes the key itself (tests/test_ui.py).
KEY_FORM_PATHS = {"/ui/key", "/ui/logout"}


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def keyed(settings: Settings) -> AsyncIterator[TestClient]:
    """The app with KEYS, and a client that sends no key of its own."""
    app = create_app(dataclasses.replace(settings, api_keys=KEYS))
    async with TestClient(TestServer(app)) as client:
        yield client


def concrete(path: str) -> str:
    return path.replace("{ingest_id}", "ing_x").replace("{document_id}", "doc_x")


async def call(client: TestClient, method: str, path: str, headers: dict[str, str]):
    body = {"text": ARTICLE["text"]} if path == "/similar" else ARTICLE
    if method == "POST":
        return await client.post(path, json=body, headers=headers)
    return await client.request(method, path + ("?url=https://x.org/" if path == "/lookup"
                                                 else ""), headers=headers)


async def assert_problem(response, status: int) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    return await response.json()


async def test_every_keyed_route_refuses_a_request_without_a_key(keyed: TestClient) -> None:
    keyed_routes = [r for r in ROUTES if r.path not in OPEN_PATHS | KEY_FORM_PATHS]
    assert len(keyed_routes) >= 7  # the route table still lists the API, not only health
    for route in keyed_routes:
        for method in {route.method, "HEAD"} if route.method == "GET" else {route.method}:
            response = await call(keyed, method, concrete(route.path), {})
            assert response.status == 401, (method, route.path)
            assert response.headers["WWW-Authenticate"].startswith('Bearer realm="canonry"')
            if method != "HEAD":
                await assert_problem(response, 401)
    for path in ("/openapi.json", "/no-such-route"):  # learns nothing of what exists
        await assert_problem(await keyed.get(path), 401)


async def test_a_wrong_key_is_401_invalid_token(keyed: TestClient) -> None:
    for headers in (bearer("not-a-key-we-know-0000"), {"X-API-Key": READ_KEY + "x"},
                    {"Authorization": f"Basic {READ_KEY}"}):
        response = await keyed.get("/documents", headers=headers)
        await assert_problem(response, 401)
    response = await keyed.get("/documents", headers=bearer(READ_KEY[:-1]))
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_a_key_without_the_scope_is_403_naming_it(keyed: TestClient) -> None:
    response = await keyed.get("/documents", headers=bearer(INGEST_KEY))
    body = await assert_problem(response, 403)
    assert "read" in body["detail"]
    assert 'error="insufficient_scope", scope="read"' in response.headers["WWW-Authenticate"]
    response = await keyed.post("/ingest", json=ARTICLE, headers=bearer(READ_KEY))
    await assert_problem(response, 403)
    # admin does not imply the others
    await assert_problem(await keyed.get("/documents", headers=bearer(ADMIN_KEY)), 403)
    await assert_problem(await keyed.post("/ingest", json=ARTICLE, headers=bearer(ADMIN_KEY)),
                         403)


async def test_keys_with_their_scopes_are_served(keyed: TestClient) -> None:
    response = await keyed.post("/ingest", json=ARTICLE, headers=bearer(INGEST_KEY))
    assert response.status == 202, await response.text()
    status_url = (await response.json())["status_url"]
    assert (await keyed.get(status_url, headers={"X-API-Key": READ_KEY})).status == 200
    assert (await keyed.get(status_url, headers=bearer(HASHED_KEY))).status == 200
    assert (await keyed.get("/documents", headers=bearer(READ_KEY))).status == 200
    similar = await keyed.post("/similar", json={"text": ARTICLE["text"]},
                               headers=bearer(READ_KEY))
    assert similar.status == 200, await similar.text()
    assert (await keyed.get("/openapi.json", headers=bearer(INGEST_KEY))).status == 200
    assert (await keyed.get("/no-such-route", headers=bearer(READ_KEY))).status == 404


async def test_health_and_metrics_stay_open(keyed: TestClient) -> None:
    for path in sorted(OPEN_PATHS):
        response = await keyed.get(path)
        assert response.status == 200, (path, await response.text())
    assert (await keyed.head("/healthz")).status == 200


async def test_metrics_can_require_a_scope(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, api_keys=KEYS, metrics_scope="admin"))
    async with TestClient(TestServer(app)) as client:
        await assert_problem(await client.get("/metrics"), 401)
        await assert_problem(await client.get("/metrics", headers=bearer(READ_KEY)), 403)
        assert (await client.get("/metrics", headers=bearer(ADMIN_KEY))).status == 200
        assert (await client.get("/healthz")).status == 200


async def test_openapi_documents_the_schemes_and_each_route_scope(keyed: TestClient) -> None:
    spec = await (await keyed.get("/openapi.json", headers=bearer(READ_KEY))).json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert spec["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    for route in ROUTES:
        operation = spec["paths"][route.path][route.method.lower()]
        if route.path in OPEN_PATHS | KEY_FORM_PATHS:
            assert operation["security"] == [], route.path
        else:
            scopes = [] if route.scope == ANY_KEY else [route.scope]
            assert operation["security"] == [{"bearer": scopes}, {"apiKey": scopes}], route.path
            assert {"401", "403"} <= set(operation["responses"]), route.path


def test_key_entries_parse_and_malformed_ones_are_named() -> None:
    keys = parse_api_keys(KEYS)
    assert [sorted(k.scopes) for k in keys] == [["ingest"], ["read"], ["admin"],
                                                ["ingest", "read"]]
    assert parse_api_keys("k1=ingest,k2=read,k3=admin+read+ingest")[2].scopes == {
        "admin", "read", "ingest"}
    assert parse_api_keys("k1=ingest")[0].short and not keys[0].short
    assert parse_api_keys("a=b=c=read")[0].digest == hashlib.sha256(b"a=b=c").digest()
    assert parse_api_keys(None) == parse_api_keys(" , ") == ()
    for spec, message in [("k1", "entry 1"), ("k1=read,k2=write", "unknown scope write"),
                          ("=read", "entry 1"), ("sha256:abc=read", "64 hex"),
                          ("k1=read,k1=ingest", "twice")]:
        with pytest.raises(ValueError, match=message):
            parse_api_keys(spec)


def test_a_reachable_or_production_node_without_keys_refuses_to_start() -> None:
    embedded = Settings.from_env({})
    assert check_exposure(embedded) is None  # the embedded default on loopback may run open
    exposed = [
        dataclasses.replace(embedded, host="0.0.0.0"),
        dataclasses.replace(embedded, host="10.1.2.3"),
        dataclasses.replace(embedded, host="canonry.internal"),
        dataclasses.replace(embedded, database_url="postgresql+asyncpg://db/canonry"),
        dataclasses.replace(embedded, redis_url="redis://127.0.0.1:6379/0"),
    ]
    for settings in exposed:
        with pytest.raises(SystemExit, match="refusing to start without API keys"):
            create_app(settings)
        warning = check_exposure(dataclasses.replace(settings, allow_open=True))
        assert warning and "CANONRY_ALLOW_OPEN=1" in warning
        assert check_exposure(dataclasses.replace(settings, api_keys=KEYS)) is None
    assert check_exposure(dataclasses.replace(embedded, host="::1")) is None


async def test_canonry_serve_on_postgres_without_keys_exits_saying_why() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANONRY_")}
    env["CANONRY_DATABASE_URL"] = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "canonry.service.cli", "serve", "--port", "0", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode != 0
    assert b"refusing to start without API keys" in stderr
    assert b"using a database server" in stderr


async def test_malformed_keys_stop_the_start_with_the_setting_named() -> None:
    with pytest.raises(SystemExit, match="CANONRY_API_KEYS: entry 2: unknown scope"):
        create_app(Settings.from_env({}, api_keys="k1=read,k2=wirte"))
