"""Settings as data: every setting's name, default and help stand side by side in `SETTINGS`.

The README's settings table and `canonry --help` are generated from (and tested against) this
list, so a setting cannot exist without being documented.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from canonry.workers.pool import default_processes


@dataclass(frozen=True, slots=True)
class Setting:
    env: str
    field: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


def _optional(value: str) -> str | None:
    return value or None


def _optional_int(value: str) -> int | None:
    return int(value) if value else None


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"", "0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected 1 or 0, got {value!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("CANONRY_DATABASE_URL", "database_url", "sqlite+aiosqlite:///./canonry.db",
            "SQLAlchemy async URL: sqlite+aiosqlite:///… (embedded) or postgresql+asyncpg://…"),
    Setting("CANONRY_REDIS_URL", "redis_url", None,
            "Redis URL for the Streams queue and shared LSH index; unset: in-process queue and "
            "in-memory index", _optional),
    Setting("CANONRY_REDIS_PREFIX", "redis_prefix", "canonry",
            "Namespace of every Redis key (one Redis can serve several deployments)"),
    Setting("CANONRY_CLAIM_IDLE_SECONDS", "claim_idle_seconds", 60.0,
            "A message pending this long on a silent consumer is taken over by another worker "
            "(XAUTOCLAIM); keep it above the slowest article's processing time", float),
    Setting("CANONRY_RECONCILE_SECONDS", "reconcile_seconds", 120.0,
            "How often (and after how long untouched) unfinished ingests are dispatched again, "
            "recovering messages a Redis restart lost", float),
    Setting("CANONRY_HOST", "host", "127.0.0.1", "Address `canonry serve` binds to"),
    Setting("CANONRY_PORT", "port", 8080, "Port `canonry serve` listens on", int),
    Setting("CANONRY_MAX_BODY_BYTES", "max_body_bytes", 10 * 1024 * 1024,
            "Largest accepted POST /ingest body in bytes (larger: 413)", int),
    Setting("CANONRY_MAX_BATCH", "max_batch", 1000,
            "Most articles accepted in one POST /ingest", int),
    Setting("CANONRY_MAX_TEXT_CHARS", "max_text_chars", 200_000,
            "Longest cleaned text stored, in characters; a longer article ends failed "
            "(`too_long`) and never upgrades a document", int),
    Setting("CANONRY_MAX_RESPONSE_BYTES", "max_response_bytes", 8 * 1024 * 1024,
            "A list page stops early (its `next` cursor goes on) before its body passes this "
            "many bytes", int),
    Setting("CANONRY_API_KEYS", "api_keys", None,
            "API keys and their scopes: `KEY=SCOPE[+SCOPE]`, comma-separated (scopes ingest, "
            "read, admin; `sha256:HEX=…` names a key by its SHA-256); unset: no authentication",
            _optional),
    Setting("CANONRY_ALLOW_OPEN", "allow_open", False,
            "1: start without CANONRY_API_KEYS although bound to a non-loopback address or using "
            "PostgreSQL/Redis (logged as a warning)", _flag),
    Setting("CANONRY_METRICS_SCOPE", "metrics_scope", None,
            "A scope /metrics requires (e.g. admin); unset: /metrics is open like the health "
            "routes", _optional),
    Setting("CANONRY_KEEPALIVE_SECONDS", "keepalive_seconds", 75.0,
            "A connection idle this long, or this slow to send a whole request head, is closed",
            float),
    Setting("CANONRY_READ_TIMEOUT_SECONDS", "read_timeout_seconds", 30.0,
            "A request body that takes longer than this to arrive is answered 408 and its "
            "connection closed", float),
    Setting("CANONRY_WORKER_CONCURRENCY", "worker_concurrency", 2,
            "Batches one worker process has in flight at once (one is analysed while another "
            "commits)", int),
    Setting("CANONRY_WORKER_BATCH", "worker_batch", 100,
            "Messages a worker takes per receive and decides and commits together", int),
    Setting("CANONRY_CPU_WORKERS", "cpu_workers", None,
            "Processes that run the cleaning and fingerprinting (default: the machine's cores; "
            "0: a thread of the worker process)", _optional_int),
    Setting("CANONRY_MAX_ATTEMPTS", "max_attempts", 5,
            "Tries per article before it is dead-lettered as failed", int),
    Setting("CANONRY_RETRY_BACKOFF", "retry_backoff", 0.5,
            "Seconds before the first retry of a failed attempt (doubles per attempt, capped at "
            "30 s)", float),
    Setting("CANONRY_DEDUP_WINDOW_DAYS", "dedup_window_days", 30.0,
            "Only documents first seen within this many days are near-duplicate candidates; older "
            "index entries are evicted", float),
    Setting("CANONRY_METRICS_PORT", "metrics_port", None,
            "Port on which `canonry worker` serves its Prometheus /metrics (unset: none; the "
            "API serves its own on its port)", _optional_int),
    Setting("CANONRY_EVENTS_MAXLEN", "events_maxlen", 1_000_000,
            "Events kept in the Redis event stream (approximate cap, XADD MAXLEN ~); older ones "
            "remain readable from the database's outbox through GET /events", int),
    Setting("CANONRY_BACKFILL_MAX_QUEUED", "backfill_max_queued", 20_000,
            "Most messages in the backfill lane: `canonry backfill` waits while it holds this "
            "many (queued, in flight or waiting for a retry)", int),
    Setting("CANONRY_LOG_LEVEL", "log_level", "info", "debug, info, warning or error"),
    Setting("CANONRY_LOG_FORMAT", "log_format", "console",
            "console (human-readable) or json (one JSON object a line)"),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved settings; build with `Settings.from_env()` so defaults come from `SETTINGS`."""

    database_url: str
    redis_url: str | None
    redis_prefix: str
    claim_idle_seconds: float
    reconcile_seconds: float
    host: str
    port: int
    max_body_bytes: int
    max_batch: int
    max_text_chars: int
    max_response_bytes: int
    api_keys: str | None
    allow_open: bool
    metrics_scope: str | None
    keepalive_seconds: float
    read_timeout_seconds: float
    worker_concurrency: int
    worker_batch: int
    cpu_workers: int | None
    max_attempts: int
    retry_backoff: float
    dedup_window_days: float
    metrics_port: int | None
    events_maxlen: int
    backfill_max_queued: int
    log_level: str
    log_format: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {s.field: s.default for s in SETTINGS}
        for setting in SETTINGS:
            raw = environ.get(setting.env)
            if raw is not None:
                try:
                    values[setting.field] = setting.parse(raw)
                except ValueError as exc:
                    raise SystemExit(f"{setting.env}: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def cpu_processes(self) -> int:
        return default_processes() if self.cpu_workers is None else self.cpu_workers

    @property
    def dedup_window_seconds(self) -> float:
        return self.dedup_window_days * 86400.0


# A setting in SETTINGS without a field (or the reverse) is a bug caught at import time.
assert {s.field for s in SETTINGS} == {f.name for f in fields(Settings)}
