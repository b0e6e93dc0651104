"""`python -m bench`: Canonry's performance, every figure beside its peer, measured in one run.

    .venv/bin/python -m bench [--quick] [--readme] [--out bench/results.json]

Modules by concern: `corpus` (the reproducible corpus), `naive` (the naive-loop peer), `core`
(single-process figures), `service` (running `canonry serve`/`worker` as subprocesses), `e2e`
(end-to-end and per-article cost), `load` and `loadgen` (POST /ingest under load), `index`
(the Redis LSH index: memory, claims, rebuild), `report` (JSON, markdown table, summary,
README). Standalone, in more detail: `redis_index_memory` (memory per key type, every claim
path), `index_recall` (recall and false candidates), `reindex` (`canonry reindex` itself).
"""
