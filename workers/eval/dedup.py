"""Measure dedup quality: the real core, in file order, over labelled articles.

extract → fingerprint → BandIndex.query → decide → add (new) / replace (upgrade), then pairwise
precision / recall / F1 of "same document" against "same cluster" over all article pairs, the
adjusted Rand index, recall per kind of copy, and throughput. Reading the file is the only I/O.

    python -m canonry.workers.eval.dedup /work/shared/data/syndication-dev.jsonl.gz [--raw]
        [--sweep] [--limit N]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from math import comb
from pathlib import Path
from typing import Any

from canonry.workers.article import Extracted, RawArticle, publisher_of, source_of
from canonry.workers.dedup.fingerprint import DEFAULT, Fingerprint, MinHashConfig, fingerprint
from canonry.workers.dedup.lsh import DEFAULT_LSH, BandIndex, IndexEntry, LSHConfig
from canonry.workers.dedup.match import (
    DEFAULT_MATCH,
    MatchConfig,
    aligned_score,
    decide,
    score,
    still_one_story,
    verified_similarity,
)
from canonry.workers.dedup.shingle import shingles
from canonry.workers.eval.progress import progress
from canonry.workers.jsonl import read_jsonl

ExtractFn = Callable[[RawArticle], Extracted]


# --- clustering metrics -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairCounts:
    both: int  # pairs together in prediction and in truth
    predicted: int  # pairs together in prediction
    true: int  # pairs together in truth
    total: int  # all pairs


def pair_counts(pred: Sequence[Hashable], truth: Sequence[Hashable]) -> PairCounts:
    """Pair counts from the contingency table: C(n,2) summed over cells, rows and columns."""
    if len(pred) != len(truth):
        raise ValueError("prediction and truth label different numbers of items")
    cells = Counter(zip(pred, truth, strict=True))
    return PairCounts(
        both=sum(comb(n, 2) for n in cells.values()),
        predicted=sum(comb(n, 2) for n in Counter(pred).values()),
        true=sum(comb(n, 2) for n in Counter(truth).values()),
        total=comb(len(pred), 2),
    )


def pairwise_prf(pred: Sequence[Hashable], truth: Sequence[Hashable]) -> tuple[float, ...]:
    """Pairwise precision, recall, F1. With no predicted (true) pairs precision (recall) is 1:
    nothing claimed, nothing wrong."""
    c = pair_counts(pred, truth)
    precision = c.both / c.predicted if c.predicted else 1.0
    recall = c.both / c.true if c.true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def adjusted_rand_index(pred: Sequence[Hashable], truth: Sequence[Hashable]) -> float:
    """Hubert & Arabie's ARI: (index - expected) / (max - expected); 1.0 when both partitions
    are trivial in the same way (the formula's 0/0)."""
    c = pair_counts(pred, truth)
    if c.total == 0:
        return 1.0
    expected = c.predicted * c.true / c.total
    maximum = (c.predicted + c.true) / 2
    if maximum == expected:
        return 1.0
    return (c.both - expected) / (maximum - expected)


# --- running the core ---------------------------------------------------------------------


def load_articles(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    return list(islice(read_jsonl(path), limit))


def raw_text(raw: RawArticle) -> Extracted:
    """No cleaning: the text as sent (or the HTML as sent). The baseline the README quotes."""
    return Extracted(text=raw.text or raw.html or "")


def _default_extract() -> ExtractFn:
    from canonry.workers.clean.extract import extract  # written alongside; imported only when used

    return extract


def _to_raw(row: dict[str, Any]) -> RawArticle:
    return RawArticle(
        url=row["url"],
        text=row.get("text"),
        html=row.get("html"),
        title=row.get("title"),
        source=row.get("source"),
    )


@dataclass(frozen=True, slots=True)
class _Prepared:
    rows: list[dict[str, Any]]
    texts: list[str]
    fingerprints: list[Fingerprint]
    extract_s: float
    fingerprint_s: float


def _prepare(
    path: str | Path, limit: int | None, extract_fn: ExtractFn | None, minhash: MinHashConfig
) -> _Prepared:
    rows = load_articles(path, limit)
    fn = extract_fn or _default_extract()
    t0 = time.perf_counter()
    texts = [fn(_to_raw(row)).match_text
             for row in progress(rows, "eval dedup: cleaning", len(rows))]
    t1 = time.perf_counter()
    fps = [fingerprint(text, minhash) for text in texts]
    t2 = time.perf_counter()
    return _Prepared(rows, texts, fps, t1 - t0, t2 - t1)


def assign_documents(
    fps: Iterable[Fingerprint], lsh: LSHConfig = DEFAULT_LSH, match: MatchConfig = DEFAULT_MATCH,
    *, texts: Sequence[str] | None = None, sites: Sequence[str] | None = None,
    on_new: Callable[[int], None] | None = None,
) -> tuple[list[str], Counter[str]]:
    """Run query → decide → add/replace in order; the document id of each article, and how
    many verdicts of each kind (plus "upgrade", and "alias": copies indexed beside their
    document) there were. Document ids are "d<first index>".
    With `texts` and `sites` (the clean texts, `publisher_of` each URL), a candidate whose
    canonical text comes from the newcomer's own site must also pass `still_one_story`, and
    candidates in doubt are compared on the texts (`match.aligned_candidates`), as in the
    worker. `fps` may be produced as it is read (`texts[i]` is read after the i-th);
    `on_new(i)` is told of each article that starts a document."""
    index = BandIndex(lsh)
    docs: list[str] = []
    verdicts: Counter[str] = Counter()
    canonical: dict[str, tuple[str, str]] = {}  # index key -> (site, text)
    for i, fp in enumerate(fps):
        confirm = text = None
        if texts is not None and sites is not None:
            text, site = texts[i], sites[i]

            def confirm(entry: IndexEntry, text: str = text, site: str = site) -> bool:
                theirs, other = canonical[entry.document_id]
                return theirs != site or still_one_story(text, other, match)

        verdict = decide(fp, index.query(fp.hashvalues), match, text=text, confirm=confirm,
                         text_of=lambda entry: canonical[entry.document_id][1])
        verdicts[verdict.kind] += 1
        entry = IndexEntry(f"d{i}", fp.text_hash, fp.hashvalues, fp.size, float(i))
        if verdict.document_id is None and on_new is not None:
            on_new(i)
        if verdict.document_id is None:
            if fp.size:  # nothing to find an empty text by
                index.add(entry)
                _keep(canonical, entry.document_id, i, texts, sites)
            docs.append(entry.document_id)
            continue
        docs.append(verdict.document_id)
        # Aliases, as the store keeps them: the canonical an upgrade replaces, and a copy that
        # told the story differently (`Verdict.alias`).
        alias = f"a{i}"
        if verdict.upgrade:
            verdicts["upgrade"] += 1
            index.add(replace(index.entry(verdict.document_id), document_id=alias,
                              alias_of=verdict.document_id))
            if verdict.document_id in canonical:
                canonical[alias] = canonical[verdict.document_id]
            index.replace(replace(entry, document_id=verdict.document_id))
            _keep(canonical, verdict.document_id, i, texts, sites)
        elif verdict.alias:
            verdicts["alias"] += 1
            index.add(replace(entry, document_id=alias, alias_of=verdict.document_id))
            _keep(canonical, alias, i, texts, sites)
    return docs, verdicts


def _keep(canonical: dict[str, tuple[str, str]], document_id: str, i: int,
          texts: Sequence[str] | None, sites: Sequence[str] | None) -> None:
    if texts is not None and sites is not None:
        canonical[document_id] = (sites[i], texts[i])


def _per_kind(rows: list[dict[str, Any]], docs: list[str]) -> dict[str, dict[str, float]]:
    """Per `kind` (and per single edit of a copy): pair recall of the article with the other
    articles of its story, and how many wrong pairs it was put in."""
    by_cluster: dict[str, list[int]] = defaultdict(list)
    by_doc: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_cluster[row["cluster"]].append(i)
        by_doc[docs[i]].append(i)
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    for i, row in enumerate(rows):
        partners = [j for j in by_cluster[row["cluster"]] if j != i]
        found = sum(1 for j in partners if docs[j] == docs[i])
        wrong = sum(1 for j in by_doc[docs[i]] if rows[j]["cluster"] != row["cluster"])
        kind = row.get("kind", "?")
        labels = [kind]
        if kind.startswith("copy:"):
            labels += [f"edit:{edit}" for edit in kind[5:].split("+")]
        for label in labels:
            stats[label].update(articles=1, pairs=len(partners), found=found, wrong=wrong)
    return {
        label: {
            "articles": s["articles"],
            "pairs": s["pairs"],
            "recall": s["found"] / s["pairs"] if s["pairs"] else 1.0,
            "wrong_pairs": s["wrong"],
        }
        for label, s in sorted(stats.items())
    }


def _errors(rows: list[dict[str, Any]], docs: list[str], limit: int = 20) -> dict[str, list]:
    merges, misses = [], []
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            same_doc, same_story = docs[i] == docs[j], rows[i]["cluster"] == rows[j]["cluster"]
            pair = (rows[i]["url"], rows[i].get("kind"), rows[j]["url"], rows[j].get("kind"))
            if same_doc and not same_story:
                merges.append(pair)
            elif same_story and not same_doc:
                misses.append(pair)
    return {"false_merges": merges[:limit], "misses": misses[:limit]}


MISS_REASONS = (
    "one side is empty",
    "would verify, never compared",
    "smaller side >= 70 % inside the larger, at under half its size",
    "share less than 70 %",
    "share nothing",
)


def _misses_by_reason(rows: list[dict[str, Any]], docs: list[str], texts: Sequence[str],
                      match: MatchConfig, minhash: MinHashConfig) -> dict[str, int]:
    """Why each missed pair (one story, two documents) was missed, on the exact shingle sets:
    one side has no text left; the pair would verify (on its signatures or its texts) but was
    never compared (no LSH band met, or each side had joined another document first); the
    smaller side lies mostly inside the larger one at a size ratio no tier accepts (one side
    kept much of its host page's prose); or the two share too little, or nothing."""
    sets: dict[int, set[str]] = {}
    prints: dict[int, Fingerprint] = {}

    def shingle_set(i: int) -> set[str]:
        if i not in sets:
            sets[i] = shingles(texts[i], minhash.word_size, minhash.char_size)
        return sets[i]

    def fingerprint_of(i: int) -> Fingerprint:
        if i not in prints:
            prints[i] = fingerprint(texts[i], minhash)
        return prints[i]

    reasons: Counter[str] = Counter()
    by_cluster: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_cluster[row["cluster"]].append(i)
    for members in by_cluster.values():
        for k, i in enumerate(members):
            for j in members[k + 1:]:
                if docs[i] == docs[j]:
                    continue
                a, b = shingle_set(i), shingle_set(j)
                if not a or not b:
                    reasons[MISS_REASONS[0]] += 1
                    continue
                fp = fingerprint_of(i)
                entry = IndexEntry(f"d{i}", fp.text_hash, fp.hashvalues, fp.size, float(i))
                if (verified_similarity(score(fingerprint_of(j), entry), match) is not None
                        or verified_similarity(aligned_score(texts[j], texts[i]), match)
                        is not None):
                    reasons[MISS_REASONS[1]] += 1
                elif len(a & b) >= match.containment * min(len(a), len(b)):
                    reasons[MISS_REASONS[2]] += 1
                else:
                    reasons[MISS_REASONS[3 if a & b else 4]] += 1
    return {reason: reasons[reason] for reason in MISS_REASONS if reasons[reason]}


def _score(rows: list[dict[str, Any]], docs: list[str]) -> dict[str, Any]:
    truth = [row["cluster"] for row in rows]
    precision, recall, f1 = pairwise_prf(docs, truth)
    counts = pair_counts(docs, truth)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "ari": adjusted_rand_index(docs, truth),
        "pairs": {"true": counts.true, "predicted": counts.predicted, "both": counts.both},
    }


def _with_learned_chrome(
    path: str | Path, limit: int | None, lsh: LSHConfig, match: MatchConfig,
    minhash: MinHashConfig,
) -> tuple[_Prepared, list[str], Counter[str], float]:
    """Extraction and decisions interleaved, as the worker runs them: each page is cleaned with
    the boilerplate its source (and every source) showed before, and a page that starts a
    document is then counted into the model (`adapters/sql/store.py`)."""
    from canonry.workers.clean.chrome import ChromeModel
    from canonry.workers.clean.extract import extract_page

    rows = load_articles(path, limit)
    model = ChromeModel()
    texts: list[str] = []
    pages: list[tuple[str, list[str]]] = []  # what each page would add to the model
    sites = [publisher_of(row["url"]) for row in rows]
    cleaning = [0.0, 0.0]  # seconds extracting, fingerprinting

    def fingerprints() -> Iterable[Fingerprint]:
        for row in progress(rows, "eval dedup: cleaning with learned chrome", len(rows)):
            raw = _to_raw(row)
            t0 = time.perf_counter()
            extracted, line_keys = extract_page(raw, model)
            t1 = time.perf_counter()
            fp = fingerprint(extracted.match_text, minhash)
            cleaning[0] += t1 - t0
            cleaning[1] += time.perf_counter() - t1
            texts.append(extracted.match_text)
            pages.append((source_of(raw), line_keys))
            yield fp

    def count(i: int) -> None:
        model.count_page(*pages[i])

    t0 = time.perf_counter()
    docs, verdicts = assign_documents(fingerprints(), lsh, match, texts=texts, sites=sites,
                                      on_new=count)
    index_s = time.perf_counter() - t0 - sum(cleaning)
    return _Prepared(rows, texts, [], cleaning[0], cleaning[1]), docs, verdicts, index_s


def evaluate_dedup(
    path: str | Path,
    limit: int | None = None,
    extract_fn: ExtractFn | None = None,
    *,
    minhash: MinHashConfig = DEFAULT,
    lsh: LSHConfig = DEFAULT_LSH,
    match: MatchConfig = DEFAULT_MATCH,
    learned_chrome: bool = False,
) -> dict[str, Any]:
    """Dedup quality over a labelled jsonl(.gz); `extract_fn` defaults to the real extract.
    `learned_chrome`: clean each page with the boilerplate model learned from the pages before
    it, as the worker does (otherwise no model: each page is cleaned on its own)."""
    if learned_chrome:
        prep, docs, verdicts, index_s = _with_learned_chrome(path, limit, lsh, match, minhash)
    else:
        prep = _prepare(path, limit, extract_fn, minhash)
        t0 = time.perf_counter()
        sites = [publisher_of(row["url"]) for row in prep.rows]
        docs, verdicts = assign_documents(prep.fingerprints, lsh, match, texts=prep.texts,
                                          sites=sites)
        index_s = time.perf_counter() - t0
    n = len(prep.rows)
    total_s = prep.extract_s + prep.fingerprint_s + index_s
    core_s = prep.fingerprint_s + index_s
    return {
        "articles": n,
        "stories": len({row["cluster"] for row in prep.rows}),
        "documents": len(set(docs)),
        **_score(prep.rows, docs),
        "verdicts": dict(verdicts),
        "per_kind": _per_kind(prep.rows, docs),
        "errors": _errors(prep.rows, docs),
        "misses_by_reason": _misses_by_reason(prep.rows, docs, prep.texts, match, minhash),
        "config": {"minhash": minhash, "lsh": lsh, "match": match},
        "pages_per_s": n / total_s if total_s else float("inf"),
        "core_pages_per_s": n / core_s if core_s else float("inf"),
    }


def sweep(
    path: str | Path,
    jaccards: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    containments: Sequence[float | None] = (None, 0.6, 0.7, 0.8, 0.9),
    limit: int | None = None,
    extract_fn: ExtractFn | None = None,
    *,
    base: MatchConfig = DEFAULT_MATCH,
    lsh: LSHConfig = DEFAULT_LSH,
) -> list[dict[str, Any]]:
    """P/R/F1/ARI over a grid of thresholds (containment None: Jaccard only). Extracts and
    fingerprints once."""
    prep = _prepare(path, limit, extract_fn, DEFAULT)
    sites = [publisher_of(row["url"]) for row in prep.rows]
    out = []
    for jaccard in jaccards:
        for containment in containments:
            config = replace(base, jaccard=jaccard, containment=containment or 2.0)
            docs, _ = assign_documents(prep.fingerprints, lsh, config, texts=prep.texts,
                                       sites=sites)
            out.append({"jaccard": jaccard, "containment": containment, **_score(prep.rows, docs)})
    return out


# --- reports ------------------------------------------------------------------------------


def format_report(result: dict[str, Any]) -> str:
    lines = [
        f"articles {result['articles']}, stories {result['stories']}, "
        f"documents {result['documents']}",
        f"pairwise precision {result['precision']:.4f}  recall {result['recall']:.4f}  "
        f"F1 {result['f1']:.4f}  ARI {result['ari']:.4f}",
        f"pairs: true {result['pairs']['true']}, predicted {result['pairs']['predicted']}, "
        f"correct {result['pairs']['both']}",
        "verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(result["verdicts"].items())),
        f"throughput: {result['pages_per_s']:.1f} pages/s end to end, "
        f"{result['core_pages_per_s']:.1f} pages/s fingerprint+index+decide",
        "",
        f"{'kind':34s} {'articles':>8s} {'pairs':>6s} {'recall':>7s} {'wrong':>6s}",
    ]
    for label, s in result["per_kind"].items():
        if "+" in label:  # combinations stay in the result; single edits summarise them
            continue
        lines.append(
            f"{label:34s} {s['articles']:8d} {s['pairs']:6d} {s['recall']:7.3f} "
            f"{s['wrong_pairs']:6d}"
        )
    if result["misses_by_reason"]:
        lines += ["", "missed pairs by reason (exact shingles):"]
        lines += [f"  {count:5d}  {reason}" for reason, count in result["misses_by_reason"].items()]
    for name in ("false_merges", "misses"):
        errors = result["errors"][name]
        if errors:
            lines += ["", f"{name} (first {len(errors)}):"]
            lines += [f"  {a} [{ka}]  ~  {b} [{kb}]" for a, ka, b, kb in errors]
    return "\n".join(lines)


def format_sweep(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| Jaccard ≥ | containment ≥ | precision | recall | F1 | ARI |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cont = "—" if r["containment"] is None else f"{r['containment']:.2f}"
        lines.append(
            f"| {r['jaccard']:.2f} | {cont} | {r['precision']:.4f} | {r['recall']:.4f} | "
            f"{r['f1']:.4f} | {r['ari']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--raw", action="store_true", help="no cleaning: text as sent")
    parser.add_argument("--sweep", action="store_true", help="threshold grid instead")
    args = parser.parse_args(argv)
    extract_fn = raw_text if args.raw else None
    if args.sweep:
        print(format_sweep(sweep(args.path, limit=args.limit, extract_fn=extract_fn)))
    else:
        print(format_report(evaluate_dedup(args.path, args.limit, extract_fn)))


if __name__ == "__main__":
    main()
