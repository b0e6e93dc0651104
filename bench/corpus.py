"""The benchmark corpus: real syndicated stories from `../shared/data/`, extended reproducibly.

Generation 0 is the labelled data as it is: `syndication-dev` and `syndication-wcxb-dev`
(2,065 articles, 837 stories; each story one original — whole-page text or HTML — and 0-3
syndicated text copies wrapped in another site's chrome). The `extraction-*` sets are not
used: their pages are the very pages the syndication originals were built from, so adding
them would only add exact copies.

A corpus larger than the data takes further generations. Generation g >= 1 is every base
story again as a *new* story: each URL gets the path prefix `/g<g>` (same host, so the same
sources and their chrome), and every word of four letters or more that is not a function word
is replaced, in the text and in HTML text nodes (not in markup, scripts or styles), by a word
of the corpus vocabulary chosen by blake2b(g, word). The substitution is the same for a whole
generation, so a story's copies stay copies of its new original, a site's chrome stays the same
across its pages, and stopwords, punctuation and line shapes (what cleaning looks at) are
untouched; but nearly every word 5-gram changes, so generations share no stories.

Order: stories in a seeded random order, each story's members (original first) spread over a
window of about `SPREAD` positions, as copies arrive shortly after the original on a feed.
Everything is seeded with random.Random(seed) and blake2b, never `hash()`: the same seed gives
the same corpus in every process.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

# ../shared/data relative to the repository, or $CANONRY_SHARED_DIR/data (as the suite reads it).
DATA_DIR = Path(os.environ.get("CANONRY_SHARED_DIR")
                or Path(__file__).resolve().parents[1].parent / "shared") / "data"
SYNDICATION_FILES = ("syndication-dev.jsonl.gz", "syndication-wcxb-dev.jsonl.gz")
ARTICLE_FIELDS = ("url", "text", "html", "source")
MIN_COUNT = 3  # occurrences that make a word part of the vocabulary
SPREAD = 40  # a copy arrives within about this many articles of its story's original

# Words replaced in derived generations: letters only, four or more, not after "&" (an HTML
# entity such as &nbsp; must stay one).
_WORD = re.compile(r"(?<![&#\w])[^\W\d_]{4,}\b")
# Markup, scripts and styles are copied as they are; only the text between them is rewritten.
_MARKUP = re.compile(r"(<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>)",
                     re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_INVISIBLE = re.compile(r"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->",
                        re.IGNORECASE | re.DOTALL)
# Function words keep their place, so stopword density (a cleaning signal) is unchanged.
_FUNCTION_WORD_LIST = """
about above after again against also among been before being below between both could does
doing down during each from further have having here into itself just many more most much must
only other ours over same should some such than that their theirs them themselves then there
these they this those through under until upon very were what when where which while whom whose
will with within without would your yours said says like even ever every well back still
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORD_LIST.split())


@dataclass(frozen=True, slots=True)
class Article:
    url: str
    text: str | None
    html: str | None
    source: str | None
    story: str  # same story, same value: the label, not sent

    def payload(self) -> dict[str, str]:
        """The POST /ingest body of this article."""
        return {k: v for k in ARTICLE_FIELDS if (v := getattr(self, k)) is not None}

    @property
    def plain_text(self) -> str:
        """What a pipeline without cleaning shingles: the text as sent, or the HTML without
        its scripts, styles and tags (two regexes: the naive loop's only concession to
        markup, so that it is not slowed by shingling script code)."""
        return self.text if self.text is not None else visible_text(self.html or "")


def visible_text(html: str) -> str:
    return _TAG.sub(" ", _INVISIBLE.sub(" ", html))


