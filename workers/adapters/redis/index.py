"""`DedupIndex` in Redis: the LSH band index shared by every worker, in about 1 KB a document.

Layout (key names in `keys.py`; band addressing in `dedup/buckets.py`):

- The index is cut into *segments*, one or a few per time generation (`generation_seconds`,
  by the document's seen_at). Eviction drops whole generations (`evict_older_than`): a few
  UNLINKs of known key names, never a scan of bands. The price: a document stays until its
  whole generation is older than the cutoff (up to one generation past the window).
- A segment has B buckets, small Redis hashes that stay listpack-encoded (~`fill` fields
  each): a band goes to bucket `u % B` under a 16-bit field `f` (both from a hash of the band
  key), its value the segment-local integer ids having that band ("7", or "7,912"). About 10
  bytes per band and document (~940 B a document at 100 k, used_memory), instead of a
  ~250-byte set per band and a 1.7 KB entry hash (~27 KB).
- B is chosen when the segment opens: for as many documents as the previous generation held
  (the rebuild: as many as it loads). When a segment is full, the next part of the same
  generation opens with twice the buckets, so an underestimate costs a segment, not hash
  tables.
- Local id -> document id: hashes of 128 ids each. There is no reverse map: the claim script
  compares document ids, a removed document is a tombstone (`dead`) until its postings'
  generations go, and a retried claim of a document simply indexes it once more.
- Signatures are not in Redis: the database holds every committed one, fetched in one query
  per batch (`signatures`, the store's `index_entries_of`). Only a claimed document that is not
  committed yet keeps its entry here (`pending`), since a rival worker must verify against it;
  `committed` deletes it, a TTL catches a worker that died first.

A candidate here is a superset of `BandIndex.query`'s: the same band always lands in the same
bucket and field, so none is lost; a different band meets it with probability ~fill/2**16 per
lookup (a false candidate, dropped by verification).

Every write is one Lua script per document, so no reader sees half an entry, and each claim is
atomic against every other ("insert me unless an unjudged candidate exists"). After a Redis
restart the index is empty until rebuilt; once `require_loaded` was called the claim script
itself refuses while the `index-loaded` marker is missing (`IndexNotReady`). The rebuild writes
with `fill`, only while the rebuild lock still holds the rebuilder's token.

All keys share the `{prefix}` hash tag: the scripts build key names while running (buckets of
every segment, id maps), which Redis Cluster allows only within one slot.

The client must be made with `decode_responses=False`: pending entries are binary.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from redis.asyncio import Redis

from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.dedup.buckets import (
    DEFAULT_LAYOUT,
    BucketLayout,
    band_address_arrays,
    generation_of,
)
from canonry.workers.dedup.fingerprint import decode_hashvalues, encode_hashvalues
from canonry.workers.dedup.lsh import DEFAULT_LSH, IndexEntry, LSHConfig
from canonry.workers.ports import Claim, IndexNotReady, SignatureSource

# The document ids (and pending entries, '' when none) of every segment's postings under the
# bands given, minus `skip` and the tombstones: id, pending, id, pending, ...
# `bands`: u1, f1, ..., u_nb, f_nb (`unpack_bands`).
_COLLECT = """
local function unpack_bands(blob, nb)  -- u1, f1, u2, f2, ...: uint32 and int32, little-endian
  return {struct.unpack('<' .. string.rep('I4i4', nb), blob)}
end

