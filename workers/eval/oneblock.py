"""One-block articles: a labelled body joined into one line (as RSS `content` often arrives),
or laid out one sentence a line (`shape="sentences"`), sent as `text`; how much of it the
extracted body keeps.

Per page: recall and precision of the output against the body with the extraction metric (token
4-gram multisets, `ngram_prf`). Reported: mean recall, the distribution (p10, min), how many
pages keep less than `TARGET_RECALL` and how many come out empty. Each labelled page counts once
(the dev sets list every page twice, once per mode, with the same body).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from canonry.workers.article import RawArticle
from canonry.workers.clean.extract import extract
from canonry.workers.clean.sentences import split_sentences
from canonry.workers.eval.extraction import ngram_prf
from canonry.workers.eval.progress import progress
from canonry.workers.jsonl import read_jsonl

TARGET_RECALL = 0.95


def one_line(body: str) -> str:
    """The body with every line break (and run of whitespace) made one space."""
    return " ".join(body.split())


def sentence_lines(body: str) -> str:
    """The body one sentence a line, no blank line."""
    return "\n".join(split_sentences(one_line(body)))


SHAPES = {"line": one_line, "sentences": sentence_lines}


def labelled_bodies(path: str | Path) -> Iterator[dict[str, Any]]:
    """(id, url, body) of each labelled page once: a jsonl(.gz) with `expected_body`, or a
    seeds directory's `expected.jsonl`."""
    path = Path(path)
    if path.is_dir():
        path = path / "expected.jsonl"
    rows: Iterable[dict[str, Any]]
    if path.name == "expected.jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        rows = read_jsonl(path)
    seen: set[str] = set()
    for row in rows:
        body = row.get("expected_body") or ""
        key = str(row.get("id") or row.get("file") or body[:200])
        if not body.strip() or key in seen:
            continue
        seen.add(key)
        url = row.get("url") or f"https://oneblock.example/{key}"
        yield {"id": key, "url": url, "body": body}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def evaluate_oneblock(
    paths: Iterable[str | Path], limit: int | None = None, shape: str = "line"
) -> dict[str, Any]:
    """Per file: the bodies in `shape` (see SHAPES) through the real `extract`, scored against
    the body."""
    reshape = SHAPES[shape]
    result: dict[str, Any] = {}
    for path in paths:
        pages: list[dict[str, Any]] = []
        started = time.perf_counter()
        for page in progress(labelled_bodies(path), f"eval oneblock {Path(path).name}"):
            if limit is not None and len(pages) >= limit:
                break
            text = extract(RawArticle(url=page["url"], text=reshape(page["body"]))).text
            p, r = ngram_prf(text, page["body"])
            pages.append({"id": page["id"], "url": page["url"], "p": p, "r": r,
                          "empty": not text.strip()})
        seconds = time.perf_counter() - started
        recalls = [page["r"] for page in pages]
        result[Path(path).name] = {
            "pages": len(pages),
            "recall": sum(recalls) / len(pages) if pages else 0.0,
            "precision": sum(page["p"] for page in pages) / len(pages) if pages else 0.0,
            "p10": percentile(recalls, 0.10),
            "min": min(recalls, default=0.0),
            "below_target": sum(r < TARGET_RECALL for r in recalls),
            "empty": sum(page["empty"] for page in pages),
            "pages_per_s": len(pages) / seconds if seconds else float("inf"),
            "per_page": pages,
        }
    return result


def format_report(result: dict[str, Any], worst: int = 0) -> str:
    lines = [f"{'set':<32} {'pages':>5} {'R':>6} {'p10':>6} {'min':>6} "
             f"{'<' + format(TARGET_RECALL, '.2f'):>6} {'empty':>5} {'P':>6}"]
    for name, m in result.items():
        lines.append(f"{name:<32} {m['pages']:>5} {m['recall']:>6.3f} {m['p10']:>6.3f} "
                     f"{m['min']:>6.3f} {m['below_target']:>6} {m['empty']:>5} "
                     f"{m['precision']:>6.3f}")
    if worst:
        for name, m in result.items():
            for page in sorted(m["per_page"], key=lambda page: page["r"])[:worst]:
                lines.append(f"  {name}: R {page['r']:.3f} P {page['p']:.3f} {page['id']}")
    return "\n".join(lines)
