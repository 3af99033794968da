"""The ``lms-outcomes`` console script, run for real: admin commands and ``serve``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lms_outcomes_plugin.host.cli import GC_YOUNG_THRESHOLD, GIL_SWITCH_INTERVAL
from lms_outcomes_plugin.host.db import HostDatabase
from tests.canvas_bodies import INVALID_TOKEN
from tests.reliability_helpers import ADMIN_TOKEN, LMS_OUTCOMES, SERVING, Serve

T = TypeVar("T")


def cli(
    *args: str | Path,
    timeout: float = 30,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LMS_OUTCOMES, *map(str, args)],
        capture_output=True, text=True, timeout=timeout, input=input, env=env,
    )  # fmt: skip


def admin(db: Path, *args: str) -> str:
    """Run ``lms-outcomes admin``; it must succeed and print one line, returned."""
    result = cli("admin", "--db", db, *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return lines[0]


def query(db: Path, read: Callable[[HostDatabase], Awaitable[T]]) -> T:
    async def main() -> T:
        async with HostDatabase(db) as database:
            return await read(database)

    return asyncio.run(main())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lms.db"


# -- admin ---------------------------------------------------------------------------------------


def test_account_create_prints_the_new_id(db: Path) -> None:
    assert admin(db, "account", "create", "Root") == "1"
    assert admin(db, "account", "create", "Sub", "--parent", "1", "--locale", "fr") == "2"
    root = query(db, lambda d: d.account(1))
    sub = query(db, lambda d: d.account(2))
    assert root is not None
    assert (root.name, root.parent_account_id, root.root_account_id) == ("Root", None, 1)
    assert sub is not None
    assert (sub.name, sub.parent_account_id, sub.root_account_id) == ("Sub", 1, 1)
    assert (root.default_locale, sub.default_locale) == ("en", "fr")


def test_course_create_prints_the_new_id(db: Path) -> None:
    admin(db, "account", "create", "Root")
    admin(db, "account", "create", "Sub", "--parent", "1")
    assert admin(db, "course", "create", "Biology 101", "--account", "2") == "1"
    course = query(db, lambda d: d.course(1))
    assert course is not None
    assert (course.name, course.account_id, course.root_account_id) == ("Biology 101", 2, 1)


def test_user_create_makes_admins_and_teachers(db: Path) -> None:
    admin(db, "account", "create", "Root")
    admin(db, "course", "create", "Course", "--account", "1")
    assert admin(db, "user", "create", "Ada Lovelace", "--admin", "1") == "1"
    assert admin(db, "user", "create", "Grace Hopper", "--teacher", "1") == "2"
    assert admin(db, "user", "create", "Alan Turing") == "3"
    user = query(db, lambda d: d.user(1))
    assert user is not None
    assert (user.name, user.sortable_name) == ("Ada Lovelace", "Lovelace, Ada")

    def holds(user_id: int, context_type: Any, context_id: int) -> bool:
        return query(
            db, lambda d: d.has_permission(user_id, context_type, context_id, "import_outcomes")
        )

    assert holds(1, "account", 1)
    assert holds(1, "course", 1)
    assert not holds(2, "account", 1)
    assert holds(2, "course", 1)
    assert not holds(3, "course", 1)


def test_token_create_prints_a_token_that_authenticates(db: Path) -> None:
    admin(db, "user", "create", "Ada")
    token = admin(db, "token", "create", "1")
    assert len(token) >= 32
    user = query(db, lambda d: d.user_for_token(token))
    assert user is not None
    assert user.id == 1
    assert token != admin(db, "token", "create", "1")


def test_grant_gives_exactly_one_permission(db: Path) -> None:
    admin(db, "account", "create", "Root")
    admin(db, "course", "create", "Course", "--account", "1")
    admin(db, "user", "create", "Ada")
    result = cli("admin", "--db", db, "grant", "1", "manage_outcomes", "course:1")
    assert (result.returncode, result.stderr) == (0, "")

    def permissions(context_type: Any, context_id: int) -> set[str]:
        async def read(d: HostDatabase) -> set[str]:
            names = ("import_outcomes", "manage_outcomes", "read_outcomes")
            return {p for p in names if await d.has_permission(1, context_type, context_id, p)}

        return query(db, read)

    assert permissions("course", 1) == {"manage_outcomes"}
    assert permissions("account", 1) == set()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["account", "create", "Sub", "--parent", "7"], "account 7 does not exist"),
        (["account", "create", "Sub", "--parent", "x"], "not an id"),
        (["account", "create", "Bad", "--locale", "e n"], "invalid locale"),
        (["account", "create", "  "], "needs a name"),
        (["course", "create", "C", "--account", "9"], "account 9 does not exist"),
        (["course", "create", "C"], "--account"),
        (["user", "create", "U", "--admin", "3"], "account 3 does not exist"),
        (["user", "create", "U", "--teacher", "3"], "course 3 does not exist"),
        (["token", "create", "5"], "user 5 does not exist"),
        (["token", "create", "0"], "not an id"),
        (["grant", "1", "read_outcomes", "course:4"], "course 4 does not exist"),
        (["grant", "1", "read_outcomes", "group:1"], "account:ID or course:ID"),
        (["grant", "1", "read_outcomes", "account:"], "account:ID or course:ID"),
        (["grant", "1", "be_root", "account:1"], "invalid choice"),
        (["grant", "9", "read_outcomes", "account:1"], "user 9 does not exist"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_a_message(db: Path, args: list[str], message: str) -> None:
    admin(db, "account", "create", "Root")
    admin(db, "user", "create", "Ada")
    result = cli("admin", "--db", db, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_token_revoke_of_an_unknown_token_exits_2(db: Path) -> None:
    admin(db, "user", "create", "Ada")
    token = admin(db, "token", "create", "1")
    assert admin(db, "token", "revoke", token) == "1"
    for args, stdin in [([token], None), (["-"], f"{token}\n"), (["never-issued-token"], None)]:
        result = cli("admin", "--db", db, "token", "revoke", *args, input=stdin)
        assert (result.returncode, result.stdout, result.stderr) == (
            2, "", "lms-outcomes: error: no such token (or it was revoked already)\n"
        )


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["-"], "", "lms-outcomes: error: no token on standard input\n"),
        (["--user", "9"], None, "lms-outcomes: error: user 9 does not exist\n"),
    ],
)
def test_token_revoke_refuses_bad_input(
    db: Path, args: list[str], stdin: str | None, message: str
) -> None:
    admin(db, "user", "create", "Ada")
    result = cli("admin", "--db", db, "token", "revoke", *args, input=stdin)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)


@pytest.mark.parametrize("args", [[], ["some-token", "--user", "1"]])
def test_token_revoke_takes_a_token_or_a_user(db: Path, args: list[str]) -> None:
    result = cli("admin", "--db", db, "token", "revoke", *args)
    assert result.returncode == 2
    assert result.stderr.endswith(
        "error: one of the arguments TOKEN --user is required\n"
        if not args
        else "error: argument --user: not allowed with argument TOKEN\n"
    )


# -- serve -------------------------------------------------------------------------------------


@pytest.fixture
def server(db: Path, tmp_path: Path) -> Iterator[Serve]:
    running = Serve(db, tmp_path)
    try:
        yield running
    finally:
        running.kill()


def test_serve_bootstraps_an_admin_and_answers_with_it(server: Serve) -> None:
    assert server.request("GET", "/api/v1/users/self") == (
        200,
        {
            "id": 1,
            "name": "Admin",
            "created_at": server.request("GET", "/api/v1/users/self")[1]["created_at"],
            "sortable_name": "Admin",
            "short_name": "Admin",
        },
    )
    status, account = server.request("GET", "/api/v1/accounts/1")
    assert (status, account["name"]) == (200, "Default Account")
    assert server.request("GET", "/api/v1/users/self", token="wrong")[0] == 401
    out = server.stdout.read_text()
    assert ADMIN_TOKEN in out
    assert f'curl -H "Authorization: Bearer {ADMIN_TOKEN}" {server.url}/api/v1/users/self' in out
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0, server.output()
    assert time.monotonic() - started < 10


def test_serve_stops_cleanly_on_sigint(server: Serve) -> None:
    assert server.request("GET", "/api/v1/users/self")[0] == 200
    assert server.stop(signal.SIGINT) == 0, server.output()
    assert "Traceback" not in server.output()


def test_admin_commands_work_while_the_server_runs(server: Serve, db: Path) -> None:
    assert admin(db, "account", "create", "Second Root") == "2"
    assert admin(db, "course", "create", "Course", "--account", "2") == "1"
    user = admin(db, "user", "create", "Teacher", "--teacher", "1")
    token = admin(db, "token", "create", user)
    # The server sees what another process wrote to the same file.
    status, course = server.request("GET", "/api/v1/courses/1", token=token)
    assert (status, course["account_id"]) == (200, 2)
    assert server.request("GET", "/api/v1/accounts/2", token=token)[0] == 401
    assert server.stop(signal.SIGTERM) == 0, server.output()



def test_a_revoked_token_no_longer_authenticates(server: Serve, db: Path) -> None:
    user = admin(db, "user", "create", "Ada", "--admin", "1")
    first, second, third, fourth = (admin(db, "token", "create", user) for _ in range(4))
    for token in (first, second, third, fourth):
        assert server.request("GET", "/api/v1/users/self", token=token)[0] == 200

    # One token, given as an argument or on standard input; the others keep working.
    assert admin(db, "token", "revoke", first) == "1"
    result = cli("admin", "--db", db, "token", "revoke", "-", input=f"{second}\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "1\n", "")
    for revoked in (first, second):
        assert server.request("GET", "/api/v1/users/self", token=revoked) == (401, INVALID_TOKEN)
    assert server.request("GET", "/api/v1/users/self", token=third)[0] == 200

    # Every token of a user; another user's are kept.
    assert admin(db, "token", "revoke", "--user", user) == "2"
    for revoked in (third, fourth):
        assert server.request("GET", "/api/v1/users/self", token=revoked) == (401, INVALID_TOKEN)
    assert server.request("GET", "/api/v1/users/self")[0] == 200  # the bootstrapped admin
    assert server.stop(signal.SIGTERM) == 0, server.output()


def test_serve_never_logs_an_access_token(server: Serve) -> None:
    """Canvas clients may send their token as a query parameter: the access log shows the
    request, not the token."""
    url = f"{server.url}/api/v1/users/self?access_token={ADMIN_TOKEN}"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
    assert server.stop(signal.SIGTERM) == 0, server.output()
    log = server.stderr.read_text()
    assert " 200 GET /api/v1/users/self?access_token=[REDACTED] (127.0.0.1) " in log
    assert ADMIN_TOKEN not in log


@pytest.mark.parametrize("token", ["s3cret", "0123456789abcde"])
def test_serve_refuses_an_admin_token_under_16_characters(db: Path, token: str) -> None:
    # A port taken by this test: a server that got as far as binding would fail differently.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(
            "serve", "--db", db, "--port", str(port),
            env={**os.environ, "LMS_OUTCOMES_ADMIN_TOKEN": token},
        )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        "lms-outcomes: error: LMS_OUTCOMES_ADMIN_TOKEN must have at least 16 characters "
        f"(it has {len(token)})\n",
    )
    assert not db.exists()  # refused before anything was opened


def test_serve_takes_an_admin_token_of_16_characters(db: Path, tmp_path: Path) -> None:
    token = "0123456789abcdef"
    out = tmp_path / "serve.out"
    with out.open("w") as stdout:
        process = subprocess.Popen(
            [LMS_OUTCOMES, "serve", "--db", str(db), "--port", "0"],
            stdout=stdout, stderr=subprocess.STDOUT,
            env={**os.environ, "LMS_OUTCOMES_ADMIN_TOKEN": token},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (serving := SERVING.search(out.read_text())):
            assert process.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        request = urllib.request.Request(
            f"{serving.group(1)}/api/v1/users/self", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, out.read_text()


def test_serve_tunes_the_interpreter_for_an_ioloop_beside_import_threads() -> None:
    """The GIL switch interval and the collector settings ``serve`` applies once started (in a
    child process: they are process-wide)."""
    code = (
        "import gc, sys; from lms_outcomes_plugin.host import cli; cli._tune_interpreter(); "
        "print(sys.getswitchinterval(), gc.get_threshold()[0], gc.get_freeze_count() > 0)"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.stdout.split() == [
        str(GIL_SWITCH_INTERVAL), str(GC_YOUNG_THRESHOLD), "True"
    ], child.stderr


def test_serve_passes_plugin_settings(db: Path, tmp_path: Path) -> None:
    server = Serve(db, tmp_path, "lms_outcomes.max_upload_bytes=10")
    try:
        request = urllib.request.Request(
            f"{server.url}/api/v1/accounts/1/outcome_imports", data=b"x" * 11, method="POST",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "text/csv"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        with refused.value as error:
            assert (error.code, json.load(error)) == (
                413, {"error": "The upload is larger than the limit of 10 bytes"})
    finally:
        assert server.stop(signal.SIGTERM) == 0, server.output()


@pytest.mark.parametrize("bad", ["nodot=1", "lms_outcomes.key", ".key=1", "plugin.=1"])
def test_serve_refuses_a_malformed_setting(db: Path, bad: str) -> None:
    result = cli("serve", "--db", db, "--setting", bad)
    assert result.returncode == 2
    assert "expected PLUGIN.KEY=VALUE" in result.stderr
