"""The benchmark command: `python -m bench --quick` produces every figure beside its peer.

No timing thresholds: how fast this machine is says nothing about the code. What is held is
that every figure was measured (positive) with its peer, and the parts with logic of their own
(the derived corpus, the README table) do what they claim.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.corpus import Corpus
from bench.report import LABELS, OPTIONAL, README_END, README_START, replace_readme_table
from canonry.workers.dedup.shingle import shingles

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_run_measures_every_figure_with_its_peer(
    tmp_path: Path, postgres_admin_url: str, redis_server_url: str
) -> None:
    out = tmp_path / "r.json"
    env = {**os.environ, "CANONRY_TEST_DATABASE_URL": postgres_admin_url,
           "CANONRY_TEST_REDIS_URL": redis_server_url}
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=840,
                          check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(out.read_text())["figures"]
    assert set(LABELS) - OPTIONAL <= set(figures) <= set(LABELS)
    for key, figure in figures.items():
        assert figure["value"] > 0, key
        assert figure["peer"]["value"] > 0, key
        assert figure["peer"]["name"], key
    for key in ("ingest_single", "ingest_batch100"):
        assert figures[key]["p50_ms"] > 0 and figures[key]["p99_ms"] >= figures[key]["p50_ms"]
    assert figures["ingest_single"]["peer"]["p99_ms"] > 0
    cost = figures["per_article_cost"]
    assert cost["ratio"] > 0 and cost["cpu_ms_per_article"] > 0
    assert cost["peer"]["cpu_ms_per_article"] > 0
    for key in ("reads_embedded", "reads_pg_redis"):  # consumers read back every change
        reads = figures[key]
        assert reads["documents"] > 0 and reads["events_sse"]["value"] > 0, key
        assert reads["events_pages"]["events"] >= reads["documents"], key
    stream = figures["reads_pg_redis"]["redis_stream"]
    assert stream["events"] == figures["reads_pg_redis"]["events_pages"]["events"]
    assert (tmp_path / "r.md").read_text().startswith("| figure |")
    for key in figures:  # the summary prints each figure beside its peer
        assert LABELS[key] in done.stdout


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus()


def test_corpus_is_reproducible(corpus: Corpus) -> None:
    again = Corpus()
    start = corpus.generation_size + 10
    assert corpus.take(5, start=start) == again.take(5, start=start)
    assert corpus.take(5) == again.take(5)


def _base_url(derived_url: str, generation: int) -> str:
    scheme, _, rest = derived_url.partition("://")
    host, _, path = rest.partition("/")
    return f"{scheme}://{host}{path.removeprefix(f'g{generation}')}"


def test_derived_generation_is_new_stories_with_their_copies(corpus: Corpus) -> None:
    base = {a.url: a for a in corpus.take(corpus.generation_size)}
    derived = corpus.take(corpus.generation_size, start=corpus.generation_size)
    assert len(derived) == len(base)
    assert not {a.url for a in derived} & set(base)
    for article in [a for a in derived if a.text][:40]:
        original = base[_base_url(article.url, 1)]
        old, new = shingles(original.text or ""), shingles(article.text or "")
        assert len(old & new) / len(old | new) < 0.2, article.url  # a story of its own
    # Within the generation a copy still shares its new original's words.
    stories: dict[str, list[str]] = {}
    for article in derived:
        if article.text:
            stories.setdefault(article.story, []).append(article.text)
    first, second = (set(text.lower().split()) for text in
                     next(texts for texts in stories.values() if len(texts) >= 2)[:2])
    assert len(first & second) / min(len(first), len(second)) > 0.4


def test_readme_table_is_replaced_between_the_markers_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    text = f"# T\n\nbefore\n{README_START}\nold\n{README_END}\nafter\n"
    readme.write_text(text)
    replace_readme_table(readme, "| a |\n| --- |")
    expected = f"# T\n\nbefore\n{README_START}\n| a |\n| --- |\n{README_END}\nafter\n"
    assert readme.read_text() == expected
