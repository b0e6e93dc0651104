"""Persistence of the learned boilerplate model (`chrome.ChromeModel`) in the database.

Only the part of the model that can change a decision is ever loaded: a source's lines seen on
at least `min_pages` of its pages, and lines shared by at least `min_sources` sources. Every
page's lines are counted inside its decision's transaction, so a redelivered message never
counts a page twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from canonry.schemas.tables import chrome_line_sources, chrome_lines, chrome_sources
from canonry.workers.adapters.sql.database import insert_ignoring_conflicts, upsert_increment
from canonry.workers.clean.chrome import ChromeModel

PARAMS = ChromeModel()  # thresholds, shared by what is loaded and how it is judged


async def load_source(conn: AsyncConnection, source: str) -> tuple[int, dict[str, int]]:
    """Pages seen of `source`, and its lines frequent enough to possibly be chrome."""
    pages = await conn.scalar(select(chrome_sources.c.pages).where(chrome_sources.c.source ==
                                                                    source))
    rows = await conn.execute(
        select(chrome_lines.c.line_hash, chrome_lines.c.pages)
        .where(chrome_lines.c.source == source, chrome_lines.c.pages >= PARAMS.min_pages)
    )
    return int(pages or 0), {key: count for key, count in rows}


async def load_cross_source(conn: AsyncConnection) -> dict[str, int]:
    """Lines printed by many sources (only short, non-prose ones are ever judged by this)."""
    rows = await conn.execute(
        select(chrome_line_sources.c.line_hash, chrome_line_sources.c.sources)
        .where(chrome_line_sources.c.sources >= PARAMS.min_sources)
    )
    return {key: count for key, count in rows}


def model_for(source: str, pages: int, lines: dict[str, int], cross: dict[str, int]) -> ChromeModel:
    return ChromeModel(pages={source: pages} if pages else {},
                       lines={source: dict(lines)} if lines else {},
                       sources_per_line=dict(cross))


async def observe_page(
    conn: AsyncConnection, source: str, keys: Collection[str], now: float
) -> None:
    """Count one page of `source` with these distinct line keys, seen at `now`."""
    await conn.execute(upsert_increment(conn, chrome_sources, ["source"], "pages",
                                        [{"source": source, "pages": 1}]))
    if not keys:
        return
    inserted = await conn.execute(insert_ignoring_conflicts(
        conn, chrome_lines,
        [{"source": source, "line_hash": k, "pages": 1, "last_seen": now} for k in keys]
    ).returning(chrome_lines.c.line_hash))
    new = set(inserted.scalars())
    seen_before = [k for k in keys if k not in new]
    if seen_before:
        await conn.execute(
            update(chrome_lines)
            .where(chrome_lines.c.source == source, chrome_lines.c.line_hash.in_(seen_before))
            .values(pages=chrome_lines.c.pages + 1, last_seen=now)
        )
    if new:
        await conn.execute(upsert_increment(conn, chrome_line_sources, ["line_hash"], "sources",
                                            [{"line_hash": k, "sources": 1} for k in sorted(new)]))


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
