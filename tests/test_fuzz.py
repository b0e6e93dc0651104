"""Nothing a client sends yields a 500: arbitrary JSON bodies, byte strings and query values
through the real app (embedded backend: validation happens before any storage)."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIELDS = ["url", "text", "html", "title", "source", "published_at", "language", "metadata"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=40))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
articles = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)
bodies = st.one_of(values, articles, st.fixed_dictionaries({"articles": st.lists(articles,
                                                                                 max_size=3)}))
fuzz = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@fuzz
@given(body=bodies)
async def test_any_json_body_gets_a_non_500_answer(client: TestClient, body: object) -> None:
    response = await client.post("/ingest", data=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
    assert response.status in {202, 400, 413, 415, 422}, await response.text()


@fuzz
@given(raw=st.binary(max_size=200),
       content_type=st.sampled_from(["application/json", "application/x-ndjson", "text/plain"]))
async def test_any_bytes_get_a_non_500_answer(
    client: TestClient, raw: bytes, content_type: str
) -> None:
    response = await client.post("/ingest", data=raw, headers={"Content-Type": content_type})
    assert response.status in {202, 400, 413, 415, 422}, await response.text()


@fuzz
@given(value=st.text(max_size=30),
       path=st.sampled_from(["/documents", "/documents/doc_x/provenance", "/lookup",
                             "/documents/doc_x"]),
       name=st.sampled_from(["after", "limit", "url", "provenance_limit"]))
async def test_any_query_value_gets_a_non_500_answer(
    client: TestClient, path: str, name: str, value: str
) -> None:
    response = await client.get(path, params={name: value})
    assert response.status < 500, await response.text()
