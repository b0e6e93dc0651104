"""Body selection that is stable: a copy that is the page minus the tail of its article keeps
the same body (minus that tail).

Per labelled page (both modes), the original goes through the real `explain`; its kept
paragraphs are the body B. The copy is the same page with the last (1 - fraction) of B's
paragraphs taken out — and every line between them, so a subheading of the cut part goes too —
while everything after the body (comments, footer, related stories) stays: syndication cuts
articles, not page templates. The copy's extracted body is scored against the first paragraphs
of B (recall with the extraction metric, token 4-gram multisets): how much of what the original
kept the copy still keeps. Reported per set, mode and fraction: mean, p10, p5, min and how many
pages keep less than `TARGET_KEEP`.

For HTML the paragraphs are cut out of the markup: the last elements (p, li, headings, …)
whose words are a cut paragraph's. A page where some cut paragraph is not found as an element
(the extractor joined or split lines) is counted as `skipped`, not scored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import lxml.html

from canonry.workers.article import RawArticle
from canonry.workers.clean.blocks import Verdict, key
from canonry.workers.clean.extract import explain, extract
from canonry.workers.clean.parse import Block
from canonry.workers.eval.extraction import ngram_prf
from canonry.workers.eval.oneblock import percentile
from canonry.workers.eval.progress import progress
from canonry.workers.jsonl import read_jsonl

TARGET_KEEP = 0.90
FRACTIONS = (0.8, 0.6)
# Fewer paragraphs than this and "the last 20 %" is not a tail but one paragraph of three.
MIN_PARAGRAPHS = 5
_BLOCK_TAGS = ("p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "dd", "dt",
               "td", "th", "figcaption", "div", "section", "span")


def _text_of(blocks: Sequence[Block]) -> str:
    """The blocks as a text page again: lines of one group on consecutive lines, groups apart,
    pseudo-paragraphs of one line joined back into it."""
    out: list[str] = []
    for i, block in enumerate(blocks):
        if i:
            previous = blocks[i - 1]
            if previous.group != block.group:
                out.append("\n\n")
            else:
                out.append(" " if block.pseudo and previous.pseudo else "\n")
        out.append(block.text)
    return "".join(out)


def _cut_text(article: RawArticle, blocks: Sequence[Block], start: int, end: int) -> RawArticle:
    """The text page without blocks [start, end)."""
    return RawArticle(url=article.url, text=_text_of([*blocks[:start], *blocks[end:]]))


def _cut_html(article: RawArticle, cut: Sequence[str]) -> RawArticle | None:
    """The HTML page without the elements holding the `cut` paragraphs (searched from the end:
    the cut is the body's tail), or None when one is not found as an element."""
    markup = article.html or ""
    try:
        tree = lxml.html.fromstring(markup)
    except ValueError:  # a str with an XML encoding declaration: lxml wants the bytes
        tree = lxml.html.fromstring(markup.encode("utf-8"))
    elements = list(tree.iter(*_BLOCK_TAGS))
    # Compared by their words: the extractor writes a list item as "- item", a table row as
    # "| a | b |", and an element's text runs its inline children together.
    texts = [key(e.text_content()) for e in elements]
    position = len(elements)
    doomed = []
    for paragraph in reversed([key(p) for p in cut]):
        found = next((i for i in range(position - 1, -1, -1) if texts[i] == paragraph), None)
        if found is None:
            return None
        doomed.append(elements[found])
        position = found
    for element in doomed:
        parent = element.getparent()
        if parent is not None:
            element.drop_tree()
    return RawArticle(url=article.url, html=lxml.html.tostring(tree, encoding="unicode"))


def _copy(article: RawArticle, blocks: Sequence[Block], kept: Sequence[int],
          keep: int) -> RawArticle | None:
    if article.html:
        return _cut_html(article, [blocks[i].text for i in kept[keep:]])
    return _cut_text(article, blocks, kept[keep], kept[-1] + 1)


def evaluate_truncation(
    paths: Iterable[str | Path],
    fractions: Sequence[float] = FRACTIONS,
    limit: int | None = None,
    modes: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Per file, mode and fraction: how much of the original's body each truncated copy keeps."""
    wanted = set(modes) if modes else None
    result: dict[str, Any] = {}
    for path in paths:
        scores: dict[tuple[str, float], list[dict[str, Any]]] = {}
        skipped: dict[str, int] = {}
        short: dict[str, int] = {}
        seen: dict[str, int] = {}
        started = time.perf_counter()
        for row in progress(read_jsonl(path), f"eval truncation {Path(path).name}"):
            mode = row.get("mode", "text" if row.get("text") is not None else "html")
            if wanted is not None and mode not in wanted:
                continue
            if limit is not None and seen.get(mode, 0) >= limit:
                continue
            seen[mode] = seen.get(mode, 0) + 1
            article = RawArticle(url=row.get("url") or "", text=row.get("text"),
                                 html=row.get("html"))
            explained = explain(article)
            kept = [i for i, v in enumerate(explained.verdicts) if v is Verdict.KEPT]
            if len(kept) < MIN_PARAGRAPHS:
                short[mode] = short.get(mode, 0) + 1
                continue
            for fraction in fractions:
                keep = max(1, math.floor(fraction * len(kept)))
                copy = _copy(article, explained.blocks, kept, keep)
                if copy is None:
                    skipped[mode] = skipped.get(mode, 0) + 1
                    continue
                expected = "\n\n".join(explained.blocks[i].text for i in kept[:keep])
                p, r = ngram_prf(extract(copy).text, expected)
                scores.setdefault((mode, fraction), []).append(
                    {"id": row.get("id"), "url": row.get("url"), "keep": r, "p": p})
        seconds = time.perf_counter() - started
        per_set: dict[str, Any] = {}
        for (mode, fraction), pages in sorted(scores.items()):
            keeps = [page["keep"] for page in pages]
            per_set[f"{mode} {fraction:.0%}"] = {
                "pages": len(pages),
                "keep": sum(keeps) / len(keeps),
                "p10": percentile(keeps, 0.10),
                "p5": percentile(keeps, 0.05),
                "min": min(keeps),
                "below_target": sum(k < TARGET_KEEP for k in keeps),
                "precision": sum(page["p"] for page in pages) / len(pages),
                "per_page": pages,
            }
        result[Path(path).name] = {"cuts": per_set, "short": short, "skipped": skipped,
                                   "seconds": seconds}
    return result


def format_report(result: dict[str, Any], worst: int = 0) -> str:
    lines = [f"{'set':<30} {'cut':<9} {'pages':>5} {'keep':>6} {'p10':>6} {'p5':>6} "
             f"{'min':>6} {'<' + format(TARGET_KEEP, '.2f'):>6} {'P':>6}"]
    for name, m in result.items():
        for cut, c in m["cuts"].items():
            lines.append(f"{name:<30} {cut:<9} {c['pages']:>5} {c['keep']:>6.3f} "
                         f"{c['p10']:>6.3f} {c['p5']:>6.3f} {c['min']:>6.3f} "
                         f"{c['below_target']:>6} {c['precision']:>6.3f}")
        lines.append(f"{name:<30} pages with < {MIN_PARAGRAPHS} paragraphs: {m['short']}; "
                     f"cuts not found in the markup: {m['skipped']}")
    if worst:
        for name, m in result.items():
            for cut, c in m["cuts"].items():
                for page in sorted(c["per_page"], key=lambda page: page["keep"])[:worst]:
                    lines.append(f"  {name} {cut}: keep {page['keep']:.3f} {page['url']}")
    return "\n".join(lines)
