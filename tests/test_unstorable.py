"""Input no backend can store is a 422 naming the field, the same on SQLite and PostgreSQL;
a lookup of what cannot exist is a 404; no response body carries SQL (conftest's `backend`
runs every test on the embedded default, PostgreSQL, and PostgreSQL + Redis)."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from canonry.service.keys import QUEUE
from canonry.service.worker_process import drained

ARTICLE = {"url": "https://example.org/a", "text": "A sentence long enough to be an article body "
           "survives cleaning. It has two sentences, and a third one too, for good measure."}
CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f]")
SQL_WORDS = ("INSERT", "SELECT", "asyncpg", "sqlalchemy", "Traceback")


async def problem(response, status: int) -> dict:
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/problem+json"
    assert not any(word in text for word in SQL_WORDS), text
    return await response.json()


@pytest.mark.parametrize(("field", "value"), [
    ("url", "https://example.org/a\x00b"),
    ("url", "https://example.org/a b"),
    ("url", "https://example.org/a\nb"),
    ("url", "https://example.org:99999/a"),
    ("published_at", "9999-12-31T23:59:59-12:00"),
    ("published_at", "0001-01-01T00:00:00+14:00"),
    ("metadata", {"note": "nul \x00 inside"}),
    ("metadata", {"bad\x00key": 1}),
])
async def test_unstorable_values_are_422_naming_the_field(
    client: TestClient, field: str, value: object
) -> None:
    response = await client.post("/ingest", json={**ARTICLE, field: value})
    body = await problem(response, 422)
    assert any(error["field"].startswith(field) for error in body["errors"]), body


async def test_one_unstorable_article_refuses_its_batch_with_its_position(
    client: TestClient,
) -> None:
    articles = [ARTICLE, {**ARTICLE, "url": "https://example.org/b\x00"}]
    body = await problem(await client.post("/ingest", json={"articles": articles}), 422)
    assert [e["field"] for e in body["errors"]] == ["articles[1].url"]
    # Nothing was accepted: the valid article is still unknown.
    assert (await client.post("/ingest", json={"articles": [ARTICLE]})).status == 202


async def test_credentials_in_a_url_are_not_stored(client: TestClient) -> None:
    response = await client.post("/ingest", json={**ARTICLE,
                                                  "url": "https://user:secret@Example.org:8443/a?q#f"})
    assert response.status == 202, await response.text()
    status = await (await client.get((await response.json())["status_url"])).json()
    assert status["url"] == "https://Example.org:8443/a?q#f"


async def test_head_answers_on_get_routes(client: TestClient) -> None:
    response = await client.head("/healthz")
    assert response.status == 200
    assert await response.read() == b""


async def test_a_body_that_is_not_its_content_encoding_is_400(client: TestClient) -> None:
    response = await client.post("/ingest", data=b'{"url": "https://example.org/a"}', headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    body = await problem(response, 400)
    assert body["type"].endswith("/unreadable-body")


@pytest.mark.parametrize("path", [
    "/ingest/ing_%00", "/documents/doc_%00", "/documents/doc_%00/provenance",
    "/lookup?url=https://example.org/%00", "/lookup?url=https://example.org/a%00b",
])
async def test_ids_and_urls_that_cannot_exist_are_404(client: TestClient, path: str) -> None:
    await problem(await client.get(path), 404)


STRAY = "Stray\x08 controls \x1bin a page\x00 are dropped. "


async def _done_document(client: TestClient, status_url: str) -> dict:
    await drained(client.app[QUEUE])
    status = await (await client.get(status_url)).json()
    assert status["status"] == "done", status
    return await (await client.get(f"/documents/{status['document_id']}")).json()


@pytest.mark.parametrize("control", ["\x08", "\x1b", "\x00", "\x01\x7f\x1f"])
async def test_stray_control_characters_are_dropped_not_refused(
    client: TestClient, control: str
) -> None:
    text = ARTICLE["text"].replace("body ", f"body{control} ") + " " + STRAY + ARTICLE["text"]
    article = {**ARTICLE, "text": text, "title": f"A title{control}"}
    response = await client.post("/ingest", json=article)
    assert response.status == 202, await response.text()
    receipt = await response.json()
    document = await _done_document(client, receipt["status_url"])
    assert not CONTROLS.search(document["text"]) and not CONTROLS.search(document["title"])
    assert "Stray controls in a page are dropped." in document["text"]
    # The ingest id is that of the text without them: the same article again, or sent clean,
    # is the same ingest.
    again = await (await client.post("/ingest", json=article)).json()
    assert again["ingest_id"] == receipt["ingest_id"]
    clean = {**article, "text": CONTROLS.sub("", text), "title": "A title"}
    assert (await (await client.post("/ingest", json=clean)).json())["ingest_id"] == \
        receipt["ingest_id"]


async def test_a_batch_with_stray_controls_is_accepted_whole(client: TestClient) -> None:
    articles = [{**ARTICLE, "url": "https://example.org/b", "html":
                 f"<html><body><p>{STRAY}{ARTICLE['text']}</p></body></html>", "text": None},
                {**ARTICLE, "url": "https://example.org/c", "text": STRAY + ARTICLE["text"]}]
    response = await client.post("/ingest", json={"articles": articles})
    assert response.status == 202, await response.text()
    for receipt in (await response.json())["receipts"]:
        document = await _done_document(client, receipt["status_url"])
        assert not CONTROLS.search(document["text"])


async def test_binary_data_is_still_422_naming_the_field(client: TestClient) -> None:
    png = ("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00"
           "\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\nIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01")
    articles = [ARTICLE, {**ARTICLE, "url": "https://example.org/png", "text": png}]
    body = await problem(await client.post("/ingest", json={"articles": articles}), 422)
    assert [e["field"] for e in body["errors"]] == ["articles[1].text"]
    assert "binary data" in body["errors"][0]["message"]
