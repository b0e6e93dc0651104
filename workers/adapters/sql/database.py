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


def insert_ignoring_conflicts(conn: AsyncConnection, table: Any) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the connection's dialect; execute it with the rows
    (executemany: compiled once and cached, whatever the number of rows)."""
    insert = pg_insert if is_postgres(conn) else sqlite_insert
    return insert(table).on_conflict_do_nothing()


def upsert_increment(conn: AsyncConnection, table: Any, keys: list[str], counter: str) -> Insert:
    """INSERT rows; where the key exists, add the row's count to the stored one instead.
    Execute it with the rows."""
    insert = pg_insert if is_postgres(conn) else sqlite_insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={counter: getattr(table.c, counter) + getattr(statement.excluded, counter)},
    )


def upsert_replacing(conn: AsyncConnection, table: Any, keys: list[str],
                     columns: list[str]) -> Insert:
    """INSERT rows; where the key exists, overwrite `columns` with the row's values."""
    insert = pg_insert if is_postgres(conn) else sqlite_insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={c: getattr(statement.excluded, c) for c in columns})


async def serialize_decisions(conn: AsyncConnection) -> None:
    """Serialise the transactions that record decisions, on PostgreSQL.

    A decision transaction reads the highest feed position and hands out the next ones, and
    checks which ingests are still open: both need the transactions in one order, or a feed
    reader could see 11 committed before 10 (and skip 10 for good) and two deliveries of one
    ingest could both record it. A transaction-scoped advisory lock, taken first in the
    transaction (before any row lock, so lock order is the same everywhere: no deadlocks), gives
    that order; a batch takes it once. SQLite has a single writer, so nothing is needed there.
    """
    if is_postgres(conn):
        await conn.execute(text("SELECT pg_advisory_xact_lock(7261)"))
