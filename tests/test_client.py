"""The ``lms-outcomes import | export | status`` client against a real ``lms-outcomes serve``:
each exit status, the messages that name a problem, the errors CSV, plain lines off a terminal
and progress bars on one (a pseudo-terminal). Cancel and revert: tests/test_client_undo.py.

The client speaks HTTP only, so one SQLite server serves the module (what it stores is the
store tests' business); its uploads are capped at 2,000 bytes, for the 413.
"""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.reliability_helpers import ADMIN_TOKEN, LMS_OUTCOMES, Serve

CAP = 2_000
GOOD = b"vendor_guid,object_type,title,parent_guids\ng1,group,G,\no1,outcome,O,g1\n"
WITH_ERRORS = GOOD + b"o2,outcome,,g1\no3,thing,T,\n"
NOT_CSV = b"title,vendor_guid\nT,x\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    folder = tmp_path_factory.mktemp("client")
    serve = Serve(folder / "host.db", folder / "logs", f"lms_outcomes.max_upload_bytes={CAP}",
                  "lms_outcomes.poll_interval=0.05")
    for name in ("Biology", "Chemistry"):  # courses 1 and 2
        subprocess.run([LMS_OUTCOMES, "admin", "--db", folder / "host.db", "course", "create",
                        "--account", "1", name], check=True, capture_output=True)
    yield serve
    serve.kill()


