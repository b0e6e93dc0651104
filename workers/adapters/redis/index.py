"""`DedupIndex` in Redis: the LSH band index shared by every worker.

The layout mirrors `lsh.BandIndex` (keys in `redis_keys.py`): a set per band key holding
document ids, a hash per document holding its entry, a sorted set by seen_at for eviction.
Band keys are computed in Python by `lsh.band_keys` only — the scripts receive them as KEYS —
so Redis stores exactly the keys the pure index would.

Every write that touches several keys is one Lua script, so no reader ever sees half an entry.
A script that must remove a document's old band memberships is given the old band keys
(computed here from the stored signature) together with the signature they were computed
from; if the stored signature changed in between, the script changes nothing and answers the
current one, and the call is retried with that ("compare and set").

After a Redis restart the index is empty until it is rebuilt from the stored signatures, and a
copy claimed against an empty index would become a second document. So, once `require_loaded`
was called (the reconciler does, in every production process), the claim script itself refuses
while the `index-loaded` marker is missing (`IndexNotReady`): checked in the same atomic step as
the claim, it also stops a batch that was mid-way when Redis restarted. The rebuild writes with
`fill`: only entries that are absent (a live writer's newer entry wins), and only while the
rebuild lock still holds the rebuilder's token, so a second restart mid-rebuild stops the load
instead of letting it half-fill the new instance.

The client must be made with `decode_responses=False`: signatures and band keys are binary.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from redis.asyncio import Redis

from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.dedup.fingerprint import decode_hashvalues, encode_hashvalues
from canonry.workers.dedup.lsh import DEFAULT_LSH, IndexEntry, LSHConfig, band_keys
from canonry.workers.ports import Claim, IndexNotReady

# Entries of the candidate ids in `ids` that are not in `skip`, flattened as
# id, hv, size, text_hash, seen_at, ... (ids whose entry hash is missing are left out).
_COLLECT = """
local function collect(ids, skip, entry_prefix)
  local found = {}
  for _, id in ipairs(ids) do
    if not skip[id] then
      local e = redis.call('HMGET', entry_prefix .. id, 'hv', 'size', 'text_hash', 'seen_at')
      if e[1] then
        found[#found + 1] = id
        for i = 1, 4 do found[#found + 1] = e[i] end
      end
    end
  end
  return found
end
"""

# KEYS: band keys. ARGV: entry key prefix. Read-only: the entries sharing a band.
_CANDIDATES = _COLLECT + """
return collect(redis.call('SUNION', unpack(KEYS)), {}, ARGV[1])
"""

# The claim (check = '1'), the guarded claim (check = '2': '1', refused while the loaded
# marker is missing) and the plain upsert (check = '0', for replace and load).
# KEYS: entry key, seen_at zset, the loaded marker, the n new band keys, then the old band
#       keys (0 or more).
# ARGV: n, document id, hv, size, text_hash, seen_at, the hv the old keys were computed from
#       ('' when none are given), check, entry key prefix, then the ids already judged (`seen`).
# Answers {0, candidates} (check only: unjudged candidates exist, nothing written),
#         {1} (the entry is indexed),
#         {2, stored hv} (the document is indexed under another signature than the old keys
#         given were computed from: nothing written; call again with that signature's keys), or
#         {3} (guarded claim and the index is not loaded: nothing written).
_UPSERT = _COLLECT + """
local n = tonumber(ARGV[1])
local doc, hv, seen_at = ARGV[2], ARGV[3], ARGV[6]
if ARGV[8] == '2' and redis.call('EXISTS', KEYS[3]) == 0 then return {3} end
if ARGV[8] ~= '0' then
  local skip = {[doc] = true}
  for i = 10, #ARGV do skip[ARGV[i]] = true end
  local found = collect(redis.call('SUNION', unpack(KEYS, 4, 3 + n)), skip, ARGV[9])
  if #found > 0 then return {0, found} end
end
local stored = redis.call('HGET', KEYS[1], 'hv')
if stored and stored ~= hv then
  if stored ~= ARGV[7] then return {2, stored} end
  for i = 4 + n, #KEYS do redis.call('SREM', KEYS[i], doc) end
end
for i = 4, 3 + n do redis.call('SADD', KEYS[i], doc) end
redis.call('HSET', KEYS[1], 'hv', hv, 'size', ARGV[4], 'text_hash', ARGV[5], 'seen_at', seen_at)
redis.call('ZADD', KEYS[2], seen_at, doc)
return {1}
"""

# The rebuild's insert: only while KEYS[1] (the rebuild lock) holds ARGV[1] (this rebuild's
# token), renewing its TTL, and only a document not indexed yet (whatever was written since the
# restart is newer than the database snapshot being loaded).
# KEYS: rebuild lock, entry key, seen_at zset, the band keys.
# ARGV: token, document id, hv, size, text_hash, seen_at, lock TTL (ms).
# Answers 1 (indexed, or already there) or 0 (the lock is not this rebuild's: nothing written).
_FILL = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
for i = 4, #KEYS do redis.call('SADD', KEYS[i], ARGV[2]) end
redis.call('HSET', KEYS[2], 'hv', ARGV[3], 'size', ARGV[4], 'text_hash', ARGV[5],
           'seen_at', ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[2])
return 1
"""

# KEYS: entry key, seen_at zset, the document's band keys.
# ARGV: document id, the hv the band keys were computed from, seen_at bound ('' for none).
# Answers 1 (removed), 0 (not indexed, or seen_at >= the bound: kept) or
#         {2, stored hv} (the signature changed: nothing written, call again).
_REMOVE = """
local stored = redis.call('HGET', KEYS[1], 'hv')
if not stored then
  redis.call('ZREM', KEYS[2], ARGV[1])  -- a clock entry without its document: drop it
  return 0
end
if stored ~= ARGV[2] then return {2, stored} end
if ARGV[3] ~= '' then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if score and tonumber(score) >= tonumber(ARGV[3]) then return 0 end
end
for i = 3, #KEYS do redis.call('SREM', KEYS[i], ARGV[1]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

_CHANGED = 2  # the scripts' "stored signature changed" answer
_NOT_LOADED = 3  # the guarded claim's "the index is not loaded" answer


class RebuildInterrupted(Exception):
    """The rebuild lock no longer holds this rebuild's token: Redis restarted (again) or the
    lock expired and another process took the rebuild over. Nothing more was written."""


class RedisIndex:
    """The shared LSH index.

    client:     a `redis.asyncio.Redis` made with `decode_responses=False`; the caller owns
                it (`close()` leaves it open).
    keys:       the key names (`RedisKeys`, default prefix "canonry").
    config:     bands x rows; must be the one every other worker and the pure `BandIndex`
                use, or band keys never meet.
    chunk_size: documents per pipeline round trip in `load`, and per step in
                `evict_older_than` (each step is short, so Redis is never blocked for long).
    """

    def __init__(
        self,
        client: Redis,
        keys: RedisKeys | None = None,
        config: LSHConfig = DEFAULT_LSH,
        *,
        chunk_size: int = 500,
    ) -> None:
        if client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisIndex needs a client with decode_responses=False")
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.client = client
        self.keys = keys or RedisKeys()
        self.config = config
        self.chunk_size = chunk_size
        self._candidates = client.register_script(_CANDIDATES)
        self._upsert = client.register_script(_UPSERT)
        self._remove = client.register_script(_REMOVE)
        self._fill = client.register_script(_FILL)
        self._guarded = False

    def require_loaded(self) -> None:
        """From now on a claim raises `IndexNotReady` while the loaded marker is missing (a
        restarted Redis before its rebuild finished). Without it (a bare index, as in tests
        of the index alone) claims never look at the marker."""
        self._guarded = True

    # -- DedupIndex ----------------------------------------------------------------------------
    async def ready(self) -> bool:
        """The loaded marker is there: the index holds every stored signature."""
        return bool(await self.client.exists(self.keys.index_loaded))

    async def candidates(self, signatures: Sequence[Sequence[int]]) -> list[list[IndexEntry]]:
        """Per signature, the entries sharing at least one band, by document id (as
        `BandIndex.query`): one read-only script per signature, one round trip in all."""
        if not signatures:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for hashvalues in signatures:
                await self._candidates(keys=self._bands(hashvalues),
                                       args=[self.keys.entry_prefix], client=pipe)
            answers = await pipe.execute()
        return [_entries(found) for found in answers]

    async def claim(self, claims: Sequence[Claim]) -> list[list[IndexEntry]]:
        """Per claim one script: the band sets' union, minus `seen` and the entry's own id, is
        returned if anything is left; otherwise the entry is inserted (replacing the document's
        older signature, if an earlier attempt indexed one). Each claim is atomic against every
        other; the batch goes in one pipeline, in order."""
        if not claims:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for claim in claims:
                await self._upsert_call(claim.entry, True, claim.seen, b"", pipe)
            answers = list(await pipe.execute())
        if any(answer[0] == _NOT_LOADED for answer in answers):
            # Claims after a refused one may have gone in (the marker appeared in between):
            # harmless, a retry of their articles ignores its own entry.
            raise IndexNotReady("the index is being rebuilt after a Redis restart")
        for position, (claim, answer) in enumerate(zip(claims, answers, strict=True)):
            if answer[0] == _CHANGED:  # an earlier attempt indexed this document: CAS again
                answers[position] = await self._write(claim.entry, check=True, seen=claim.seen,
                                                      old_hv=answer[1])
                if answers[position][0] == _NOT_LOADED:
                    raise IndexNotReady("the index is being rebuilt after a Redis restart")
        return [[] if answer[0] == 1 else _entries(answer[1]) for answer in answers]

    async def replace(self, entries: Sequence[IndexEntry]) -> None:
        await self.load(entries)

    async def remove(self, document_ids: Sequence[str]) -> None:
        for document_id in document_ids:
            hv: bytes = await self.client.hget(self.keys.entry(document_id), "hv") or b""
            while (answer := await self._remove_call(document_id, hv, None,
                                                     self.client)) not in (0, 1):
                hv = answer[1]  # the signature changed since it was read

    async def load(self, entries: Iterable[IndexEntry]) -> None:
        """Index entries in bulk (an existing entry of the same document is replaced):
        `chunk_size` upserts per pipeline round trip."""
        chunk: list[IndexEntry] = []
        for entry in entries:
            chunk.append(entry)
            if len(chunk) == self.chunk_size:
                await self._load_chunk(chunk)
                chunk = []
        if chunk:
            await self._load_chunk(chunk)

    async def fill(self, entries: Sequence[IndexEntry], lock: str, token: str,
                   lock_ttl_ms: int) -> None:
        """The rebuild's load: index the entries not indexed yet, `chunk_size` per round trip,
        each entry only while `lock` holds `token` (renewing its TTL, so a long load keeps it);
        `RebuildInterrupted` after the first chunk where it did not."""
        for start in range(0, len(entries), self.chunk_size):
            async with self.client.pipeline(transaction=False) as pipe:
                for entry in entries[start:start + self.chunk_size]:
                    await self._fill(
                        keys=[lock, self.keys.entry(entry.document_id), self.keys.seen_at,
                              *self._bands(entry.hashvalues)],
                        args=[token, entry.document_id, encode_hashvalues(entry.hashvalues),
                              entry.size, entry.text_hash, repr(entry.seen_at), lock_ttl_ms],
                        client=pipe)
                answers = await pipe.execute()
            if not all(answers):
                raise RebuildInterrupted(f"lost the rebuild lock after {start} entries")

    async def evict_older_than(self, timestamp: float) -> int:
        """Remove the documents with seen_at < `timestamp`, `chunk_size` at a time; each
        document goes in one short script (its band SREMs, DEL, ZREM)."""
        removed = 0
        while True:
            ids = await self.client.zrangebyscore(
                self.keys.seen_at, "-inf", f"({timestamp!r}", start=0, num=self.chunk_size)
            if not ids:
                return removed
            async with self.client.pipeline(transaction=False) as pipe:
                for doc in ids:
                    pipe.hget(self.keys.entry(doc.decode()), "hv")
                stored = await pipe.execute()
            async with self.client.pipeline(transaction=False) as pipe:
                for doc, hv in zip(ids, stored, strict=True):
                    await self._remove_call(doc.decode(), hv or b"", timestamp, pipe)
                answers = await pipe.execute()
            # A signature that changed in between (answer {2, hv}) is simply met again by the
            # next step, its clock entry still being older than `timestamp`.
            removed += sum(1 for a in answers if a == 1)

    async def size(self) -> int:
        return int(await self.client.zcard(self.keys.seen_at))

    async def close(self) -> None:
        """Nothing to release: the client belongs to the caller."""

    # -- maintenance -------------------------------------------------------------------------------
    async def clear(self) -> int:
        """Delete the whole index (before a rebuild); returns how many keys went. SCAN-based,
        in batches: not atomic, so only while no worker is claiming."""
        deleted = 0
        batch: list[bytes] = []
        async for key in self.client.scan_iter(match=self.keys.index_pattern, count=1000):
            batch.append(key)
            if len(batch) == 1000:
                deleted += int(await self.client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(await self.client.unlink(*batch))
        return deleted

    # -- internals ---------------------------------------------------------------------------------
    def _bands(self, hashvalues: Sequence[int]) -> list[bytes]:
        return [self.keys.band(k) for k in band_keys(tuple(hashvalues), self.config)]

    async def _upsert_call(self, entry: IndexEntry, check: bool, seen: Collection[str],
                           old_hv: bytes, client: Any) -> Any:
        """Run (or, `client` being a pipeline, queue) the upsert script."""
        new_keys = self._bands(entry.hashvalues)
        old_keys = self._bands(decode_hashvalues(old_hv)) if old_hv else []
        mode = ("2" if self._guarded else "1") if check else "0"
        return await self._upsert(
            keys=[self.keys.entry(entry.document_id), self.keys.seen_at, self.keys.index_loaded,
                  *new_keys, *old_keys],
            args=[len(new_keys), entry.document_id, encode_hashvalues(entry.hashvalues),
                  entry.size, entry.text_hash, repr(entry.seen_at), old_hv,
                  mode, self.keys.entry_prefix, *seen],
            client=client,
        )

    async def _write(self, entry: IndexEntry, check: bool, seen: Collection[str] = (),
                     old_hv: bytes = b"") -> list[Any]:
        while True:
            answer = await self._upsert_call(entry, check, seen, old_hv, self.client)
            if answer[0] != _CHANGED:
                return list(answer)
            old_hv = answer[1]

    async def _load_chunk(self, chunk: list[IndexEntry]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for entry in chunk:
                await self._upsert_call(entry, False, (), b"", pipe)
            answers = await pipe.execute()
        # Documents already indexed under another signature: once more, with its band keys.
        for entry, answer in zip(chunk, answers, strict=True):
            if answer[0] == _CHANGED:
                await self._write(entry, check=False)

    async def _remove_call(self, document_id: str, hv: bytes, before: float | None,
                           client: Any) -> Any:
        """Run (or, `client` being a pipeline, queue) the remove script."""
        keys = self._bands(decode_hashvalues(hv)) if hv else []
        return await self._remove(
            keys=[self.keys.entry(document_id), self.keys.seen_at, *keys],
            args=[document_id, hv, "" if before is None else repr(before)],
            client=client,
        )


def _entries(flat: list[bytes]) -> list[IndexEntry]:
    """IndexEntries from the scripts' flat id, hv, size, text_hash, seen_at, ... answer."""
    entries = [
        IndexEntry(
            document_id=flat[i].decode(),
            text_hash=flat[i + 3].decode(),
            hashvalues=decode_hashvalues(flat[i + 1]),
            size=int(flat[i + 2]),
            seen_at=float(flat[i + 4]),
        )
        for i in range(0, len(flat), 5)
    ]
    return sorted(entries, key=lambda e: e.document_id)
