"""What the plugin's store and the embedded host share about their databases: SQLite's switch
to WAL, and the migration runner (named, ordered SQL scripts recorded in a table of their own).

A leaf of the standard library (aiosqlite only for its types), so that the embedded host, which
uses nothing else of the plugin, may use it too (``docs/architecture.md``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiosqlite

#: Runs one statement, with optional parameters (a connection's ``execute``).
Execute = Callable[..., Awaitable[object]]
#: Runs one query and returns its rows (a connection's ``fetch`` or ``execute_fetchall``).
Fetch = Callable[[str], Awaitable[Iterable[Sequence[Any]]]]


async def use_wal(connection: aiosqlite.Connection, attempts: int = 100) -> None:
    """Switch to WAL. While another connection switches the same new file, SQLite answers
    "database is locked" at once, without waiting for busy_timeout: try again shortly."""
    for attempt in range(attempts):
        try:
            await connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.02)


def read_migrations(folder: Traversable) -> list[tuple[str, str]]:
    """The name (without ``.sql``) and text of every ``*.sql`` file in ``folder``, by name."""
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [(entry.name.removesuffix(".sql"), entry.read_text("utf-8")) for entry in files]


def split_statements(script: str) -> list[str]:
    """Split a migration into statements. SQLite's own tokenizer tells where one ends, so a
    trigger's ``BEGIN ... END`` body (``;`` inside) stays whole; our PostgreSQL migrations use
    nothing it would misread (no dollar quoting)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    statements, pending = [], ""
    for part in "\n".join(lines).split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip().removesuffix(";").strip())
            pending = ""
    if pending.strip(" \n;"):
        statements.append(pending.strip().removesuffix(";").strip())
    return [statement for statement in statements if statement]


async def apply_migrations(
    fetch: Fetch,
    execute: Execute,
    table: str,
    migrations: Sequence[tuple[str, str]],
    numbered_params: bool = False,
) -> set[str]:
    """Apply the pending ``migrations`` (name, SQL) in order, recording each in ``table``.

    Run it inside one write transaction, so that two processes opening a new database cannot
    both apply the same migration. ``numbered_params``: ``$1`` (asyncpg) instead of ``?``.
    Returns the names recorded earlier that ``migrations`` does not know (a newer version's):
    whether that is an error is the caller's decision.
    """
    await execute(
        f"CREATE TABLE IF NOT EXISTS {table} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    applied = {row[0] for row in await fetch(f"SELECT name FROM {table}")}
    params = "$1, $2" if numbered_params else "?, ?"
    for name, sql in migrations:
        if name in applied:
            continue
        for statement in split_statements(sql):
            await execute(statement)
        await execute(
            f"INSERT INTO {table} (name, applied_at) VALUES ({params})",
            (name, datetime.now(UTC).isoformat()),
        )
    return applied - {name for name, _ in migrations}
