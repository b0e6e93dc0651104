"""`WorkQueue` on a Redis stream with a consumer group: the production queue.

A message's life: `enqueue` XADDs it; `receive` hands it to one consumer (it is then pending
for that consumer); `ack` XACKs and XDELs it; `release` moves it to the delayed-retry sorted
set, from which a later `receive` moves it back into the stream once due; `dead_letter` moves
it to the dead-letter stream. Each move is one atomic step (MULTI or a Lua script), so at any
moment an unfinished message is in exactly one place — which is what makes `drained()` exact.

Acked entries are deleted (XDEL) rather than trimmed away by MAXLEN: the stream then only holds
messages nobody has finished, and MAXLEN, which cuts the oldest entries whatever their state,
could drop one that is still pending — a message lost. The same property makes recreating the
consumer group at id 0 safe after a Redis restart (nothing already done is redelivered).

A message whose consumer died stays pending; after `claim_idle_seconds` any other consumer's
`receive` takes it over (XAUTOCLAIM). One that keeps killing its consumers is dead-lettered
once it has been delivered `max_deliveries` times (the delivery count restarts on `release`,
which re-adds the message: it only counts deliveries that ended without any answer).

Times (retry due dates, `failed_at`) come from the Redis server's clock, so workers whose
clocks disagree still agree on when a retry is due.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from canonry.workers.adapters.redis.keys import GROUP, RedisKeys
from canonry.workers.ports import DeadLetter, Delivery, QueueStats

_ENQUEUE_CHUNK = 1000  # XADDs per pipeline round trip
_PROMOTE_BATCH = 100  # due retries moved per script run (bounds the time Redis is blocked)
_REPLAY_BATCH = 100

# KEYS: delayed, stream. ARGV: batch size. Moves due retries into the stream; returns how many.
_PROMOTE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, ingest_id in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'ingest_id', ingest_id)
  redis.call('ZREM', KEYS[1], ingest_id)
end
return #due
"""

# KEYS: stream, delayed. ARGV: group, entry id, ingest id, delay (ms).
# Schedules the retry, then acks and deletes the current entry. ZADD LT: an ingest already
# waiting keeps its earlier due time (the member is the ingest id, so a retry is never doubled).
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], 'LT', now + tonumber(ARGV[4]), ARGV[3])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""

# KEYS: stream, dead. ARGV: group, entry id, ingest id, error, dead-letter MAXLEN (approximate).
# Returns the dead-letter entry id.
_DEAD_LETTER = """
local t = redis.call('TIME')
local failed_at = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*',
  'ingest_id', ARGV[3], 'error', ARGV[4], 'failed_at', failed_at, 'source_id', ARGV[2])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return id
"""

# KEYS: dead, stream. ARGV: dead-letter entry ids. Re-queues those that still exist, removes
# them from the dead-letter stream; returns their ingest ids.
_REPLAY = """
local requeued = {}
for _, id in ipairs(ARGV) do
  local found = redis.call('XRANGE', KEYS[1], id, id)
  if #found == 1 then
    local fields = found[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'ingest_id' then
        redis.call('XADD', KEYS[2], '*', 'ingest_id', fields[i + 1])
        requeued[#requeued + 1] = fields[i + 1]
      end
    end
    redis.call('XDEL', KEYS[1], id)
  end
end
return requeued
"""


