"""Documents as consumers read them (issue 11): `published_at` in the shapes feeds send, stored
as one UTC instant; a document's date is its earliest copy's; `metadata` is returned as given —
the canonical article's on the document, each copy's own on its provenance entry. conftest's
`backend` runs each API test on the embedded default, PostgreSQL, and PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from canonry.schemas.api import DATE_TIME_PATTERN, ArticleIn
from canonry.service.openapi import build_spec
from tests import synthetic

STORY = synthetic.story(3, paragraphs=4)
LONGER = "\n\n".join([STORY, synthetic.story(4, paragraphs=3)])  # upgrades STORY (test_upgrades)
INSTANT = datetime(2021, 6, 24, 5, 19, tzinfo=UTC)
# One instant in the three shapes, each with a different offset.
SHAPES = ["2021-06-24T07:19:00+02:00", "2021-06-24 05:19:00", "Thu, 24 Jun 2021 01:19:00 EDT"]


async def ingest(client: TestClient, url: str, text: str, **fields: Any) -> dict[str, Any]:
    """Post one article and wait (bounded) until a worker has processed it."""
    response = await client.post("/ingest", json={"url": url, "text": text, **fields})
    assert response.status == 202, await response.text()
    status_url = (await response.json())["status_url"]

    async def done() -> dict[str, Any]:
        while (status := await (await client.get(status_url)).json())["status"] != "done":
            assert status["status"] != "failed", status
            await asyncio.sleep(0.02)
        return status

    return await asyncio.wait_for(done(), 60)


async def get(client: TestClient, path: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.json()


def instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def test_the_three_date_shapes_are_one_utc_instant(client: TestClient) -> None:
    statuses = [await ingest(client, f"https://s{n}.example/story", STORY, published_at=shape)
                for n, shape in enumerate(SHAPES)]
    document_id = statuses[0]["document_id"]
    assert {s["document_id"] for s in statuses} == {document_id}
    document = await get(client, f"/documents/{document_id}")
    by_ingest = {row["ingest_id"]: row for row in document["provenance"]}
    for status, shape in zip(statuses, SHAPES, strict=True):
        stored = by_ingest[status["ingest_id"]]["published_at"]
        assert instant(stored) == INSTANT, (shape, stored)
        assert stored.endswith(("Z", "+00:00")), stored  # served in UTC
    assert instant(document["published_at"]) == INSTANT


@pytest.mark.parametrize("value", [
    "garbage", "2021-06-24", "24 Jun 2021", "2021-02-30 05:19:00", "2019-02-29T00:00:00Z",
    "Thu, 31 Jun 2021 05:19:00 GMT", "Thu, 24 Jun 2021 05:19:00 XYZ", "2021-06-24T25:00:00Z",
    "2021-06-24T05:19:00+24:00", "2021-06-24T05:19:00Z\n", 1624511940,
])
async def test_other_dates_are_422_naming_published_at_and_the_shapes(
    client: TestClient, value: object
) -> None:
    response = await client.post("/ingest", json={"url": "https://example.org/a", "text": STORY,
                                                  "published_at": value})
    assert response.status == 422, await response.text()
    (error,) = (await response.json())["errors"]
    assert error["field"] == "published_at"
    assert "RFC 2822" in error["message"] and "no offset: UTC" in error["message"], error


async def test_metadata_is_returned_as_given(client: TestClient) -> None:
    founding = {"feed": "wire", "tags": ["a", "b"], "nested": {"z": 1, "a": None, "x": 1.5}}
    copy = {"feed": "aggregator", "rank": 3}
    first = await ingest(client, "https://origin.example/story", STORY, metadata=founding)
    second = await ingest(client, "https://copy.example/story", STORY, metadata=copy)
    third = await ingest(client, "https://bare.example/story", STORY)
    document_id = first["document_id"]
    assert {second["document_id"], third["document_id"]} == {document_id}
    own = {first["ingest_id"]: founding, second["ingest_id"]: copy, third["ingest_id"]: None}

    document = await get(client, f"/documents/{document_id}")
    assert document["metadata"] == founding
    assert list(document["metadata"]["nested"]) == ["z", "a", "x"]  # as given, order too
    assert {row["ingest_id"]: row["metadata"] for row in document["provenance"]} == own
    page = await get(client, f"/documents/{document_id}/provenance")
    assert {row["ingest_id"]: row["metadata"] for row in page["provenance"]} == own
    (fed,) = (await get(client, "/documents?limit=10"))["documents"]
    assert fed["metadata"] == founding


async def test_metadata_follows_the_canonical_text(client: TestClient) -> None:
    first = await ingest(client, "https://origin.example/story", STORY, metadata={"v": 1})
    fuller = await ingest(client, "https://fuller.example/story", LONGER, metadata={"v": 2})
    assert (fuller["match"], fuller["document_id"]) == ("near", first["document_id"]), fuller
    document = await get(client, f"/documents/{first['document_id']}")
    assert (document["version"], document["metadata"]) == (2, {"v": 2})
    (fed,) = (await get(client, "/documents?limit=10"))["documents"]
    assert fed["metadata"] == {"v": 2}


async def test_a_document_is_dated_by_its_earliest_copy(client: TestClient) -> None:
    first = await ingest(client, "https://a.example/story", STORY,
                         published_at="2021-06-24T10:00:00Z")
    document_id = first["document_id"]

    async def dates() -> tuple[datetime | None, datetime | None]:
        document = await get(client, f"/documents/{document_id}")
        (fed,) = (await get(client, "/documents?limit=10"))["documents"]
        return instant(document["published_at"]), instant(fed["published_at"])

    assert await dates() == (datetime(2021, 6, 24, 10, tzinfo=UTC),) * 2
    feed_before = await get(client, "/documents?limit=10")
    # A copy sent later with an earlier date, then one later still and one with none.
    await ingest(client, "https://b.example/story", STORY,
                 published_at="Thu, 24 Jun 2021 08:00:00 GMT")
    assert await dates() == (datetime(2021, 6, 24, 8, tzinfo=UTC),) * 2
    # The change moved the document up the feed, so a consumer following it sees the new date.
    after = (await get(client, f"/documents?after={feed_before['next']}"))["documents"]
    assert [(d["id"], instant(d["published_at"])) for d in after] == [
        (document_id, datetime(2021, 6, 24, 8, tzinfo=UTC))]
    await ingest(client, "https://c.example/story", STORY, published_at="2021-06-25 00:00:00")
    await ingest(client, "https://d.example/story", STORY)
    assert await dates() == (datetime(2021, 6, 24, 8, tzinfo=UTC),) * 2


@pytest.mark.parametrize(("value", "expected"), [
    ("2021-06-24T05:19Z", INSTANT),
    ("2021-06-24t05:19:00.250z", INSTANT.replace(microsecond=250000)),
    ("2021-06-24T05:19:00,123456789+00", INSTANT.replace(microsecond=123456)),  # truncated
    ("2021-06-24T10:49:00+0530", INSTANT),
    ("24 Jun 2021 05:19 -0000", INSTANT),  # -0000: UTC (parsedate_to_datetime: naive)
    ("thu,24 jun 21 05:19:00 ut", INSTANT),  # names in any case; RSS two-digit years
    ("Fri, 24 Jun 55 05:19:00 GMT", datetime(1955, 6, 24, 5, 19, tzinfo=UTC)),  # RFC 2822 4.3
    ("Mon, 24 Jun 2021 00:19:00 EST", INSTANT),  # the weekday is not checked
    ("Sun, 29 Feb 2000 00:00 PST", datetime(2000, 2, 29, 8, tzinfo=UTC)),
])
def test_each_shape_reads_as_its_utc_instant(value: str, expected: datetime) -> None:
    article = ArticleIn(url="https://example.org/a", text=STORY, published_at=value)
    assert article.published_at == expected
    assert article.published_at is not None and article.published_at.tzinfo is UTC


def test_the_spec_publishes_the_pattern_the_validator_checks() -> None:
    spec = build_spec()
    field = spec["components"]["schemas"]["ArticleIn"]["properties"]["published_at"]
    assert {"type": "string", "pattern": DATE_TIME_PATTERN} in field["anyOf"]
    # No `format: date-time`: the field accepts more than RFC 3339.
    assert not any("format" in option for option in field["anyOf"]), field
    assert "without an offset it is UTC" in field["description"]


@hypothesis_settings(max_examples=500, derandomize=True, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(DATE_TIME_PATTERN, fullmatch=True))
def test_every_date_the_spec_allows_is_accepted(value: str) -> None:
    """Only what no pattern can say is refused: an instant past year 9999 (or before 1) in UTC."""
    try:
        article = ArticleIn(url="https://example.org/a", text=STORY, published_at=value)
    except ValueError as error:
        assert "9999" in value or "0001" in value, (value, error)
        assert "outside years 1-9999" in str(error), (value, error)
        return
    assert article.published_at is not None
