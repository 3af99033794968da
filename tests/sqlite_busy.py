"""A read at once (``dbutil.AtOnceReader``) that always meets SQLite's ``database is locked``, as
one would when another connection holds a lock it must wait for."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lms_outcomes_plugin.dbutil import AtOnceReader


class _WouldWait(sqlite3.Connection):
    def execute(self, *args: object) -> sqlite3.Cursor:
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = sqlite3.SQLITE_BUSY
        raise error


def would_wait(path: Path | str) -> AtOnceReader:
    return AtOnceReader(sqlite3.connect(path, factory=_WouldWait, check_same_thread=False))
