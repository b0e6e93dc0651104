"""Find the article body among the blocks of a page, in the manner of jusText.

Steps, each one small and order-independent in spirit:
1. drop blocks repeated inside the page (keep the first; seed 002 pastes its body twice);
2. drop truncated teasers whose full line follows, and caption + photo-credit units;
3. label every block (prose, short, boilerplate, end marker, learned chrome);
4. the body is the best-scoring contiguous run of blocks: prose adds its weight, everything else
   costs a little, end markers ("You may also like", "Written by") cost a lot;
5. inside the run keep prose and the short lines it encloses (subheadings, pull quotes), drop
   boilerplate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from canonry.workers import clean_rules as rules
from canonry.workers.parse import Block


class Label(Enum):
    PROSE = "prose"
    SHORT = "short"
    BOILER = "boiler"
    END = "end"


@dataclass(frozen=True, slots=True)
class CleanOptions:
    """Switches for the measured ablations; the defaults are what scored best."""

    dedupe: bool = True
    teasers: bool = True
    captions: bool = True
    select_run: bool = True
    # Run weights, in words: what a non-prose block costs, and an end marker.
    prose_cost: float = 5.0
    short_cost: float = 8.0
    boiler_cost: float = 30.0
    end_cost: float = 150.0
    # A block is prose from this many words (scripts without spaces count 4 chars as a word).
    prose_words: int = 10
    unpunctuated_prose_words: int = 20
    min_stopword_density: float = 0.15
    headline_teasers: bool = True


DEFAULT_OPTIONS = CleanOptions()


def key(text: str) -> str:
    """Comparison key: the lower-cased words only, so quote and dash styles do not matter."""
    return " ".join(rules.WORD.findall(text.lower()))


def drop_repeats(blocks: Sequence[Block]) -> list[Block]:
    """Keep the first occurrence of every block; later copies are the page repeating itself."""
    seen: set[str] = set()
    kept: list[Block] = []
    for block in blocks:
        k = key(block.text)
        if k and k in seen:
            continue
        seen.add(k)
        kept.append(block)
    return kept


def drop_teasers(blocks: Sequence[Block], window: int = 3) -> list[Block]:
    """Drop a line ended by an ellipsis when one of the next lines starts with its words."""
    kept: list[Block] = []
    for i, block in enumerate(blocks):
        if rules.TEASER_END.search(block.text):
            k = key(block.text)
            following = blocks[i + 1 : i + 1 + window]
            if k and any(key(b.text).startswith(k) and len(b.text) > len(block.text)
                         for b in following):
                continue
        kept.append(block)
    return kept


def is_credit(text: str) -> bool:
    return len(text) <= 80 and bool(rules.CREDIT_LINE.match(text))


def is_caption(text: str) -> bool:
    return bool(rules.CREDIT_TAIL.search(text) or rules.CAPTION_START.match(text))


def drop_captions(blocks: Sequence[Block]) -> list[Block]:
    """Drop photo credits, the caption lines grouped with them, and self-credited captions."""
    drop: set[int] = set()
    for i, block in enumerate(blocks):
        if is_credit(block.text):
            drop.add(i)
            # The caption is printed just before its credit, in the same paragraph group.
            j = i - 1
            while j >= 0 and blocks[j].group == block.group:
                drop.add(j)
                j -= 1
            # Or, when every line is its own group, the caption-marked line just before.
            if j == i - 1 and j >= 0 and is_caption(blocks[j].text):
                drop.add(j)
        elif is_caption(block.text) and len(rules.WORD.findall(block.text)) <= 60:
            drop.add(i)
    return [b for i, b in enumerate(blocks) if i not in drop]


def _weight(text: str) -> float:
    """Length in words; a script without spaces counts about four characters a word."""
    words = rules.WORD.findall(text)
    chars = sum(len(w) for w in words)
    if words and chars / len(words) > 12:
        return chars / 4
    return float(len(words))


def label_block(
    text: str,
    stop: frozenset[str],
    options: CleanOptions = DEFAULT_OPTIONS,
    is_chrome: Callable[[str], bool] | None = None,
) -> tuple[Label, float]:
    weight = _weight(text)
    if rules.END_MARKER.match(text):
        return Label.END, weight
    if is_chrome is not None and is_chrome(text):
        return Label.BOILER, weight
    if (rules.BOILERPLATE.search(text) and weight < 40) or rules.is_date_line(text):
        return Label.BOILER, weight
    if weight < options.prose_words:
        return Label.SHORT, weight
    if weight < options.unpunctuated_prose_words and not rules.SENTENCE_END.search(text):
        # Headlines, labels and link texts rarely end like a sentence.
        return Label.SHORT, weight
    if options.headline_teasers and rules.starts_like_headline(text):
        # "Headline In Title CaseThe summary..." — link teasers fused with their summary.
        return Label.SHORT, weight
    if stop:
        words = rules.WORD.findall(text.lower())
        density = sum(w in stop for w in words) / len(words) if words else 0.0
        if density < options.min_stopword_density:
            return Label.SHORT, weight
    return Label.PROSE, weight


def select_run(labels: Sequence[tuple[Label, float]], options: CleanOptions) -> tuple[int, int]:
    """Best-scoring contiguous run [start, end) of blocks (Kadane over per-block scores)."""
    best, best_span = 0.0, (0, 0)
    total, start = 0.0, 0
    for i, (label, weight) in enumerate(labels):
        if label is Label.PROSE:
            score = weight - options.prose_cost
        elif label is Label.SHORT:
            score = -options.short_cost
        elif label is Label.BOILER:
            score = -options.boiler_cost
        else:
            score = -options.end_cost
        if total <= 0:
            total, start = 0.0, i
        total += score
        if total > best:
            best, best_span = total, (start, i + 1)
    return best_span


@dataclass(frozen=True, slots=True)
class Cleaned:
    """The body's paragraphs, and the lines above it (where a plain-text title sits)."""

    paragraphs: list[str]
    before: list[str]


def clean_blocks(
    blocks: Sequence[Block],
    language: str | None = None,
    options: CleanOptions = DEFAULT_OPTIONS,
    is_chrome: Callable[[str], bool] | None = None,
) -> Cleaned:
    """The article body's paragraphs, in order; empty when nothing article-like is found."""
    work = list(blocks)
    if options.dedupe:
        work = drop_repeats(work)
    if options.teasers:
        work = drop_teasers(work)
    if options.captions:
        work = drop_captions(work)
    stop = rules.stopwords(language)
    labels = [label_block(b.text, stop, options, is_chrome) for b in work]
    if options.select_run:
        start, end = select_run(labels, options)
    else:
        start, end = 0, len(work)
    if start == end:
        return Cleaned([], [b.text for b in work])
    paragraphs = [
        b.text
        for b, (label, _) in zip(work[start:end], labels[start:end], strict=True)
        if label in (Label.PROSE, Label.SHORT)
    ]
    return Cleaned(paragraphs, [b.text for b in work[:start]])
