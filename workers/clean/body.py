"""Which blocks are the article body: jusText-style labels and the best run of prose.

Every block gets a label from its shape alone (length, sentence ending, stopword density, Title
Case, boilerplate and end-of-article phrases). The body is then the best-scoring contiguous run:
prose adds its length in words, every other block costs a little, end markers a lot, so short
lines enclosed by prose (subheadings, pull quotes, list items) stay with it while menus, link
lists and footers at either side fall away.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import Enum

from canonry.workers.clean import rules
from canonry.workers.scripts import UNSPACED_CHAR


class Label(Enum):
    PROSE = "prose"
    SHORT = "short"
    BOILER = "boiler"
    META = "meta"  # datelines, reading times: dropped, but cheap to cross (they sit in articles)
    END = "end"  # the article is over: comments, bios, "you may also like"
    LINKS = "links"  # a box of links opens: at the end, or inside the body
    DATA = "data"  # a line of a table or a list of figures: short, but part of the body


@dataclass(frozen=True, slots=True)
class BodyOptions:
    """Weights of the run (in words) and label thresholds; the defaults scored best on the dev
    pages, and each is a round number on a flat optimum, not a fit to particular pages."""

    # What a block adds to or costs the run.
    prose_cost: float = 5.0
    short_cost: float = 8.0
    boiler_cost: float = 30.0
    end_cost: float = 60.0
    # After an end marker that closes this many words of run, prose counts this much. A news
    # brief, or a story's copy cut to its first paragraphs, is a body from 75 words: at 150
    # the comments under it outweighed it (text pages, below 90 % when cut to 80 % / 60 %:
    # ARB 14 / 20 -> 11 / 17, WCXB 33 / 40 -> 34 / 40; F1 ARB 0.9229 -> 0.9222, one Italian
    # story whose "Leggi anche" box now ends it; WCXB 0.9293 -> 0.9292, HTML 0.9419 -> 0.9417;
    # 100: the same on ARB).
    body_words: float = 75.0
    tail_discount: float = 0.25
    # A box of links ("Also read:", "More great recipes") opens inside long guides as often as
    # below them: after it prose counts most of its worth (text pages, F1 per page, pages below
    # 90 % when cut to 80 % / 60 %, from 0.5): 0.8: WCXB 0.918 -> 0.920, 33 / 45 -> 33 / 40;
    # ARB 0.908 -> 0.909, 14 / 22 -> 15 / 22. 1.0 gave WCXB 0.922 but ARB 0.905, 18 / 24: news
    # pages' link boxes do open their tails.
    links_discount: float = 0.8
    # A block is prose from this many words (see `_weight` for scripts without spaces),
    # from `unpunctuated_prose_words` when it does not end like a sentence.
    prose_words: int = 10
    unpunctuated_prose_words: int = 20
    min_stopword_density: float = 0.15
    headline_teasers: bool = True
    list_items: bool = True
    # End markers discount what follows once the page has had a body-sized run anywhere before
    # (not only in the current run): share bars and a bio between body and comments reset it.
    end_after_best: bool = True
    # Tables and figure lists (standings, results, recipes) print one short line per cell or row,
    # a code listing one per statement: a dense run of short lines, most with digits or code, is
    # data and counts for the body, at a discount, so it joins the prose it follows and is the
    # body when the page has no prose. (Code as data: a tutorial cut after its listing kept the
    # listing; with the fused-menu rule in, WCXB text pages below 90 % of their body when cut to
    # 80 %: 46 -> 45.)
    data_runs: bool = True
    data_min_lines: int = 6
    data_digit_share: float = 0.6
    data_min_words: float = 30.0
    data_max_gap: int = 3
    data_header_lines: int = 6
    data_discount: float = 0.5
    # A stretch of short lines between two prose blocks (a listicle's heading, counter and
    # fact box between its items; a list or a table inside the article) costs the run only
    # its first `enclosed_short_lines`, however long it is: at 8 each, a 9-line fact box after
    # every 60-word item made a 15-item guide lose to its footer. List items that continue a
    # lead-in (terms, rules) keep their cost, and after an end marker nothing is free.
    # Measured (`canonry eval extraction`, text pages): WCXB 0.910 -> 0.923 (38 pages better
    # by 0.02 or more, 6 worse), ARB 0.923 -> 0.921; 3 lines: 0.919 / 0.923, 4: 0.916 / 0.923.
    enclosed_short_lines: int = 2
    # Join the run with prose beside it across subheadings and lists (see `extend_run`). The
    # stretch beside it is worth the prose it holds up to the next marker (`join_by_prose`),
    # not only its best-scoring start: a listicle whose sections are a short paragraph and a
    # list (each costing the run more than it adds) is the article's, and a copy cut after its
    # intro kept only the intro. A quarter of the run keeps out menus' taglines and teaser
    # lists' summaries beside a body. Measured (text pages; `canonry eval truncation`, pages
    # below 90 % at 80 % / 60 %): WCXB 0.925 -> 0.928, truncation 45 / 55 -> 38 / 48; ARB
    # 0.922 -> 0.922, 12 / 25 -> 13 / 22; WCXB HTML 0.937 -> 0.938. With no share, ARB HTML
    # fell 0.004 (mega-menus leftwards, "headline + summary" teasers rightwards); a half kept
    # fewer of the gains (WCXB truncation 40 / 52).
    join_runs: bool = True
    join_words: float = 20.0
    join_share: float = 0.25
    join_by_prose: bool = True
    # And worth this many words per short line joined with it (0: no such bar). Off for text
    # pages (2 cost WCXB text 0.004: a long table of contents is crossed for a short intro);
    # the visible text of an HTML page sets it (`extract.VISIBLE_OPTIONS`), where a mega-menu
    # with a sentence per section was joined to the body.
    join_words_per_line: float = 0.0
    # A body whose run ends on a sentence announcing a list ("Here are the winners:") keeps
    # the list: its short lines, up to the next prose, marker or `announced_list_lines`. A copy
    # cut just after such a list lost it (no prose after it paid for its lines). Measured:
    # WCXB text pages below 90 % of their body when cut to 80 % / 60 %: 38 / 48 -> 33 / 45;
    # extraction F1 unchanged on both dev sets (WCXB text: 2 pages better, 3 worse, where the
    # colon announced a list of links).
    announced_lists: bool = True
    announced_list_lines: int = 40


DEFAULT_BODY = BodyOptions()


# About how many characters of those scripts make one word.
UNSPACED_CHARS_PER_WORD = 2.0


def _weight(text: str) -> float:
    """Length in words; in scripts without spaces, characters count by `UNSPACED_CHARS_PER_WORD`."""
    unspaced = len(UNSPACED_CHAR.findall(text))
    if not unspaced:
        return float(len(rules.line_words(text)))
    spaced = len(rules.WORD.findall(UNSPACED_CHAR.sub(" ", text)))
    return spaced + unspaced / UNSPACED_CHARS_PER_WORD


def label_block(
    text: str,
    stop: frozenset[str],
    options: BodyOptions = DEFAULT_BODY,
) -> tuple[Label, float]:
    """The label of one block and its weight in words."""
    weight = _weight(text)
    if rules.is_end_marker(text):
        return Label.END, weight
    if rules.is_links_marker(text):
        return Label.LINKS, weight
    if rules.is_date_line(text) or rules.READING_TIME.match(text):
        return Label.META, weight
    if ((weight < 40 and rules.is_boilerplate(text)) or rules.is_share_bar(text)
            or rules.is_legal_notice(text)):
        return Label.BOILER, weight
    if options.list_items and rules.is_list_item(text):
        # Enclosed by prose it stays (a list inside the article); alone it does not make a body.
        return Label.SHORT, weight
    if weight < options.prose_words:
        return Label.SHORT, weight
    if weight < options.unpunctuated_prose_words and not rules.SENTENCE_END.search(text):
        # Headlines, labels and link texts rarely end like a sentence.
        return Label.SHORT, weight
    if rules.is_fused_menu(text, weight) or rules.is_doubled(text):
        return Label.SHORT, weight
    if options.headline_teasers and rules.starts_like_headline(text, stop):
        # "Headline In Title CaseThe summary..." — link teasers fused with their summary.
        return Label.SHORT, weight
    if stop:
        lower_words = rules.line_lower_words(text)
        hits = sum(w in stop for w in lower_words)
        density = hits / len(lower_words) if lower_words else 0.0
        if density < options.min_stopword_density:
            return Label.SHORT, weight
    return Label.PROSE, weight


# Lines a table or list region is made of: what the labeller calls short (or a date, as
# "2 Martin Truex Jr. 5035" can look); prose and markers end the region.
_DATA_CANDIDATES = frozenset({Label.SHORT, Label.META})


def _data_groups(figures: Sequence[bool], max_gap: int) -> list[tuple[int, int]]:
    """Spans [start, end) of lines with figures, fewer than `max_gap` lines without apart: a
    table's name and header cells sit between its numbers, a box of link labels does not."""
    spans: list[tuple[int, int]] = []
    for i, figure in enumerate(figures):
        if not figure:
            continue
        if spans and i - spans[-1][1] < max_gap:
            spans[-1] = (spans[-1][0], i + 1)
        else:
            spans.append((i, i + 1))
    return spans


