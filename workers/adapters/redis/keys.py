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
    {canonry}:lsh2:segs             hash    LSH index segments: "<generation>.<part>" -> buckets
    {canonry}:lsh2:n                hash    segment -> documents in it (the last local id)
    {canonry}:lsh2:<seg>:b:<n>      hash    bucket n of a segment: field = a band's 16-bit
                                            field (`buckets.band_addresses`), value = the
                                            local ids having it ("7" or "7,912"); listpack
    {canonry}:lsh2:<seg>:i:<n>      hash    local id -> document id, 128 ids per hash
    {canonry}:lsh2:p:<document id>  string  a claimed document's entry until its commit
                                            (the store has it then); PX as a safety net
    {canonry}:lsh2:dead             hash    removed document ids -> the newest generation
                                            then (their postings stay until it goes)
    {canonry}:lsh2:drop             hash    segments being deleted by an eviction
    {canonry}:lock:reconciler       string  the reconciler's lock token (SET NX PX)
    {canonry}:lock:rebuild          string  the token of the one process rebuilding the index
                                            (SET NX PX, refreshed per chunk, deleted at the end)
    {canonry}:index-loaded:2        string  present while the index holds every stored
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
    # "lsh2": the layout's version. A Redis still holding the old layout ("lsh:", marker
    # "index-loaded") has no "index-loaded:2" marker, so the index is rebuilt from the database
    # into the new keys, and the rebuild deletes the old ones (`legacy_patterns`).
    @property
    def index_prefix(self) -> str:
        """Every key of the index starts with this; the Lua scripts build key names from it."""
        return f"{self.root}:lsh2:"

    @property
    def segments(self) -> str:
        return self.index_prefix + "segs"

    @property
    def counts(self) -> str:
        return self.index_prefix + "n"

    @property
    def tombstones(self) -> str:
        return self.index_prefix + "dead"

    @property
    def dropping(self) -> str:
        return self.index_prefix + "drop"

    def bucket(self, segment: str, n: int) -> str:
        return f"{self.index_prefix}{segment}:b:{n}"

    def id_map(self, segment: str, n: int) -> str:
        return f"{self.index_prefix}{segment}:i:{n}"

    def pending(self, document_id: str) -> str:
        return f"{self.index_prefix}p:{document_id}"

    @property
    def index_pattern(self) -> str:
        """SCAN MATCH pattern for every LSH index key."""
        return f"{_glob_escape(self.root)}:lsh2:*"

    @property
    def legacy_patterns(self) -> tuple[str, ...]:
        """The layout before "lsh2" (a band set per band, an entry hash per document)."""
        return (f"{_glob_escape(self.root)}:lsh:*",)

    @property
    def legacy_index_loaded(self) -> str:
        return f"{self.root}:index-loaded"

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
        return f"{self.root}:index-loaded:2"

    @property
    def pattern(self) -> str:
        """SCAN MATCH pattern for every key under this prefix (tests, benchmarks, teardown)."""
        return f"{_glob_escape(self.root)}:*"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)
