"""Measure extraction quality with the article-extraction-benchmark's own metric.

Tokens are lower-cased `\\w+`; per page the multisets of token 4-grams of prediction and truth
give tp/fp/fn; precision and recall are averaged over pages (per mode) and F1 is taken of the
averages. Reading the labelled file is the only I/O here; `extract` itself stays pure.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from canonry.workers.article import RawArticle
from canonry.workers.clean.extract import extract
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


def evaluate_rows(
    rows: Iterable[dict[str, Any]],
    extractor: Callable[[RawArticle], str] | None = None,
    modes: Iterable[str] | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Score `extractor` (default: the real `extract`) over labelled rows, grouped by `mode`."""
    run = extractor or (lambda article: extract(article).text)
    wanted = set(modes) if modes else None
    scores: dict[str, list[tuple[float, float]]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    pages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        mode = row.get("mode", "text" if row.get("text") is not None else "html")
        if wanted is not None and mode not in wanted:
            continue
        if limit is not None and len(scores[mode]) >= limit:
            continue
        started = time.perf_counter()
        predicted = run(_article(row))
        seconds[mode] += time.perf_counter() - started
        p, r = ngram_prf(predicted, row.get("expected_body") or "")
        scores[mode].append((p, r))
        pages[mode].append({"id": row.get("id"), "url": row.get("url"), "p": p, "r": r})
    result: dict[str, Any] = {}
    for mode, pairs in sorted(scores.items()):
        precision = sum(p for p, _ in pairs) / len(pairs)
        recall = sum(r for _, r in pairs) / len(pairs)
        result[mode] = {
            "pages": len(pairs),
            "precision": precision,
            "recall": recall,
            "f1": f1(precision, recall),
            "pages_per_s": len(pairs) / seconds[mode] if seconds[mode] else float("inf"),
            "per_page": pages[mode],
        }
    return result


def evaluate_extraction(
    path: str | Path, modes: Iterable[str] | None = None, limit: int | None = None
) -> dict[str, Any]:
    """Run the real `extract` over a labelled jsonl(.gz) file; results per mode."""
    return evaluate_rows(read_jsonl(path), modes=modes, limit=limit)


def format_report(result: dict[str, Any]) -> str:
    lines = [f"{'mode':<6} {'pages':>5} {'P':>6} {'R':>6} {'F1':>6} {'pages/s':>8}"]
    for mode, m in result.items():
        lines.append(
            f"{mode:<6} {m['pages']:>5} {m['precision']:>6.3f} {m['recall']:>6.3f} "
            f"{m['f1']:>6.3f} {m['pages_per_s']:>8.1f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a measuring aid for developers
    import sys

    print(format_report(evaluate_extraction(sys.argv[1], modes=sys.argv[2:] or None)))
