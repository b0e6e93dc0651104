"""Migrations on both backends: fresh upgrade, the result equals `schemas.tables`, schema checks.

The `database` fixture runs each test on a fresh SQLite file and a fresh real PostgreSQL database.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from canonry.schemas.tables import metadata
from canonry.service.migrations import (
    MIGRATIONS_DIR,
    SchemaOutdated,
    alembic_config,
    check_schema,
    current_revision,
    head_revision,
    upgrade,
)
from canonry.workers.adapters.sql.database import make_engine

ROOT = Path(__file__).resolve().parent.parent


async def _run(database_url: str, fn: Any) -> Any:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(context, metadata)


def _snapshot(connection: Connection) -> dict[str, Any]:
    """Everything reflection sees of our tables, in a comparable form."""
    inspector = inspect(connection)
    tables = sorted(set(inspector.get_table_names()) - {"alembic_version"})

    def columns(table: str) -> list[tuple[Any, ...]]:
        return [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)]

    def unnamed(items: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
        # Names of unnamed constraints are made up by the database: compare what they cover.
        return sorted(tuple(str(item.get(k)) for k in keys) for item in items)

    return {table: {
        "columns": columns(table),
        "pk": inspector.get_pk_constraint(table)["constrained_columns"],
        "fks": unnamed(inspector.get_foreign_keys(table), "constrained_columns",
                       "referred_table", "referred_columns"),
        "indexes": unnamed(inspector.get_indexes(table), "name", "column_names", "unique"),
        "uniques": unnamed(inspector.get_unique_constraints(table), "column_names"),
    } for table in tables}


async def test_upgrade_fresh_database_reaches_head(database: str) -> None:
    assert await current_revision(database) is None
    await upgrade(database)
    assert await current_revision(database) == head_revision()
    await check_schema(database)
    await upgrade(database)  # idempotent: already at head
    await check_schema(database)


async def test_migrated_schema_equals_metadata(database: str) -> None:
    await upgrade(database)
    assert await _run(database, _differences) == []


async def test_migrations_reproduce_create_all_exactly(database: str) -> None:
    """Stricter than autogenerate (which ignores e.g. some unique constraints): reflection of
    the migrated schema equals reflection of `metadata.create_all`. Also exercises downgrade."""
    await upgrade(database)
    migrated = await _run(database, _snapshot)
    assert set(migrated) == set(metadata.tables)

    def downgrade(connection: Connection) -> None:
        config = alembic_config(database)
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    await _run(database, downgrade)
    assert await _run(database, _snapshot) == {}

    engine = make_engine(database)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()
    assert await _run(database, _snapshot) == migrated


async def test_empty_database_is_outdated(database: str) -> None:
    with pytest.raises(SchemaOutdated) as raised:
        await check_schema(database)
    message = str(raised.value)
    assert "database schema is at none" in message
    assert f"this Canonry needs {head_revision()}: run `canonry migrate`" in message


async def test_database_from_newer_canonry_is_refused(database: str) -> None:
    await upgrade(database)

    def stamp_unknown(connection: Connection) -> None:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'fffffff'")

    await _run(database, stamp_unknown)
    with pytest.raises(SchemaOutdated, match="newer Canonry"):
        await check_schema(database)


def test_migration_scripts_are_shipped() -> None:
    """Every file under schemas/migrations must be in the wheel, or a plain `pip install .`
    ships a Canonry that cannot migrate: each .py file's directory is a listed package, and
    anything else matches a package-data glob (setuptools' rules, `*` stopping at `/`)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages, package_data = set(setuptools["packages"]), setuptools.get("package-data", {})
    schemas_dir = MIGRATIONS_DIR.parent
    files = [path for path in MIGRATIONS_DIR.rglob("*")
             if path.is_file() and "__pycache__" not in path.parts]
    assert any(path.name == "env.py" for path in files)

    def shipped(path: Path) -> bool:
        parts = path.parent.relative_to(schemas_dir).parts
        package = ".".join(("canonry.schemas", *parts))
        if path.suffix == ".py" and package in packages:
            return True
        # package-data globs of this package or any enclosing one, relative to its directory
        for depth in range(len(parts) + 1):
            owner = ".".join(("canonry.schemas", *parts[:depth]))
            base = schemas_dir.joinpath(*parts[:depth])
            if any(path in set(base.glob(g)) for g in package_data.get(owner, [])):
                return True
        return False

    missing = sorted(str(path.relative_to(schemas_dir)) for path in files if not shipped(path))
    assert not missing, f"not in the wheel (see pyproject [tool.setuptools]): {missing}"
