"""Results as JSON, a markdown table and a terminal summary; the README's table in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

README_START = "<!-- bench-table -->"
README_END = "<!-- /bench-table -->"

# Figure key → label, in the order of the table.
LABELS: dict[str, str] = {
    "corpus": "corpus",
    "fingerprint": "fingerprint (numpy MinHash, 256 perms)",
    "core_text": "core pipeline, text pages",
    "core_html": "core pipeline, HTML pages",
    "e2e_embedded": "end to end, embedded default",
    "e2e_pg_redis_1": "end to end, PostgreSQL + Redis, 1 worker",
    "e2e_pg_redis_2": "end to end, PostgreSQL + Redis, 2 workers",
    "reads_embedded": "reading it back, embedded: change feed",
    "reads_pg_redis": "reading it back, PostgreSQL + Redis: change feed",
    "ingest_single": "POST /ingest, one article, 64 connections",
    "ingest_batch100": "POST /ingest, batches of 100, 64 connections",
    "per_article_cost": "cost per article at size, embedded",
    "per_article_cost_pg_redis": "cost per article at size, PostgreSQL + Redis",
    "index_memory": "Redis LSH index: memory per document (lower is better)",
    "index_claims": "Redis LSH index: query + claim, new stories",
    "index_rebuild": "Redis LSH index: rebuild from the database",
}
OPTIONAL = frozenset({"per_article_cost_pg_redis"})  # only with --cost-production


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _latency(entry: dict[str, Any]) -> str:
    return f"p50 {_number(entry['p50_ms'])} ms, p99 {_number(entry['p99_ms'])} ms"


def ours(key: str, figure: dict[str, Any]) -> str:
    """The Canonry cell of a figure."""
    if key == "corpus":
        return (f"{figure['value']:,} articles ({figure['text_articles']:,} text, "
                f"{figure['html_articles']:,} HTML)")
    text = f"{_number(figure['value'])} {figure['unit']}"
    if key == "ingest_single":
        return f"{text}, {_latency(figure)}"
    if key == "ingest_batch100":
        return f"{text} ({_number(figure['req_per_s'])} req/s, {_latency(figure)})"
    if key.startswith("per_article_cost"):
        return f"{text} {figure['name']} ({_cpu(figure)})"
    if key == "index_memory":
        return f"{figure['value']:,.0f} B/document ({figure['documents']:,} documents)"
    if key == "index_claims":
        return f"{text} (batches of {figure['batch']}, {figure['concurrency']} in flight)"
    if key == "index_rebuild":
        return f"{text} ({figure['documents']:,} in {figure['seconds']:.1f} s)"
    if key.startswith("reads_"):
        text += (f"; events {_number(figure['events_pages']['value'])}/s as JSON pages, "
                 f"{_number(figure['events_sse']['value'])}/s as SSE")
        if "redis_stream" in figure:
            text += f", {_number(figure['redis_stream']['value'])}/s from the Redis stream"
    return text


def _cpu(entry: dict[str, Any]) -> str:
    return f"CPU {_number(entry['cpu_ms_per_article'])} ms"


def theirs(key: str, figure: dict[str, Any]) -> str:
    """The peer cell of a figure."""
    peer = figure["peer"]
    if key == "corpus":
        return f"{peer['value']:,} stories ({figure['duplicates']:,} syndicated copies)"
    text = f"{peer['name']}: {_number(peer['value'])} {peer['unit']}"
    if key == "ingest_single":
        return f"{text}, {_latency(peer)}"
    if key.startswith("per_article_cost"):
        return f"{text} ({_cpu(peer)})"
    if key == "index_memory":
        return f"{peer['name']}: {peer['value']:,.0f} B/document"
    if key == "index_rebuild":
        return f"{text} ({peer['seconds']:.1f} s)"
    return text


def ratio(key: str, figure: dict[str, Any]) -> str:
    if key == "corpus":
        return ""
    return f"{figure['value'] / figure['peer']['value']:.2f}×"


def _cost_note(figures: dict[str, Any]) -> str:
    cost = figures.get("per_article_cost")
    if cost is None:
        return ""
    filler = ("short synthetic stories (tests/synthetic.py)" if cost["prefill_kind"] ==
              "synthetic" else "the corpus")
    return (f"Cost per article: the same {cost['large']['slice']:,} corpus articles, after the "
            f"store was filled through the engine with {filler}; wall-time ratio "
            f"{cost['ratio']:.2f}, CPU ratio {cost['cpu_ratio']:.2f} (CPU of the service's "
            f"processes: API, engine, pool, workers; wall time also counts whatever else the "
            f"machine runs). ")


def markdown(results: dict[str, Any]) -> str:
    figures, meta = results["figures"], results["meta"]
    lines = ["| figure | Canonry | peer (same run) | Canonry / peer |", "| --- | --- | --- | --- |"]
    for key, label in LABELS.items():
        if key in figures:
            figure = figures[key]
            lines.append(f"| {label} | {ours(key, figure)} | {theirs(key, figure)} | "
                         f"{ratio(key, figure)} |")
    lines.append("")
    lines.append(
        f"`python -m bench{' --quick' if meta['quick'] else ''}` on {meta['cores']} cores "
        f"({meta['cpu']}), {meta['date']}, commit {meta['commit']}; load from "
        f"{meta['load_generator']}, {meta['load_seconds']:g} s per run; end-to-end figures "
        f"run from the first POST to the last ingest final; the naive loop is one process, "
        f"Canonry uses every core. {_cost_note(figures)}Whole run {meta['seconds'] / 60:.1f} "
        f"min (load average {meta['loadavg_before'][0]:.1f} before, "
        f"{meta['loadavg_after'][0]:.1f} after).")
    return "\n".join(lines)


def summary(results: dict[str, Any]) -> str:
    """One line a figure, each beside its peer."""
    lines = []
    for key, label in LABELS.items():
        figure = results["figures"].get(key)
        if figure is None:
            continue
        lines.append(f"{label:<46} {ours(key, figure):<52} {theirs(key, figure)}"
                     f"   {'(' + ratio(key, figure) + ')' if ratio(key, figure) else ''}")
    return "\n".join(lines)


def write(results: dict[str, Any], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    table = out.with_suffix(".md")
    table.write_text(markdown(results) + "\n", encoding="utf-8")
    return table


def replace_readme_table(readme: Path, table: str) -> None:
    """Replace only the lines between the two markers."""
    lines = readme.read_text(encoding="utf-8").split("\n")
    start, end = lines.index(README_START), lines.index(README_END)
    if end <= start:
        raise ValueError("README's bench-table markers are out of order")
    readme.write_text("\n".join([*lines[:start + 1], table, *lines[end:]]), encoding="utf-8")
