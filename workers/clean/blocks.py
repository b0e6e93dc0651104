"""Clean a page's blocks down to the article body.

1. drop what the page repeats (seed 002 pastes its whole body twice, in two quote styles);
2. drop truncated teasers followed by their full line, and caption + photo-credit units;
3. label the blocks and take the body's run of prose (`body.py`);
4. inside the run keep prose and the short lines it encloses (subheadings, pull quotes); the
   source's learned chrome (if any) then trims the published text, never the body's place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from math import inf
from typing import TypeVar

from canonry.workers.clean import rules
from canonry.workers.clean.body import (
    DEFAULT_BODY,
    BodyOptions,
    Label,
    enclosed_short_lines,
    extend_announced_list,
    extend_run,
    label_block,
    mark_data_runs,
    select_run,
    trim_tail,
)
from canonry.workers.clean.parse import Block

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CleanOptions:
    """Switches for the measured ablations; the defaults are what scored best."""

    dedupe: bool = True
    teasers: bool = True
    captions: bool = True
    # Find the body's run (False: keep all blocks up to the first end marker after the body).
    select_run: bool = True
    # What survives inside the body's run.
    keep: frozenset[Label] = frozenset({Label.PROSE, Label.SHORT, Label.DATA})
    body: BodyOptions = DEFAULT_BODY


def pseudo_paragraph_options(body: BodyOptions) -> BodyOptions:
    """How a pseudo-paragraph (sentences of one long line, see `parse.parse_text`) is labelled:
    by its length and the marker rules only. The shape rules that tell a menu or a teaser from
    a paragraph (Title Case start, no sentence end, few stopwords) judge a line as it was laid
    out; a pseudo-paragraph's start and end are where the splitter cut, and a table or list
    joined into the line reads as few stopwords (measured: one-line dev bodies, see
    `eval/oneblock.py`)."""
    return replace(body, headline_teasers=False, min_stopword_density=0.0,
                   unpunctuated_prose_words=body.prose_words)


DEFAULT_OPTIONS = CleanOptions()
# After an HTML extractor chose the main content, only the local rules apply: re-selecting a
# run there cost recall (lists, tables, short paragraphs) and gained no precision on dev pages.
HTML_OPTIONS = CleanOptions(
    select_run=False, keep=frozenset({Label.PROSE, Label.SHORT, Label.META, Label.DATA})
)
# An extractor that returns this many lines gave up and returned the whole page.
WHOLE_PAGE_BLOCKS = 300
# An extractor's output laid out in short lines (lists, tables, steps, specs) is kept as it is:
# the local rules, written for runs of prose, cost there (measured by the labelled bodies'
# shape, `canonry eval extraction --peer`: trafilatura alone beat us on list-shaped pages of
# both dev sets). Short: under LIST_LINE_WORDS words; listy: LIST_PAGE_SHARE of the lines.
LIST_LINE_WORDS = 8
LIST_PAGE_SHARE = 0.4
AS_EXTRACTED = CleanOptions(dedupe=False, teasers=False, captions=False, select_run=False,
                            keep=frozenset(Label), body=replace(DEFAULT_BODY, body_words=inf))


def is_list_page(blocks: Sequence[Block]) -> bool:
    short = sum(len(rules.line_words(b.norm)) < LIST_LINE_WORDS for b in blocks)
    return bool(blocks) and short >= LIST_PAGE_SHARE * len(blocks)


def without(items: Sequence[T], drop: set[int]) -> list[T]:
    """`items` less those at the indices in `drop`, in order."""
    return [item for n, item in enumerate(items) if n not in drop]


def key(text: str) -> str:
    """Comparison key: the lower-cased words only, so quote and dash styles do not matter."""
    return " ".join(rules.line_lower_words(text))


def word_grams(words: Sequence[str]) -> set[tuple[str, ...]]:
    """Word 4-grams (zip of the shifted lists stops at the shortest: built in C)."""
    return set(zip(words, words[1:], words[2:], words[3:], strict=False))


def drop_repeats(
    blocks: Sequence[Block],
    long_words: int = 25,
    run_words: int = 50,
    contained: float = 0.8,
) -> list[Block]:
    """`blocks` without the later copies of what the page already said (see `repeated_blocks`)."""
    drop = repeated_blocks(blocks, long_words, run_words, contained)
    return without(blocks, drop)


def repeated_blocks(
    blocks: Sequence[Block],
    long_words: int = 25,
    run_words: int = 50,
    contained: float = 0.8,
) -> set[int]:
    """Indices of later copies of what the page already said (seed 002 pastes its whole body twice).

    Short lines repeat legitimately (an interview's recurring question, a recipe step, a table
    cell), so an identical repeat is dropped only when it is a paragraph of `long_words` words or
    more, or part of a run of consecutive repeats of `run_words` words or more (a pasted block).
    A long block made mostly (`contained`) of word 4-grams said before is a copy too: the body
    re-joined into one line, or a summary stitched from its sentences.
    """
    seen: set[str] = set()
    seen_grams: set[tuple[str, ...]] = set()
    repeated: list[bool] = []
    copied: list[bool] = []
    for block in blocks:
        words = rules.line_lower_words(block.norm)
        k = " ".join(words)
        grams = word_grams(words) if len(words) >= long_words else set()
        repeated.append(bool(k) and k in seen)
        copied.append(bool(grams) and len(grams & seen_grams) >= contained * len(grams))
        seen.add(k)
        seen_grams |= grams if grams else word_grams(words)
    drop: set[int] = {n for n, c in enumerate(copied) if c}
    i = 0
    while i < len(blocks):
        if not repeated[i]:
            i += 1
            continue
        j = i
        while j < len(blocks) and repeated[j]:
            j += 1
        sizes = [len(rules.line_words(b.norm)) for b in blocks[i:j]]
        for n, size in zip(range(i, j), sizes, strict=True):
            if size >= long_words or sum(sizes) >= run_words:
                drop.add(n)
        i = j
    return drop


def drop_teasers(blocks: Sequence[Block], window: int = 3) -> list[Block]:
    """`blocks` without the teasers `teaser_blocks` finds."""
    drop = teaser_blocks(blocks, window)
    return without(blocks, drop)


def teaser_blocks(blocks: Sequence[Block], window: int = 3) -> set[int]:
    """Lines ended by an ellipsis when one of the next lines starts with their words."""
    drop: set[int] = set()
    for i, block in enumerate(blocks):
        if rules.TEASER_END.search(block.norm):
            k = key(block.norm)
            following = blocks[i + 1 : i + 1 + window]
            if k and any(
                key(b.norm).startswith(k) and len(b.norm) > len(block.norm) for b in following
            ):
                drop.add(i)
    return drop


def is_credit(text: str) -> bool:
    return len(text) <= 80 and bool(rules.CREDIT_LINE.match(text))


# Every shape of CREDIT_TAIL holds one of these characters; most lines hold none.
_CREDIT_TAIL_CHARS = ("/", ":", "[", "(")


def is_caption(text: str) -> bool:
    if rules.CAPTION_START.match(text):
        return True
    return any(c in text for c in _CREDIT_TAIL_CHARS) and bool(rules.CREDIT_TAIL.search(text))


def drop_captions(blocks: Sequence[Block]) -> list[Block]:
    """`blocks` without the captions and credits `caption_blocks` finds."""
    drop = caption_blocks(blocks)
    return without(blocks, drop)


def caption_blocks(blocks: Sequence[Block]) -> set[int]:
    """Photo credits, the caption lines grouped with them, and self-credited captions."""
    drop: set[int] = set()
    for i, block in enumerate(blocks):
        if is_credit(block.norm):
            drop.add(i)
            # The caption is printed just before its credit, in the same paragraph group.
            j = i - 1
            while j >= 0 and blocks[j].group == block.group:
                drop.add(j)
                j -= 1
            # Or, when every line is its own group, the caption-marked line just before.
            if j == i - 1 and j >= 0 and is_caption(blocks[j].norm):
                drop.add(j)
        elif is_caption(block.norm) and len(rules.line_words(block.norm)) <= 60:
            drop.add(i)
    return drop


class Verdict(Enum):
    """Why a block is in the body or not: one per block given to `clean_blocks`, so the rules'
    work can be counted (`canonry eval extraction --explain`) and shown (the stripped view)."""

    KEPT = "kept"
    REPEAT = "repeat"  # the page said it already (`repeated_blocks`)
    TEASER = "teaser"  # a truncated teaser of the line that follows
    CAPTION = "caption"  # a photo caption or credit
    BEFORE_BODY = "before-body"  # above the body's run: navigation, headline, standfirst
    AFTER_BODY = "after-body"  # below it: the tail (comments, related stories, bios, footers)
    LEARNED_CHROME = "learned-chrome"  # a line this source prints on many pages
    BOILERPLATE = "boilerplate"  # share bars, newsletter prompts, "Read more"
    END_MARKER = "end-marker"  # "Comments", "You may also like": the article is over
    LINKS = "links"  # a box of links opens
    META = "meta"  # a dateline or a reading time
    NOT_PROSE = "not-prose"  # inside the run but neither prose nor enclosed by it


# A block inside the run that its label keeps out.
_LABEL_VERDICT = {
    Label.BOILER: Verdict.BOILERPLATE,
    Label.END: Verdict.END_MARKER,
    Label.LINKS: Verdict.LINKS,
    Label.META: Verdict.META,
}


@dataclass(frozen=True, slots=True)
class Cleaned:
    """The body's paragraphs, and the lines above it (where a plain-text title sits), as
    written; `paragraph_keys` and `before_keys` are their normalised forms. `verdicts` has one
    entry per block given to `clean_blocks`, in order. `learned` holds the positions in
    `paragraphs` of the lines the source's learned boilerplate trims from the published text
    (`published`); the body itself was found without it."""

    paragraphs: list[str]
    before: list[str]
    paragraph_keys: list[str] = field(default_factory=list)
    before_keys: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    learned: frozenset[int] = frozenset()

    @property
    def published(self) -> list[str]:
        """The paragraphs without those the learned boilerplate trims."""
        return [p for i, p in enumerate(self.paragraphs) if i not in self.learned]


def clean_blocks(
    blocks: Sequence[Block],
    language: str | None = None,
    options: CleanOptions = DEFAULT_OPTIONS,
    is_chrome: Callable[[str], bool] | None = None,
) -> Cleaned:
    """The article body's paragraphs, in order; empty when nothing article-like is found.

    `is_chrome` (the source's learned boilerplate) only trims lines from the body found
    without it, and never all of them: what the model knows depends on which of the source's
    pages were processed first, and where the body lies must not (the fingerprint is taken
    from the untrimmed body, so a story's copies match however the model stood)."""
    verdicts = [Verdict.KEPT] * len(blocks)
    alive = list(range(len(blocks)))  # index in `blocks` of each block still in `work`
    work = list(blocks)
    steps = ((options.dedupe, repeated_blocks, Verdict.REPEAT),
             (options.teasers, teaser_blocks, Verdict.TEASER),
             (options.captions, caption_blocks, Verdict.CAPTION))
    for enabled, find, verdict in steps:
        if not enabled:
            continue
        drop = find(work)
        if drop:
            for n in drop:
                verdicts[alive[n]] = verdict
            work, alive = without(work, drop), without(alive, drop)
    stop = rules.stopwords(language)
    pseudo_body = pseudo_paragraph_options(options.body)
    labels = [label_block(b.norm, stop, pseudo_body if b.pseudo else options.body)
              for b in work]
    norms = [b.norm for b in work]
    labels = mark_data_runs(norms, labels, options.body)
    if options.select_run:
        free = enclosed_short_lines(labels, norms, options.body)
        start, end = extend_run(labels, select_run(labels, options.body, free), options.body)
        start, end = extend_announced_list(labels, norms, (start, end), options.body)
    else:
        start, end = 0, trim_tail(labels, options.body)
    for n in range(len(work)):
        if n < start or start == end:
            verdicts[alive[n]] = Verdict.BEFORE_BODY
        elif n >= end:
            verdicts[alive[n]] = Verdict.AFTER_BODY
        elif labels[n][0] not in options.keep:
            verdicts[alive[n]] = _LABEL_VERDICT.get(labels[n][0], Verdict.NOT_PROSE)
    if start == end:
        return Cleaned([], [b.text for b in work], [], [b.norm for b in work], verdicts)
    kept = [n for n in range(start, end) if labels[n][0] in options.keep]
    body = [work[n] for n in kept]
    learned = frozenset(i for i, b in enumerate(body) if is_chrome is not None
                        and is_chrome(b.norm))
    if len(learned) == len(body):
        learned = frozenset()  # a body the model would empty is kept whole: it is the article
    for i in learned:
        verdicts[alive[kept[i]]] = Verdict.LEARNED_CHROME
    before = work[:start]
    return Cleaned([b.text for b in body], [b.text for b in before],
                   [b.norm for b in body], [b.norm for b in before], verdicts, learned)
