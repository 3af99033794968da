"""``lms-outcomes-webhooks``: the delivery log, read from the plugin's store.

A command of its own rather than a subcommand of ``lms-outcomes``: that command is the
embedded host's, and a host of another kind that runs the plugin has none, while the store is
the plugin's wherever it runs. It takes the same ``--db``/``--storage`` as ``lms-outcomes
serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from lms_outcomes_plugin.extensions import open_store
from lms_outcomes_plugin.storage import Job, Page
from lms_outcomes_webhooks.sender import EXTENSION

DEFAULT_DB = "lms-outcomes.db"
COLUMNS = ("delivery", "import", "url", "state", "attempts", "next_attempt", "ended", "error")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lms-outcomes-webhooks",
        description="List the webhook deliveries, the latest first: pending ones with their "
        "next attempt, ended ones done or failed, each with its last error.",
    )
    parser.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB})")
    parser.add_argument(
        "--storage", metavar="URL", help="the plugin's storage URL (default: the --db file)"
    )
    parser.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    parser.add_argument("--offset", type=int, default=0, help="how many to skip (default 0)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    args = parser.parse_args(argv)
    if args.storage is None and not Path(args.db).is_file():
        parser.error(f"no database at {args.db} (give the --db or --storage of the server)")
    url = args.storage or f"sqlite:///{args.db}"
    jobs, total = asyncio.run(_read(url, Page(offset=args.offset, limit=args.limit)))
    rows = [_row(job) for job in jobs]
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        _print_table(rows, total, args.offset)
    return 0


async def _read(storage_url: str, page: Page) -> tuple[list[Job], int]:
    async with open_store({"storage_url": storage_url}) as store:
        return await store.jobs(EXTENSION, page)


def _row(job: Job) -> dict[str, Any]:
    payload = job.payload
    return {
        "delivery": payload["delivery"],
        "import": payload["import_id"],
        "url": payload["url"],
        "state": job.state,
        "attempts": job.attempts,
        "next_attempt": _time(job.due_at),
        "ended": _time(job.ended_at),
        "error": job.last_error,
    }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def _print_table(rows: list[dict[str, Any]], total: int, offset: int) -> None:
    cells = [[str(row[c]) if row[c] is not None else "-" for c in COLUMNS] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(COLUMNS)]
    for line in [[c.upper() for c in COLUMNS], *cells]:
        sys.stdout.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
        sys.stdout.write("\n")
    print(f"{len(rows)} of {total} deliveries (from {offset + 1 if rows else offset})")
