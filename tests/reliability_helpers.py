"""Helpers of tests/test_reliability.py: a killable ``lms-outcomes serve``, seeded outcome files
whose batches are all alike, and counts read straight from the store (a SQLite file, or any
store's :class:`Tree`)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.generate import HEADER, WIDTH, rows
from tests.store_tables import Tree

LMS_OUTCOMES = Path(sys.executable).parent / "lms-outcomes"
ADMIN_TOKEN = "test-admin-token-0123456789"
SERVING = re.compile(r"lms-outcomes serving on (http://\S+?)/?$", re.MULTILINE)
ENDED = ("succeeded", "failed", "cancelled")
#: Where each state is in the lifecycle: an import's state never goes back.
STATE_RANK = {"created": 0, "importing": 1, "succeeded": 2, "failed": 2, "cancelled": 2}
#: The calculation method of the rows that must end as row errors, and Canvas's message for them.
BOGUS_METHOD = "bogus_method"
BOGUS_METHOD_ERROR = (
    "Calculation method calculation_method must be one of the following: "
    '["decaying_average", "weighted_average", "standard_decaying_average", "n_mastery", '
    '"highest", "latest", "average"]'
)


# -- the server ----------------------------------------------------------------------------------


class Serve:
    """``lms-outcomes serve --port 0`` in its own process group, output to files (never a pipe
    that could fill up). Its parse worker is a child in the same group: it ends itself after a
    SIGKILL of the server alone, and :meth:`reap` still ends the group by its id, whatever is
    left."""

    def __init__(
        self,
        db: Path,
        logs: Path,
        *settings: str,
        storage: str | None = None,
        env: dict[str, str] | None = None,
        command: Sequence[str | Path] = (LMS_OUTCOMES,),
    ) -> None:
        """``command`` runs the CLI (tests/takeover_faults.py wraps it); ``env`` adds to the
        environment."""
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout, self.stderr = logs / "serve.out", logs / "serve.err"
        args = [*command, "serve", "--db", str(db), "--port", "0"]
        if storage is not None:
            args += ["--storage", storage]
        for setting in settings:
            args += ["--setting", setting]
        # Temporary files in the test's folder, where a test can see what a server it SIGKILLs
        # leaves behind (on PostgreSQL, a copy of the upload being parsed would be one).
        env = {**os.environ, "LMS_OUTCOMES_ADMIN_TOKEN": ADMIN_TOKEN, "TMPDIR": str(logs),
               **(env or {})}
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=err, env=env, start_new_session=True
            )
        try:
            self.url = self._wait_until_serving()
        except BaseException:
            self.kill()
            raise

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def _wait_until_serving(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = SERVING.search(self.stdout.read_text())
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"the server did not start:\n{self.output()}")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "text/csv",
        token: str = ADMIN_TOKEN,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.load(error)

    def post_import(self, context: str, body: bytes) -> dict[str, Any]:
        status, created = self.request("POST", f"/api/v1/{context}/outcome_imports", body)
        assert status == 200, created
        assert created["workflow_state"] == "created", created
        return created

    def status(self, context: str, import_id: int) -> dict[str, Any]:
        status, body = self.request("GET", f"/api/v1/{context}/outcome_imports/{import_id}")
        assert status == 200, body
        assert body["workflow_state"] in STATE_RANK, body
        assert 0 <= body["progress"] <= 100, body
        return body

    def wait_until_ended(self, context: str, import_id: int, timeout: float = 60) -> dict[str, Any]:
        """Poll the import's status until it ends; neither its state nor its progress may go
        back meanwhile."""
        return self.wait_for(
            context, import_id, lambda body: body["workflow_state"] in ENDED, timeout
        )

    def wait_for_progress(
        self, context: str, import_id: int, timeout: float = 60
    ) -> dict[str, Any]:
        """Poll until the import has committed a batch (progress > 0); it must not have ended."""
        body = self.wait_for(
            context, import_id, lambda body: body["progress"] > 0, timeout, pause=0.005
        )
        assert body["workflow_state"] == "importing", body
        return body

    def wait_for(
        self,
        context: str,
        import_id: int,
        done: Callable[[dict[str, Any]], bool],
        timeout: float,
        pause: float = 0.05,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        before = {"workflow_state": "created", "progress": 0}
        while True:
            body = self.status(context, import_id)
            assert STATE_RANK[body["workflow_state"]] >= STATE_RANK[before["workflow_state"]], (
                f"import {import_id} went back from {before} to {body}"
            )
            assert body["progress"] >= before["progress"], (before, body)
            if done(body):
                return body
            before = body
            assert self.process.poll() is None, f"the server died:\n{self.output()}"
            assert time.monotonic() < deadline, f"import {import_id} is still {body}"
            time.sleep(pause)

    def kill(self) -> None:
        """:meth:`crash`, then :meth:`reap` what it left."""
        self.crash()
        self.reap()

    def crash(self) -> None:
        """SIGKILL the server process alone; its children are left to themselves."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 30) -> int:
        """Stop the server as an operator does (SIGTERM); its exit status."""
        return self.stop(signal.SIGTERM, timeout)

    def stop(self, signum: int, timeout: float = 30) -> int:
        """Send ``signum`` (SIGTERM, SIGINT); the server's exit status once it has stopped."""
        try:
            self.process.send_signal(signum)
            return self.process.wait(timeout=timeout)
        finally:
            self.kill()

    def reap(self) -> None:
        """End the processes the server left in its group (its orphaned parse worker)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left
            os.killpg(self.process.pid, signal.SIGKILL)


# -- processes -----------------------------------------------------------------------------------


#: The states of /proc/<pid>/stat of a process that has exited.
EXITED = ("Z", "X")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ...); None once the
    process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rpartition(")")[2].split()  # the command name may hold spaces and parentheses


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode("utf-8", "replace")
        )
    except (FileNotFoundError, ProcessLookupError):
        return ""


def descendants_of(pid: int) -> dict[int, tuple[str, int]]:
    """The running descendants of ``pid`` (scanned from /proc): their command lines and
    niceness, by pid."""
    children: dict[int, list[int]] = {}
    niceness: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[0] not in EXITED:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            niceness[int(entry.name)] = int(fields[16])  # stat's field 19
    found: dict[int, tuple[str, int]] = {}
    below = [pid]
    while below:
        for child in children.get(below.pop(), []):
            found[child] = (_cmdline(child), niceness[child])
            below.append(child)
    return found


def is_stopped(pid: int) -> bool:
    """Stopped by a signal (SIGSTOP), and not resumed yet."""
    fields = _stat(pid)
    return fields is not None and fields[0] == "T"


def has_exited(pid: int) -> bool:
    """Gone, or a zombie: an orphan's exit is reaped by init, which in a container may never
    do it."""
    fields = _stat(pid)
    return fields is None or fields[0] in EXITED


# -- files ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomesFile:
    """A benchmarks/generate.py file (a group every 10th row, its outcomes after it) where every
    ``bad_every``-th row is an outcome with an unknown calculation method, i.e. a row error.

    With a batch size that is a multiple of 10 and of ``bad_every``, every batch is alike: a
    known number of groups, outcomes and errors, so a tree holding k whole batches is exact.
    """

    count: int
    seed: int
    prefix: str
    bad_every: int = 0

    def _is_bad(self, index: int) -> bool:
        return bool(self.bad_every) and index % self.bad_every == self.bad_every - 1

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        for index, row in enumerate(rows(self.count, self.seed, self.prefix)):
            if self._is_bad(index):
                assert row[1] == "outcome", "a bad row must be an outcome row"
                row = [*row[:5], BOGUS_METHOD, "", *row[7:]]
            yield index, row

    def body(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADER + [""] * (WIDTH - len(HEADER)))
        writer.writerows(row for _, row in self.rows())
        return out.getvalue().encode()

    def expected(self, first_rows: int | None = None) -> Expected:
        """What the first ``first_rows`` rows (all by default) put in the tree."""
        groups: dict[str, str] = {}
        outcomes: dict[str, str] = {}
        errors: list[int] = []
        for index, row in self.rows():
            if first_rows is not None and index >= first_rows:
                break
            guid, kind, parent = row[0], row[1], row[7]
            if self._is_bad(index):
                errors.append(index + 2)  # the header is row 1
            elif kind == "group":
                groups[guid] = parent
            else:
                outcomes[guid] = parent
        return Expected(groups, outcomes, errors)


@dataclass(frozen=True)
class Expected:
    #: group guid -> parent group guid ("" for the root group)
    groups: dict[str, str]
    #: outcome guid -> the guid of the one group it is linked in
    outcomes: dict[str, str]
    #: rows of the row errors, ascending
    errors: list[int]


# -- the store's tables ------------------------------------------------------------------------

#: A SQLite file, or the tables of any store (:class:`Tree`).
Store = Path | Tree


def db_rows(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    if isinstance(store, Tree):
        return store.rows(sql, *params)
    db = sqlite3.connect(store)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def copy_db(source: Path, target_dir: Path) -> Path:
    """Copy a database as a crash left it: the file, its WAL (never the stale shared-memory
    index, which SQLite rebuilds), and its uploads folder."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + "-wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + "-wal"))
    attachments = source.with_name(source.name + ".attachments")
    shutil.copytree(attachments, target.with_name(target.name + ".attachments"))
    return target


