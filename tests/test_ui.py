"""The story viewer's pages through the real app (aiohttp test client) on every backend: the
stories list and its searches, a story with its copies and similarities, a copy beside the
canonical, the stripped view, hostile content shown as text, and the browser's key flow."""

from __future__ import annotations

import dataclasses
import re

import lxml.html
import pytest
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from canonry.service.app import create_app
from canonry.service.auth import UI_COOKIE, prefers_html
from canonry.service.config import Settings
from canonry.service.keys import QUEUE
from canonry.service.ui import handlers
from canonry.service.ui.compare import overlap, shingle_set
from canonry.service.ui.session import safe_next, same_origin
from canonry.service.worker_process import drained
from tests import synthetic
from tests.shared_data import seeds
from tests.test_service_quality import syndicated_copy_of_002

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HOSTILE = "<script>alert('owned')</script>"


async def ingest(client: TestClient, *articles: dict) -> list[dict]:
    response = await client.post("/ingest", json={"articles": list(articles)})
    assert response.status == 202, await response.text()
    receipts = (await response.json())["receipts"]
    await drained(client.app[QUEUE])
    return [await (await client.get(r["status_url"])).json() for r in receipts]


async def page(client: TestClient, path: str, **params: str) -> lxml.html.HtmlElement:
    response = await client.get(path, params=params, headers=BROWSER)
    assert response.status == 200, (path, response.status, await response.text())
    assert response.content_type == "text/html"
    assert "script-src" not in response.headers["Content-Security-Policy"]  # no script runs
    return lxml.html.document_fromstring(await response.text())


def classed(node: lxml.html.HtmlElement, name: str, tag: str = "*"
            ) -> list[lxml.html.HtmlElement]:
    return node.xpath(f".//{tag}[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]")


def cell(node: lxml.html.HtmlElement, name: str) -> lxml.html.HtmlElement:
    [found] = classed(node, name)
    return found


def seed_002() -> str:
    return seeds()[2][0].read_text()


async def test_a_story_shows_its_copies_with_their_similarity(client: TestClient) -> None:
    [original] = await ingest(client, {"url": "https://www.digitaljournal.example/world/r",
                                       "text": seed_002()})
    [copy] = await ingest(client, {"url": "https://daily.example/2016/02/11/russia-syria",
                                   "text": syndicated_copy_of_002(),
                                   "source": "The Daily Example"})
    assert copy["document_id"] == original["document_id"] and copy["match"] == "near"
    document_id = original["document_id"]
    document = await (await client.get(f"/documents/{document_id}")).json()

    story = await page(client, f"/ui/stories/{document_id}")
    assert story.findtext(".//h1") == document["title"]
    rows = {tr.get("data-ingest-id"): tr for tr in story.xpath("//table[@id='copies']/tbody/tr")}
    assert set(rows) == {p["ingest_id"] for p in document["provenance"]}
    for entry in document["provenance"]:
        row = rows[entry["ingest_id"]]
        assert cell(row, "match").text_content() == entry["match"]
        shown = cell(row, "similarity").text_content()
        assert shown == ("—" if entry["similarity"] is None else f"{entry['similarity']:.3f}")
        assert entry["source"] in row.text_content()
    # The founding copy's text is the canonical text: identical shingle sets.
    founder = rows[original["ingest_id"]]
    assert cell(founder, "jaccard").text_content() == "1.000"
    assert "canonical text" in founder.text_content()
    copy_jaccard = float(cell(rows[copy["ingest_id"]], "jaccard").text_content())
    assert 0 < copy_jaccard < 1
    assert cell(rows[copy["ingest_id"]], "verifies").text_content() == "yes"

    compare = await page(client, f"/ui/stories/{document_id}/copies/{copy['ingest_id']}")
    canonical, theirs = compare.xpath("//div[@class='compare']/section")
    # The copy dropped the last three paragraphs: they are marked as the canonical's only.
    dropped = [p for p in document["text"].split("\n\n") if p.strip()][-1]
    only = " ".join(m.text_content() for m in classed(canonical, "only", "mark"))
    assert dropped[:60] in only
    # The paragraphs both have are not marked on the copy's side.
    first_paragraph = document["text"].split("\n\n")[0]
    assert first_paragraph[:40] in theirs.text_content()
    assert first_paragraph[:40] not in " ".join(m.text_content()
                                                for m in theirs.xpath(".//mark"))


