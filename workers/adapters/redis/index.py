"""`DedupIndex` in Redis: the LSH band index shared by every worker, in about 1 KB a document.

Layout (key names in `keys.py`; band addressing in `dedup/buckets.py`):

- The index is cut into *segments*, one or a few per time generation (`generation_seconds`,
  by the document's seen_at). Eviction drops whole generations (`evict_older_than`): a few
  UNLINKs of known key names, never a scan of bands. The price: a document stays until its
  whole generation is older than the cutoff (up to one generation past the window).
- A segment has B buckets, small Redis hashes that stay listpack-encoded (~`fill` fields
  each): a band goes to bucket `u % B` under a 16-bit field `f` (both from a hash of the band
  key), its value the segment-local integer ids having that band ("7", or "7,912"). About 9
  bytes per band and document, instead of a 230-byte set per band.
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

from redis.asyncio import Redis

from canonry.workers.adapters.redis.keys import RedisKeys
from canonry.workers.dedup.buckets import (
    DEFAULT_LAYOUT,
    BucketLayout,
    band_addresses,
    generation_of,
)
from canonry.workers.dedup.fingerprint import decode_hashvalues, encode_hashvalues
from canonry.workers.dedup.lsh import DEFAULT_LSH, IndexEntry, LSHConfig
from canonry.workers.ports import Claim, IndexNotReady, SignatureSource

# The document ids (and pending entries, '' when none) of every segment's postings under the
# bands given, minus `skip` and the tombstones: id, pending, id, pending, ...
# ARGV from `base`: u1, f1, ..., u_nb, f_nb.
_COLLECT = """
local function collect(pre, segs, nb, base, skip)
  local out, got = {}, {}
  for j = 1, #segs, 2 do
    local sp, buckets = pre .. segs[j], tonumber(segs[j + 1])
    local lids, done = {}, {}
    for i = 0, nb - 1 do
      local v = redis.call('HGET', sp .. ':b:' .. (tonumber(ARGV[base + 1 + 2 * i]) % buckets),
                           ARGV[base + 2 + 2 * i])
      if v then
        for lid in string.gmatch(v, '%d+') do lids[#lids + 1] = tonumber(lid) end
      end
    end
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

# KEYS: segments. ARGV: index prefix, nb, then u/f per band. Read-only.
_CANDIDATES = _COLLECT + """
return collect(ARGV[1], redis.call('HGETALL', KEYS[1]), tonumber(ARGV[2]), 2, {})
"""

# Claim (mode '1'), guarded claim ('2': refused while the loaded marker KEYS[3] is missing),
# upsert ('0': replace and load) and the rebuild's fill ('3': only while the lock KEYS[3]
# holds ARGV[7], renewing its TTL to ARGV[8] ms).
# KEYS: segments, counts, the marker or the lock (else anything).
# ARGV: mode, index prefix, document id, time generation, pending entry ('' for none: the
#       store has it), pending TTL ms, token, lock TTL ms, fill, min buckets, bands, nb,
#       u/f per band, then the ids already judged (`seen`).
# Answers {0, candidates} (a claim met unjudged candidates: nothing written), {1} (indexed),
#         {3} (guarded claim, index not loaded) or {4} (fill, the lock is not ours).
_ADD = _COLLECT + """
local mode, pre, doc, t = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if mode == '2' and redis.call('EXISTS', KEYS[3]) == 0 then return {3} end
if mode == '3' then
  if redis.call('GET', KEYS[3]) ~= ARGV[7] then return {4} end
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end
local nb = tonumber(ARGV[12])
local segs = redis.call('HGETALL', KEYS[1])
if mode == '1' or mode == '2' then
  local skip = {[doc] = true}
  for i = 13 + 2 * nb, #ARGV do skip[ARGV[i]] = true end
  local found = collect(pre, segs, nb, 12, skip)
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
local sp = pre .. cur .. ':b:'
for i = 0, nb - 1 do
  local key, f = sp .. (tonumber(ARGV[13 + 2 * i]) % curb), ARGV[14 + 2 * i]
  local v = redis.call('HGET', key, f)
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

_NOT_LOADED = 3  # the guarded claim's "the index is not loaded" answer
_LOCK_LOST = 4  # the fill's "the rebuild lock is not ours" answer
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
                                             *_band_args(tuple(hashvalues), self.config,
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
        await self.load(entries)

    async def remove(self, document_ids: Sequence[str]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for document_id in document_ids:
                await self._remove(keys=[self.keys.segments, self.keys.tombstones],
                                   args=[self.keys.index_prefix, document_id], client=pipe)
            await pipe.execute()

    async def load(self, entries: Iterable[IndexEntry]) -> None:
        """Index entries in bulk, `chunk_size` per pipeline round trip; each generation met
        for the first time is sized for the documents of it in `entries`."""
        entries = list(entries)
        await self._size_generations(entries)
        for start in range(0, len(entries), self.chunk_size):
            async with self.client.pipeline(transaction=False) as pipe:
                for entry in entries[start:start + self.chunk_size]:
                    await self._add_call(entry, "0", (), pipe, pending=False)
                await pipe.execute()

    async def fill(self, entries: Sequence[IndexEntry], lock: str, token: str,
                   lock_ttl_ms: int) -> None:
        """The rebuild's load: each entry only while `lock` holds `token` (renewing its TTL,
        so a long load keeps it); `RebuildInterrupted` after the first chunk where it did
        not. Whatever a live writer indexed meanwhile stays (it is newer; a second posting of
        the same document is harmless)."""
        await self._size_generations(entries)
        for start in range(0, len(entries), self.chunk_size):
            async with self.client.pipeline(transaction=False) as pipe:
                for entry in entries[start:start + self.chunk_size]:
                    await self._add_call(entry, "3", (), pipe, pending=False, lock=lock,
                                         token=token, lock_ttl_ms=lock_ttl_ms)
                answers = await pipe.execute()
            if any(answer[0] == _LOCK_LOST for answer in answers):
                raise RebuildInterrupted(f"lost the rebuild lock after {start} entries")

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
                        client: Any, *, pending: bool = True, lock: str = "", token: str = "",
                        lock_ttl_ms: int = 0) -> Any:
        """Run (or, `client` being a pipeline, queue) the add script."""
        third = lock if mode == "3" else self.keys.index_loaded
        return await self._add(
            keys=[self.keys.segments, self.keys.counts, third],
            args=[mode, self.keys.index_prefix, entry.document_id,
                  generation_of(entry.seen_at, self.generation_seconds),
                  _pending_blob(entry) if pending else b"", self.pending_ms, token,
                  lock_ttl_ms, self.layout.fill, self.layout.min_buckets, self.config.bands,
                  self.config.bands, *_band_args(entry.hashvalues, self.config, self.layout),
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

    async def _size_generations(self, entries: Sequence[IndexEntry]) -> None:
        """Open each generation not in the index yet with buckets for its documents here."""
        per_generation: dict[int, int] = {}
        for entry in entries:
            t = generation_of(entry.seen_at, self.generation_seconds)
            per_generation[t] = per_generation.get(t, 0) + 1
        present = {_generation(s) for s in await self._segments()}
        for t, n in per_generation.items():
            if t not in present:
                await self.client.hsetnx(self.keys.segments, f"{t}.0",
                                         self.layout.buckets_for(n, self.config))

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
def _band_args(hashvalues: tuple[int, ...], config: LSHConfig,
               layout: BucketLayout) -> tuple[int, ...]:
    """u1, f1, u2, f2, ...: the scripts' band arguments."""
    return tuple(x for pair in band_addresses(hashvalues, config, layout) for x in pair)


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