def _is_data_region(
    figures: Sequence[bool], labels: Sequence[tuple[Label, float]], options: BodyOptions
) -> bool:
    """Many short lines, most carrying figures or code: a table, a list, a listing. A teaser
    listing (headline / date / headline ...) has figures on half its lines at most."""
    weight = sum(w for _, w in labels)
    if len(labels) < options.data_min_lines or weight < options.data_min_words:
        return False
    return sum(figures) >= options.data_digit_share * len(labels)


def mark_data_runs(
    texts: Sequence[str],
    labels: Sequence[tuple[Label, float]],
    options: BodyOptions = DEFAULT_BODY,
) -> list[tuple[Label, float]]:
    """Relabel as DATA the short lines of every dense run of figures or code (`BodyOptions`)."""
    marked = list(labels)
    if not options.data_runs:
        return marked
    i = 0
    while i < len(marked):
        if marked[i][0] not in _DATA_CANDIDATES:
            i += 1
            continue
        j = i
        while j < len(marked) and marked[j][0] in _DATA_CANDIDATES:
            j += 1
        figures = [rules.has_figures(t) or rules.looks_like_code(t) for t in texts[i:j]]
        for a, b in _data_groups(figures, options.data_max_gap):
            if not _is_data_region(figures[a:b], marked[i + a : i + b], options):
                continue
            if a <= options.data_header_lines:
                # A heading or header row between the lead-in and the table is the table's.
                a = 0
            marked[i + a : i + b] = [(Label.DATA, w) for _, w in marked[i + a : i + b]]
        i = j
    return marked


