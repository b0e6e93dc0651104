"""Measure extraction quality with the article-extraction-benchmark's own metric.

Tokens are lower-cased `\\w+`; per page the multisets of token 4-grams of prediction and truth
give tp/fp/fn; precision and recall are averaged over pages (per mode) and F1 is taken of the
averages. Reading the labelled file is the only I/O here; `extract` itself stays pure.
"""

from __future__ import annotations

import html
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trafilatura

from canonry.workers.article import RawArticle
from canonry.workers.clean.blocks import Verdict
from canonry.workers.clean.extract import explain, extract
from canonry.workers.eval.progress import progress
from canonry.workers.jsonl import read_jsonl

_WORD = re.compile(r"\w+")
NGRAM = 4


def _ngrams(text: str, n: int = NGRAM) -> Counter[tuple[str, ...]]:
    tokens = _WORD.findall(text.lower())
    if len(tokens) < n:
        # A text shorter than n tokens still says something: count it as one short gram.
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def ngram_prf(pred: str, truth: str) -> tuple[float, float]:
    """Per-page (precision, recall) over token 4-gram multisets.

    As in the benchmark: identical multisets (both empty included) score (1, 1); no shared gram
    scores (0, 0), so an empty prediction for a real article is not rewarded with precision 1.
    """
    p_grams, t_grams = _ngrams(pred), _ngrams(truth)
    if p_grams == t_grams:
        return 1.0, 1.0
    tp = sum((p_grams & t_grams).values())
    if tp == 0:
        return 0.0, 0.0
    return tp / sum(p_grams.values()), tp / sum(t_grams.values())


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _article(row: dict[str, Any]) -> RawArticle:
    return RawArticle(url=row.get("url") or "", text=row.get("text"), html=row.get("html"))


@dataclass(slots=True)
class RuleTally:
    """What one verdict took out over a set: blocks and words, and each page's score had those
    blocks been kept (a page without such blocks keeps its score): the set's F1 with the rule
    undone, so a rule that removes the article shows as a gain when it is undone."""

    pages: int = 0
    blocks: int = 0
    words: int = 0
    undone: dict[int, tuple[float, float]] = field(default_factory=dict)


def _explained_text(article: RawArticle, truth: str, page: int,
                    tallies: dict[str, RuleTally]) -> str:
    explained = explain(article)
    pairs = list(zip(explained.blocks, explained.verdicts, strict=True))
    for verdict in {v for _, v in pairs}:
        tally = tallies.setdefault(verdict.value, RuleTally())
        removed = [b.text for b, v in pairs if v is verdict]
        tally.pages += 1
        tally.blocks += len(removed)
        tally.words += sum(len(_WORD.findall(t)) for t in removed)
        if verdict is not Verdict.KEPT:
            undone = "\n\n".join(b.text for b, v in pairs if v in (Verdict.KEPT, verdict))
            tally.undone[page] = ngram_prf(undone, truth)
    return explained.extracted.text


# Page shapes the labelled body shows: its length, and whether it is laid out in short lines
# (lists, tables, steps, specs) rather than paragraphs. The sets carry no page-type labels;
# these are what a rule's fit depends on (a run of prose, a list between paragraphs).
_SHORT_LINE_WORDS = 8
_LISTY_SHARE = 0.4


def page_shape(body: str) -> str:
    """'short' / 'medium' / 'long' body (under 300, under 1,500 words, more), '+lists' when
    at least 40 % of its lines are short."""
    lines = [line for line in body.splitlines() if line.strip()]
    words = len(_WORD.findall(body))
    size = "short" if words < 300 else "medium" if words < 1500 else "long"
    short = sum(len(line.split()) < _SHORT_LINE_WORDS for line in lines)
    return size + ("+lists" if lines and short >= _LISTY_SHARE * len(lines) else "")


def trafilatura_alone(article: RawArticle) -> str:
    """The peer as the data README measures it: trafilatura 2.x with its defaults over the HTML;
    over a text, each line as a paragraph of an HTML page (what a user would hand it)."""
    if article.html:
        return trafilatura.extract(article.html, url=article.url or None) or ""
    lines = [line for line in (article.text or "").splitlines() if line.strip()]
    page = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return trafilatura.extract(f"<html><body>{page}</body></html>") or ""


