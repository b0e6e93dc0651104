"""GET /lookup by any spelling of a URL and by the addresses pages declare for themselves, and the
worker's "known URL" judged in the same normal form (issue 11). conftest's `backend` runs each
test on the embedded default, PostgreSQL, and PostgreSQL + Redis."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests import synthetic
from tests.test_documents_api import get, ingest

URL = "https://www.news.example/world/2021/06/24/ceasefire?id=7"
VARIANTS = [
    "https://www.news.example/world/2021/06/24/ceasefire?id=7",
    "HTTPS://WWW.NEWS.EXAMPLE/world/2021/06/24/ceasefire?id=7",
    "http://news.example/world/2021/06/24/ceasefire?id=7",
    "https://www.news.example:443/world/2021/06/24/ceasefire/?id=7",
    "https://www.news.example/world/2021/06/24/ceasefire?id=7#comments",
    "https://www.news.example/world/2021/06/24/ceasefire?utm_source=newsletter&id=7"
    "&fbclid=IwAR2x&utm_medium=email",
    "https://www.news.example/world/2021/06/24/ceasefire?gclid=abc&id=7&mc_cid=9&ocid=msn",
]


async def lookup(client: TestClient, url: str) -> tuple[int, dict[str, Any]]:
    response = await client.get("/lookup", params={"url": url})
    return response.status, await response.json()


def html_page(body_text: str, head: str) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body_text.split("\n\n"))
    return (f"<html><head><title>Story</title>{head}</head><body><nav>Home | World</nav>"
            f"<article>{paragraphs}</article><footer>© News</footer></body></html>")


async def test_every_spelling_of_the_url_finds_the_document(client: TestClient) -> None:
    status = await ingest(client, URL, synthetic.story(701))
    for variant in VARIANTS:
        code, found = await lookup(client, variant)
        assert code == 200, (variant, found)
        assert found["document_id"] == status["document_id"], variant
        assert found["matched_by"] == "url"
        assert found["ingest_ids"] == [status["ingest_id"]]
        assert found["url"] == variant
        assert found["normalized_url"] == "https://news.example/world/2021/06/24/ceasefire?id=7"
    # A parameter that names the page is not a tracking parameter; nor is the path's case.
    for other in ["https://www.news.example/world/2021/06/24/ceasefire?id=8",
                  "https://www.news.example/World/2021/06/24/ceasefire?id=7"]:
        code, body = await lookup(client, other)
        assert code == 404 and body["type"].endswith("url-not-found"), other


async def test_an_amp_page_is_found_by_the_canonical_it_declares(client: TestClient) -> None:
    canonical = "https://daily.example/politics/budget-vote"
    head = (f'<link rel="canonical" href="{canonical}">'
            f'<meta property="og:url" content="{canonical}?ref=og">')
    status = await ingest(client, "https://amp.daily.example/politics/budget-vote/amp",
                          synthetic.story(702), html=html_page(synthetic.story(702), head))
    for asked in [canonical, "HTTPS://Daily.Example/politics/budget-vote",
                  canonical + "/?utm_campaign=x", "http://www.daily.example/politics/budget-vote#top"]:
        code, found = await lookup(client, asked)
        assert code == 200, (asked, found)
        assert found["document_id"] == status["document_id"]
        assert found["matched_by"] == "canonical", asked
    code, found = await lookup(client, canonical + "?ref=og")
    assert code == 200 and found["matched_by"] == "og:url"
    document = await get(client, f"/documents/{status['document_id']}")
    assert document["aliases"] == [canonical, canonical + "?ref=og"]
    # The feed carries the aliases too.
    feed = await get(client, "/documents?limit=1000")
    assert [d["aliases"] for d in feed["documents"] if d["id"] == status["document_id"]] == [
        [canonical, canonical + "?ref=og"]]


async def test_a_canonical_page_is_found_by_its_amp_version(client: TestClient) -> None:
    amp = "https://amp.daily.example/sport/final/amp"
    text = synthetic.story(703)
    status = await ingest(client, "https://daily.example/sport/final", text,
                          html=html_page(text, f'<link rel="amphtml" href="{amp}">'))
    code, found = await lookup(client, amp)
    assert code == 200 and found["document_id"] == status["document_id"]
    assert found["matched_by"] == "amphtml"


async def test_a_copys_own_url_outranks_a_link_another_page_declares(client: TestClient) -> None:
    # A syndicator's page declares the original's address as its canonical before the original
    # arrives; the original, once sent, is what its own URL finds.
    original_url = "https://wire.example/story/704"
    text = synthetic.story(704)
    copy_text = synthetic.syndicated_copy(text, 1)
    copy = await ingest(client, "https://portal.example/wire/704", copy_text,
                        html=html_page(copy_text, f'<link rel="canonical" href="{original_url}">'))
    code, found = await lookup(client, original_url)
    assert code == 200 and found["matched_by"] == "canonical"
    assert found["ingest_ids"] == [copy["ingest_id"]]
    unrelated = await ingest(client, original_url, synthetic.story(705))  # a different story
    assert unrelated["document_id"] != copy["document_id"]
    code, found = await lookup(client, original_url)
    assert code == 200 and found["matched_by"] == "url"
    assert found["document_id"] == unrelated["document_id"]


async def test_a_home_page_canonical_is_no_alias(client: TestClient) -> None:
    status = await ingest(client, "https://blog.example/2021/post", synthetic.story(706),
                          html=html_page(synthetic.story(706),
                                         '<link rel="canonical" href="https://blog.example/">'))
    code, _ = await lookup(client, "https://blog.example/")
    assert code == 404
    document = await get(client, f"/documents/{status['document_id']}")
    assert document["aliases"] == []


async def test_a_tracking_variant_of_a_known_url_is_that_url(client: TestClient) -> None:
    # The publisher rewrites half of its story (too changed to be a copy): at the same URL that
    # is a new version of the document, also when the poller's URL carries tracking parameters.
    url = "https://publisher.example/2024/rewritten"
    paragraphs = synthetic.story(707).split("\n\n")
    first = await ingest(client, url, "\n\n".join(paragraphs))
    rewritten = paragraphs[:3] + synthetic.story(708).split("\n\n")[:3]
    update = await ingest(client, "http://Publisher.Example/2024/rewritten/?utm_source=rss",
                          "\n\n".join(rewritten))
    assert update["document_id"] == first["document_id"]
    document = await get(client, f"/documents/{first['document_id']}")
    assert document["version"] == 2 and rewritten[-1] in document["text"]


@pytest.mark.parametrize("url", ["", "not a url", "https://unknown.example/x"])
async def test_unknown_or_malformed_urls_are_not_found(client: TestClient, url: str) -> None:
    response = await client.get("/lookup", params={"url": url})
    assert response.status in (404, 422)
    body = await response.json()
    assert body["status"] == response.status
