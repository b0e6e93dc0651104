"""The pure part of processing an article: extract with the boilerplate learned so far, then
fingerprint. Deterministic, no I/O: this is what runs on every core (`pool.py`).

Work travels in `AnalysisBatch`es: the cross-source chrome table and each source's learned lines
once per batch, not once per article.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from canonry.workers.article import Extracted, RawArticle, source_of
from canonry.workers.clean.chrome import ChromeModel
from canonry.workers.clean.extract import extract_page
from canonry.workers.dedup.fingerprint import Fingerprint, fingerprint

EMPTY_AFTER_CLEANING = "empty_after_cleaning"
PIPELINE_ERROR = "pipeline_error"

ExtractFn = Callable[[RawArticle, ChromeModel | None], tuple[Extracted, list[str]]]


@dataclass(frozen=True, slots=True)
class Analysis:
    extracted: Extracted
    fingerprint: Fingerprint
    line_keys: list[str]


@dataclass(frozen=True, slots=True)
class AnalysisError:
    """Why an article could not be analysed. `permanent`: retrying cannot help."""

    code: str
    message: str
    permanent: bool


AnalysisResult = Analysis | AnalysisError


@dataclass(frozen=True, slots=True)
class SourceChrome:
    """What the boilerplate model knows of one source that can change a decision: pages seen,
    and its frequent lines (line key → pages it was on)."""

    pages: int
    lines: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class AnalysisBatch:
    articles: Sequence[RawArticle]
    sources: Mapping[str, SourceChrome]
    cross_source: Mapping[str, int]

    def split(self, parts: int) -> list[AnalysisBatch]:
        """Contiguous chunks, each with only the sources it needs."""
        size = -(-len(self.articles) // max(1, parts))
        chunks = []
        for start in range(0, len(self.articles), max(1, size)):
            articles = self.articles[start : start + size]
            needed = {source_of(a) for a in articles}
            chunks.append(AnalysisBatch(
                articles, {s: v for s, v in self.sources.items() if s in needed},
                self.cross_source))
        return chunks


def chrome_model(source: str, known: SourceChrome | None, cross: dict[str, int]) -> ChromeModel:
    """The model a page of `source` is cleaned with: its own lines and the cross-source ones
    (`cross` is shared, not copied)."""
    return ChromeModel(pages={source: known.pages} if known else {},
                       lines={source: dict(known.lines)} if known and known.lines else {},
                       sources_per_line=cross)


def analyse(article: RawArticle, chrome: ChromeModel | None,
            extract_fn: ExtractFn = extract_page) -> AnalysisResult:
    try:
        extracted, line_keys = extract_fn(article, chrome)
        if not extracted.match_text.strip():
            return AnalysisError(EMPTY_AFTER_CLEANING,
                                 "no article text is left after removing boilerplate", True)
        return Analysis(extracted, fingerprint(extracted.match_text), line_keys)
    except Exception as exc:  # a bug this article triggers: retried, then dead-lettered
        return AnalysisError(PIPELINE_ERROR, f"{type(exc).__name__}: {exc}", False)


def analyse_batch(batch: AnalysisBatch, extract_fn: ExtractFn = extract_page
                  ) -> list[AnalysisResult]:
    # One model per source, shared by that source's articles (the cross table is shared by all).
    cross = dict(batch.cross_source)
    models: dict[str, ChromeModel] = {}
    results = []
    for article in batch.articles:
        source = source_of(article)
        if source not in models:
            models[source] = chrome_model(source, batch.sources.get(source), cross)
        results.append(analyse(article, models[source], extract_fn))
    return results
