"""Database migrations: Alembic, driven from code so no alembic.ini is needed at run time.

The migration scripts ship inside the package (`canonry/schemas/migrations`). `canonry migrate`
calls `upgrade`; `serve` and `worker` call `check_schema` and refuse to start on a database that
is not at `head_revision()`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

import canonry.schemas
from canonry.workers.adapters.sql.database import is_postgres, make_engine

MIGRATIONS_DIR = Path(canonry.schemas.__file__).resolve().parent / "migrations"

# Any constant shared by all Canonry processes: concurrent `canonry migrate` runs (say, two
# deploys racing) queue up on it; the second then finds the schema at head and does nothing.
_MIGRATION_LOCK = 7262


class SchemaOutdated(Exception):
    """The database is not at the schema revision this Canonry needs."""


def alembic_config(database_url: str | None = None) -> Config:
    """An in-memory Alembic config pointing at the packaged migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        # ConfigParser interpolation: a literal % (e.g. in a password) must be doubled.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # only possible with an empty versions/ directory: a packaging bug
        raise RuntimeError(f"no migration scripts found in {MIGRATIONS_DIR}")
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(database_url: str) -> str | None:
    """The revision the database is at; None for a database Alembic never touched."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    finally:
        await engine.dispose()


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: head), in one transaction where the
    database allows (PostgreSQL DDL is transactional)."""
    engine = make_engine(database_url)
    config = alembic_config(database_url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection  # env.py uses this instead of connecting
        command.upgrade(config, revision)

    try:
        async with engine.begin() as conn:
            if is_postgres(conn):
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def check_schema(database_url: str) -> None:
    """Raise SchemaOutdated unless the database is exactly at head."""
    current, head = await current_revision(database_url), head_revision()
    if current == head:
        return
    known = {script.revision for script in ScriptDirectory.from_config(
        alembic_config()).walk_revisions()}
    if current is not None and current not in known:
        # Downgrading the code, not the database: `canonry migrate` cannot help.
        raise SchemaOutdated(
            f"database schema is at {current}, which this Canonry does not know (it needs "
            f"{head}): the database was migrated by a newer Canonry; run that version")
    shown = current if current is not None else "none (empty database)"
    raise SchemaOutdated(
        f"database schema is at {shown}, this Canonry needs {head}: run `canonry migrate`")
