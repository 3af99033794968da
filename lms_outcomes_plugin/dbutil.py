"""What the plugin's store and the embedded host share about their databases: SQLite's switch
to WAL, reads answered on the IOLoop's thread (:class:`AtOnceReader`), and the migration
runner (named, ordered SQL scripts recorded in a table of their own).

A leaf of the standard library (aiosqlite only for its types), so that the embedded host, which
uses nothing else of the plugin, may use it too (``docs/architecture.md``).
"""

from __future__ import annotations

import asyncio
import os
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


#: The primary result codes of a read that would have had to wait for another connection.
WOULD_WAIT = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class AtOnceReader:
    """A read-only connection for reads of a few rows by key (an import's status, a request's
    token), answered on the IOLoop's own thread: SQLite reads them from its page cache in tens
    of microseconds, while the hop to aiosqlite's thread and back costs the IOLoop several times
    that (it was most of what made a status request slower than the host's ``/users/self``, and
    each hop wakes the IOLoop once more while an import's round trips wait for it). It never
    waits for a lock (``busy_timeout`` 0): when SQLite would make a read wait, :meth:`read`
    answers ``None`` and the caller reads as it otherwise would."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    @classmethod
    async def open(cls, path: str | os.PathLike[str],
                   row_factory: type[sqlite3.Row] | None = None) -> AtOnceReader:
        """Connected in another thread (opening a file may wait for the disk)."""
        return cls(await asyncio.to_thread(_connect_read_only, path, row_factory))

    def read(self, query: str, params: Any = ()) -> list[Any] | None:
        try:
            return self._connection.execute(query, params).fetchall()
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF not in WOULD_WAIT:
                raise
            return None

    async def close(self) -> None:
        await asyncio.to_thread(self._connection.close)


def _connect_read_only(
    path: str | os.PathLike[str], row_factory: type[sqlite3.Row] | None
) -> sqlite3.Connection:
    # Used from the IOLoop's thread, opened and closed in another.
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.row_factory = row_factory
    connection.execute("PRAGMA busy_timeout = 0")
    connection.execute("PRAGMA query_only = ON")
    return connection


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
