"""Engine creation for both backends, and the few places where SQLite and PostgreSQL differ."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the API read while a worker writes; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=False)


def is_postgres(conn: AsyncConnection | AsyncEngine) -> bool:
    return conn.dialect.name == "postgresql"


def insert_ignoring_conflicts(conn: AsyncConnection, table: Any, rows: Any) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the connection's dialect."""
    insert = pg_insert if is_postgres(conn) else sqlite_insert
    return insert(table).values(rows).on_conflict_do_nothing()


def upsert_increment(
    conn: AsyncConnection, table: Any, keys: list[str], counter: str, rows: list[dict[str, Any]]
) -> Insert:
    """INSERT rows; where the key exists, add the row's count to the stored one instead."""
    insert = pg_insert if is_postgres(conn) else sqlite_insert
    statement = insert(table).values(rows)
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={counter: getattr(table.c, counter) + getattr(statement.excluded, counter)},
    )


async def serialize_event_order(conn: AsyncConnection) -> None:
    """Make event sequence numbers commit in order on PostgreSQL.

    Sequences hand out numbers at insert time, not commit time: without this, a change-feed
    reader could see seq 11 committed, move its cursor past 10, and never see 10. Holding a
    transaction-scoped advisory lock until the commit orders the two. Take it first in the
    transaction, before any row lock, so lock order is the same everywhere (no deadlocks). SQLite
    has a single writer, so nothing is needed there.
    """
    if is_postgres(conn):
        await conn.execute(text("SELECT pg_advisory_xact_lock(7261)"))
