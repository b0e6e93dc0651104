"""Fixtures: settings per backend, the real app through aiohttp's test client, real servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from canonry.service.app import create_app
from canonry.service.config import Settings
from canonry.service.migrations import upgrade
from canonry.workers.adapters.redis.keys import RedisKeys
from tests.servers import (
    TEST_API_KEYS,
    Throwaways,
    api_client,
    create_database,
    database_url,
    delete_prefix,
    drop_database,
    redis_url,
)


@pytest.fixture(scope="session")
def throwaways() -> Iterator[Throwaways]:
    servers = Throwaways()
    yield servers
    servers.stop_all()


@pytest.fixture(scope="session")
def postgres_admin_url(throwaways: Throwaways) -> str:
    return database_url(throwaways)


@pytest.fixture(scope="session")
def redis_server_url(throwaways: Throwaways) -> str:
    """A real Redis: CANONRY_TEST_REDIS_URL, else 127.0.0.1:6379, else a throwaway one."""
    return redis_url(throwaways)


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own, so tests never see each other's keys."""
    return f"canonry-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def keys(redis_prefix: str) -> RedisKeys:
    return RedisKeys(redis_prefix)


@pytest.fixture
async def redis(redis_server_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    """A client of the real Redis (binary responses); the test's keys are deleted after."""
    client = Redis.from_url(redis_server_url)
    yield client
    await client.aclose()
    await delete_prefix(redis_server_url, redis_prefix)


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """sqlite: the embedded default; postgres: PostgreSQL with the in-process queue and index;
    redis: production — PostgreSQL, Redis Streams and the Redis LSH index."""
    return str(request.param)


@pytest.fixture
async def database(backend: str, tmp_path: Path, postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty database of the backend's kind, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'canonry.db'}"
        return
    name = f"canonry_test_{uuid.uuid4().hex[:12]}"
    url = await create_database(postgres_admin_url, name)
    yield url
    await drop_database(postgres_admin_url, name)


@pytest.fixture
async def migrated_database(database: str) -> str:
    """`database` with the schema at head, as `canonry migrate` leaves it."""
    await upgrade(database)
    return database


@pytest.fixture
async def settings(
    backend: str, migrated_database: str, redis_prefix: str, request: pytest.FixtureRequest
) -> AsyncIterator[Settings]:
    redis = request.getfixturevalue("redis_server_url") if backend == "redis" else None
    prefix = redis_prefix
    yield Settings.from_env({}, database_url=migrated_database, redis_url=redis,
                            redis_prefix=prefix, retry_backoff=0.01, max_attempts=3,
                            api_keys=TEST_API_KEYS)
    if redis:
        await delete_prefix(redis, prefix)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    async with api_client(create_app(settings)) as test_client:
        yield test_client
