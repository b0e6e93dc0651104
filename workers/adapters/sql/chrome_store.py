"""Persistence of the learned boilerplate model (`chrome.ChromeModel`) in the database.

Only the part of the model that can change a decision is ever loaded: a source's lines seen on
at least `min_pages` of its pages, and lines shared by at least `min_sources` sources. Every
page's lines are counted inside its decision's transaction, so a redelivered message never
counts a page twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from canonry.schemas.tables import chrome_line_sources, chrome_lines, chrome_sources
from canonry.workers.adapters.sql.database import insert_ignoring_conflicts, upsert_increment
from canonry.workers.analysis import SourceChrome
from canonry.workers.clean.chrome import ChromeModel

PARAMS = ChromeModel()  # thresholds, shared by what is loaded and how it is judged


async def load_sources(conn: AsyncConnection, sources: Collection[str]) -> dict[str, SourceChrome]:
    """Per source: pages seen, and its lines frequent enough to possibly be chrome."""
    wanted = sorted(sources)
    pages = dict((await conn.execute(
        select(chrome_sources.c.source, chrome_sources.c.pages)
        .where(chrome_sources.c.source.in_(wanted))
    )).all())
    lines: dict[str, dict[str, int]] = {}
    rows = await conn.execute(
        select(chrome_lines.c.source, chrome_lines.c.line_hash, chrome_lines.c.pages)
        .where(chrome_lines.c.source.in_(wanted), chrome_lines.c.pages >= PARAMS.min_pages)
    )
    for source, key, count in rows:
        lines.setdefault(source, {})[key] = count
    return {source: SourceChrome(int(count), lines.get(source, {}))
            for source, count in pages.items()}


async def load_cross_source(conn: AsyncConnection) -> dict[str, int]:
    """Lines printed by many sources (only short, non-prose ones are ever judged by this)."""
    rows = await conn.execute(
        select(chrome_line_sources.c.line_hash, chrome_line_sources.c.sources)
        .where(chrome_line_sources.c.sources >= PARAMS.min_sources)
    )
    return {key: count for key, count in rows}


_LINE_SEEN_AGAIN = (
    update(chrome_lines)
    .where(chrome_lines.c.source == bindparam("b_source"),
           chrome_lines.c.line_hash == bindparam("b_key"))
    .values(pages=chrome_lines.c.pages + bindparam("b_pages"), last_seen=bindparam("b_now"))
)


async def count_pages(
    conn: AsyncConnection, pages: Sequence[tuple[str, Sequence[str]]], now: float
) -> None:
    """Count pages, each (source, its distinct line keys), seen at `now`: one executemany per
    table for the whole batch."""
    if not pages:
        return
    per_source = Counter(source for source, _ in pages)
    await conn.execute(
        upsert_increment(conn, chrome_sources, ["source"], "pages"),
        [{"source": source, "pages": n} for source, n in sorted(per_source.items())],
    )
    per_line = Counter((source, key) for source, keys in pages for key in keys)
    if not per_line:
        return
    inserted = await conn.execute(
        insert_ignoring_conflicts(conn, chrome_lines)
        .returning(chrome_lines.c.source, chrome_lines.c.line_hash),
        [{"source": source, "line_hash": key, "pages": n, "last_seen": now}
         for (source, key), n in sorted(per_line.items())],
    )
    new = {(row.source, row.line_hash) for row in inserted}
    seen_before = [
        {"b_source": source, "b_key": key, "b_pages": n, "b_now": now}
        for (source, key), n in sorted(per_line.items()) if (source, key) not in new
    ]
    if seen_before:
        await conn.execute(_LINE_SEEN_AGAIN, seen_before)
    new_sources_per_line = Counter(key for _, key in new)
    if new_sources_per_line:
        await conn.execute(
            upsert_increment(conn, chrome_line_sources, ["line_hash"], "sources"),
            [{"line_hash": key, "sources": n} for key, n in sorted(new_sources_per_line.items())],
        )


async def prune(conn: AsyncConnection, seen_before: float, batch: int = 5000) -> int:
    """Forget up to `batch` lines seen on one page only and not since `seen_before`: article
    lines, almost all of them. Chrome recurs long before that, so nothing learned is lost, and
    the tables stay proportional to the window instead of to the whole archive."""
    stale = (
        select(chrome_lines.c.source, chrome_lines.c.line_hash)
        .where(chrome_lines.c.pages == 1, chrome_lines.c.last_seen < seen_before)
        .limit(batch)
    )
    deleted = await conn.execute(
        delete(chrome_lines)
        .where(tuple_(chrome_lines.c.source, chrome_lines.c.line_hash).in_(stale))
        .returning(chrome_lines.c.line_hash)
    )
    per_line = Counter(deleted.scalars())
    for sources, keys in _grouped(per_line).items():
        await conn.execute(
            update(chrome_line_sources)
            .where(chrome_line_sources.c.line_hash.in_(keys))
            .values(sources=chrome_line_sources.c.sources - sources)
        )
    await conn.execute(delete(chrome_line_sources).where(chrome_line_sources.c.sources <= 0))
    return sum(per_line.values())


def _grouped(per_line: Counter[str]) -> dict[int, list[str]]:
    """Line keys by how many of their sources were forgotten (one UPDATE per distinct count)."""
    groups: dict[int, list[str]] = {}
    for key, count in sorted(per_line.items()):
        groups.setdefault(count, []).append(key)
    return groups
