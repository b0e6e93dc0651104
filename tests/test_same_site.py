"""Two stories of one site that the cleaner left wrapped in the same leftover chrome: the chrome
matches, so their signatures verify as one story. The same-site check (`still_one_story`)
sets the lines they share aside and keeps them apart, while a real copy on the same site (a
dateline, a note, a cut, changed words) still joins its original."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from canonry.service.acceptance import accept_and_dispatch
from canonry.service.config import Settings
from canonry.service.ingest import new_ingests, validate_articles
from canonry.workers.adapters.memory.index import MemoryIndex
from canonry.workers.adapters.memory.queue import InProcessQueue
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.article import RawArticle
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.clean.extract import extract, extract_page
from canonry.workers.dedup.fingerprint import fingerprint
from canonry.workers.dedup.lsh import IndexEntry
from canonry.workers.dedup.match import (
    DEFAULT_MATCH,
    decide,
    score,
    still_one_story,
    verified_similarity,
)
from canonry.workers.identity import document_id_for
from canonry.workers.ports import Claim
from canonry.workers.worker import Worker, WorkerOptions
from tests import synthetic
from tests.test_aligned import ingest_rows
from tests.test_batch_engine import run

# What a shop's pages keep around every post: a block of product prose the cleaner takes for
# text, twice as long as the posts themselves.
SITE_BLOCK = synthetic.story(9000, paragraphs=8)


def page(body: str) -> str:
    return body + "\n\n" + SITE_BLOCK


def clean(text: str, url: str = "https://shop.example/post") -> str:
    return extract(RawArticle(url=url, text=text)).text


def entry(document_id: str, text: str) -> IndexEntry:
    fp = fingerprint(text)
    return IndexEntry(document_id, fp.text_hash, fp.hashvalues, fp.size, 0.0)


STORY_A, STORY_B = synthetic.story(1, paragraphs=4), synthetic.story(2, paragraphs=4)


def test_the_shared_chrome_alone_would_merge_two_stories() -> None:
    """The precondition: through the real cleaner the two pages verify as one story."""
    a, b = clean(page(STORY_A)), clean(page(STORY_B))
    assert SITE_BLOCK.split("\n\n")[0] in a and SITE_BLOCK.split("\n\n")[0] in b
    assert verified_similarity(score(fingerprint(b), entry("a", a)), DEFAULT_MATCH) is not None
    assert not still_one_story(b, a) and not still_one_story(a, b)


@pytest.mark.parametrize("edit", ["dateline", "note", "cut", "words", "same"])
def test_a_copy_on_the_same_site_is_still_one_story(edit: str) -> None:
    original = page(STORY_A)
    paragraphs = STORY_A.split("\n\n")
    copy = {
        "dateline": "GENEVA (Reuters) - " + original,
        "note": page(STORY_A + "\n\nThis article first appeared in the Weekly Courier."),
        "cut": page("\n\n".join(paragraphs[:3])),
        "words": page(STORY_A.replace(" of ", " from ", 3).replace(" near ", " by ", 2)),
        "same": original,
    }[edit]
    assert still_one_story(clean(copy), clean(original))


def test_decide_passes_over_a_candidate_the_check_refuses() -> None:
    a, b = clean(page(STORY_A)), clean(page(STORY_B))
    other_site_copy = clean(STORY_A, "https://other.example/a")
    candidates = [entry("a", a), entry("c", other_site_copy)]
    fp = fingerprint(b)
    assert decide(fp, candidates).document_id == "a"  # the chrome's match, unchecked
    refused = decide(fp, candidates, confirm=lambda e: e.document_id != "a")
    assert refused.kind == "new"  # "c" does not verify on its own
    fp = fingerprint(a)
    assert decide(fp, [entry("b", b), entry("c", other_site_copy)],
                  confirm=lambda e: e.document_id != "b").document_id == "c"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("batch_size", [1, 100])
async def test_the_engine_keeps_two_stories_of_one_site_apart(
        settings: Settings, batch_size: int) -> None:
    """In one batch (this batch's texts) and one at a time (the stored canonical texts)."""
    articles = [
        {"url": "https://shop.example/posts/a", "text": page(STORY_A)},
        {"url": "https://shop.example/posts/b", "text": page(STORY_B)},
        {"url": "https://shop.example/posts/a-again",
         "text": "GENEVA (Reuters) - " + page(STORY_A)},
        {"url": "https://news.example/b", "text": STORY_B},  # another site: no shared chrome
    ]
    rows = await run(settings, articles, WorkerOptions(concurrency=1, batch_size=batch_size))
    document = {url: row["document_id"] for url, row in rows.items()}
    assert {row["status"] for row in rows.values()} == {"done"}
    assert document["https://shop.example/posts/a-again"] == document["https://shop.example/posts/a"]
    assert document["https://news.example/b"] == document["https://shop.example/posts/b"]
    assert document["https://shop.example/posts/a"] != document["https://shop.example/posts/b"]


def test_lines_split_differently_are_still_shared() -> None:
    """One site's host review, kept in one text a paragraph a line (a text page) and in the
    other as one joined line (an HTML extractor's paragraph), is shared all the same: the
    stories beside it decide."""
    review = SITE_BLOCK.split("\n\n")
    a = STORY_A + "\n\n" + "\n\n".join(review)
    b = STORY_B + "\n\n" + " ".join(review)
    assert not set(a.split("\n\n")) & set(b.split("\n\n"))  # no line equal word for word
    assert verified_similarity(score(fingerprint(b), entry("a", a)), DEFAULT_MATCH) is not None
    assert not still_one_story(b, a) and not still_one_story(a, b)
    copy = STORY_A.replace(" of ", " from ", 2) + "\n\n" + " ".join(review)
    assert still_one_story(copy, a) and still_one_story(a, copy)


@pytest.mark.parametrize("batch_size", [1, 100])
async def test_an_upgraded_document_is_checked_as_the_site_its_text_came_from(
        settings: Settings, batch_size: int) -> None:
    """A story first seen on another site, then upgraded by the shop's page (the story and the
    shop's block: it holds the story whole and more). Its canonical text now carries the
    shop's chrome, so the shop's next story is checked against it as the shop's page — read
    as the document's first URL, the check was skipped and the chrome merged them."""
    articles = [
        {"url": "https://news.example/a", "text": STORY_A},
        {"url": "https://shop.example/posts/a", "text": page(STORY_A)},
        {"url": "https://shop.example/posts/b", "text": page(STORY_B)},
    ]
    rows = await run(settings, articles, WorkerOptions(concurrency=1, batch_size=batch_size))
    document = {url: row["document_id"] for url, row in rows.items()}
    match = {url: row["match"] for url, row in rows.items()}
    assert {row["status"] for row in rows.values()} == {"done"}
    assert document["https://shop.example/posts/a"] == document["https://news.example/a"]
    if batch_size == 1:  # precondition: the shop's page became the canonical text
        clean_a, clean_shop_a = clean(STORY_A, "https://news.example/a"), clean(page(STORY_A))
        assert decide(fingerprint(clean_shop_a), [entry("a", clean_a)]).upgrade
        assert match["https://shop.example/posts/a"] == "near"
    assert document["https://shop.example/posts/b"] != document["https://news.example/a"]


class _RivalCommitsFirst:
    """The store as this worker sees it while another worker finishes a claimed story first:
    the rival's batch commits just before this worker's decisions do."""

    def __init__(self, store: SqlStore, rival_commit: Callable[[], Awaitable[None]]) -> None:
        self._store, self._rival_commit = store, rival_commit
        self.recorded: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def record(self, decisions: Any) -> Any:
        await self._rival_commit()
        self.recorded.extend(d.ingest.url for d in decisions)
        return await self._store.record(decisions)


async def test_a_rival_of_the_same_site_is_waited_for_not_taken_on_its_signature(
        settings: Settings) -> None:
    """Another worker has claimed one of the shop's stories and not committed it yet; this
    worker's article, the shop's other story, verifies against it on their shared chrome.
    Taken on its signature alone, the verdict would stand if the rival committed first, and
    the check that keeps the two apart would never run. It is not decided past the rival: it
    waits for its text, and is then judged as the shop's other story."""
    store, queue, index = SqlStore.connect(settings.database_url), InProcessQueue(), MemoryIndex()
    options = WorkerOptions(batch_size=1, retry_backoff=0.001)
    rival = Worker(store, queue, index, options)
    try:
        articles = [{"url": "https://shop.example/posts/b", "text": page(STORY_B)},
                    {"url": "https://shop.example/posts/a", "text": page(STORY_A)}]
        await accept_and_dispatch(store, queue, new_ingests(validate_articles(articles,
                                                                              batch=True)))
        [claimed], [mine] = await queue.receive(1, 1.0), await queue.receive(1, 1.0)
        text = extract_page(RawArticle(url=articles[0]["url"], text=page(STORY_B)),
                            ChromeModel())[0]
        fp = fingerprint(text.match_text)
        assert await index.claim([Claim(IndexEntry(document_id_for(claimed.ingest_id),
                                                   fp.text_hash, fp.hashvalues, fp.size, 0.0),
                                        set())]) == [[]]
        committed = []

        async def rival_commit() -> None:
            if not committed:
                committed.append(True)
                await rival.handle_batch([claimed])

        watched = _RivalCommitsFirst(store, rival_commit)
        worker = Worker(watched, queue, index, options)  # type: ignore[arg-type]
        await worker.handle_batch([mine])
        assert not committed  # not recorded against the uncommitted rival
        await rival_commit()
        [retry] = await queue.receive(1, 1.0)
        assert retry.ingest_id == mine.ingest_id
        await worker.handle_batch([retry])
        rows = await ingest_rows(store)
        assert {row["status"] for row in rows.values()} == {"done"}
        assert rows[mine.ingest_id]["document_id"] != rows[claimed.ingest_id]["document_id"]
    finally:
        await queue.close()
        await store.close()