def _score(label: Label, weight: float, options: BodyOptions) -> float:
    if label is Label.PROSE:
        return weight - options.prose_cost
    if label is Label.DATA:
        return weight * options.data_discount
    if label in (Label.SHORT, Label.META):
        return -options.short_cost
    if label is Label.BOILER:
        return -options.boiler_cost
    return -options.end_cost


def trim_tail(labels: Sequence[tuple[Label, float]], options: BodyOptions = DEFAULT_BODY) -> int:
    """End of the body when an extractor already chose it: the first end marker that follows a
    body-sized amount of prose ("Comments" at the foot of an otherwise clean text)."""
    prose = 0.0
    for i, (label, weight) in enumerate(labels):
        if label is Label.END and prose >= options.body_words:
            return i
        if label is Label.PROSE:
            prose += weight
    return len(labels)


def enclosed_short_lines(
    labels: Sequence[tuple[Label, float]], texts: Sequence[str],
    options: BodyOptions = DEFAULT_BODY,
) -> frozenset[int]:
    """The short lines past the first `options.enclosed_short_lines` of each stretch of short
    lines between two prose blocks, list items continuing a lead-in excepted: what the run
    does not pay for (see `BodyOptions`)."""
    free: set[int] = set()
    i = 0
    while i < len(labels):
        if labels[i][0] is not Label.SHORT:
            i += 1
            continue
        j = i
        while j < len(labels) and labels[j][0] is Label.SHORT:
            j += 1
        if i > 0 and j < len(labels) and labels[i - 1][0] is labels[j][0] is Label.PROSE:
            free.update(k for k in range(i + options.enclosed_short_lines, j)
                        if not rules.is_list_item(texts[k]))
        i = j
    return frozenset(free)


def select_run(
    labels: Sequence[tuple[Label, float]], options: BodyOptions = DEFAULT_BODY,
    free: Collection[int] = frozenset(),
) -> tuple[int, int]:
    """Best-scoring contiguous run [start, end) of blocks (Kadane over per-block scores); the
    blocks in `free` cost nothing until an end marker (`enclosed_short_lines`).

    Once an end marker closes a run that already holds a body's worth of prose, the prose after
    it is discounted: comments, related stories or a bio, however well written, are not the
    article, and can outweigh a short one.
    """
    best, best_span = 0.0, (0, 0)
    total, start, discount = 0.0, 0, 1.0
    for i, (label, weight) in enumerate(labels):
        closed = max(total, best) if options.end_after_best else total
        if closed >= options.body_words:
            if label is Label.END:
                discount = min(discount, options.tail_discount)
            elif label is Label.LINKS:
                # A box of links may sit inside the body: a milder discount.
                discount = min(discount, options.links_discount)
        score = 0.0 if i in free and discount == 1.0 else _score(label, weight, options)
        if score > 0:
            score *= discount
        if total <= 0:
            total, start = 0.0, i
        total += score
        if total > best:
            best, best_span = total, (start, i + 1)
    return best_span