async def test_the_stripped_view_labels_each_removed_line(client: TestClient) -> None:
    [status] = await ingest(client, {"url": "https://seeds.example/002", "text": seed_002()})
    view = await page(client, f"/ui/ingests/{status['ingest_id']}/stripped")
    lines = view.xpath("//ol[@id='lines']/li")
    verdicts = {li.get("data-verdict") for li in lines}
    assert {"kept", "repeat", "caption", "before-body"} <= verdicts
    kept = [cell(li, "text").text_content() for li in lines
            if li.get("data-verdict") == "kept"]
    document = await (await client.get(f"/documents/{status['document_id']}")).json()
    assert "\n\n".join(kept) == document["text"]  # the kept lines are exactly the stored body
    repeats = [li for li in lines if li.get("data-verdict") == "repeat"]
    assert all("removed: repeat" in li.text_content() for li in repeats)
    # 002 pastes its AFP body twice: the second copy is the repeat.
    assert sum(len(li.text_content()) for li in repeats) > 0.8 * len(document["text"])


async def test_an_html_page_shows_what_the_extractor_left_out(client: TestClient) -> None:
    body = "".join(f"<p>{p}</p>" for p in synthetic.story(41).split("\n\n"))
    html = (f"<html><head><title>Harbour deal</title></head><body><nav><a href='/'>Front "
            f"page</a> <a href='/sport'>Sport desk</a></nav><article><h1>Harbour deal</h1>"
            f"{body}</article><footer>Copyright Example Media Group</footer></body></html>")
    [status] = await ingest(client, {"url": "https://html.example/harbour", "html": html})
    assert status["status"] == "done", status
    view = await page(client, f"/ui/ingests/{status['ingest_id']}/stripped")
    lines = view.xpath("//ol[@id='lines']/li")
    left_out = [cell(li, "text").text_content() for li in lines
                if li.get("data-verdict") == "not-main-content"]
    assert {"Front page Sport desk", "Copyright Example Media Group"} <= set(left_out)
    assert all("removed: not main content (HTML extractor)" in li.text_content()
               for li in lines if li.get("data-verdict") == "not-main-content")
    kept = [cell(li, "text").text_content() for li in lines if li.get("data-verdict") == "kept"]
    document = await (await client.get(f"/documents/{status['document_id']}")).json()
    assert "\n\n".join(kept) == document["text"]
    assert "An HTML page" in view.text_content()


async def test_stored_pages_are_shown_as_text(client: TestClient) -> None:
    body = synthetic.story(77).replace("\n\n", f" {HOSTILE}\n\n", 1)
    [status] = await ingest(client, {"url": "https://evil.example/x", "title": HOSTILE,
                                     "text": body, "source": f"evil {HOSTILE}"})
    assert status["status"] == "done", status
    document_id = status["document_id"]
    for path in ("/ui/", f"/ui/stories/{document_id}",
                 f"/ui/stories/{document_id}/copies/{status['ingest_id']}",
                 f"/ui/ingests/{status['ingest_id']}/stripped"):
        response = await client.get(path, headers=BROWSER)
        text = await response.text()
        assert response.status == 200, (path, text)
        assert "<script" not in text.lower(), path
        assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in text, path
    story = await page(client, f"/ui/stories/{document_id}")
    assert story.findtext(".//h1") == HOSTILE  # shown as the text it is


