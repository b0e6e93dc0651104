"""Aliases: the other texts a document is found by, indexed beside its canonical.

An upgrade replaces a document's canonical with a fuller text; a later copy of the story as it
was first told (cut, say) matches the old text but not the fuller one, which holds more besides.
The old signature stays in the index under a key of its own (`IndexEntry.alias_of`), and so does
a copy verified by containment or on its text (it told the story differently). A match with an
alias joins its document and never upgrades it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from canonry.schemas.tables import alias_signatures, ingests
from canonry.service.acceptance import accept_and_dispatch
from canonry.service.backends import Backends, open_backends
from canonry.service.config import Settings
from canonry.service.ingest import new_ingests, validate_articles
from canonry.workers.adapters.memory.index import MemoryIndex
from canonry.workers.adapters.sql.store import SqlStore
from canonry.workers.dedup.fingerprint import fingerprint
from canonry.workers.dedup.lsh import IndexEntry
from canonry.workers.dedup.match import decide, score
from canonry.workers.identity import alias_key_for, content_hash, ingest_id_for
from canonry.workers.pool import InlineAnalyser
from canonry.workers.worker import Worker, WorkerOptions
from tests import synthetic
from tests.test_aligned import edited
from tests.test_documents_api import ingest
from tests.test_production import run_worker_until_drained

STORY = synthetic.story(61, paragraphs=8)
# The story on a page that kept one of its host's own stories too: it holds the story whole at
# over twice its size, so it upgrades the story's canonical (the nearly-all tier).
BOXED = STORY + "\n\n" + synthetic.story(62, paragraphs=12)
# The story cut after its fifth paragraph: inside the story at two thirds of its size, but
# under the smallest size ratio any tier accepts against the boxed page (0.29 < 0.3).
CUT = "\n\n".join(STORY.split("\n\n")[:5])


def entry(key: str, text: str, alias_of: str | None = None) -> IndexEntry:
    fp = fingerprint(text)
    return IndexEntry(key, fp.text_hash, fp.hashvalues, fp.size, 0.0, alias_of)


def test_the_fuller_version_upgrades_and_then_no_longer_finds_the_cut_copy() -> None:
    """The preconditions: the boxed page is the fuller version of the story, and the cut copy
    verifies against the story but not against the boxed page."""
    upgrade = decide(fingerprint(BOXED), [entry("doc", STORY)], text=BOXED)
    assert (upgrade.kind, upgrade.upgrade) == ("near", True)
    assert decide(fingerprint(CUT), [entry("doc", BOXED)], text=CUT).kind == "new"
    assert decide(fingerprint(CUT), [entry("doc", STORY)], text=CUT).kind == "near"


def test_a_match_with_an_alias_joins_its_document_and_never_upgrades_it() -> None:
    candidates = [entry("doc", BOXED), entry("als_1", STORY, alias_of="doc")]
    verdict = decide(fingerprint(CUT), candidates, text=CUT)
    assert (verdict.kind, verdict.document_id, verdict.upgrade) == ("near", "doc", False)
    # The story itself is exact with its alias: the document, not the alias's key.
    exact = decide(fingerprint(STORY), candidates, text=STORY)
    assert (exact.kind, exact.document_id) == ("exact", "doc")
    # Fuller than the alias, but measured against it: no upgrade of the canonical.
    extended = STORY + "\n\n" + synthetic.story(64, paragraphs=2)
    fuller = decide(fingerprint(extended), [entry("als_1", STORY, alias_of="doc")], text=extended)
    assert (fuller.document_id, fuller.upgrade) == ("doc", False)
    assert decide(fingerprint(extended), [entry("doc", STORY)], text=extended).upgrade


def test_copies_that_told_the_story_differently_are_aliases_and_reprints_are_not() -> None:
    story = entry("doc", STORY)
    lead = "\n\n".join(STORY.split("\n\n")[:3])  # the first three paragraphs of eight
    assert score(fingerprint(lead), story).jaccard < 0.4  # verified by containment only
    assert decide(fingerprint(lead), [story], text=lead).alias
    reworded = edited(STORY, every=7)  # verified on the texts
    assert decide(fingerprint(reworded), [story], text=reworded,
                  text_of=lambda e: STORY).alias
    reprint = "PARIS (AFP) - " + STORY  # verified by Jaccard: adds nothing to find
    assert not decide(fingerprint(reprint), [story], text=reprint).alias
    assert not decide(fingerprint(BOXED), [story], text=BOXED).alias  # the upgrade


ARTICLES = [
    {"url": "https://wire.example/story", "text": STORY},
    {"url": "https://host.example/story", "text": BOXED},
    {"url": "https://digest.example/story", "text": CUT},
]


def ingest_id(article: dict) -> str:
    return ingest_id_for(article["url"], content_hash(article["text"], None))


@asynccontextmanager
async def processed(settings: Settings, articles: list[dict], batch_size: int = 1
                    ) -> AsyncIterator[Backends]:
    """The backends once one worker has processed the articles to the end."""
    options = WorkerOptions(concurrency=1, batch_size=batch_size, retry_backoff=0.01)
    async with open_backends(settings) as backends:
        worker = Worker(backends.store, backends.queue, backends.index, options,
                        InlineAnalyser())
        await accept_and_dispatch(backends.store, backends.queue,
                                  new_ingests(validate_articles(articles, batch=True)))
        await run_worker_until_drained(worker, backends.queue)
        yield backends


async def process(settings: Settings, articles: list[dict]) -> None:
    async with processed(settings, articles):
        pass


@pytest.mark.parametrize("batch_size", [1, 100])
async def test_a_cut_copy_after_an_upgrade_joins_the_story(settings: Settings,
                                                           batch_size: int) -> None:
    """On every backend, one at a time (the replaced signature is copied in the database) and
    in one batch (the batch's own new document is upgraded): one document, whose replaced
    canonical is stored and indexed as its alias."""
    async with processed(settings, ARTICLES, batch_size) as backends:
        store = backends.store
        async with store.engine.connect() as conn:
            rows = {row.id: row for row in await conn.execute(select(ingests))}
            aliases = (await conn.execute(select(alias_signatures))).all()
        story, boxed, cut = (rows[ingest_id(article)] for article in ARTICLES)
        assert {row.status for row in rows.values()} == {"done"}
        assert story.document_id == boxed.document_id == cut.document_id
        assert boxed.match == "near"
        assert [(a.key, a.document_id, a.url) for a in aliases] == [
            (alias_key_for(boxed.id), story.document_id, ARTICLES[0]["url"])]
        # The index a restart rebuilds holds it too, and the live index found it.
        [stored] = [e for e in await store.index_entries(0.0) if e.alias_of is not None]
        assert (stored.document_id, stored.alias_of) == (alias_key_for(boxed.id),
                                                         story.document_id)
        assert stored.text_hash == fingerprint(aliases[0].match_text).text_hash
        found = await backends.index.candidates([stored.hashvalues])
        assert alias_key_for(boxed.id) in {e.document_id for e in found[0]}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_restarted_worker_finds_the_story_by_its_alias(settings: Settings) -> None:
    """The story, then its fuller version; the process restarts (its index rebuilt from the
    store); then the cut copy arrives: it joins the story by the alias the store kept."""
    options = WorkerOptions(concurrency=1, batch_size=1, retry_backoff=0.01)
    async with open_backends(settings) as backends:
        store, queue = backends.store, backends.queue
        first = Worker(store, queue, MemoryIndex(), options, InlineAnalyser())
        await accept_and_dispatch(store, queue,
                                  new_ingests(validate_articles(ARTICLES[:2], batch=True)))
        await run_worker_until_drained(first, queue)

        restarted = Worker(store, queue, MemoryIndex(), options, InlineAnalyser())
        assert await restarted.rebuild_index() == 2  # the canonical and its alias
        await accept_and_dispatch(store, queue,
                                  new_ingests(validate_articles(ARTICLES[2:], batch=True)))
        await run_worker_until_drained(restarted, queue)
        async with store.engine.connect() as conn:
            documents = dict((await conn.execute(select(ingests.c.url, ingests.c.document_id)))
                             .all())
    assert len(set(documents.values())) == 1, documents


async def stored(settings: Settings) -> tuple[dict[str, Any], list[Any]]:
    """The ingest rows by URL and the alias rows."""
    store = SqlStore.connect(settings.database_url)
    try:
        async with store.engine.connect() as conn:
            rows = {row.url: row for row in await conn.execute(select(ingests))}
            aliases = (await conn.execute(select(alias_signatures))).all()
        return rows, aliases
    finally:
        await store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_page_updated_to_a_shorter_text_is_a_new_version_and_no_alias_twice(
        settings: Settings) -> None:
    """A known canonical URL posted again with its story cut: the containment tier verifies
    it (a copy that would be an alias) and the URL makes it the document's new version (an
    upgrade): it is the upgrade, and the text it replaced is the one alias."""
    lead = "\n\n".join(STORY.split("\n\n")[:3])
    url = "https://wire.example/story"
    await process(settings, [{"url": url, "text": STORY}])
    await process(settings, [{"url": url, "text": lead}])
    rows, aliases = await stored(settings)
    assert {row.status for row in rows.values()} == {"done"}, [r.error for r in rows.values()]
    updated = next(row for row in rows.values() if row.match == "near")
    assert [(a.key, a.url) for a in aliases] == [(alias_key_for(updated.id), url)]
    assert fingerprint(aliases[0].match_text).text_hash == fingerprint(STORY).text_hash


async def test_the_index_holds_the_aliases_the_store_wrote(settings: Settings) -> None:
    """Two upgrades of one document in one batch: the store keeps the text it had before the
    batch, once; the index learns exactly the aliases the store holds (no key the store does
    not know, which would be judged on its signature alone)."""
    fuller = BOXED + "\n\n" + synthetic.story(65, paragraphs=6)
    articles = [{"url": "https://wire.example/story", "text": STORY},
                {"url": "https://host.example/story", "text": BOXED},
                {"url": "https://mirror.example/story", "text": fuller}]
    async with processed(settings, articles, batch_size=100) as backends:
        async with backends.store.engine.connect() as conn:
            upgraded = (await conn.execute(select(ingests.c.id).where(
                ingests.c.match == "near"))).scalars().all()
            keys = set((await conn.execute(select(alias_signatures.c.key))).scalars())
        assert len(upgraded) == 2 and len(keys) == 1  # precondition: two upgrades, one alias
        found = await backends.index.candidates([fingerprint(text).hashvalues
                                                 for text in (STORY, BOXED, fuller)])
    indexed_aliases = {e.document_id for answer in found for e in answer if e.alias_of}
    assert indexed_aliases == keys


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_an_edited_copy_is_kept_and_read_as_an_alias(settings: Settings) -> None:
    """A copy with words edited joins on the text tier: it is stored as an alias with its own
    URL and text, which the same-site check and the text tier read by its key, and the
    rebuild's stream holds it among the canonicals in seen_at order."""
    copy = edited(STORY, every=7)
    await process(settings, [{"url": "https://wire.example/story", "text": STORY},
                             {"url": "https://reprint.example/story", "text": copy}])
    rows, aliases = await stored(settings)
    story, reprint = rows["https://wire.example/story"], rows["https://reprint.example/story"]
    assert reprint.document_id == story.document_id
    [alias] = aliases
    assert (alias.key, alias.url) == (alias_key_for(reprint.id), "https://reprint.example/story")
    store = SqlStore.connect(settings.database_url)
    try:
        texts = await store.canonical_texts([alias.key, story.document_id])
        entries = await store.index_entries(0.0)
        blocks = [b async for b in store.signature_blocks(0.0, size=1)]
    finally:
        await store.close()
    assert texts[alias.key] == ("https://reprint.example/story", alias.match_text)
    assert fingerprint(alias.match_text).text_hash == fingerprint(copy).text_hash
    assert [e.document_id for e in entries] == [d for b in blocks for d in b.document_ids]
    assert {e.document_id: e.alias_of for e in entries} == {story.document_id: None,
                                                            alias.key: story.document_id}


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_similar_names_documents_not_their_aliases(client: TestClient) -> None:
    """POST /similar and the story page's near misses read the same index: a document found
    by its canonical and its alias is one hit, under its own id."""
    story = await ingest(client, "https://wire.example/story", STORY)
    boxed = await ingest(client, "https://host.example/story", BOXED)
    assert boxed["document_id"] == story["document_id"]  # precondition: an upgrade
    response = await client.post("/similar", json={"text": STORY})
    assert response.status == 200, await response.text()
    hits = (await response.json())["results"]
    assert [hit["document_id"] for hit in hits] == [story["document_id"]]
