"""A hostile client, walked on the embedded default and on PostgreSQL + Redis: input no backend
can hold, malformed numbers and methods, oversized and deeply nested bodies, and the same
article posted twenty times at once. Every refusal is a 4xx Problem Details document without
SQL or a traceback, and the service keeps serving afterwards.

The neighbours: tests/test_unstorable.py (URLs, dates, NUL), tests/test_auth.py (keys),
tests/test_http_edges.py (parser errors, timeouts), tests/test_upgrades.py (blobs),
tests/test_response_size.py (list limits), tests/test_outage.py (backends down),
tests/test_schemathesis.py (the spec, generated).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from canonry.schemas.api import URL_PATTERN, ArticleIn
from canonry.service.app import create_app
from canonry.service.config import Settings
from tests.servers import api_client

TEXT = ("A sentence long enough to be an article body survives cleaning. It has two sentences, "
        "and a third one too, for good measure.")
SQL_WORDS = ("INSERT", "SELECT", "UPDATE ", "asyncpg", "sqlalchemy", "Traceback", "sqlite3")
MAX_BODY = 64 * 1024


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def hostile(settings: Settings) -> AsyncIterator[TestClient]:
    """The app with a small body limit, so the oversized case stays small."""
    async with api_client(create_app(dataclasses.replace(settings,
                                                         max_body_bytes=MAX_BODY))) as client:
        yield client


def article_json(**fields: str) -> str:
    """An article as raw JSON text, so a case can hold what json.dumps would not write."""
    values = {"url": '"https://example.org/hostile"', "text": f'"{TEXT}"', **fields}
    return "{" + ", ".join(f'"{k}": {v}' for k, v in values.items()) + "}"


# (case, method, path, content type, body, status, the field a 422 names)
CASES = [
    ("metadata overflowing to Infinity", "POST", "/ingest", "application/json",
     article_json(metadata='{"n": 1e400}'), 422, "metadata"),
    ("metadata with a lone surrogate", "POST", "/ingest", "application/json",
     article_json(metadata='{"s": "\\ud800"}'), 422, "metadata"),
    ("metadata key with a lone surrogate", "POST", "/ingest", "application/json",
     article_json(metadata='{"\\udfff": 1}'), 422, "metadata"),
    ("metadata nested 500 deep", "POST", "/ingest", "application/json",
     article_json(metadata='{"x": ' + "[" * 500 + "]" * 500 + "}"), 422, "metadata"),
    ("a body nested 30,000 deep", "POST", "/ingest", "application/json",
     "[" * 30_000 + "]" * 30_000, 400, None),
    ("an NDJSON line nested 30,000 deep", "POST", "/ingest", "application/x-ndjson",
     "[" * 30_000 + "]" * 30_000, 400, None),
    ("text with a lone surrogate", "POST", "/ingest", "application/json",
     article_json(text='"half a pair \\ud83d and more words"'), 422, "text"),
    ("an IPv6 literal URL", "POST", "/ingest", "application/json",
     article_json(url='"https://[::1]/a"'), 422, "url"),
    ("a host holding a fullwidth solidus", "POST", "/ingest", "application/json",
     article_json(url='"https://example.org\\uff0fevil/a"'), 422, "url"),
    ("a URL with a leading space", "POST", "/ingest", "application/json",
     article_json(url='" https://example.org/a"'), 422, "url"),
    ("February 30th", "POST", "/ingest", "application/json",
     article_json(published_at='"2016-02-30T00:00:00Z"'), 422, "published_at"),
    ("a language tag of 35 letters", "POST", "/ingest", "application/json",
     article_json(language='"' + "x" * 35 + '"'), 422, "language"),
    ("a number as the text", "POST", "/ingest", "application/json",
     article_json(text="42"), 422, "text"),
    ("an empty batch", "POST", "/ingest", "application/json", '{"articles": []}', 422,
     "articles"),
    ("a body past the limit", "POST", "/ingest", "application/json",
     article_json(text='"' + "a" * MAX_BODY + '"'), 413, None),
    ("text/plain", "POST", "/ingest", "text/plain", TEXT, 415, None),
    ("invalid UTF-8", "POST", "/ingest", "application/json", b'{"url": "\xff\xfe"}', 422, "url"),
    ("a similar limit sent as a string", "POST", "/similar", "application/json",
     f'{{"text": "{TEXT}", "limit": "5"}}', 422, "limit"),
    ("a similar limit of true", "POST", "/similar", "application/json",
     f'{{"text": "{TEXT}", "limit": true}}', 422, "limit"),
    ("a similar limit of 5.5", "POST", "/similar", "application/json",
     f'{{"text": "{TEXT}", "limit": 5.5}}', 422, "limit"),
    ("a cursor with a plus sign", "GET", "/documents?after=%2B5", None, None, 422, None),
    ("a cursor in Arabic-Indic digits", "GET", "/documents?after=%D9%A5", None, None, 422, None),
    ("a cursor with an underscore", "GET", "/documents?limit=1_0", None, None, 422, None),
    ("a cursor past 2**62", "GET", "/documents?after=99999999999999999999", None, None, 422,
     None),
    ("an empty cursor", "GET", "/documents?after=", None, None, 422, None),
    ("a method no route has", "PATCH", "/ingest", "application/json", "{}", 405, None),
    ("a path no route has", "GET", "/documents/doc_x/../../etc/passwd", None, None, 404, None),
]


@pytest.mark.parametrize(("method", "path", "content_type", "body", "status", "field"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
async def test_hostile_input_is_a_clear_4xx(
    hostile: TestClient, method: str, path: str, content_type: str | None,
    body: str | bytes | None, status: int, field: str | None,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    data = body.encode() if isinstance(body, str) else body
    response = await hostile.request(method, path, data=data, headers=headers)
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/problem+json", text
    assert not any(word in text for word in SQL_WORDS), text
    problem = await response.json()
    assert problem["status"] == status and problem["type"].startswith("https://")
    if field is not None:
        assert any(error["field"].split(".")[-1].startswith(field)
                   for error in problem.get("errors") or []), problem
    if status == 405:
        assert "POST" in response.headers["Allow"]
    # The service keeps serving, and nothing was stored by the refusal.
    assert (await hostile.get("/readyz")).status == 200
    feed = await (await hostile.get("/documents")).json()
    assert feed["documents"] == []


async def test_a_valid_integer_limit_written_as_a_float_is_served(hostile: TestClient) -> None:
    response = await hostile.post("/similar", json={"text": TEXT, "limit": 5.0})
    assert response.status == 200, await response.text()


async def test_twenty_identical_posts_at_once_are_processed_exactly_once(
    hostile: TestClient,
) -> None:
    article = {"url": "https://example.org/same", "text": TEXT}
    responses = await asyncio.gather(*(hostile.post("/ingest", json=article)
                                       for _ in range(20)))
    assert {r.status for r in responses} == {202}
    ids = {(await r.json())["ingest_id"] for r in responses}
    assert len(ids) == 1
    (status_url,) = {(await r.json())["status_url"] for r in responses}

    async def done() -> dict:
        while (status := await (await hostile.get(status_url)).json())["status"] != "done":  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return status

    status = await asyncio.wait_for(done(), 120)
    assert status["attempts"] == 1, status
    feed = await (await hostile.get("/documents")).json()
    assert len(feed["documents"]) == 1
    assert feed["documents"][0]["provenance_count"] == 1


@hypothesis_settings(max_examples=300, derandomize=True, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(URL_PATTERN, fullmatch=True))
def test_every_url_the_spec_allows_is_accepted(url: str) -> None:
    # The other direction holds by construction: the validator checks this very pattern.
    assert ArticleIn(url=url, text=TEXT).url
