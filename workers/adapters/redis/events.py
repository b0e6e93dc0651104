"""`EventBus` in production: the outbox carried to a Redis stream that consumers follow with
their own consumer groups (XREADGROUP), and readers of this process woken.

Each event is added with the entry id `<seq>-0`, its feed position, by one Lua script that
skips every event at or below the stream's last id. So relaying is idempotent: two processes
relaying at once, or one relaying again after a crash between commit and publish, add each
event once, in order. After a Redis restart (an empty stream) the relay starts over from the
last `maxlen` events of the outbox: that is all a capped stream would hold anyway, and older
events stay readable from the database through GET /events.
"""

from __future__ import annotations

from redis.asyncio import Redis

from canonry.workers.adapters.memory.events import LocalEvents
from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.ports import Event, Store

RELAY_BATCH = 500

# KEYS: the stream. ARGV: maxlen, then per event: seq, type, document_id, version, ingest_id,
# at. Answers how many were added.
_ADD = """
local last_seq = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      last_seq = tonumber(string.match(info[i + 1], '^(%d+)'))
    end
  end
end
local added = 0
for i = 2, #ARGV, 6 do
  local seq = tonumber(ARGV[i])
  if seq > last_seq then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i] .. '-0',
               'type', ARGV[i + 1], 'document_id', ARGV[i + 2], 'version', ARGV[i + 3],
               'ingest_id', ARGV[i + 4], 'at', ARGV[i + 5])
    last_seq = seq
    added = added + 1
  end
end
return added
"""


class RedisEventStream:
    """store: where the outbox is; maxlen: the stream's approximate cap."""

    def __init__(self, redis: Redis, keys: RedisKeys, store: Store, maxlen: int) -> None:
        self.redis = redis
        self.key = keys.events
        self.store = store
        self.maxlen = maxlen
        self._local = LocalEvents()
        self._add = redis.register_script(_ADD)

    async def committed(self) -> None:
        await self._local.committed()
        await self.relay()

    async def wait(self, at_most: float) -> None:
        await self._local.wait(at_most)

    async def last_published(self) -> int:
        if not await self.redis.exists(self.key):
            return 0
        info = await self.redis.xinfo_stream(self.key)
        last = info["last-generated-id"]
        return int((last.decode() if isinstance(last, bytes) else last).split("-")[0])

    async def relay(self) -> int:
        published = await self.last_published()
        newest = await self.store.last_event_seq()
        after = max(published, newest - self.maxlen)
        added = 0
        while events := await self.store.events_after(after, RELAY_BATCH):
            added += int(await self._add(keys=[self.key],
                                         args=[self.maxlen, *_flatten(events)]))
            after = events[-1].seq
        return added


def _flatten(events: list[Event]) -> list[str | int]:
    values: list[str | int] = []
    for e in events:
        values += [e.seq, e.type, e.document_id, e.version, e.ingest_id or "", e.at.isoformat()]
    return values
