"""The real Canvas client, ``canvasapi``, against ``lms-outcomes serve``: import a Canvas
fixture into an account and into a course, wait for it, then read the tree back with the
client's own methods and compare it with the file."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from canvasapi import Canvas
from canvasapi.exceptions import ResourceDoesNotExist

from tests.conftest import FIXTURES

LMS_OUTCOMES = Path(sys.executable).parent / "lms-outcomes"
TOKEN = "canvasapi-admin-token-0123456789"
SERVING = re.compile(r"lms-outcomes serving on (http://\S+?)/?$", re.MULTILINE)
ACCOUNT_FILE = FIXTURES / "canvas" / "demo.csv"
COURSE_FILE = FIXTURES / "canvas" / "test_outcomes_1.csv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    db: Path
    logs: tuple[Path, Path]

    def output(self) -> str:
        return "".join(log.read_text() for log in self.logs)


def wait_until_serving(server: subprocess.Popen[bytes], out: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = SERVING.search(out.read_text())
        if found:
            return found.group(1)
        if server.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"the server did not start:\n{out.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``lms-outcomes serve`` on a free port; its output goes to files so it never blocks."""
    db, out, err = tmp_path / "lms.db", tmp_path / "serve.out", tmp_path / "serve.err"
    port = free_port()
    env = {**os.environ, "LMS_OUTCOMES_ADMIN_TOKEN": TOKEN}
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [LMS_OUTCOMES, "serve", "--db", str(db), "--port", str(port)],
            stdout=stdout, stderr=stderr, env=env,
        )
    try:
        url = wait_until_serving(process, out)
        assert url == f"http://127.0.0.1:{port}"
        yield Server(process, url, db, (out, err))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, out.read_text() + err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def admin(db: Path, *args: str) -> str:
    result = subprocess.run([LMS_OUTCOMES, "admin", "--db", str(db), *args],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# --- what the file says -------------------------------------------------------------------------


@dataclass
class FileTree:
    groups: dict[str, tuple[str, str, str]]  # guid -> (title, description, parent guid/ROOT)
    outcomes: dict[str, dict[str, Any]]  # guid -> fields, with "parents"


def read_file(path: Path) -> FileTree:
    """A Canvas outcomes CSV, read with the csv module (the fixtures need nothing more)."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    at = header.index("ratings")
    groups: dict[str, tuple[str, str, str]] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    for cells in body:
        row = dict(zip(header[:at], cells[:at], strict=True))
        parents = row["parent_guids"].split()
        if row["object_type"] == "group":
            groups[row["vendor_guid"]] = (row["title"], row["description"],
                                          parents[0] if parents else "ROOT")
            continue
        tiers = list(cells[at:])
        while tiers and tiers[-1] == "":
            tiers.pop()
        ratings = [{"description": tiers[i + 1], "points": float(tiers[i])}
                   for i in range(0, len(tiers), 2)]
        outcomes[row["vendor_guid"]] = {
            "title": row["title"],
            "description": row["description"],
            "display_name": row["display_name"],
            "calculation_method": row["calculation_method"],
            "calculation_int": int(row["calculation_int"]),
            "ratings": ratings,
            # No mastery_points column: Canvas takes the top rating's points.
            "mastery_points": ratings[0]["points"],
            "points_possible": ratings[0]["points"],
            "parents": sorted(parents or ["ROOT"]),
        }
    return FileTree(groups, outcomes)


def test_the_fixtures_are_what_this_test_expects() -> None:
    demo = read_file(ACCOUNT_FILE)
    assert demo == read_file(COURSE_FILE)
    assert demo.groups == {"a": ("A", "AAA", "ROOT"), "b": ("B", "BBB", "a")}
    assert demo.outcomes["c"]["parents"] == ["a", "b"]
    assert demo.outcomes["c"]["ratings"][0] == {"description": "Betterest", "points": 3.0}


# --- driving the server with canvasapi ----------------------------------------------------------


def wait_for_import(context: Any, started: Any, seconds: float = 10) -> tuple[Any, Any]:
    """Poll the import by id and as ``latest`` until both show it ended."""
    deadline = time.monotonic() + seconds
    while True:
        by_id = context.get_outcome_import_status(started)
        try:
            latest = context.get_outcome_import_status("latest")
        except ResourceDoesNotExist:  # not started yet: "latest" is the last *started* import
            assert by_id.workflow_state == "created", by_id
            latest = None
        ended = ("succeeded", "failed")
        if by_id.workflow_state in ended and latest is not None and (
                latest.workflow_state in ended):
            return by_id, latest
        assert time.monotonic() < deadline, f"still {by_id.workflow_state}"
        time.sleep(0.05)


def walk(group: Any, parent: str, groups: dict[str, tuple[Any, str]],
         links: list[Any]) -> None:
    """Every group under ``group`` as guid -> (group, parent guid), and every link."""
    links.extend(group.get_linked_outcomes())
    for subgroup in group.get_subgroups():
        assert subgroup.vendor_guid not in groups
        groups[subgroup.vendor_guid] = (subgroup, parent)
        walk(subgroup, subgroup.vendor_guid, groups, links)


def check_context(canvas: Canvas, context: Any, name: str, kind: str, path: Path) -> int:
    """Import ``path`` into ``context`` and read it back; returns the outcome's id."""
    expected = read_file(path)

    started = context.import_outcome(str(path))
    assert started.workflow_state in ("created", "importing", "succeeded")
    by_id, latest = wait_for_import(context, started)
    assert (by_id.workflow_state, by_id.processing_errors) == ("succeeded", [])
    assert (latest.id, latest.workflow_state) == (started.id, "succeeded")
    assert by_id.progress == 100

    root = context.get_root_outcome_group()
    assert (root.title, root.context_type, root.context_id) == (name, kind, context.id)
    assert root.vendor_guid is None
    assert not hasattr(root, "parent_outcome_group")
    groups: dict[str, tuple[Any, str]] = {}
    links: list[Any] = []
    walk(root, "ROOT", groups, links)

    assert {guid: (group.title, parent) for guid, (group, parent) in groups.items()} == {
        guid: (title, parent) for guid, (title, _, parent) in expected.groups.items()}
    for guid, (title, description, parent) in expected.groups.items():
        full = context.get_outcome_group(groups[guid][0].id)
        assert (full.title, full.description, full.context_type) == (title, description, kind)
        want = name if parent == "ROOT" else expected.groups[parent][0]
        assert full.parent_outcome_group["title"] == want

    linked: dict[str, list[str]] = {}
    for link in links:
        guid = link.outcome["vendor_guid"]
        linked.setdefault(guid, []).append(link.outcome_group["vendor_guid"] or "ROOT")
        assert (link.context_type, link.context_id) == (kind, context.id)
    assert {guid: sorted(parents) for guid, parents in linked.items()} == {
        guid: fields["parents"] for guid, fields in expected.outcomes.items()}

    [(guid, fields)] = expected.outcomes.items()
    link = next(link for link in links if link.outcome["vendor_guid"] == guid)
    for outcome in (link.get_outcome(), canvas.get_outcome(link.outcome["id"])):
        assert outcome.id == link.outcome["id"]
        assert outcome.vendor_guid == guid
        got = {key: getattr(outcome, key) for key in fields if key != "parents"}
        assert got == {key: value for key, value in fields.items() if key != "parents"}
        assert outcome.friendly_description is None
        assert outcome.url == f"/api/v1/outcomes/{outcome.id}"

    # canvasapi follows the Link header's absolute "next" URLs.
    everything = list(context.get_outcome_groups_in_context(per_page=1))
    assert [group.vendor_guid for group in everything] == [None, *expected.groups]
    every_link = list(context.get_all_outcome_links_in_context(per_page=1))
    assert sorted(link.outcome_group["vendor_guid"] for link in every_link) == sorted(
        expected.outcomes[guid]["parents"])
    return int(link.outcome["id"])


def test_canvasapi_imports_and_reads_the_tree(server: Server) -> None:
    started = time.monotonic()
    course_id = admin(server.db, "course", "create", "Biology 101", "--account", "1")
    assert course_id == "1"
    with pytest.warns(UserWarning, match="HTTPS"):
        canvas = Canvas(server.url, TOKEN)

    account = canvas.get_account(1)
    course = canvas.get_course(int(course_id))
    in_account = check_context(canvas, account, "Default Account", "Account", ACCOUNT_FILE)
    in_course = check_context(canvas, course, "Biology 101", "Course", COURSE_FILE)

    # The course links the account's outcome (same vendor_guid, same fields): one outcome.
    assert in_course == in_account
    assert canvas.get_outcome(in_account).context_type == "Account"
    with pytest.raises(ResourceDoesNotExist):
        canvas.get_outcome(999999)
    assert time.monotonic() - started < 20