# What may lie between two runs of one body: subheadings, list items, table rows, datelines.
_INSIDE_BODY = frozenset({Label.SHORT, Label.DATA, Label.META})


def _neighbour_run(labels: Sequence[tuple[Label, float]], first: int, step: int,
                   options: BodyOptions) -> tuple[int, float]:
    """From block `first` (prose), walking by `step` over body-like blocks only (markers stop
    it): the last prose or data block and what the stretch's prose and data are worth (or,
    without `join_by_prose`, the end of its best-scoring start and that score)."""
    best_at, best, total = first, 0.0, 0.0
    i = first
    while 0 <= i < len(labels):
        label, weight = labels[i]
        if label not in _INSIDE_BODY and label is not Label.PROSE:
            break
        if options.join_by_prose:
            if label in (Label.PROSE, Label.DATA):
                total += max(0.0, _score(label, weight, options))
                best, best_at = total, i
        else:
            total += _score(label, weight, options)
            if total > best:
                best, best_at = total, i
        i += step
    return best_at, best


def _worth_joining(score: float, worth: float, joined: Sequence[tuple[Label, float]],
                   options: BodyOptions) -> bool:
    """Whether prose worth `score`, reached across the blocks `joined` (the stretch and the
    prose beside it), joins a run worth `worth` (`BodyOptions.join_words`, `join_share`,
    `join_words_per_line`)."""
    lines = sum(label is not Label.PROSE for label, _ in joined)
    return score >= max(options.join_words, options.join_share * worth,
                        options.join_words_per_line * lines)


def extend_run(labels: Sequence[tuple[Label, float]], span: tuple[int, int],
               options: BodyOptions = DEFAULT_BODY) -> tuple[int, int]:
    """The run joined with the prose beside it across a stretch of subheadings, list items or
    table rows, however long: a long article with a table of contents or a list in its middle
    is one body, not two runs competing (a copy that lost its tail would otherwise pick the
    other half). The stretch must hold no marker (boilerplate, links, end), and the prose
    joined must be worth `options.join_words` and a `join_share` of the run: a sidebar's
    teasers or a header's taglines beside a body are small beside it."""
    start, end = span
    if start == end or not options.join_runs:
        return span
    worth = sum(_score(label, weight, options) for label, weight in labels[start:end])
    while True:  # rightwards
        j = end
        while j < len(labels) and labels[j][0] in _INSIDE_BODY:
            j += 1
        if j >= len(labels) or labels[j][0] is not Label.PROSE:
            break
        last, score = _neighbour_run(labels, j, 1, options)
        if not _worth_joining(score, worth, labels[end : last + 1], options):
            break
        end, worth = last + 1, worth + score
    while True:  # leftwards
        j = start - 1
        while j >= 0 and labels[j][0] in _INSIDE_BODY:
            j -= 1
        if j < 0 or labels[j][0] is not Label.PROSE:
            break
        first, score = _neighbour_run(labels, j, -1, options)
        if not _worth_joining(score, worth, labels[first:start], options):
            break
        start, worth = first, worth + score
    return start, end


def announces_list(text: str) -> bool:
    """A sentence that ends by announcing what follows ("...for the following reasons:")."""
    return text.rstrip().endswith(":")


def extend_announced_list(labels: Sequence[tuple[Label, float]], texts: Sequence[str],
                          span: tuple[int, int], options: BodyOptions = DEFAULT_BODY
                          ) -> tuple[int, int]:
    """The run with the list its last prose announces (`BodyOptions.announced_lists`): a copy
    cut just after a list kept its lead-in and lost the list, which no prose after it paid for.
    Only when nothing but short lines follows the lead-in inside the run."""
    start, end = span
    if start == end or not options.announced_lists:
        return span
    lead = end - 1
    while lead > start and labels[lead][0] in (Label.SHORT, Label.DATA):
        lead -= 1
    if labels[lead][0] is not Label.PROSE or not announces_list(texts[lead]):
        return span
    stop = min(len(labels), lead + 1 + options.announced_list_lines)
    while end < stop and labels[end][0] in (Label.SHORT, Label.DATA):
        end += 1
    return start, end
