"""Single-process figures: the fingerprint and the pure analysis, each beside its peer.

Everything here runs in the bench process itself, one core: docs/s per core.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import trafilatura
from datasketch import MinHash

from bench.corpus import Article
from bench.naive import naive_loop
from canonry.workers.analysis import Analysis, AnalysisBatch, analyse_batch
from canonry.workers.article import RawArticle
from canonry.workers.dedup.fingerprint import DEFAULT, fingerprint
from canonry.workers.dedup.shingle import shingles

try:  # the options the pipeline calls trafilatura with; the module is being edited meanwhile
    from canonry.workers.clean.parse import TRAFILATURA_OPTIONS
except ImportError:  # pragma: no cover
    TRAFILATURA_OPTIONS = {}


def _rate(count: int, run: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = run()
    return count / (time.perf_counter() - started), result


def raw(article: Article) -> RawArticle:
    return RawArticle(url=article.url, text=article.text, html=article.html,
                      source=article.source)


def warm_up(article: Article) -> None:
    """Load what the pipeline loads lazily (the language model) before any timing."""
    analyse_batch(AnalysisBatch([raw(article)], {}, {}))


def analysis_rate(articles: Sequence[Article]) -> tuple[float, list[str]]:
    """Docs/s of `analyse_batch` as a pool process runs it (first-seen sources: no learned
    chrome yet), and the clean texts it produced."""
    batch = AnalysisBatch([raw(a) for a in articles], {}, {})
    rate, results = _rate(len(articles), lambda: analyse_batch(batch))
    texts = [r.extracted.text for r in results if isinstance(r, Analysis)]  # type: ignore[union-attr]
    return rate, texts


def trafilatura_rate(articles: Sequence[Article]) -> float:
    rate, _ = _rate(len(articles), lambda: [
        trafilatura.extract(a.html, url=a.url, **TRAFILATURA_OPTIONS) for a in articles])
    return rate


def datasketch_signature(shingle_set: set[str]) -> tuple[int, ...]:
    signature = MinHash(num_perm=DEFAULT.num_perm, seed=DEFAULT.seed)
    for shingle in shingle_set:
        signature.update(shingle.encode("utf-8"))
    return tuple(int(v) for v in signature.hashvalues)


def fingerprint_figure(texts: Sequence[str]) -> dict[str, Any]:
    """Canonry's numpy MinHash against datasketch's update per shingle, both from the text
    (the same shingling either way), on clean article texts."""
    texts = [t for t in texts if t.strip()]
    for text in texts[:5]:  # the speed-up is worth something only if the values are equal
        assert fingerprint(text).hashvalues == datasketch_signature(shingles(text))
    ours, _ = _rate(len(texts), lambda: [fingerprint(t) for t in texts])
    peer, _ = _rate(len(texts), lambda: [datasketch_signature(shingles(t)) for t in texts])
    return {"value": ours, "unit": "docs/s/core", "docs": len(texts),
            "peer": {"name": "datasketch MinHash.update per shingle", "value": peer,
                     "unit": "docs/s/core"}}


def core_figures(text_pages: Sequence[Article], html_pages: Sequence[Article]
                 ) -> dict[str, dict[str, Any]]:
    warm_up(text_pages[0])
    text_rate, text_clean = analysis_rate(text_pages)
    html_rate, html_clean = analysis_rate(html_pages)
    naive = naive_loop([a.plain_text for a in text_pages])
    return {
        "fingerprint": fingerprint_figure(text_clean + html_clean),
        "core_text": {
            "value": text_rate, "unit": "docs/s/core", "docs": len(text_pages),
            "peer": {"name": "naive loop (same pages)", "value": naive["docs_per_s"],
                     "unit": "docs/s/core"}},
        "core_html": {
            "value": html_rate, "unit": "docs/s/core", "docs": len(html_pages),
            "peer": {"name": "trafilatura.extract alone", "value": trafilatura_rate(html_pages),
                     "unit": "docs/s/core", "options": TRAFILATURA_OPTIONS}},
    }