def _stable_int(*parts: object) -> int:
    key = "\x00".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def read_rows(data_dir: Path = DATA_DIR) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in SYNDICATION_FILES:
        with gzip.open(data_dir / name, "rt", encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return rows


def _story_order(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Stories shuffled; within a story the original first, its copies spread after it."""
    stories: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        stories.setdefault(row["cluster"], []).append(row)
    names = sorted(stories)
    rng.shuffle(names)
    keyed = []
    for position, name in enumerate(names):
        members = sorted(stories[name], key=lambda r: (not r["kind"].startswith("original"),
                                                       r["url"]))
        start = position * len(rows) / len(names)
        offsets = sorted(rng.uniform(0, SPREAD) for _ in members[1:])
        keyed.append((start, members[0]))
        keyed.extend((start + offset, member) for offset, member in zip(offsets, members[1:],
                                                                        strict=True))
    keyed.sort(key=lambda pair: pair[0])
    return [row for _, row in keyed]


@dataclass
class Generation:
    """The word substitution of one derived generation (memoised per word)."""

    number: int
    vocabulary: list[str]
    _memo: dict[str, str] = field(default_factory=dict)

    def word(self, word: str) -> str:
        lower = word.lower()
        if lower in FUNCTION_WORDS:
            return word
        new = self._memo.get(lower)
        if new is None:
            new = self.vocabulary[_stable_int(self.number, lower) % len(self.vocabulary)]
            self._memo[lower] = new
        if word.isupper() and len(word) > 1:
            return new.upper()
        return new.capitalize() if word[0].isupper() else new

    def text(self, text: str) -> str:
        return _WORD.sub(lambda m: self.word(m.group(0)), text)

    def html(self, html: str) -> str:
        parts = _MARKUP.split(html)
        # split() with one group: text at even positions, markup at odd ones.
        return "".join(part if i % 2 else self.text(part) for i, part in enumerate(parts))

    def url(self, url: str) -> str:
        scheme, _, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme}://{host}/g{self.number}{slash}{path}"


class Corpus:
    """An endless, reproducible sequence of articles; `take(n)` is the first n."""

    def __init__(self, seed: int = 20240601, data_dir: Path = DATA_DIR) -> None:
        self.seed = seed
        self.rows = read_rows(data_dir)

    @cached_property
    def base(self) -> list[dict[str, Any]]:
        return _story_order(self.rows, random.Random(self.seed))

    @cached_property
    def vocabulary(self) -> list[str]:
        """Words of the visible text of the text articles seen at least `MIN_COUNT` times:
        real words, not the identifiers of scripts."""
        counts: Counter[str] = Counter()
        for row in self.rows:
            if row.get("text"):
                counts.update(w.lower() for w in _WORD.findall(row["text"]))
        return sorted(w for w, n in counts.items() if n >= MIN_COUNT and w not in FUNCTION_WORDS)

    @property
    def generation_size(self) -> int:
        return len(self.rows)

    @property
    def stories_per_generation(self) -> int:
        return len({row["cluster"] for row in self.rows})

    def generation(self, number: int, skip: int = 0) -> Iterator[Article]:
        """Generation `number` from its `skip`-th article on."""
        if number == 0:
            for row in self.base[skip:]:
                yield Article(row["url"], row.get("text"), row.get("html"), row.get("source"),
                              row["cluster"])
            return
        rewrite = Generation(number, self.vocabulary)
        # Each generation in its own order, so a story's neighbours differ between generations.
        order = _story_order(self.rows, random.Random(_stable_int(self.seed, number)))
        for row in order[skip:]:
            text, html = row.get("text"), row.get("html")
            yield Article(rewrite.url(row["url"]), rewrite.text(text) if text else None,
                          rewrite.html(html) if html else None, row.get("source"),
                          f"g{number}:{row['cluster']}")

    def iterate(self, start: int = 0) -> Iterator[Article]:
        """Articles from position `start` on, forever."""
        number, skip = divmod(start, self.generation_size)
        while True:
            yield from self.generation(number, skip)
            number, skip = number + 1, 0

    def take(self, count: int, start: int = 0) -> list[Article]:
        out = []
        for article in self.iterate(start):
            if len(out) == count:
                break
            out.append(article)
        return out


def describe(articles: list[Article]) -> dict[str, int]:
    stories = {a.story for a in articles}
    return {
        "articles": len(articles),
        "stories": len(stories),
        "duplicates": len(articles) - len(stories),
        "text_articles": sum(a.html is None for a in articles),
        "html_articles": sum(a.html is not None for a in articles),
        "bytes": sum(len(a.text or a.html or "") for a in articles),
    }


def synthetic_filler(count: int, seed: int = 7) -> Iterator[Article]:
    """`count` short articles (tests/synthetic.py: invented stories of ~2.5 KB, 1-2 copies
    each under other sites' chrome), generated lazily: the cheap prefill of the per-article
    cost figure. Real rows through the real engine, at a fraction of the corpus' cost."""
    from tests import synthetic

    rng = random.Random(seed)
    made = 0
    for number in itertools.count():
        text = synthetic.story(number)
        group = [Article(f"https://wire.example/{number}", text, None, None, f"s{number}")]
        for copy in range(1, rng.randint(2, 3)):
            group.append(Article(f"https://site{copy}.example/{number}",
                                 synthetic.syndicated_copy(text, copy), None, None,
                                 f"s{number}"))
        for article in group:
            if made == count:
                return
            made += 1
            yield article
