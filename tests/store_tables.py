"""The plugin's tables read straight from the store, for assertions, on either backend."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from lms_outcomes_plugin.storage.sql import to_numbered_params
from lms_outcomes_plugin.storage.sqlite import sqlite_path

T = TypeVar("T")

#: Seconds a SQLite statement waits for the write lock. The server legitimately holds it for a
#: whole import batch (BEGIN IMMEDIATE ... COMMIT), longer on a loaded machine.
BUSY_TIMEOUT = 30.0


class _PostgresSession:
    """One asyncpg connection on a loop of its own thread, usable from sync test code."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._connection = self._call(asyncpg.connect(url))

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._call(self._fetch(sql, params))

    async def rows_from_loop(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """:meth:`rows` without blocking the calling event loop."""
        future = asyncio.run_coroutine_threadsafe(self._fetch(sql, params), self._loop)
        return await asyncio.wrap_future(future)

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        records = await self._connection.fetch(to_numbered_params(sql), *params)
        return [tuple(record) for record in records]

    def close(self) -> None:
        self._call(self._connection.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _sqlite_rows(
    path: Path, sql: str, params: Sequence[Any], *, read_only: bool
) -> list[tuple[Any, ...]]:
    """One statement on its own connection, in autocommit mode: a write takes the write lock
    when it starts (waiting up to BUSY_TIMEOUT) and commits at once."""
    target = f"{path.resolve().as_uri()}?mode=ro" if read_only else str(path)
    with contextlib.closing(
        sqlite3.connect(target, timeout=BUSY_TIMEOUT, isolation_level=None, uri=read_only)
    ) as db:
        try:
            return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            if read_only and error.sqlite_errorname.startswith("SQLITE_READONLY"):
                raise RuntimeError(
                    "Tree.rows only reads when called from a running event loop: "
                    f"use `await tree.write(...)` for {sql!r}"
                ) from error
            raise


class Tree:
    """The plugin's tables in the store at ``url`` (SQLite or PostgreSQL), queried straight.

    SQL is written once, in qmark style, in what both dialects accept (``TRUE``, ``RETURNING``);
    PostgreSQL gets numbered parameters. An async test writes with ``await`` :meth:`write`.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._postgres: _PostgresSession | None = None
        if not url.startswith("sqlite:"):
            self._postgres = _PostgresSession(url)

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.close()

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement (a write is committed at once); its rows, if any. On SQLite, called
        from a running event loop it may only read: see :meth:`write`."""
        if self._postgres is not None:
            return self._postgres.rows(sql, params)
        return _sqlite_rows(sqlite_path(self.url), sql, params, read_only=_in_event_loop())

    async def write(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one write statement, committed at once, from an async test; its rows, if any.

        The SQLite store's writer keeps the write lock between ``BEGIN IMMEDIATE`` and
        ``COMMIT`` while it awaits on the test's own event loop. A write that blocked the loop
        while waiting for that lock would wait for a commit that cannot come until the loop
        runs again: it failed with "database is locked" however long it waited. This one waits
        on a thread, and the loop runs on.
        """
        if self._postgres is not None:
            return await self._postgres.rows_from_loop(sql, params)
        path = sqlite_path(self.url)
        return await asyncio.to_thread(_sqlite_rows, path, sql, params, read_only=False)

    def group(self, guid: str, context: tuple[str, int] | None = None) -> dict[str, Any] | None:
        where = "g.vendor_guid = ?" + (" AND g.context_type = ? AND g.context_id = ?"
                                        if context else "")
        found = self.rows(
            "SELECT g.id, g.title, g.description, g.workflow_state, g.context_type, "
            "g.context_id, p.vendor_guid, p.is_root FROM lms_outcomes_groups g "
            f"LEFT JOIN lms_outcomes_groups p ON p.id = g.parent_id WHERE {where}",
            guid, *(context or ()),
        )
        if not found:
            return None
        gid, title, description, state, ctype, cid, parent, parent_is_root = found[0]
        return {"id": gid, "title": title, "description": description, "state": state,
                "context": (ctype, cid), "parent": "ROOT" if parent_is_root else parent}

    def groups(self, context: tuple[str, int]) -> list[str]:
        """Vendor guids of the context's groups, root group as "ROOT"."""
        return sorted(
            guid or "ROOT" for (guid,) in self.rows(
                "SELECT vendor_guid FROM lms_outcomes_groups WHERE context_type = ? "
                "AND context_id = ?", *context)
        )

    def outcome(self, guid: str) -> dict[str, Any] | None:
        found = self.rows(
            "SELECT id, title, description, display_name, calculation_method, calculation_int, "
            "mastery_points, points_possible, ratings, workflow_state, context_type, context_id "
            "FROM lms_outcomes_outcomes WHERE vendor_guid = ?", guid)
        if not found:
            return None
        keys = ("id", "title", "description", "display_name", "method", "int", "mastery",
                "possible", "ratings", "state", "context_type", "context_id")
        outcome = dict(zip(keys, found[0], strict=True))
        outcome["ratings"] = [tuple(r) for r in json.loads(outcome["ratings"])]
        return outcome

    def outcome_by_id(self, outcome_id: int) -> dict[str, Any]:
        [(guid,)] = self.rows("SELECT vendor_guid FROM lms_outcomes_outcomes WHERE id = ?",
                              outcome_id)
        return self.outcome(guid)  # type: ignore[return-value]

    def links(self, outcome_id: int, state: str = "active") -> list[str]:
        """Where the outcome is linked: group guids, "ROOT" for a root group."""
        return sorted(
            "ROOT" if is_root else guid for guid, is_root in self.rows(
                "SELECT g.vendor_guid, g.is_root FROM lms_outcomes_links l "
                "JOIN lms_outcomes_groups g ON g.id = l.group_id "
                "WHERE l.outcome_id = ? AND l.workflow_state = ?", outcome_id, state)
        )

    def links_in(self, group_id: int) -> int:
        return self.rows("SELECT COUNT(*) FROM lms_outcomes_links WHERE group_id = ? AND "
                         "workflow_state = 'active'", group_id)[0][0]

    def friendly(self, outcome_id: int) -> list[tuple[str, str]]:
        return self.rows("SELECT description, workflow_state FROM "
                         "lms_outcomes_friendly_descriptions WHERE outcome_id = ?", outcome_id)

    def snapshot(self) -> list[list[tuple[Any, ...]]]:
        """Every row of the tree's tables but timestamps and import stamps."""
        return [
            self.rows("SELECT id, context_type, context_id, parent_id, vendor_guid, title, "
                      "description, workflow_state FROM lms_outcomes_groups ORDER BY id"),
            self.rows("SELECT id, context_type, context_id, vendor_guid, title, description, "
                      "display_name, calculation_method, calculation_int, mastery_points, "
                      "points_possible, ratings, workflow_state, updated_at "
                      "FROM lms_outcomes_outcomes ORDER BY id"),
            self.rows("SELECT id, group_id, outcome_id, workflow_state, updated_at "
                      "FROM lms_outcomes_links ORDER BY id"),
            self.rows("SELECT * FROM lms_outcomes_friendly_descriptions ORDER BY id"),
        ]
