"""Prometheus metrics of the engine, exposed by the GET /metrics of the process that does the
work: `canonry serve` (its embedded workers) or each `canonry worker` (on CANONRY_METRICS_PORT).

The duplicate ratio is a PromQL ratio of PROCESSED by match kind:
`sum(rate(canonry_ingests_processed_total{match!="new"}[5m]))
 / sum(rate(canonry_ingests_processed_total[5m]))`."""

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
# From POST /ingest's received_at to the commit of the article's decision, observed by the
# worker that commits it (its clock against the accepting node's: NTP-close in practice).
INGEST_TO_DONE = Histogram(
    "canonry_ingest_to_done_seconds",
    "Time from an article's acceptance to the commit of its decision",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