def cli(*args: str | Path, token: str | None = ADMIN_TOKEN,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LMS_OUTCOMES_TOKEN"}
    if token is not None:
        env["LMS_OUTCOMES_TOKEN"] = token
    return subprocess.run([LMS_OUTCOMES, *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def file_of(tmp_path: Path, data: bytes, name: str = "outcomes.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_an_import_that_succeeds_exits_0_with_its_counts_in_plain_lines(
    server: Serve, tmp_path: Path
) -> None:
    done = cli("import", file_of(tmp_path, GOOD), "--account", "1", "--url", server.url,
               "--errors-csv", tmp_path / "errors.csv")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"uploaded {len(GOOD)} bytes"
    import_id = int(lines[-6].split()[1].rstrip(":"))
    assert lines[-6:] == [
        f"import {import_id}: succeeded",
        "rows: 2 (0 with errors)",
        "groups: 1 created, 0 updated, 0 unchanged, 0 deleted",
        "outcomes: 1 created, 0 updated, 0 unchanged, 0 deleted",
        "links: 1 created, 0 deleted",
        f"every error: {tmp_path / 'errors.csv'}",
    ]
    # Between them, each state and progress once.
    assert f"import {import_id}: succeeded 100%" in lines[1:-6]
    assert (tmp_path / "errors.csv").read_bytes() == b"row,message\r\n"
    assert done.stderr == ""


def test_row_errors_are_shown_first_and_saved_all(server: Serve, tmp_path: Path) -> None:
    done = cli("import", file_of(tmp_path, WITH_ERRORS), "--account", "1", "--url",
               server.url, "--errors-csv", tmp_path / "errors.csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-5:] == [
        "links: 0 created, 0 deleted",
        "errors (the first 2 of 2):",
        '  row 4: The "title" field is required',
        '  row 5: Invalid object_type: "thing"',
        f"every error: {tmp_path / 'errors.csv'}",
    ]
    assert (tmp_path / "errors.csv").read_bytes() == (
        b'row,message\r\n4,"The ""title"" field is required"\r\n'
        b'5,"Invalid object_type: ""thing"""\r\n'
    )


def test_a_failed_import_exits_1(server: Serve, tmp_path: Path) -> None:
    done = cli("import", file_of(tmp_path, NOT_CSV), "--course", "1", "--url", server.url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[-2:] == [
        "errors (the first 1 of 1):",
        '  row 1: Missing required fields: ["object_type"]',
    ]


def test_a_dry_run_and_no_wait(server: Serve, tmp_path: Path) -> None:
    dry = cli("import", file_of(tmp_path, GOOD), "--account", "1", "--url", server.url,
              "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert " succeeded (dry run: nothing was written)" in dry.stdout
    queued = cli("import", file_of(tmp_path, GOOD), "--account", "1", "--url", server.url,
                 "--no-wait")
    assert queued.returncode == 0, queued.stderr
    last = queued.stdout.splitlines()[-1]
    import_id = last.split()[1].rstrip(":")
    assert last == f"import {import_id}: created"
    deadline = time.monotonic() + 30
    while True:
        status = cli("status", import_id, "--account", "1", "--url", server.url, "--json")
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)
        if state["workflow_state"] == "succeeded" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (state["id"], state["workflow_state"]) == (int(import_id), "succeeded")
    shown = cli("status", "latest", "--account", "1", "--url", server.url)
    assert shown.returncode == 0
    assert shown.stdout.splitlines()[0] == f"import {import_id}: succeeded"


def test_export_to_a_file_to_standard_output_and_as_json(
    server: Serve, tmp_path: Path
) -> None:
    cli("import", file_of(tmp_path, GOOD), "--course", "2", "--url", server.url)
    printed = cli("export", "--course", "2", "--url", server.url)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[1:] == [
        "g1,group,G,,,,,,,active,",
        "o1,outcome,O,,,,decaying_average,65,g1,active,3.0,5.0,Exceeds Expectations,3.0,"
        "Meets Expectations,0.0,Does Not Meet Expectations",
    ]
    saved = cli("export", "--course", "2", "--url", server.url, "-o", tmp_path / "tree.csv")
    assert saved.returncode == 0
    assert (tmp_path / "tree.csv").read_bytes() == printed.stdout.encode().replace(b"\n",
                                                                                   b"\r\n")
    summary = cli("export", "--course", "2", "--url", server.url, "--json", cwd=tmp_path)
    assert json.loads(summary.stdout) == {
        "context_type": "course", "context_id": 2, "file": "course_2_outcomes.csv",
        "bytes": (tmp_path / "tree.csv").stat().st_size,
    }
    assert (tmp_path / "course_2_outcomes.csv").read_bytes() == (tmp_path / "tree.csv").read_bytes()


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_usage_connection_and_http_errors_exit_2_naming_the_problem(
    server: Serve, tmp_path: Path
) -> None:
    good = file_of(tmp_path, GOOD)
    port = unused_port()
    cases = [
        (("import", good, "--account", "1", "--url", f"http://127.0.0.1:{port}"), ADMIN_TOKEN,
         f"server not reachable at http://127.0.0.1:{port} ([Errno 111] Connection refused)"),
        (("import", good, "--account", "1", "--url", server.url), "not-a-token",
         f"token refused by {server.url} (401 Invalid access token.)"),
        (("status", "1", "--account", "1", "--url", server.url), None,
         "no token: pass --token or set LMS_OUTCOMES_TOKEN"),
        (("import", good, "--account", "99", "--url", server.url), ADMIN_TOKEN,
         "unknown account 99 (404)"),
        (("import", good, "--account", "1", "--group", "999", "--url", server.url),
         ADMIN_TOKEN, "unknown account 1 or group 999 (404)"),
        (("status", "999", "--course", "1", "--url", server.url), ADMIN_TOKEN,
         "Couldn't find OutcomeImport with 'id'=999 (404)"),
        (("import", file_of(tmp_path, b"x" * (CAP + 1), "big.csv"), "--account", "1",
          "--url", server.url), ADMIN_TOKEN,
         f"the file is larger than {server.url} accepts "
         f"(413: The upload is larger than the limit of {CAP} bytes)"),
        (("import", good, "--account", "1", "--url", server.url, "--encoding", "klingon"),
         ADMIN_TOKEN, None),
        (("import", tmp_path / "missing.csv", "--account", "1", "--url", server.url),
         ADMIN_TOKEN, f"No such file or directory: {tmp_path / 'missing.csv'}"),
    ]
    for args, token, message in cases:
        done = cli(*args, token=token)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        last = done.stderr.splitlines()[-1]
        if message is None:  # the server's own 400 message, quoted
            assert last.startswith(f"lms-outcomes: error: {server.url} answered 400: "), last
        elif args[0] == "status" and token is None:
            assert last.endswith(f"error: {message}"), last  # argparse's usage error
        else:
            assert last == f"lms-outcomes: error: {message}", last
    usage = cli("import", good, "--url", server.url)
    assert usage.returncode == 2
    assert "one of the arguments --account --course is required" in usage.stderr


def test_a_terminal_shows_progress_bars(server: Serve, tmp_path: Path) -> None:
    """On a pseudo-terminal: the upload's and the import's bars (rich), then the summary."""
    data = (FIXTURES / "canvas" / "demo.csv").read_bytes()
    controller, terminal = pty.openpty()
    env = {**os.environ, "LMS_OUTCOMES_TOKEN": ADMIN_TOKEN, "COLUMNS": "100", "TERM": "xterm"}
    process = subprocess.Popen(
        [LMS_OUTCOMES, "import", file_of(tmp_path, data), "--account", "1", "--url",
         server.url], stdin=terminal, stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    shown = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            assert ready, shown
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the client has ended
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
        assert process.wait(timeout=60) == 0, shown
    text = shown.decode()
    assert "upload" in text
    assert "\x1b[" in text  # a terminal's escapes: the bars are redrawn in place
    assert "━" in text  # the bars themselves
    assert "100%" in text
    assert "rows: " in text
    assert "outcomes: " in text