def evaluate_rows(
    rows: Iterable[dict[str, Any]],
    extractor: Callable[[RawArticle], str] | None = None,
    modes: Iterable[str] | None = None,
    limit: int | None = None,
    explain_rules: bool = False,
    peer: Callable[[RawArticle], str] | None = None,
) -> dict[str, Any]:
    """Score `extractor` (default: the real `extract`) over labelled rows, grouped by `mode`;
    with `explain_rules`, tally what each verdict removed; with `peer`, score it on the same
    pages in the same run."""
    run = extractor or (lambda article: extract(article).text)
    wanted = set(modes) if modes else None
    scores: dict[str, list[tuple[float, float]]] = defaultdict(list)
    peer_scores: dict[str, list[tuple[float, float]]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    pages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    tallies: dict[str, dict[str, RuleTally]] = defaultdict(dict)
    for row in progress(rows, "eval extraction"):
        mode = row.get("mode", "text" if row.get("text") is not None else "html")
        if wanted is not None and mode not in wanted:
            continue
        if limit is not None and len(scores[mode]) >= limit:
            continue
        truth = row.get("expected_body") or ""
        article = _article(row)
        started = time.perf_counter()
        if explain_rules:
            predicted = _explained_text(article, truth, len(scores[mode]), tallies[mode])
        else:
            predicted = run(article)
        seconds[mode] += time.perf_counter() - started
        p, r = ngram_prf(predicted, truth)
        scores[mode].append((p, r))
        page: dict[str, Any] = {"id": row.get("id"), "url": row.get("url"), "p": p, "r": r,
                                "shape": page_shape(truth)}
        if peer is not None:
            peer_p, peer_r = ngram_prf(peer(article), truth)
            peer_scores[mode].append((peer_p, peer_r))
            page["peer_p"], page["peer_r"] = peer_p, peer_r
        pages[mode].append(page)
    result: dict[str, Any] = {}
    for mode, pairs in sorted(scores.items()):
        result[mode] = {
            **_averages(pairs),
            "pages_per_s": len(pairs) / seconds[mode] if seconds[mode] else float("inf"),
            "per_page": pages[mode],
        }
        if mode in peer_scores:
            result[mode]["peer"] = _averages(peer_scores[mode])
        if mode in tallies:
            result[mode]["rules"] = {
                verdict: {"blocks": t.blocks, "words": t.words, "pages": t.pages,
                          **({"f1_undone": _averages(
                              [t.undone.get(n, pair) for n, pair in enumerate(pairs)])["f1"]}
                             if verdict != Verdict.KEPT.value else {})}
                for verdict, t in sorted(tallies[mode].items(), key=lambda kv: -kv[1].words)
            }
    return result


def _averages(pairs: list[tuple[float, float]]) -> dict[str, float]:
    precision = sum(p for p, _ in pairs) / len(pairs)
    recall = sum(r for _, r in pairs) / len(pairs)
    return {"pages": len(pairs), "precision": precision, "recall": recall,
            "f1": f1(precision, recall)}


def evaluate_extraction(
    path: str | Path,
    modes: Iterable[str] | None = None,
    limit: int | None = None,
    explain_rules: bool = False,
    peer: bool = False,
) -> dict[str, Any]:
    """Run the real `extract` over a labelled jsonl(.gz) file; results per mode."""
    return evaluate_rows(read_jsonl(path), modes=modes, limit=limit,
                         explain_rules=explain_rules, peer=trafilatura_alone if peer else None)


def format_report(result: dict[str, Any]) -> str:
    peer = any("peer" in m for m in result.values())
    header = f"{'mode':<6} {'pages':>5} {'P':>6} {'R':>6} {'F1':>6} {'pages/s':>8}"
    lines = [header + ("   trafilatura alone: P      R     F1" if peer else "")]
    for mode, m in result.items():
        line = (f"{mode:<6} {m['pages']:>5} {m['precision']:>6.3f} {m['recall']:>6.3f} "
                f"{m['f1']:>6.3f} {m['pages_per_s']:>8.1f}")
        if "peer" in m:
            q = m["peer"]
            line += f"   {q['precision']:>24.3f} {q['recall']:>6.3f} {q['f1']:>6.3f}"
        lines.append(line)
    for mode, m in result.items():
        lines += ["", f"{mode} by page shape (of the labelled body)",
                  f"  {'shape':<14} {'pages':>5} {'F1':>6}" + (f" {'peer':>6}" if peer else "")]
        shapes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for page in m["per_page"]:
            shapes[page["shape"]].append(page)
        for shape, pages in sorted(shapes.items()):
            ours = _averages([(page["p"], page["r"]) for page in pages])["f1"]
            line = f"  {shape:<14} {len(pages):>5} {ours:>6.3f}"
            if peer and "peer_p" in pages[0]:
                theirs = _averages([(page["peer_p"], page["peer_r"]) for page in pages])["f1"]
                line += f" {theirs:>6.3f}"
            lines.append(line)
    for mode, m in result.items():
        if "rules" not in m:
            continue
        lines += ["", f"{mode}: what each verdict covers, and the F1 had its blocks been kept "
                      f"(now {m['f1']:.3f}: a rule that hurts shows a gain when undone)",
                  f"  {'verdict':<15} {'pages':>6} {'blocks':>7} {'words':>9} {'F1 undone':>10}"]
        for verdict, t in m["rules"].items():
            undone = f"{t['f1_undone']:>10.3f}" if "f1_undone" in t else f"{'':>10}"
            lines.append(f"  {verdict:<15} {t['pages']:>6} {t['blocks']:>7} {t['words']:>9} "
                         f"{undone}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a measuring aid for developers
    import sys

    print(format_report(evaluate_extraction(sys.argv[1], modes=sys.argv[2:] or None)))
