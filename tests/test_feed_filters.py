"""GET /documents filtered by source, language and first-seen time, combined with the cursor
(issue 11). conftest's `backend` runs each test on the embedded default, PostgreSQL, and
PostgreSQL + Redis."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests import synthetic
from tests.test_documents_api import get, ingest


async def page(client: TestClient, **params: Any) -> dict[str, Any]:
    return await get(client, "/documents?" + "&".join(f"{k}={v}" for k, v in params.items()))


async def follow(client: TestClient, limit: int = 2, **params: Any) -> list[str]:
    """Every document of a filtered feed, read in pages of `limit` until one comes back empty."""
    seen, after = [], 0
    while True:
        body = await page(client, after=after, limit=limit, **params)
        seen += [d["id"] for d in body["documents"]]
        assert int(body["next"]) >= after
        if not body["documents"]:
            return seen
        after = int(body["next"])


@pytest.fixture
async def mixed(client: TestClient) -> dict[str, list[str]]:
    """Seven stories from three sources in two languages, posted in an interleaved order."""
    posts = [("alpha.example", "en"), ("beta.example", "en-GB"), ("alpha.example", "fr"),
             ("gamma.example", "en"), ("alpha.example", "en"), ("beta.example", "fr"),
             ("alpha.example", "EN-us")]
    ids: dict[str, list[str]] = {}
    for number, (source, language) in enumerate(posts):
        status = await ingest(client, f"https://{source}/{number}", synthetic.story(800 + number),
                              source=source, language=language)
        ids.setdefault(source, []).append(status["document_id"])
        ids.setdefault(language.lower().split("-")[0], []).append(status["document_id"])
        ids.setdefault("all", []).append(status["document_id"])
    return ids


async def test_source_filter_pages_through_its_documents_only(
    client: TestClient, mixed: dict[str, list[str]]
) -> None:
    assert await follow(client, source="alpha.example") == mixed["alpha.example"]
    assert await follow(client, source="beta.example", limit=1) == mixed["beta.example"]
    assert await follow(client, source="nobody.example") == []


async def test_language_filter_takes_regional_forms(
    client: TestClient, mixed: dict[str, list[str]]
) -> None:
    assert await follow(client, language="en") == mixed["en"]
    assert await follow(client, language="fr") == mixed["fr"]
    assert await follow(client, language="en-GB") == [mixed["beta.example"][0]]


async def test_filters_combine(client: TestClient, mixed: dict[str, list[str]]) -> None:
    both = [d for d in mixed["alpha.example"] if d in mixed["en"]]
    assert len(both) == 3
    assert await follow(client, source="alpha.example", language="en") == both


async def test_since_filters_by_first_seen(client: TestClient, mixed: dict[str, list[str]]
                                           ) -> None:
    documents = (await page(client, limit=100))["documents"]
    assert [d["id"] for d in documents] == mixed["all"]
    fourth = documents[3]["first_seen_at"]
    expected = [d["id"] for d in documents if d["first_seen_at"] >= fourth]
    assert 0 < len(expected) < len(documents)
    assert await follow(client, since=fourth.replace("+00:00", "Z")) == expected
    assert await follow(client, since="2000-01-01 00:00:00") == mixed["all"]
    assert await follow(client, since="Thu, 24 Jun 2100 05:19:00 GMT") == []


async def test_a_filtered_page_moves_the_cursor_past_what_it_left_out(
    client: TestClient, mixed: dict[str, list[str]]
) -> None:
    head = int((await page(client, limit=100))["next"])
    empty = await page(client, source="nobody.example")
    assert empty["documents"] == [] and int(empty["next"]) == head
    # A full page stops at its last document: what follows it is still to be read.
    first = await page(client, source="alpha.example", limit=1)
    assert [d["id"] for d in first["documents"]] == mixed["alpha.example"][:1]
    assert int(first["next"]) < head
    # A later document of the source is found after a cursor moved past non-matching ones.
    later = await ingest(client, "https://gamma.example/late", synthetic.story(899),
                         source="gamma.example")
    again = await page(client, source="gamma.example", after=head)
    assert [d["id"] for d in again["documents"]] == [later["document_id"]]


@pytest.mark.parametrize("query, field", [
    ("source=", "source"), ("source=" + "x" * 501, "source"), ("source=a%00b", "source"),
    ("source=a%0Ab", "source"), ("language=english", "language"),
    ("language=en_US", "language"), ("since=yesterday", "since"), ("since=2021-02-30T00:00:00Z",
                                                                    "since"),
])
async def test_bad_filters_are_422_naming_the_parameter(client: TestClient, query: str,
                                                        field: str) -> None:
    response = await client.get("/documents?" + query)
    assert response.status == 422
    body = await response.json()
    assert f"`{field}`" in body["detail"]