def default_consumer_name() -> str:
    """hostname-pid-random: unique per process, and readable in XINFO CONSUMERS."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class RedisStreamQueue:
    """The work queue on Redis Streams, shared by every API and worker process.

    client:             a `redis.asyncio.Redis`; the caller owns it (`close()` leaves it open).
                        Its `socket_timeout`, if set, must exceed the longest `receive` wait.
    keys:               the key names (`RedisKeys`, default prefix "canonry").
    group:              the consumer group all workers share.
    consumer:           this process's name in the group; default hostname-pid-random.
    claim_idle_seconds: a message pending this long with its consumer is taken over by the
                        next `receive` anywhere: its consumer is presumed dead. Must exceed the
                        longest time one article may take, or live work gets done twice
                        (harmlessly — the ingest row and the atomic index claim guard it —
                        but wastefully).
    max_deliveries:     a message delivered this many times without any answer (no ack,
                        release or dead-letter: its consumers keep dying) is dead-lettered
                        instead of being delivered again.
    dead_letter_maxlen: the dead-letter stream is capped near this length (MAXLEN ~), oldest
                        first; the ingest rows keep every failure anyway.
    lane:               None for the live queue; a name ("backfill") for a lane of its own:
                        its own stream and retry set, the dead-letter stream shared (see
                        `adapters/lanes.py`).
    """

    def __init__(
        self,
        client: Redis,
        keys: RedisKeys | None = None,
        *,
        group: str = GROUP,
        consumer: str | None = None,
        claim_idle_seconds: float = 300.0,
        max_deliveries: int = 5,
        dead_letter_maxlen: int = 100_000,
        lane: str | None = None,
    ) -> None:
        if claim_idle_seconds < 0 or max_deliveries < 1 or dead_letter_maxlen < 1:
            raise ValueError("need claim_idle_seconds >= 0, max_deliveries >= 1 and "
                             "dead_letter_maxlen >= 1")
        self.client = client
        self.keys = keys or RedisKeys()
        self.stream_key, self.delayed_key = self.keys.queue_keys(lane)
        self.dead_key = self.keys.dead
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.claim_idle_ms = int(claim_idle_seconds * 1000)
        self.max_deliveries = max_deliveries
        self.dead_letter_maxlen = dead_letter_maxlen
        self._group_ready = False
        self._claim_cursor = "0-0"  # XAUTOCLAIM resumes its scan of the pending list here
        self._promote = client.register_script(_PROMOTE)
        self._release = client.register_script(_RELEASE)
        self._dead_letter = client.register_script(_DEAD_LETTER)
        self._replay = client.register_script(_REPLAY)

    async def ping(self) -> None:
        await self.client.ping()

    # -- WorkQueue ---------------------------------------------------------------------------
    async def enqueue(self, ingest_ids: Sequence[str]) -> None:
        for start in range(0, len(ingest_ids), _ENQUEUE_CHUNK):
            async with self.client.pipeline(transaction=False) as pipe:
                for ingest_id in ingest_ids[start : start + _ENQUEUE_CHUNK]:
                    pipe.xadd(self.stream_key, {"ingest_id": ingest_id})
                await pipe.execute()

    async def receive(self, max_count: int, wait: float) -> list[Delivery]:
        """Due retries first become stream entries, then dead consumers' messages are taken
        over, then new ones are read, waiting up to `wait` seconds (0: do not wait)."""
        if not self._group_ready:
            await self._create_group()
        await self._promote(keys=[self.delayed_key, self.stream_key], args=[_PROMOTE_BATCH])
        try:
            batch = await self._reclaim(max_count)
            if len(batch) < max_count:
                batch += await self._read(max_count - len(batch), wait if not batch else 0)
            return batch
        except ResponseError as exc:
            if not _is_nogroup(exc):
                raise
        # Redis lost the stream and its group (a restart: nothing is kept on disk). Entries
        # added since then are still there: the group is recreated at id 0 to include them.
        self._claim_cursor = "0-0"
        await self._create_group()
        return await self._read(max_count, wait)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        # XACK of a group that vanished with a Redis restart answers 0, not an error: the
        # messages are gone anyway, and the ack has nothing left to do.
        if not deliveries:
            return
        tokens = [d.token for d in deliveries]
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream_key, self.group, *tokens)
            pipe.xdel(self.stream_key, *tokens)
            await pipe.execute()

    async def release(self, deliveries: Sequence[tuple[Delivery, float]]) -> None:
        if not deliveries:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for delivery, delay in deliveries:
                await self._release(
                    keys=[self.stream_key, self.delayed_key],
                    args=[self.group, delivery.token, delivery.ingest_id,
                          max(0, round(delay * 1000))],
                    client=pipe,
                )
            await pipe.execute()

    async def dead_letter(self, deliveries: Sequence[tuple[Delivery, str]]) -> None:
        if not deliveries:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for delivery, error in deliveries:
                await self._dead_letter(
                    keys=[self.stream_key, self.dead_key],
                    args=[self.group, delivery.token, delivery.ingest_id, error,
                          self.dead_letter_maxlen],
                    client=pipe,
                )
            await pipe.execute()

    async def wait_drained(self, poll: float = 0.2) -> None:
        # A remote queue offers no event to await: poll its emptiness.
        while not await self.drained():  # noqa: ASYNC110
            await asyncio.sleep(poll)

    async def close(self) -> None:
        """Nothing to release: the client belongs to the caller."""

    # -- operators, metrics, burst mode ----------------------------------------------------------
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest `limit` dead letters, oldest first."""
        entries = await self.client.xrange(self.dead_key, count=limit)
        return [_dead_letter_of(entry_id, fields) for entry_id, fields in entries]

    async def replay(self, ingest_ids: Sequence[str] | None = None) -> list[str]:
        """Queue the dead letters of these ingests (all, when None) again and remove them from
        the dead-letter stream; returns the ingest ids queued. Unknown ids are skipped."""
        wanted = None if ingest_ids is None else set(ingest_ids)
        requeued: list[str] = []
        cursor = "-"
        while batch := await self.client.xrange(self.dead_key, min=cursor, count=_REPLAY_BATCH):
            chosen = [_text(entry_id) for entry_id, fields in batch
                      if wanted is None or _fields(fields).get("ingest_id") in wanted]
            requeued += await self._replay_ids(chosen)
            cursor = "(" + _text(batch[-1][0])
        return requeued

    async def stream_length(self) -> int:
        """Entries in the work stream: not yet delivered, or delivered and not yet answered."""
        return int(await self.client.xlen(self.stream_key))

    async def pending_count(self) -> int:
        """Messages delivered to some consumer and not yet answered."""
        try:
            summary = await self.client.xpending(self.stream_key, self.group)
        except ResponseError as exc:
            if _is_nogroup(exc):
                return 0
            raise
        return int(summary["pending"])

    async def delayed_count(self) -> int:
        """Messages waiting for a retry."""
        return int(await self.client.zcard(self.delayed_key))

    async def dead_letter_count(self) -> int:
        return int(await self.client.xlen(self.dead_key))

    async def stats(self) -> QueueStats:
        """One round trip: XLEN (the stream holds only unfinished entries: acked ones are
        deleted), the XPENDING summary, the first entry (its id is its XADD time, in the Redis
        server's clock, as TIME is), ZCARD of the retries, XLEN of the dead letters."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xlen(self.stream_key)
            pipe.xpending(self.stream_key, self.group)
            pipe.xrange(self.stream_key, count=1)
            pipe.zcard(self.delayed_key)
            pipe.xlen(self.dead_key)
            pipe.time()
            depth, pending, first, delayed, dead, now = await pipe.execute(raise_on_error=False)
        if isinstance(pending, ResponseError):
            if not _is_nogroup(pending):
                raise pending
            pending = {"pending": 0}  # no group yet: nothing was ever delivered
        for reply in (depth, first, delayed, dead, now):
            if isinstance(reply, Exception):
                raise reply
        oldest = None
        if first:
            added_ms = int(_text(first[0][0]).partition("-")[0])
            now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
            oldest = max(0.0, (now_ms - added_ms) / 1000)
        return QueueStats(depth=int(depth), pending=int(pending["pending"]),
                          delayed=int(delayed), oldest_age_seconds=oldest,
                          dead_letters=int(dead))

    async def drained(self) -> bool:
        """No work left anywhere: nothing queued, pending or waiting for a retry (dead letters
        do not count). Read in one MULTI, so a message moving between places is never missed."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xlen(self.stream_key)
            pipe.zcard(self.delayed_key)
            pipe.xpending(self.stream_key, self.group)
            stream_length, delayed, pending = await pipe.execute(raise_on_error=False)
        if isinstance(pending, ResponseError):
            if not _is_nogroup(pending):
                raise pending
            pending = {"pending": 0}
        return stream_length == 0 and delayed == 0 and pending["pending"] == 0

    # -- internals ---------------------------------------------------------------------------------
    async def _create_group(self) -> None:
        try:
            await self.client.xgroup_create(self.stream_key, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _reclaim(self, max_count: int) -> list[Delivery]:
        """Take over messages whose consumer has been silent for `claim_idle_seconds`;
        dead-letter the ones already delivered `max_deliveries` times on the way."""
        response = await self.client.xautoclaim(
            self.stream_key, self.group, self.consumer, self.claim_idle_ms,
            start_id=self._claim_cursor, count=max_count,
        )
        # The cursor may stop early (XAUTOCLAIM scans at most 10 x COUNT entries): the rest of
        # the pending list is looked at by the next receive.
        self._claim_cursor = _text(response[0])
        messages = [_delivery_of(i, f) for i, f in response[1] if i is not None]
        if not messages:
            return []
        pending = await self.client.xpending_range(
            self.stream_key, self.group, messages[0].token, messages[-1].token,
            len(messages) * 2, consumername=self.consumer)
        # XAUTOCLAIM itself counted one more delivery: the claim just made.
        delivered = {_text(p["message_id"]): int(p["times_delivered"]) - 1 for p in pending}
        taken, poisoned = [], []
        for delivery in messages:
            count = delivered.get(delivery.token, 0)
            if count < self.max_deliveries:
                taken.append(delivery)
            else:
                poisoned.append((delivery, f"delivered {count} times without an ack"))
        await self.dead_letter(poisoned)
        return taken

    async def _read(self, max_count: int, wait: float) -> list[Delivery]:
        block = max(1, round(wait * 1000)) if wait > 0 else None  # BLOCK 0 would wait forever
        response = await self.client.xreadgroup(
            self.group, self.consumer, {self.stream_key: ">"}, count=max_count, block=block)
        return [_delivery_of(i, f) for i, f in _stream_entries(response)]

    async def _replay_ids(self, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        requeued = await self._replay(keys=[self.dead_key, self.stream_key], args=list(ids))
        return [_text(i) for i in requeued]


def _stream_entries(response: Any) -> list[tuple[bytes, dict[Any, Any]]]:
    """XREADGROUP's entries of its one stream, whether the client speaks RESP2 or RESP3."""
    if not response:
        return []
    if isinstance(response, dict):
        streams = list(response.values())
        return [e for entries in streams for e in (entries[0] if entries else [])]
    return [e for _, entries in response for e in entries]


def _fields(raw: dict[Any, Any]) -> dict[str, str]:
    # str whether or not the client was made with decode_responses.
    return {_text(k): _text(v) for k, v in raw.items()}


def _delivery_of(entry_id: bytes | str, raw: dict[Any, Any]) -> Delivery:
    return Delivery(_fields(raw).get("ingest_id", ""), _text(entry_id))


def _dead_letter_of(entry_id: bytes | str, raw: dict[Any, Any]) -> DeadLetter:
    fields = _fields(raw)
    return DeadLetter(
        ingest_id=fields.get("ingest_id", ""),
        error=fields.get("error", ""),
        failed_at=float(fields.get("failed_at", "0")),
        id=_text(entry_id),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _is_nogroup(exc: Exception) -> bool:
    return str(exc).startswith("NOGROUP")
