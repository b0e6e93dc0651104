"""Every bad input gets its 4xx as Problem Details naming the field; nothing yields a 500."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient

from canonry.service.keys import QUEUE, SETTINGS
from canonry.service.worker_process import drained
from canonry.workers.identity import content_hash, ingest_id_for


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Validation happens before any storage: one backend is enough here (test_api runs both)."""
    return str(request.param)


ARTICLE = {"url": "https://example.org/a", "text": "A sentence long enough to be an article body "
           "survives cleaning. It has two sentences, and a third one too, for good measure."}


def with_(**changes: object) -> dict:
    article = {**ARTICLE, **changes}
    return {k: v for k, v in article.items() if v is not None}


async def check_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["status"] == status
    assert body["title"] and body["type"]
    if field is not None:
        assert field in [error["field"] for error in body["errors"]], body
    return body


async def test_invalid_json_is_400(client: TestClient) -> None:
    response = await client.post("/ingest", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
    await check_problem(response, 400)


async def test_invalid_ndjson_line_is_400(client: TestClient) -> None:
    body = json.dumps(ARTICLE) + "\n{oops\n"
    response = await client.post("/ingest", data=body,
                                 headers={"Content-Type": "application/x-ndjson"})
    problem = await check_problem(response, 400)
    assert "line 2" in problem["detail"]


async def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = await client.post("/ingest", data=json.dumps(ARTICLE),
                                 headers={"Content-Type": "text/plain"})
    await check_problem(response, 415)


async def test_too_large_body_is_413(client: TestClient) -> None:
    limit = client.app[SETTINGS].max_body_bytes
    big = with_(text="word " * (limit // 5 + 10))
    response = await client.post("/ingest", json=big)
    await check_problem(response, 413)


@pytest.mark.parametrize(
    ("article", "field"),
    [
        ({"text": ARTICLE["text"]}, "url"),
        (with_(url="ftp://example.org/a"), "url"),
        (with_(url="/relative/path"), "url"),
        (with_(url="https://"), "url"),
        (with_(text=None), "body"),
        (with_(text="   "), "body"),
        (with_(published_at="11 Feb 2016"), "published_at"),
        (with_(published_at="2016-02-11"), "published_at"),
        (with_(published_at="2016-02-11T09:30:00 UTC"), "published_at"),  # ISO with a zone name
        (with_(text="\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
                    "\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"), "text"),  # a PNG header
        (with_(title="\x00" * 20 + "x"), "title"),  # NUL-heavy
        (with_(language="not a tag!"), "language"),
        (with_(metadata=["not", "an", "object"]), "metadata"),
        (with_(text=12345), "text"),
    ],
)
async def test_invalid_article_is_422_naming_the_field(
    client: TestClient, article: dict, field: str
) -> None:
    await check_problem(await client.post("/ingest", json=article), 422, field)


async def test_invalid_utf8_in_text_is_422(client: TestClient) -> None:
    raw = b'{"url": "https://example.org/a", "text": "caf\xe9 \xff\xfe binary"}'
    response = await client.post("/ingest", data=raw, headers={"Content-Type": "application/json"})
    await check_problem(response, 422, "text")


async def test_lone_surrogate_escape_is_422(client: TestClient) -> None:
    raw = b'{"url": "https://example.org/a", "text": "bad \\ud800 escape"}'
    response = await client.post("/ingest", data=raw, headers={"Content-Type": "application/json"})
    await check_problem(response, 422, "text")


async def test_empty_after_cleaning_is_accepted_then_failed_with_its_reason(
    client: TestClient
) -> None:
    """Acceptance is cheap (no cleaning in the API): the worker finds the page is all chrome."""
    article = with_(text="Connect with us\n\nRead Comments\n\nNo Comments")
    response = await client.post("/ingest", json=article)
    assert response.status == 202
    receipt = await response.json()
    await drained(client.app[QUEUE])
    status = await (await client.get(receipt["status_url"])).json()
    assert status["status"] == "failed" and status["attempts"] == 1
    assert status["error"]["code"] == "empty_after_cleaning"
    assert "boilerplate" in status["error"]["message"]


async def test_a_one_paragraph_wire_story_is_done_not_empty(client: TestClient) -> None:
    """RSS `content` without line breaks (issue 9) used to end `empty_after_cleaning`."""
    from tests.test_oneblock import WIRE_STORY

    response = await client.post("/ingest", json=with_(text=WIRE_STORY))
    assert response.status == 202
    await drained(client.app[QUEUE])
    status = await (await client.get((await response.json())["status_url"])).json()
    assert status["status"] == "done", status
    document = await (await client.get(f"/documents/{status['document_id']}")).json()
    assert " ".join(document["text"].split()) == " ".join(WIRE_STORY.split())


async def test_batch_with_one_bad_article_is_rejected_whole(client: TestClient) -> None:
    batch = {"articles": [ARTICLE, with_(url="nope"), with_(url="https://example.org/b")]}
    problem = await check_problem(await client.post("/ingest", json=batch), 422, "articles[1].url")
    assert len(problem["errors"]) == 1
    # Nothing of the batch was accepted, not even the valid first article.
    first_id = ingest_id_for(ARTICLE["url"], content_hash(ARTICLE["text"], None))
    assert (await client.get(f"/ingest/{first_id}")).status == 404


async def test_non_object_article_is_422(client: TestClient) -> None:
    await check_problem(await client.post("/ingest", json={"articles": [ARTICLE, 7]}), 422,
                        "articles[1]")


@pytest.mark.parametrize("path", ["/ingest/ing_nope", "/documents/doc_nope",
                                  "/documents/doc_nope/provenance", "/lookup?url=https://x.org/",
                                  "/no/such/route"])
async def test_unknown_ids_are_404(client: TestClient, path: str) -> None:
    await check_problem(await client.get(path), 404)


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "after=-1", "limit=100000"])
async def test_bad_feed_parameters_are_422(client: TestClient, query: str) -> None:
    await check_problem(await client.get(f"/documents?{query}"), 422)


async def test_wrong_method_is_405(client: TestClient) -> None:
    await check_problem(await client.delete("/ingest"), 405)