async def test_stories_are_searched_by_title_words_source_and_url(client: TestClient) -> None:
    titled = [("100% pure orange juice recall", "juice.example"),
              ("100 pure reasons to recall", "other.example"),
              ("Harbour_crane strike ends", "other.example")]
    statuses = []
    for n, (title, source) in enumerate(titled):  # one at a time: changes in this order
        statuses += await ingest(client, {"url": f"https://{source}/{n}", "title": title,
                                          "text": synthetic.story(300 + n), "source": source})
    ids = [s["document_id"] for s in statuses]
    assert len(set(ids)) == 3, statuses

    async def listed(**params: str) -> list[str]:
        view = await page(client, "/ui/", **params)
        return [tr.get("data-document-id") for tr in view.xpath("//table[@id='stories']/tbody/tr")]

    assert await listed() == ids[::-1]  # newest first
    assert await listed(q="100%") == [ids[0]]  # % is a literal, not a wildcard
    assert await listed(q="PURE recall") == [ids[1], ids[0]]
    assert await listed(q="e_j") == []  # _ is a literal too (as a wildcard: "orange juice")
    assert await listed(q="harbour_crane") == [ids[2]]
    assert await listed(source="other.example") == [ids[2], ids[1]]
    assert await listed(q="pure", source="other.example", url="") == [ids[1]]
    # Any spelling of a copy's URL opens its story.
    response = await client.get("/ui/", params={"url": "HTTPS://juice.example:443/0?utm_source=x"},
                                headers=BROWSER, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == f"/ui/stories/{ids[0]}"
    missing = await page(client, "/ui/", url="https://nowhere.example/")
    assert "No document carries this URL" in missing.text_content()
    bad = await client.get("/ui/", params={"q": "a\x00b"}, headers=BROWSER)
    assert bad.status == 422 and bad.content_type == "text/html"
    assert (await client.get("/ui/", params={"q": "a\x00b"})).content_type == (
        "application/problem+json")


async def test_near_misses_show_a_document_below_the_thresholds(client: TestClient) -> None:
    paragraphs = synthetic.story(900).split("\n\n")
    other = synthetic.story(901).split("\n\n")
    # Shares half of the story: an LSH candidate, too little to verify as a copy.
    half = paragraphs[:3] + other[3:]
    [first] = await ingest(client, {"url": "https://a.example/1",
                                    "text": "\n\n".join(paragraphs)})
    [second] = await ingest(client, {"url": "https://b.example/1", "text": "\n\n".join(half)})
    assert first["document_id"] != second["document_id"], "the fixture must not match"
    expected = overlap(shingle_set("\n\n".join(paragraphs)), shingle_set("\n\n".join(half)))
    assert 0.05 < expected.jaccard < 0.4
    story = await page(client, f"/ui/stories/{first['document_id']}")
    near = story.xpath("//table[@id='near']/tbody/tr")
    assert [tr.get("data-document-id") for tr in near][:1] == [second["document_id"]]
    assert near[0].text_content().endswith("no")  # not verified as one story


async def test_every_form_field_has_its_label(client: TestClient) -> None:
    for path in ("/ui/", "/ui/key"):
        view = await page(client, path)
        fields = view.xpath("//input[not(@type='hidden')]")
        assert fields, path
        for field in fields:
            assert view.xpath(f"//label[@for='{field.get('id')}']"), (path, field.get("name"))
        assert view.xpath("//a[@href='#main' and @class='skip']") and view.xpath("//main")


async def test_copies_are_shown_a_page_at_a_time(client: TestClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "COPIES_PAGE", 2)
    text = synthetic.story(55)
    statuses = []
    for n in range(3):
        statuses += await ingest(client, {"url": f"https://wire{n}.example/s", "text": text})
    document_id = statuses[0]["document_id"]
    first = await page(client, f"/ui/stories/{document_id}")
    rows = first.xpath("//table[@id='copies']/tbody/tr")
    assert [tr.get("data-ingest-id") for tr in rows] == [s["ingest_id"] for s in statuses[:2]]
    assert [cell(tr, "match").text_content() for tr in rows] == ["new", "exact"]
    [more] = first.xpath("//a[@rel='next']")
    rest = await page(client, more.get("href"))
    assert [tr.get("data-ingest-id") for tr in rest.xpath("//table[@id='copies']/tbody/tr")
            ] == [statuses[2]["ingest_id"]]
    assert not rest.xpath("//a[@rel='next']")


async def test_unknown_ids_are_404_pages(client: TestClient) -> None:
    for path in ("/ui/stories/doc_nope", "/ui/stories/doc_nope/copies/ing_nope",
                 "/ui/ingests/ing_nope/stripped"):
        response = await client.get(path, headers=BROWSER)
        assert response.status == 404 and response.content_type == "text/html", path
        api = await client.get(path)
        assert api.status == 404 and api.content_type == "application/problem+json", path


async def test_root_sends_browsers_to_the_viewer_and_clients_to_json(client: TestClient) -> None:
    response = await client.get("/", headers=BROWSER, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/ui/"
    index = await (await client.get("/")).json()
    assert index["docs"] == "/docs" and index["viewer"] == "/ui/"
    assert (await (await client.get("/", headers={"Accept": "application/json"})).json())
    both = {"Accept": "application/json, text/html;q=0.5"}
    assert (await client.get("/", headers=both, allow_redirects=False)).status == 200


async def test_a_browser_enters_its_key_once_in_a_form(settings: Settings) -> None:
    read_key, ingest_key = "viewer-read-key-0123456789", "viewer-ingest-key-0123456789"
    keyed = dataclasses.replace(settings, api_keys=f"{read_key}=read,{ingest_key}=ingest")
    async with TestClient(TestServer(create_app(keyed))) as client:
        # Without a key: a browser is sent to the form, any other client gets the 401.
        response = await client.get("/ui/", params={"q": "x"}, headers=BROWSER,
                                    allow_redirects=False)
        assert response.status == 303
        location = response.headers["Location"]
        assert location.startswith("/ui/key?next=")
        api = await client.get("/ui/")
        assert api.status == 401 and api.content_type == "application/problem+json"
        # `/` with no key still sends a browser to the viewer (whose pages ask for the key).
        root = await client.get("/", headers=BROWSER, allow_redirects=False)
        assert root.status == 303 and root.headers["Location"] == "/ui/"
        assert (await client.get("/")).status == 401

        form = await page(client, location)
        assert form.xpath("//input[@name='key'][@type='password']")
        next_path = form.xpath("//input[@name='next']")[0].get("value")
        assert next_path == "/ui/?q=x"
        for wrong, why in (("not-a-key-at-all-000", "not valid"),
                           (ingest_key, "lacks the `read` scope"), ("", "Enter an API key")):
            answer = await client.post("/ui/key", data={"key": wrong, "next": next_path},
                                       allow_redirects=False)
            assert answer.status == 200 and why in await answer.text()
            assert UI_COOKIE not in answer.cookies
            if wrong:
                assert wrong not in await answer.text()  # never echoed
        assert (await client.post("/ui/key", json={"key": read_key})).status == 415
        # Another site cannot post a key into this browser.
        forged = await client.post("/ui/key", data={"key": read_key},
                                   headers={"Origin": "https://evil.example"},
                                   allow_redirects=False)
        assert forged.status == 403
        answer = await client.post("/ui/key", data={"key": read_key, "next": next_path},
                                   headers={"Origin": f"http://{client.host}:{client.port}"},
                                   allow_redirects=False)
        assert answer.status == 303 and answer.headers["Location"] == next_path
        cookie = answer.headers["Set-Cookie"]
        assert re.search(r"HttpOnly", cookie, re.I) and "SameSite=Strict" in cookie
        assert "Path=/ui" in cookie and "Max-Age" not in cookie and "expires" not in cookie
        assert read_key not in answer.headers["Location"]
        # The cookie opens the viewer's pages (the client's jar keeps it) ...
        view = await page(client, "/ui/")
        assert view.xpath("//form[@action='/ui/logout']")
        # ... and nothing else: the API still wants the header.
        assert (await client.get("/documents")).status == 401
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({UI_COOKIE: read_key})
        assert (await client.get("/documents")).status == 401
        # An open redirect is not possible through `next`.
        answer = await client.post("/ui/key", data={"key": read_key,
                                                    "next": "//evil.example/"},
                                   allow_redirects=False)
        assert answer.headers["Location"] == "/ui/"
        # A key that is no longer valid sends the browser back to the form, saying why.
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({UI_COOKIE: "revoked-key-0123456789"})
        stale = await client.get("/ui/", headers=BROWSER, allow_redirects=False)
        assert stale.status == 303 and "reason=invalid" in stale.headers["Location"]
        # Forgetting the key clears the cookie.
        client.session.cookie_jar.clear()
        await client.post("/ui/key", data={"key": read_key})
        assert (await client.get("/ui/", headers=BROWSER, allow_redirects=False)).status == 200
        out = await client.post("/ui/logout", allow_redirects=False)
        assert out.status == 303 and f'{UI_COOKIE}=""' in out.headers["Set-Cookie"]
        assert (await client.get("/ui/", headers=BROWSER, allow_redirects=False)).status == 303
        # A header key works for the pages too (a script, or a proxy that adds it).
        headered = await client.get("/ui/", headers={**BROWSER,
                                                     "Authorization": f"Bearer {read_key}"})
        assert headered.status == 200


def test_the_key_form_returns_only_to_the_viewer() -> None:
    assert safe_next("/ui/stories/doc_1?after=3") == "/ui/stories/doc_1?after=3"
    for hostile in ("//evil.example/", "https://evil.example/ui/", "/ui", "/documents",
                    "/ui/\r\nSet-Cookie: x=1", None, ""):
        assert safe_next(hostile) == "/ui/"


def test_cross_site_posts_are_told_apart() -> None:
    def post(**headers: str) -> bool:
        return same_origin(make_mocked_request("POST", "/ui/key",
                                               headers={"Host": "news.internal:8080",
                                                        **headers}))

    assert post() and post(**{"Sec-Fetch-Site": "same-origin"})
    assert post(Origin="http://news.internal:8080")
    assert not post(**{"Sec-Fetch-Site": "cross-site"})
    assert not post(Origin="https://evil.example") and not post(Origin="null")


@pytest.mark.parametrize(("accept", "html"), [
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
    ("*/*", False), ("", False), ("application/json", False),
    ("application/json, text/html;q=0.5", False), ("text/html;q=0.9, application/json;q=0.1",
                                                    True), ("text/html;q=0", False),
])
def test_only_a_preference_for_html_is_a_browser(accept: str, html: bool) -> None:
    request = make_mocked_request("GET", "/", headers={"Accept": accept} if accept else {})
    assert prefers_html(request) is html
