"""The `canonry` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from canonry.service.config import SETTINGS, Settings
from canonry.service.logs import configure_logging


def _settings_help() -> str:
    lines = ["settings (environment variables):"]
    for s in SETTINGS:
        default = "unset" if s.default is None else s.default
        lines.append(f"  {s.env:<28} {s.help} (default: {default})")
    return "\n".join(lines)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canonry",
        description="Deduplicating news ingestion: strips boilerplate, finds syndicated copies, "
                    "serves each story once with full provenance.",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP API and the workers in one process",
                                epilog=_settings_help(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", help="bind address (default: CANONRY_HOST)")
    serve.add_argument("--port", type=int, help="port (default: CANONRY_PORT)")
    serve.add_argument("--no-workers", action="store_true",
                       help="API only: leave processing to `canonry worker` processes")

    worker = commands.add_parser(
        "worker", help="run a worker process (Redis queue), or with --burst finish every "
                       "unfinished ingest and exit")
    worker.add_argument("--concurrency", type=int,
                        help="articles handled at once (default: CANONRY_WORKER_CONCURRENCY)")
    worker.add_argument("--burst", action="store_true",
                        help="exit once the queue is drained instead of waiting for more work")
    worker.add_argument("--host", help="address its /metrics binds to, with CANONRY_METRICS_PORT "
                                       "(default: CANONRY_HOST)")

    dlq = commands.add_parser("dlq", help="inspect and replay dead-lettered articles")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    dlq_list = dlq_commands.add_parser("list", help="dead letters: ingest id, time, error")
    dlq_list.add_argument("--limit", type=int, default=100)
    replay = dlq_commands.add_parser("replay", help="re-queue dead letters (all when no id)")
    replay.add_argument("ingest_ids", nargs="*", metavar="ID")

    commands.add_parser("reindex", help="rebuild the Redis LSH index from stored signatures")

    reclean = commands.add_parser(
        "reclean", help="re-clean stored documents from their raw payload with the boilerplate "
                        "learned since; changed texts become a new version")
    reclean.add_argument("--source", help="only documents of this source")

    commands.add_parser("migrate", help="bring the database schema to this version (Alembic)")

    backfill = commands.add_parser(
        "backfill", help="ingest archives through the queue (resumable); with the embedded "
                         "backends also process them to the end",
        description="Each INPUT is a JSONL/NDJSON file (one POST /ingest article a line; .gz "
                    "and .zst too; - for standard input), a directory of .txt/.html files (URL "
                    "from a sidecar story.json or --url-template), or a WARC/WARC.gz file "
                    "(HTML responses; the target URI is the URL). A killed run continues where "
                    "it stopped. Exit status: 0, 1 if records were skipped as invalid, 3 if "
                    "stopped by --max-errors.")
    backfill.add_argument("inputs", nargs="+", metavar="INPUT")
    backfill.add_argument("--batch", type=_positive, default=500, metavar="N",
                          help="articles per commit (default: 500)")
    backfill.add_argument("--url-template", metavar="T",
                          help="URL of a directory's page without a sidecar, from {stem}, "
                               "{name} or {path}, e.g. https://example.com/{stem}")
    backfill.add_argument("--dry-run", action="store_true",
                          help="validate every record, enqueue nothing")
    backfill.add_argument("--max-errors", type=_non_negative, metavar="N",
                          help="stop after more than N invalid records")
    backfill.add_argument("--wait", action="store_true",
                          help="with Redis, wait until the workers have processed the records "
                               "of the inputs (the embedded backends always do)")
    backfill.add_argument("--restart", action="store_true",
                          help="read the inputs from their start, ignoring checkpoints")
    backfill.add_argument("--json", action="store_true",
                          help="print the summary as JSON")
    backfill.add_argument("--no-progress", action="store_true",
                          help="no progress bar or lines on standard error")

    evaluate = commands.add_parser("eval", help="measure quality on labelled data, in-process")
    kinds = evaluate.add_subparsers(dest="kind", required=True, metavar="KIND")
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("--no-progress", action="store_true",
                       help="no progress bar or lines on standard error")
    extraction = kinds.add_parser("extraction", parents=[quiet],
                                  help="boilerplate removal: 4-gram P/R/F1 per mode")
    extraction.add_argument("file")
    extraction.add_argument("--mode", choices=["html", "text"], help="only this mode")
    extraction.add_argument("--limit", type=int, help="first N pages only")
    extraction.add_argument("--explain", action="store_true",
                            help="also count what each cleaning verdict removed, and how much "
                                 "of it the labelled body holds")
    extraction.add_argument("--peer", action="store_true",
                            help="also score trafilatura alone on the same pages, same run")
    oneblock = kinds.add_parser(
        "oneblock", parents=[quiet],
        help="one-block articles: labelled bodies joined into one line, sent as "
             "text; recall of the extracted body (mean, p10, min, pages < 0.95)")
    oneblock.add_argument("files", nargs="+", metavar="file",
                          help="labelled jsonl(.gz) with expected_body, or a seeds directory")
    oneblock.add_argument("--limit", type=int, help="first N pages of each file only")
    oneblock.add_argument("--worst", type=int, default=0, help="list the N worst pages")
    oneblock.add_argument("--shape", choices=["line", "sentences"], default="line",
                          help="the body as one line, or one sentence a line")
    truncation = kinds.add_parser(
        "truncation", parents=[quiet],
        help="stable body selection: each page minus the last 20 %% / 40 %% of "
             "its body; how much of the original's body the copy keeps")
    truncation.add_argument("files", nargs="+", metavar="file",
                            help="labelled jsonl(.gz) (html and text pages)")
    truncation.add_argument("--mode", choices=["html", "text"], help="only this mode")
    truncation.add_argument("--limit", type=int, help="first N pages of each mode only")
    truncation.add_argument("--worst", type=int, default=0, help="list the N worst pages")
    dedup = kinds.add_parser("dedup", parents=[quiet],
                             help="duplicate detection: pairwise P/R/F1 and ARI")
    dedup.add_argument("file")
    dedup.add_argument("--limit", type=int, help="first N articles only")
    dedup.add_argument("--learned-chrome", action="store_true",
                       help="clean each page with the boilerplate learned from the pages before "
                            "it, as the worker does (slower: extraction and decisions in turn)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "serve":
        from canonry.service.app import create_app
        from canonry.service.http import serve

        settings = Settings.from_env(host=args.host, port=args.port)
        asyncio.run(serve(create_app(settings, run_workers=not args.no_workers), settings))
        return 0
    if args.command == "worker":
        from canonry.service.worker_process import run_worker

        settings = Settings.from_env(worker_concurrency=args.concurrency, host=args.host)
        return asyncio.run(run_worker(settings, burst=args.burst))
    if args.command == "dlq":
        from canonry.service import operations

        if args.dlq_command == "list":
            for line in asyncio.run(operations.dlq_list(settings, args.limit)):
                print(line)
            return 0
        replayed = asyncio.run(operations.dlq_replay(settings, args.ingest_ids))
        print(f"re-queued {len(replayed)}: {' '.join(replayed)}".rstrip(": "))
        return 0
    if args.command == "reindex":
        from canonry.service.operations import reindex

        print(f"indexed {asyncio.run(reindex(settings))} signatures")
        return 0
    if args.command == "reclean":
        from canonry.service.operations import reclean

        seen, changed = asyncio.run(reclean(settings, args.source))
        print(f"re-cleaned {seen} documents, {changed} changed")
        return 0
    if args.command == "migrate":
        from canonry.service.migrations import current_revision, upgrade

        asyncio.run(upgrade(settings.database_url))
        print(f"schema at {asyncio.run(current_revision(settings.database_url))}")
        return 0
    if args.command == "backfill":
        from canonry.service.backfill import BackfillOptions, backfill, print_summary

        options = BackfillOptions(
            batch_size=args.batch, dry_run=args.dry_run, max_errors=args.max_errors,
            wait=args.wait, restart=args.restart, url_template=args.url_template,
            progress=False if args.no_progress else None)
        try:
            summary = asyncio.run(backfill(settings, args.inputs, options))
        except FileNotFoundError as exc:
            print(f"canonry backfill: {exc}", file=sys.stderr)
            return 2
        print_summary(summary, args.json)
        return summary.exit_code
    if args.command == "eval" and args.no_progress:
        from canonry.workers.eval import progress

        progress.configure(enabled=False)
    if args.command == "eval" and args.kind == "extraction":
        from canonry.workers.eval.extraction import evaluate_extraction, format_report

        modes = [args.mode] if args.mode else None
        print(format_report(evaluate_extraction(args.file, modes=modes, limit=args.limit,
                                                explain_rules=args.explain, peer=args.peer)))
        return 0
    if args.command == "eval" and args.kind == "oneblock":
        from canonry.workers.eval import oneblock

        result = oneblock.evaluate_oneblock(args.files, limit=args.limit,
                                            shape=args.shape)
        print(oneblock.format_report(result, worst=args.worst))
        return 0
    if args.command == "eval" and args.kind == "truncation":
        from canonry.workers.eval import truncation

        modes = [args.mode] if args.mode else None
        result = truncation.evaluate_truncation(args.files, limit=args.limit, modes=modes)
        print(truncation.format_report(result, worst=args.worst))
        return 0
    if args.command == "eval" and args.kind == "dedup":
        from canonry.workers.eval.dedup import evaluate_dedup, format_report

        print(format_report(evaluate_dedup(args.file, limit=args.limit,
                                           learned_chrome=args.learned_chrome)))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