local function collect(pre, segs, nb, bands, skip, seen_values)
  local out, got = {}, {}
  for j = 1, #segs, 2 do
    local sp, buckets = pre .. segs[j], tonumber(segs[j + 1])
    local lids, done, values = {}, {}, {}
    for i = 0, nb - 1 do
      local key = sp .. ':b:' .. (bands[2 * i + 1] % buckets)
      local v = redis.call('HGET', key, bands[2 * i + 2])
      values[i] = v
      if v then
        for lid in string.gmatch(v, '%d+') do lids[#lids + 1] = tonumber(lid) end
      end
    end
    if seen_values then seen_values[segs[j]] = values end
    for _, lid in ipairs(lids) do
      if not done[lid] then
        done[lid] = true
        local d = redis.call('HGET', sp .. ':i:' .. math.floor(lid / 128), lid % 128)
        if d and not skip[d] and not got[d] then
          got[d] = true
          if redis.call('HEXISTS', pre .. 'dead', d) == 0 then
            out[#out + 1] = d
            out[#out + 1] = redis.call('GET', pre .. 'p:' .. d) or ''
          end
        end
      end
    end
  end
  return out
end
"""

# KEYS: segments. ARGV: index prefix, nb, the bands (`_band_args`). Read-only.
_CANDIDATES = _COLLECT + """
local nb = tonumber(ARGV[2])
return collect(ARGV[1], redis.call('HGETALL', KEYS[1]), nb, unpack_bands(ARGV[3], nb), {}, nil)
"""

# Claim (mode '1'), guarded claim ('2': refused while the loaded marker KEYS[3] is missing)
# and upsert ('0': replace).
# KEYS: segments, counts, the loaded marker.
# ARGV: mode, index prefix, document id, time generation, pending entry ('' for none: the
#       store has it), pending TTL ms, (unused), (unused), fill, min buckets, bands, nb,
#       the bands (`_band_args`), then the ids already judged (`seen`).
# Answers {0, candidates} (a claim met unjudged candidates: nothing written), {1} (indexed)
#         or {3} (guarded claim, index not loaded).
_ADD = _COLLECT + """
local mode, pre, doc, t = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if mode == '2' and redis.call('EXISTS', KEYS[3]) == 0 then return {3} end
local nb = tonumber(ARGV[12])
local addr = unpack_bands(ARGV[13], nb)
local segs = redis.call('HGETALL', KEYS[1])
local seen_values = {}  -- the claim's reads of each segment's fields, reused by the insert
if mode == '1' or mode == '2' then
  local skip = {[doc] = true}
  for i = 14, #ARGV do skip[ARGV[i]] = true end
  local found = collect(pre, segs, nb, addr, skip, seen_values)
  if #found > 0 then return {0, found} end
end
local fill, minb, bands = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
-- The segment taking generation t's new documents: its last part.
local cur, curk, curb = nil, -1, 0
local tn, prev = tonumber(t), nil
for j = 1, #segs, 2 do
  local st, sk = string.match(segs[j], '^(-?%d+)%.(%d+)$')
  local stn = tonumber(st)
  if st == t and tonumber(sk) > curk then
    cur, curk, curb = segs[j], tonumber(sk), tonumber(segs[j + 1])
  elseif stn < tn and (prev == nil or stn > prev) then
    prev = stn
  end
end
if cur then
  local n = tonumber(redis.call('HGET', KEYS[2], cur) or '0')
  if n >= math.max(1, math.floor(curb * fill / bands)) then  -- full: a part twice as large
    curk, curb = curk + 1, curb * 2
    cur = t .. '.' .. curk
    redis.call('HSET', KEYS[1], cur, curb)
  end
else  -- a new generation, sized for as many documents as the previous one holds
  local prev_n = 0
  if prev then
    for j = 1, #segs, 2 do
      if string.match(segs[j], '^(-?%d+)%.') == tostring(prev) then
        prev_n = prev_n + tonumber(redis.call('HGET', KEYS[2], segs[j]) or '0')
      end
    end
  end
  cur, curb = t .. '.0', math.max(minb, math.ceil(prev_n * bands / fill))
  redis.call('HSET', KEYS[1], cur, curb)
end
local lid = redis.call('HINCRBY', KEYS[2], cur, 1)
redis.call('HSET', pre .. cur .. ':i:' .. math.floor(lid / 128), lid % 128, doc)
local sp, known = pre .. cur .. ':b:', seen_values[cur]
for i = 0, nb - 1 do
  local key, f = sp .. (addr[2 * i + 1] % curb), addr[2 * i + 2]
  local v
  if known then v = known[i] else v = redis.call('HGET', key, f) end
  if v then redis.call('HSET', key, f, v .. ',' .. lid) else redis.call('HSET', key, f, lid) end
end
redis.call('HDEL', pre .. 'dead', doc)
if ARGV[5] ~= '' then
  redis.call('SET', pre .. 'p:' .. doc, ARGV[5], 'PX', ARGV[6])
else
  redis.call('DEL', pre .. 'p:' .. doc)
end
return {1}
"""

# KEYS: segments, tombstones. ARGV: index prefix, document id. The document's postings stay
# (they expire with their generations) but no query returns it until it is claimed again.
_REMOVE = """
local newest = nil
local segs = redis.call('HKEYS', KEYS[1])
for _, seg in ipairs(segs) do
  local t = tonumber(string.match(seg, '^(-?%d+)%.'))
  if newest == nil or t > newest then newest = t end
end
redis.call('DEL', ARGV[1] .. 'p:' .. ARGV[2])
if newest == nil then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], newest)
return 1
"""

# KEYS: segments, counts, dropping. ARGV: segment. Takes a segment out of every query at once
# and records it as being deleted (its keys go afterwards, in chunks). Answers its documents.
_DETACH = """
local buckets = redis.call('HGET', KEYS[1], ARGV[1])
if not buckets then return -1 end
local n = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], buckets .. ' ' .. n)
return n
"""

# The bulk load's reservation: for `n` documents of generation t, the segment part taking them
# (the current one if it has room, else a new one with buckets for them, at least twice the
# current one's) and the first of the n local ids reserved there.
# KEYS: segments, counts, the lock (else anything). ARGV: token ('' for no lock check), lock
#       TTL ms, t, n, buckets for n, fill, bands.
# Answers {segment, buckets, first id}, or 0 (the lock is not ours: nothing written).
_RESERVE = """
if ARGV[1] ~= '' then
  if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
