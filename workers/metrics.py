"""Prometheus metrics of the engine, exposed by the API's GET /metrics (and by each worker
process's registry in production)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ACCEPTED = Counter("canonry_ingests_accepted_total", "Articles accepted by POST /ingest (new ones)")
PROCESSED = Counter(
    "canonry_ingests_processed_total", "Articles processed to a decision", ["match"]
)
FAILED = Counter("canonry_ingests_failed_total", "Articles dead-lettered after their last try")
PROCESS_SECONDS = Histogram(
    "canonry_process_seconds", "Time to process one article, pipeline and commit",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
