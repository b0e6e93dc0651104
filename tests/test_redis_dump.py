"""`dump.hash_payloads` against a real Redis: the payloads are what DUMP gives for the same
hash made by HSET, RESTORE accepts them, and a corrupted one is refused."""

from __future__ import annotations

import random

import numpy as np
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from canonry.workers.adapters.redis.dump import crc64, hash_payloads, string_hash_payloads
from canonry.workers.adapters.redis.keys import RedisKeys

# Every integer encoding a listpack has, at its edges.
EDGES = [0, 1, 127, 128, -1, 4095, -4096, 4096, -4097, 32767, -32768, 32768, -32769,
         (1 << 23) - 1, -(1 << 23), 1 << 23, -(1 << 23) - 1, (1 << 31) - 1, -(1 << 31)]
LZF = 0xC3  # RDB_ENCVAL | RDB_ENC_LZF: a compressed string follows


def test_crc64_is_redis_crc64() -> None:
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA  # the check value of CRC-64/REDIS


def random_hashes(rng: random.Random, n: int, most: int) -> list[dict[int, int]]:
    hashes = []
    for _ in range(n):
        size = rng.choice([1, 2, rng.randrange(1, most + 1)])
        pool = EDGES + [rng.randrange(-(1 << 31), 1 << 31) for _ in range(size)]
        fields = rng.sample(pool, min(size, len(pool)))
        hashes.append({f: rng.choice([*EDGES, rng.randrange(0, 1 << 24)]) for f in fields})
    return hashes


def payloads_of(hashes: list[dict[int, int]]) -> list[bytes]:
    counts = [len(h) for h in hashes]
    fields = [f for h in hashes for f in h]
    values = [v for h in hashes for v in h.values()]
    payloads = hash_payloads(np.array(counts), np.array(fields), np.array(values))
    assert payloads.span(0, len(payloads)) == payloads.blob  # back to back
    return [payloads[i] for i in range(len(payloads))]


async def test_payloads_equal_redis_own_dump(redis: Redis, keys: RedisKeys) -> None:
    rng = random.Random(7)
    hashes = random_hashes(rng, 300, 200)
    # 16-bit fields only: the lookup-table path the index uses
    hashes += [{f: rng.randrange(0, 1 << 20) for f in rng.sample(range(-32768, 32768), k)}
               for k in (1, 50, 96, 300)]
    payloads = payloads_of(hashes)
    compared = 0
    for i, (fields, payload) in enumerate(zip(hashes, payloads, strict=True)):
        made = f"{keys.root}:made:{i}"
        await redis.hset(made, mapping=fields)
        own = await redis.dump(made)
        if own[1] != LZF:  # Redis compresses a listpack LZF saves bytes on; ours never is
            assert own == payload, f"hash {i} ({len(fields)} fields)"
            compared += 1
        restored = f"{keys.root}:restored:{i}"
        await redis.restore(restored, 0, payload)
        assert await redis.hgetall(restored) == await redis.hgetall(made)
        assert await redis.object("ENCODING", restored) == await redis.object("ENCODING", made)
    assert compared > len(hashes) // 2
    await redis.unlink(*(f"{keys.root}:{kind}:{i}" for kind in ("made", "restored")
                         for i in range(len(hashes))))


async def test_id_map_payloads_equal_redis_own_dump(redis: Redis, keys: RedisKeys) -> None:
    maps = [[(n, f"doc_{n:026x}") for n in range(128)], [(0, "a")], [(5, "x" * 63), (7, "é")]]
    payloads = string_hash_payloads(maps)
    assert payloads is not None
    for i, pairs in enumerate(maps):
        made = f"{keys.root}:made:{i}"
        await redis.hset(made, mapping=dict(pairs))
        own = await redis.dump(made)
        if own[1] != LZF:
            assert own == payloads[i]
        restored = f"{keys.root}:restored:{i}"
        await redis.restore(restored, 0, payloads[i])
        assert await redis.hgetall(restored) == await redis.hgetall(made)
    # what Redis would store otherwise: left to HSET
    assert string_hash_payloads([[(0, "12")]]) is None
    assert string_hash_payloads([[(0, "x" * 64)]]) is None
    assert string_hash_payloads([[(0, "012")]]) is not None  # not canonical: a string


async def test_a_large_hash_is_converted_as_hset_would(redis: Redis, keys: RedisKeys) -> None:
    limit = int((await redis.config_get("hash-max-listpack-entries"))["hash-max-listpack-entries"])
    fields = {f: f * 3 for f in range(limit + 10)}
    [payload] = payloads_of([fields])
    made, restored = f"{keys.root}:made", f"{keys.root}:restored"
    await redis.hset(made, mapping=fields)
    await redis.restore(restored, 0, payload)
    assert await redis.object("ENCODING", restored) == await redis.object("ENCODING", made)
    assert await redis.hgetall(restored) == await redis.hgetall(made)
    await redis.unlink(made, restored)


async def test_a_corrupted_payload_is_refused(redis: Redis, keys: RedisKeys) -> None:
    [payload] = payloads_of([{1: 2, 3: 4}])
    broken = payload[:5] + bytes([payload[5] ^ 1]) + payload[6:]
    with pytest.raises(ResponseError, match="checksum"):
        await redis.restore(f"{keys.root}:broken", 0, broken)
    assert not await redis.exists(f"{keys.root}:broken")


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="add up"):
        hash_payloads(np.array([2]), np.array([1]), np.array([1]))
    with pytest.raises(ValueError, match="32-bit"):
        hash_payloads(np.array([1]), np.array([1 << 31]), np.array([1]))