local t, n, want = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local fill, bands = tonumber(ARGV[6]), tonumber(ARGV[7])
local cur, curk, curb = nil, -1, 0
for _, seg in ipairs(redis.call('HKEYS', KEYS[1])) do
  local st, sk = string.match(seg, '^(-?%d+)%.(%d+)$')
  if st == t and tonumber(sk) > curk then cur, curk = seg, tonumber(sk) end
end
if cur then
  curb = tonumber(redis.call('HGET', KEYS[1], cur))
  local used = tonumber(redis.call('HGET', KEYS[2], cur) or '0')
  if used + n > math.floor(curb * fill / bands) then
    curk, curb = curk + 1, math.max(want, 2 * curb)
    cur = t .. '.' .. curk
    redis.call('HSET', KEYS[1], cur, curb)
  end
else
  cur, curb = t .. '.0', want
  redis.call('HSET', KEYS[1], cur, curb)
end
local last = redis.call('HINCRBY', KEYS[2], cur, n)
return {cur, curb, last - n + 1}
"""

# The bulk load's write. KEYS: the lock (else anything). ARGV: token ('' for no lock check),
# lock TTL ms, segment key prefix, then either
#   'b', per bucket (number, k) as little-endian int32 pairs, and per posting (field, local id)
#        likewise, sorted by bucket, k distinct fields per bucket (a value already there is
#        kept, the new id appended), or
#   'm', then per hash: its key suffix (":i:<n>" an id map, ":b:<n>" a bucket), k, then k
#        field/value pairs (a bucket's value already there is kept, the new ids appended: the
#        rare fields that several postings of one load share, "7,912").
# Binary postings: the numbers are unpacked in C (`struct`), not parsed arg by arg.
# Answers 1, or 0 (the lock is not ours: nothing written).
_BULK = """
if ARGV[1] ~= '' then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local sp = ARGV[3]
if ARGV[4] == 'm' then
  local i = 5
  while i <= #ARGV do
    local key, k = sp .. ARGV[i], tonumber(ARGV[i + 1])
    if string.sub(ARGV[i], 1, 3) == ':b:' then
      for j = i + 2, i + 2 * k, 2 do
        local old = redis.call('HGET', key, ARGV[j])
        redis.call('HSET', key, ARGV[j], old and (old .. ',' .. ARGV[j + 1]) or ARGV[j + 1])
      end
    else
      redis.call('HSET', key, unpack(ARGV, i + 2, i + 1 + 2 * k))
    end
    i = i + 2 + 2 * k
  end
  return 1
