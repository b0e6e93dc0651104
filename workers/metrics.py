"""Prometheus metrics of the engine, exposed by the API's GET /metrics (and by each worker
process's registry in production)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ACCEPTED = Counter("canonry_ingests_accepted_total", "Articles accepted by POST /ingest (new ones)")
PROCESSED = Counter(
    "canonry_ingests_processed_total", "Articles processed to a decision", ["match"]
)
FAILED = Counter("canonry_ingests_failed_total", "Articles dead-lettered after their last try")
BATCH_SECONDS = Histogram(
    "canonry_batch_seconds", "Time to process one batch of articles, from receive to ack",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BATCH_SIZE = Histogram(
    "canonry_batch_size", "Messages per batch received",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