def tree_of(path: Store, context: tuple[str, int]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The context's tree: group guid -> parent guid ("" under the root group), and outcome guid
    -> guids of the groups holding an active link to it (every row, duplicates included)."""
    groups: dict[str, str] = {}
    for guid, parent_guid, parent_is_root in db_rows(
        path,
        "SELECT g.vendor_guid, p.vendor_guid, p.is_root FROM lms_outcomes_groups g "
        "JOIN lms_outcomes_groups p ON p.id = g.parent_id "
        "WHERE NOT g.is_root AND g.workflow_state = 'active' "
        "AND g.context_type = ? AND g.context_id = ?",
        *context,
    ):
        assert guid not in groups, f"group {guid} is stored twice"
        groups[guid] = "" if parent_is_root else parent_guid
    outcomes: dict[str, list[str]] = {}
    for (guid,) in db_rows(
        path,
        "SELECT vendor_guid FROM lms_outcomes_outcomes WHERE context_type = ? AND context_id = ?",
        *context,
    ):
        assert guid not in outcomes, f"outcome {guid} is stored twice"
        outcomes[guid] = []
    for outcome_guid, group_guid, group_is_root in db_rows(
        path,
        "SELECT o.vendor_guid, g.vendor_guid, g.is_root FROM lms_outcomes_links l "
        "JOIN lms_outcomes_outcomes o ON o.id = l.outcome_id "
        "JOIN lms_outcomes_groups g ON g.id = l.group_id "
        "WHERE l.workflow_state = 'active' AND l.context_type = ? AND l.context_id = ?",
        *context,
    ):
        outcomes.setdefault(outcome_guid, []).append("" if group_is_root else group_guid)
    return groups, outcomes


def orphans(path: Store) -> dict[str, int]:
    """Rows that point at nothing, or outcomes linked nowhere: all must be 0."""
    queries = {
        "links without their outcome": "SELECT COUNT(*) FROM lms_outcomes_links l "
        "LEFT JOIN lms_outcomes_outcomes o ON o.id = l.outcome_id WHERE o.id IS NULL",
        "links without their group": "SELECT COUNT(*) FROM lms_outcomes_links l "
        "LEFT JOIN lms_outcomes_groups g ON g.id = l.group_id WHERE g.id IS NULL",
        "groups without their parent": "SELECT COUNT(*) FROM lms_outcomes_groups g "
        "LEFT JOIN lms_outcomes_groups p ON p.id = g.parent_id "
        "WHERE NOT g.is_root AND p.id IS NULL",
        "outcomes without an active link": "SELECT COUNT(*) FROM lms_outcomes_outcomes o "
        "WHERE NOT EXISTS (SELECT 1 FROM lms_outcomes_links l WHERE l.outcome_id = o.id "
        "AND l.workflow_state = 'active')",
        "errors without their import": "SELECT COUNT(*) FROM lms_outcomes_import_errors e "
        "LEFT JOIN lms_outcomes_imports i ON i.id = e.outcome_import_id WHERE i.id IS NULL",
    }
    return {name: db_rows(path, sql)[0][0] for name, sql in queries.items()}


def import_rows(path: Store) -> dict[int, dict[str, Any]]:
    """Every import as the store holds it, by id."""
    columns = ("id", "root_account_id", "workflow_state", "progress", "started_at", "ended_at")
    return {
        row[0]: dict(zip(columns, row, strict=True))
        for row in db_rows(path, f"SELECT {', '.join(columns)} FROM lms_outcomes_imports")
    }


def error_rows(path: Store, import_id: int) -> list[tuple[int, str]]:
    return [
        (row, message)
        for row, message in db_rows(
            path,
            "SELECT row, message FROM lms_outcomes_import_errors "
            "WHERE outcome_import_id = ? ORDER BY row, id",
            import_id,
        )
    ]
