"""Every Redis key Canonry uses, in one place (the whole schema on one screen).

With the default prefix "canonry" (`RedisKeys()`), the keys are:

    key                             type    holds
    ------------------------------  ------  ----------------------------------------------------
    {canonry}:q:stream              stream  work: one entry per dispatch, field `ingest_id`;
                                            acked entries are deleted (see redis_queue.py)
      group "canonry-workers"               its consumer group (a name, not a key: `GROUP`)
    {canonry}:q:delayed             zset    ingest ids waiting for a retry, score = due time
                                            (Redis server clock, ms since the epoch)
    {canonry}:q:dead                stream  dead letters: ingest_id, error, failed_at (s),
                                            source_id (the work-stream entry id); MAXLEN ~
    {canonry}:events                stream  push events, entry id `<change_seq>-0`: type,
                                            document_id, version, ingest_id, at; MAXLEN ~
                                            CANONRY_EVENTS_MAXLEN (consumers: their own groups)
    {canonry}:lsh:b:<band key>      set     ids of the documents having that band; the band
                                            key is binary: `lsh.band_keys` (2 + 4*rows bytes)
    {canonry}:lsh:e:<document id>   hash    one indexed document: hv (the signature,
                                            `encode_hashvalues`), size, text_hash, seen_at
    {canonry}:lsh:seen_at           zset    document ids by seen_at: the eviction clock
    {canonry}:lock:reconciler       string  the reconciler's lock token (SET NX PX)
    {canonry}:lock:rebuild          string  the token of the one process rebuilding the index
                                            (SET NX PX, refreshed per chunk, deleted at the end)
    {canonry}:index-loaded          string  present while the index holds every stored
                                            signature; missing after a Redis restart (then no
                                            claim succeeds: see index.py)

Why the braces: in Redis Cluster a key's slot is the hash of its `{hash tag}` when it has one,
and a Lua script may only touch keys of one slot. The claim script reads entry hashes whose
names it only learns while running (the candidates' ids), so "declare every key" is impossible
and "every key shares one tag" is the only way it stays correct on a cluster. The cost: all of
Canonry's keys live on one shard, i.e. a cluster adds availability, not capacity. Plain Redis
ignores the braces.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "canonry"
GROUP = "canonry-workers"  # the work stream's consumer group

_GLOB_SPECIAL = "\\*?[]"


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Key names under one prefix.

    prefix: the application's namespace, e.g. "canonry" or one per test; it becomes the hash
            tag `{prefix}`, so it must not contain braces itself.
    """

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not self.prefix or "{" in self.prefix or "}" in self.prefix:
            raise ValueError(f"Redis key prefix {self.prefix!r} must be non-empty, without braces")

    @property
    def root(self) -> str:
        """`{prefix}`: the hash tag every key starts with."""
        return "{" + self.prefix + "}"

    # -- the work queue --------------------------------------------------------------------
    @property
    def stream(self) -> str:
        return f"{self.root}:q:stream"

    @property
    def delayed(self) -> str:
        return f"{self.root}:q:delayed"

    @property
    def dead(self) -> str:
        return f"{self.root}:q:dead"

    def queue_keys(self, lane: str | None = None) -> tuple[str, str]:
        """(stream, delayed) of the live queue (None) or of a lane ("backfill")."""
        if lane is None:
            return self.stream, self.delayed
        return f"{self.root}:q:{lane}:stream", f"{self.root}:q:{lane}:delayed"

    @property
    def events(self) -> str:
        return f"{self.root}:events"

    # -- the LSH index -----------------------------------------------------------------------
    @property
    def band_prefix(self) -> bytes:
        return f"{self.root}:lsh:b:".encode()

    def band(self, band_key: bytes) -> bytes:
        """The set of documents having one band (`lsh.band_keys` gives `band_key`)."""
        return self.band_prefix + band_key

    @property
    def entry_prefix(self) -> str:
        """The Lua scripts build candidates' entry keys from this and their ids."""
        return f"{self.root}:lsh:e:"

    def entry(self, document_id: str) -> str:
        return self.entry_prefix + document_id

    @property
    def seen_at(self) -> str:
        return f"{self.root}:lsh:seen_at"

    @property
    def index_pattern(self) -> str:
        """SCAN MATCH pattern for every LSH index key (band sets, entries, the clock)."""
        return f"{_glob_escape(self.root)}:lsh:*"

    # -- coordination --------------------------------------------------------------------------
    @property
    def reconciler_lock(self) -> str:
        return f"{self.root}:lock:reconciler"

    @property
    def rebuild_lock(self) -> str:
        return f"{self.root}:lock:rebuild"

    @property
    def index_loaded(self) -> str:
        """Set once the index was rebuilt from the database; gone after a Redis restart."""
        return f"{self.root}:index-loaded"

    @property
    def pattern(self) -> str:
        """SCAN MATCH pattern for every key under this prefix (tests, benchmarks, teardown)."""
        return f"{_glob_escape(self.root)}:*"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)
