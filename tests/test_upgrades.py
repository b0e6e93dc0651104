"""Bounded upgrades, pure core: a copy replaces a canonical text only when it is shaped like an
article — not one passage pasted over and over, not many times the canonical's shingles — by
the same rules on every path (a copy's match, a known URL's new version)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from canonry.service.config import Settings
from canonry.service.keys import QUEUE
from canonry.service.worker_process import drained
from canonry.workers.dedup.fingerprint import fingerprint
from canonry.workers.dedup.lsh import IndexEntry
from canonry.workers.dedup.match import DEFAULT_MATCH, decide, distinct_share, may_replace
from canonry.workers.dedup.updates import decide_update
from tests import synthetic

# The article of the issue: a short text whose sentence, repeated, made a 9.5 MB "version 2".
SHORT = ("A sentence long enough to be an article body survives cleaning. It has two sentences, "
         "and a third one too, for good measure.")
BLOB = " ".join([SHORT] * 1500)  # 187 k characters, within the default stored maximum
STORY = synthetic.story(1, paragraphs=4)
LONGER = "\n\n".join([STORY, synthetic.story(2, paragraphs=3)])  # the story and more


def entry(doc: str, text: str) -> IndexEntry:
    fp = fingerprint(text)
    return IndexEntry(doc, fp.text_hash, fp.hashvalues, fp.size, 0.0)


def test_distinct_share_is_one_for_prose_and_one_over_k_for_k_pastes() -> None:
    single = distinct_share(fingerprint(STORY), STORY)
    assert single > 0.85  # (the synthetic prose reuses a few phrases)
    doubled = STORY + "\n\n" + STORY
    assert abs(distinct_share(fingerprint(doubled), doubled) - single / 2) < 0.02
    assert distinct_share(fingerprint(BLOB), BLOB) < 0.001
    # Unspaced scripts are shingled by characters, and measured by characters too.
    chinese = "今天北京的天气很好，我们去公园散步了。" * 50
    assert distinct_share(fingerprint(chinese), chinese) < 0.05
    assert distinct_share(fingerprint(chinese[:19]), chinese[:19]) == 1.0


def test_a_repeated_sentence_matches_its_article_but_does_not_replace_it() -> None:
    fp = fingerprint(BLOB)
    verdict = decide(fp, [entry("d1", SHORT)], text=BLOB)
    assert (verdict.kind, verdict.document_id, verdict.upgrade) == ("near", "d1", False)
    # Precondition: by its shingles alone the blob is a fuller version (the bug of the issue).
    assert decide(fp, [entry("d1", SHORT)]).upgrade


def test_a_fuller_version_still_upgrades() -> None:
    verdict = decide(fingerprint(LONGER), [entry("d1", STORY)], text=LONGER)
    assert (verdict.kind, verdict.upgrade) == ("near", True)
    doubled = LONGER + "\n\n" + LONGER  # a fuller version pasted twice is still an article
    assert decide(fingerprint(doubled), [entry("d1", STORY)], text=doubled).upgrade


def test_a_new_version_at_the_canonical_url_obeys_the_same_rules() -> None:
    prior = entry("d1", SHORT)
    assert decide_update(fingerprint(STORY + "\n\n" + SHORT), entry("d1", STORY), True,
                         text=STORY + "\n\n" + SHORT).upgrade
    repeated = decide_update(fingerprint(BLOB), prior, True, text=BLOB)
    assert repeated is not None and (repeated.document_id, repeated.upgrade) == ("d1", False)
    # The canonical inside a text many times its size: the same story, not its new text.
    huge = "\n\n".join([STORY, *(synthetic.story(n, paragraphs=6) for n in range(3, 9))])
    current = entry("d1", STORY)
    assert fingerprint(huge).size > DEFAULT_MATCH.upgrade_max_ratio * current.size
    verdict = decide_update(fingerprint(huge), current, True, text=huge)
    assert verdict is not None and (verdict.document_id, verdict.upgrade) == ("d1", False)
    assert decide_update(fingerprint(LONGER), current, True, text=LONGER).upgrade


def test_the_size_ratio_applies_without_the_text() -> None:
    """The evaluation keeps fingerprints only: the shingle ratio still bounds an upgrade."""
    current = entry("d1", STORY)
    assert may_replace(fingerprint(LONGER), current)
    huge = "\n\n".join([STORY, *(synthetic.story(n, paragraphs=6) for n in range(3, 9))])
    assert not may_replace(fingerprint(huge), current)


# -- through the real app, on each backend (conftest's `backend`) -----------------------------


async def ingest(client: TestClient, url: str, text: str) -> dict:
    """Post one article and wait until every accepted article is processed; its status."""
    response = await client.post("/ingest", json={"url": url, "text": text})
    assert response.status == 202, await response.text()
    receipt = await response.json()
    await drained(client.app[QUEUE])
    return await (await client.get(receipt["status_url"])).json()


async def document(client: TestClient, document_id: str) -> dict:
    response = await client.get(f"/documents/{document_id}")
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_repeated_sentence_is_a_copy_not_a_new_version(client: TestClient) -> None:
    first = await ingest(client, "https://example.org/a", SHORT)
    assert first["status"] == "done", first
    before = await document(client, first["document_id"])
    # At another site, and at the canonical URL itself (the publisher's "new version").
    for url in ("https://copies.example/a", "https://example.org/a"):
        status = await ingest(client, url, BLOB)
        # The blob is one line: cut into sentence runs, most of its repeats go as a page's
        # repeated blocks do, and what is left is (near) the article itself; may_replace,
        # above, guards against the repetition the cleaner cannot see.
        assert status["status"] == "done" and status["match"] in ("near", "exact"), status
        assert status["document_id"] == first["document_id"]
    after = await document(client, first["document_id"])
    assert (after["text"], after["version"]) == (before["text"], 1)
    assert after["provenance_count"] == 3
    # The feed serves the canonical text, not the blob.
    feed = await (await client.get("/documents?limit=1000")).json()
    assert [d["text"] for d in feed["documents"]] == [SHORT]


async def test_a_fuller_version_still_upgrades_through_the_app(client: TestClient) -> None:
    first = await ingest(client, "https://example.org/story", STORY)
    status = await ingest(client, "https://copies.example/story", LONGER)
    assert (status["match"], status["document_id"]) == ("near", first["document_id"]), status
    after = await document(client, first["document_id"])
    assert (after["text"], after["version"]) == (LONGER, 2)


async def test_a_text_past_the_stored_maximum_fails_too_long(
    client: TestClient, settings: Settings
) -> None:
    first = await ingest(client, "https://example.org/a", SHORT)
    # ~400 k characters of distinct paragraphs: within the body limit, past max_text_chars
    # however it is cleaned (a repeated sentence would be cleaned down to one).
    blob = "\n\n".join(synthetic.story(n) for n in range(150))
    assert settings.max_body_bytes > len(blob) + 1000 and len(blob) > settings.max_text_chars
    for url in ("https://copies.example/a", "https://example.org/a"):
        status = await ingest(client, url, blob)
        assert status["status"] == "failed", status
        assert status["error"]["code"] == "too_long", status
        assert status["document_id"] is None
    after = await document(client, first["document_id"])
    assert (after["text"], after["version"], after["provenance_count"]) == (SHORT, 1, 1)