end
local head, body, hp, bp, formats = ARGV[5], ARGV[6], 1, 1, {}
for _ = 1, #head / 8 do
  local b, k
  b, k, hp = struct.unpack('<i4i4', head, hp)
  local format = formats[k]
  if not format then
    format = '<' .. string.rep('i4', 2 * k)
    formats[k] = format
  end
  local v = {struct.unpack(format, body, bp)}
  bp = v[2 * k + 1]
  local key, fields = sp .. ':b:' .. b, {}
  for j = 1, k do fields[j] = v[2 * j - 1] end
  local old = redis.call('HMGET', key, unpack(fields))
  for j = 1, k do  -- a live writer's ids there already: keep them
    if old[j] then v[2 * j] = old[j] .. ',' .. v[2 * j] end
  end
  redis.call('HSET', key, unpack(v, 1, 2 * k))
end
return 1
"""

# Documents addressed at once: every chunk touches nearly every bucket of the segment, so one
# chunk per generation is the aim (10 bytes per posting, ~210 MB at the cap).
_BULK_DOCUMENTS = 250_000
_BULK_BUCKETS = 500  # buckets per bulk script call (~32 k postings: ~10 ms of Redis)
_BULK_MAPS = 50  # id maps per bulk script call
_NOT_LOADED = 3  # the guarded claim's "the index is not loaded" answer
_IDS_PER_MAP = 128  # local ids per id-map hash (mirrored in the scripts)


class RebuildInterrupted(Exception):
    """The rebuild lock no longer holds this rebuild's token: Redis restarted (again) or the
    lock expired and another process took the rebuild over. Nothing more was written."""


class RedisIndex:
    """The shared LSH index.

    client:     a `redis.asyncio.Redis` made with `decode_responses=False`; the caller owns
                it (`close()` leaves it open).
    keys:       the key names (`RedisKeys`, default prefix "canonry").
    signatures: where committed documents' entries are read for verification (the store).
                None: only pending (claimed, uncommitted) entries can be returned; for tests of
                claims alone and the benchmark.
    config:     bands x rows; must be the one every other worker and the pure `BandIndex`
                use, or band keys never meet.
    layout:     field width and bucket fill (`BucketLayout`); fleet-wide, like `config`.
    generation_seconds: the eviction granularity; a quarter of the dedup window is a fair
                choice (memory: up to 1.25 windows held; a query reads every live segment).
    pending_seconds: how long a claimed document's entry stays when no commit says it is in
                the store (a worker died in between).
    chunk_size: documents per pipeline round trip in `load`/`fill`, keys per UNLINK.
    """

    def __init__(
        self,
        client: Redis,
        keys: RedisKeys | None = None,
        config: LSHConfig = DEFAULT_LSH,
        *,
        signatures: SignatureSource | None = None,
        layout: BucketLayout = DEFAULT_LAYOUT,
        generation_seconds: float = 7 * 86400.0,
        pending_seconds: float = 3600.0,
        chunk_size: int = 500,
    ) -> None:
        if client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisIndex needs a client with decode_responses=False")
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        if generation_seconds <= 0 or pending_seconds <= 0:
            raise ValueError("generation_seconds and pending_seconds must be positive")
        self.client = client
        self.keys = keys or RedisKeys()
        self.config = config
        self.signatures = signatures
        self.layout = layout
        self.generation_seconds = generation_seconds
        self.pending_ms = max(1, int(pending_seconds * 1000))
        self.chunk_size = chunk_size
        self._candidates = client.register_script(_CANDIDATES)
        self._add = client.register_script(_ADD)
        self._remove = client.register_script(_REMOVE)
        self._detach = client.register_script(_DETACH)
        self._reserve = client.register_script(_RESERVE)
        self._write_bulk = client.register_script(_BULK)
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
        """Per signature, the entries sharing (at least) a bucketed band, by document id:
        one read-only script per signature in one round trip, then one store query."""
        if not signatures:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for hashvalues in signatures:
                await self._candidates(keys=[self.keys.segments],
                                       args=[self.keys.index_prefix, self.config.bands,
                                             _band_args(tuple(hashvalues), self.config,
                                                        self.layout)],
                                       client=pipe)
            answers = await pipe.execute()
        resolved = await self._resolve(answers)
        return [_sorted([resolved[d] for d in _ids(found) if d in resolved])
                for found in answers]

    async def claim(self, claims: Sequence[Claim]) -> list[list[IndexEntry]]:
        """Per claim one script: the candidates of every segment, minus `seen`, the entry's
        own id and tombstones, are returned if any is left; otherwise the entry is inserted
        (with its pending entry, for rivals to verify against until `committed`). Each claim
        is atomic against every other; the batch goes in one pipeline, in order."""
        if not claims:
            return []
        mode = "2" if self._guarded else "1"
        async with self.client.pipeline(transaction=False) as pipe:
            for claim in claims:
                await self._add_call(claim.entry, mode, claim.seen, pipe)
            answers = list(await pipe.execute())
        if any(answer[0] == _NOT_LOADED for answer in answers):
            # Claims after a refused one may have gone in (the marker appeared in between):
            # harmless, a retry of their articles ignores its own entry.
            raise IndexNotReady("the index is being rebuilt after a Redis restart")
        resolved = await self._resolve([a[1] for a in answers if a[0] == 0])
        results: list[list[IndexEntry]] = []
        for claim, answer in zip(claims, answers, strict=True):
            if answer[0] == 1:
                results.append([])
                continue
            found = [resolved[d] for d in _ids(answer[1]) if d in resolved]
            if not found:  # only unverifiable ids (a claim that died uncommitted): go past them
                found = await self._claim_past(claim, mode, set(_ids(answer[1])))
            results.append(_sorted(found))
        return results

    async def committed(self, document_ids: Sequence[str]) -> None:
        """These documents are in the store now: their pending entries can go."""
        if document_ids:
            await self.client.unlink(*(self.keys.pending(d) for d in document_ids))

    async def replace(self, entries: Sequence[IndexEntry]) -> None:
        """New signatures of documents (their store rows already updated). The old postings
        stay until their generation goes: they lead to the same document, whose current
        signature verification reads."""
        async with self.client.pipeline(transaction=False) as pipe:
            for entry in entries:
                await self._add_call(entry, "0", (), pipe, pending=False)
            await pipe.execute()

    async def remove(self, document_ids: Sequence[str]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for document_id in document_ids:
                await self._remove(keys=[self.keys.segments, self.keys.tombstones],
                                   args=[self.keys.index_prefix, document_id], client=pipe)
            await pipe.execute()

    async def load(self, entries: Iterable[IndexEntry]) -> None:
        """Index entries in bulk (`fill` without a lock)."""
        await self._bulk(list(entries), "", "", 0)

    async def fill(self, entries: Sequence[IndexEntry], lock: str, token: str,
                   lock_ttl_ms: int) -> None:
        """The rebuild's load: only while `lock` holds `token` (each step renews its TTL, so
        a long load keeps it); `RebuildInterrupted` at the first step where it did not.
        Whatever a live writer indexed meanwhile stays (it is newer; a second posting of the
        same document is harmless: verification reads the store's entry)."""
        await self._bulk(entries, lock, token, lock_ttl_ms)

    async def evict_older_than(self, timestamp: float) -> int:
        """Drop every generation whose whole span is older than `timestamp` (documents of the
        generation `timestamp` falls in stay until it is over); how many documents went.
        Each segment is first taken out of every query in one step, then its keys go, in
        chunks; a segment left half-deleted by a crash is finished at the next call."""
        removed = 0
        for segment in await self._segments():
            end = (_generation(segment) + 1) * self.generation_seconds
            if end <= timestamp:
                n = int(await self._detach(keys=[self.keys.segments, self.keys.counts,
                                                 self.keys.dropping], args=[segment]))
                removed += max(n, 0)
        for segment, value in (await self.client.hgetall(self.keys.dropping)).items():
            buckets, n = (int(x) for x in value.split())
            await self._delete_segment(segment.decode(), buckets, n)
        await self._prune_tombstones()
        return removed

    async def size(self) -> int:
        """Documents indexed (a retried claim or a replace counts again, a removal does not
        subtract, until their generation goes)."""
        return sum(int(n) for n in await self.client.hvals(self.keys.counts))

    async def close(self) -> None:
        """Nothing to release: the client belongs to the caller."""

    # -- maintenance -------------------------------------------------------------------------------
    async def clear(self) -> int:
        """Delete the whole index, and any key of the layout before this one (before a
        rebuild); returns how many keys went. SCAN-based, in batches: not atomic, so only
        while no worker is claiming."""
        deleted = 0
        for pattern in (self.keys.index_pattern, *self.keys.legacy_patterns):
            deleted += await self._unlink_matching(pattern)
        return deleted

    async def drop_legacy(self) -> int:
        """Delete the previous layout's keys (a Redis upgraded in place): how many went."""
        deleted = int(await self.client.unlink(self.keys.legacy_index_loaded))
        for pattern in self.keys.legacy_patterns:
            deleted += await self._unlink_matching(pattern)
        return deleted

    # -- internals ---------------------------------------------------------------------------------
    async def _add_call(self, entry: IndexEntry, mode: str, seen: Collection[str],
                        client: Any, *, pending: bool = True) -> Any:
        """Run (or, `client` being a pipeline, queue) the add script."""
        return await self._add(
            keys=[self.keys.segments, self.keys.counts, self.keys.index_loaded],
            args=[mode, self.keys.index_prefix, entry.document_id,
                  generation_of(entry.seen_at, self.generation_seconds),
                  _pending_blob(entry) if pending else b"", self.pending_ms, "",
                  0, self.layout.fill, self.layout.min_buckets, self.config.bands,
                  self.config.bands, _band_args(entry.hashvalues, self.config, self.layout),
                  *seen],
            client=client,
        )

    async def _claim_past(self, claim: Claim, mode: str, ghosts: set[str]) -> list[IndexEntry]:
        """Claim again, the unverifiable ids counted as judged, until the claim is inserted
        or meets a candidate that can be verified."""
        seen = set(claim.seen) | ghosts
        while True:
            answer = await self._add_call(claim.entry, mode, seen, self.client)
            if answer[0] == _NOT_LOADED:
                raise IndexNotReady("the index is being rebuilt after a Redis restart")
            if answer[0] == 1:
                return []
            ids = _ids(answer[1])
            resolved = await self._resolve([answer[1]])
            found = [resolved[d] for d in ids if d in resolved]
            if found:
                return found
            seen.update(ids)

    async def _resolve(self, answers: Sequence[Sequence[bytes]]) -> dict[str, IndexEntry]:
        """Entries of the ids in the scripts' answers: pending ones from Redis, the rest from
        the store in one query. Ids found in neither are left out."""
        out: dict[str, IndexEntry] = {}
        wanted: set[str] = set()
        for flat in answers:
            for i in range(0, len(flat), 2):
                doc = flat[i].decode()
                if flat[i + 1]:
                    out[doc] = _from_blob(doc, flat[i + 1])
                else:
                    wanted.add(doc)
        wanted -= out.keys()
        if wanted and self.signatures is not None:
            for entry in await self.signatures.index_entries_of(wanted):
                out[entry.document_id] = entry
        return out

    async def _segments(self) -> dict[str, int]:
        raw = await self.client.hgetall(self.keys.segments)
        return {k.decode(): int(v) for k, v in raw.items()}

    async def _bulk(self, entries: Sequence[IndexEntry], lock: str, token: str,
                    lock_ttl_ms: int) -> None:
        """Bucket-major bulk insert: per generation, one segment part sized for its documents
        and a range of local ids reserved in one step; the postings addressed in numpy, sorted
        by bucket and written a few thousand buckets per script (one HMGET and one HSET per
        bucket, instead of a script call per document and two commands per band). `lock`:
        every step first checks that it holds `token` ('' for none)."""
        per_generation: dict[int, list[IndexEntry]] = {}
        for entry in entries:
            t = generation_of(entry.seen_at, self.generation_seconds)
            per_generation.setdefault(t, []).append(entry)
        guard = [lock or self.keys.segments]
        head = [token if lock else "", lock_ttl_ms]
        done = 0
        for t, group in sorted(per_generation.items()):
            answer = await self._reserve(
                keys=[self.keys.segments, self.keys.counts, *guard],
                args=[*head, t, len(group), self.layout.buckets_for(len(group), self.config),
                      self.layout.fill, self.config.bands])
            if answer == 0:
                raise RebuildInterrupted(f"lost the rebuild lock after {done} entries")
            segment, buckets, first = answer[0].decode(), int(answer[1]), int(answer[2])
            for start in range(0, len(group), _BULK_DOCUMENTS):
                chunk = group[start:start + _BULK_DOCUMENTS]
                for args in self._bulk_args(segment, buckets, first + start, chunk):
                    if not await self._write_bulk(keys=guard, args=[*head, *args]):
                        raise RebuildInterrupted(f"lost the rebuild lock after {done} entries")
                done += len(chunk)

    def _bulk_args(self, segment: str, buckets: int, first: int,
                   chunk: Sequence[IndexEntry]) -> Iterable[list[Any]]:
        """The bulk script's arguments for `chunk` (local ids from `first`), in pieces: the id
        maps first (a posting is never met before its id resolves), then the buckets."""
        prefix = f"{self.keys.index_prefix}{segment}"
        block: dict[int, list[Any]] = {}
        for n, entry in enumerate(chunk, start=first):
            block.setdefault(n // _IDS_PER_MAP, []).extend((n % _IDS_PER_MAP, entry.document_id))
        maps: list[Any] = []
        for number, fields in block.items():
            maps += [f":i:{number}", len(fields) // 2, *fields]
        yield from self._map_calls(prefix, maps)
        hv = np.asarray([e.hashvalues for e in chunk], dtype=np.uint64)
        u, f = band_address_arrays(hv, self.config, self.layout.field_bits)
        bucket = (u % buckets).astype(np.int32).ravel()
        field = f.astype(np.int32).ravel()
        del u, f
        lid = np.repeat(np.arange(first, first + len(chunk), dtype=np.int32), self.config.bands)
        order = np.lexsort((lid, field, bucket))
        bucket, field, lid = bucket[order], field[order], lid[order]
        # A (bucket, field) several postings share (copies in the load, or a false meeting):
        # written one by one, joined; everything else in binary, one field per posting.
        same = (bucket[1:] == bucket[:-1]) & (field[1:] == field[:-1])
        shared = np.zeros(len(bucket), dtype=bool)
        shared[1:] |= same
        shared[:-1] |= same
        joined: dict[tuple[int, int], list[str]] = {}
        for b, fv, n in zip(bucket[shared].tolist(), field[shared].tolist(),
                            lid[shared].tolist(), strict=True):
            joined.setdefault((b, fv), []).append(str(n))
        rare: list[Any] = []
        for (b, fv), ids in joined.items():
            rare += [f":b:{b}", 1, fv, ",".join(ids)]
        yield from self._map_calls(prefix, rare)
        keep = ~shared
        bucket, field, lid = bucket[keep], field[keep], lid[keep]
        pairs = np.empty((len(bucket), 2), dtype="<i4")
        pairs[:, 0], pairs[:, 1] = field, lid
        numbers, starts, counts = np.unique(bucket, return_index=True, return_counts=True)
        head = np.empty((len(numbers), 2), dtype="<i4")
        head[:, 0], head[:, 1] = numbers, counts
        for step in range(0, len(numbers), _BULK_BUCKETS):
            end = min(step + _BULK_BUCKETS, len(numbers))
            low = starts[step]
            high = starts[end] if end < len(numbers) else len(bucket)
            yield [prefix, "b", head[step:end].tobytes(), pairs[low:high].tobytes()]

    @staticmethod
    def _map_calls(prefix: str, maps: list[Any]) -> Iterable[list[Any]]:
        """Hashes (key suffix, k, k pairs, ...) `_BULK_MAPS` per call."""
        call: list[Any] = []
        i, count = 0, 0
        while i < len(maps):
            k = maps[i + 1]
            call += maps[i:i + 2 + 2 * k]
            i += 2 + 2 * k
            count += 1
            if count == _BULK_MAPS or i == len(maps):
                yield [prefix, "m", *call]
                call, count = [], 0

    async def _delete_segment(self, segment: str, buckets: int, n: int) -> None:
        names = [self.keys.bucket(segment, i) for i in range(buckets)]
        names += [self.keys.id_map(segment, i) for i in range(n // _IDS_PER_MAP + 1)]
        for start in range(0, len(names), self.chunk_size):
            await self.client.unlink(*names[start:start + self.chunk_size])
        await self.client.hdel(self.keys.dropping, segment)

    async def _prune_tombstones(self) -> None:
        """A tombstone can go once no generation up to the one it names is left."""
        live = [_generation(s) for s in await self._segments()]
        oldest = min(live) if live else math.inf
        dead = await self.client.hgetall(self.keys.tombstones)
        gone = [doc for doc, t in dead.items() if int(t) < oldest]
        if gone:
            await self.client.hdel(self.keys.tombstones, *gone)

    async def _unlink_matching(self, pattern: str) -> int:
        deleted, batch = 0, []
        async for key in self.client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) == 1000:
                deleted += int(await self.client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(await self.client.unlink(*batch))
        return deleted


@lru_cache(maxsize=8192)
def _band_args(hashvalues: tuple[int, ...], config: LSHConfig, layout: BucketLayout) -> bytes:
    """The scripts' band argument: (u, f) per band as little-endian uint32, int32 (one binary
    string instead of 170 arguments to encode and parse)."""
    u, f = band_address_arrays(np.asarray([hashvalues], dtype=np.uint64), config,
                               layout.field_bits)
    out = np.empty(config.bands, dtype=[("u", "<u4"), ("f", "<i4")])
    out["u"], out["f"] = u[0], f[0]
    return out.tobytes()


def _generation(segment: str | bytes) -> int:
    text = segment.decode() if isinstance(segment, bytes) else segment
    return int(text.split(".", 1)[0])


def _ids(flat: Sequence[bytes]) -> list[str]:
    return [flat[i].decode() for i in range(0, len(flat), 2)]


def _sorted(entries: list[IndexEntry]) -> list[IndexEntry]:
    return sorted(entries, key=lambda e: e.document_id)


def _pending_blob(entry: IndexEntry) -> bytes:
    """size, text hash, seen_at, tab-separated, then the signature's stored bytes."""
    head = f"{entry.size}\t{entry.text_hash}\t{entry.seen_at!r}\t".encode()
    return head + encode_hashvalues(entry.hashvalues)


def _from_blob(document_id: str, blob: bytes) -> IndexEntry:
    size, text_hash, seen_at, hv = blob.split(b"\t", 3)
    return IndexEntry(document_id=document_id, text_hash=text_hash.decode(),
                      hashvalues=decode_hashvalues(hv), size=int(size),
                      seen_at=float(seen_at))

