"""``lms-outcomes cancel`` and ``revert`` against a real ``lms-outcomes serve``: a cancelled
import makes the waiting ``import`` exit 1; a revert runs as an import of its own and exits 0;
what the server refuses (409) exits 2 with its message.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability_helpers import ADMIN_TOKEN, LMS_OUTCOMES, Serve
from tests.test_client import GOOD, cli, file_of

#: Long enough to be running when the cancel comes (a few seconds on a slow machine).
BIG_ROWS = 200_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    folder = tmp_path_factory.mktemp("client-undo")
    serve = Serve(folder / "host.db", folder / "logs", "lms_outcomes.poll_interval=0.05")
    subprocess.run([LMS_OUTCOMES, "admin", "--db", folder / "host.db", "course", "create",
                    "--account", "1", "Biology"], check=True, capture_output=True)
    yield serve
    serve.kill()


def latest(server: Serve, where: str = "--account") -> dict[str, object]:
    done = cli("status", "latest", where, "1", "--url", server.url, "--json")
    return json.loads(done.stdout) if done.returncode == 0 else {}  # type: ignore[no-any-return]


def test_a_cancelled_import_exits_1(server: Serve, tmp_path: Path) -> None:
    rows = "".join(f"o{n},outcome,Outcome {n}\n" for n in range(BIG_ROWS))
    big = file_of(tmp_path, ("vendor_guid,object_type,title\n" + rows).encode())
    out = tmp_path / "import.out"
    with out.open("w") as output:
        importing = subprocess.Popen(
            [LMS_OUTCOMES, "import", big, "--account", "1", "--url", server.url],
            stdout=output, stderr=subprocess.STDOUT,
            env={**os.environ, "LMS_OUTCOMES_TOKEN": ADMIN_TOKEN})
    deadline = time.monotonic() + 60
    while (state := latest(server)).get("workflow_state") != "importing":
        assert time.monotonic() < deadline, state
        time.sleep(0.05)

    cancel = cli("cancel", str(state["id"]), "--account", "1", "--url", server.url)

    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.splitlines() in (
        [f"import {state['id']}: importing (cancel requested)"],
        [f"import {state['id']}: cancelled"],
    )
    assert importing.wait(timeout=120) == 1, out.read_text()
    assert out.read_text().splitlines()[-5] == f"import {state['id']}: cancelled"
    again = cli("cancel", str(state["id"]), "--account", "1", "--url", server.url)
    assert again.returncode == 2
    assert again.stderr == (
        f"lms-outcomes: error: {server.url} answered 409: Import {state['id']} has already "
        "ended (cancelled): there is nothing to cancel\n"
    )


def test_a_revert_runs_and_exits_0_and_a_second_is_refused(
    server: Serve, tmp_path: Path
) -> None:
    done = cli("import", file_of(tmp_path, GOOD), "--course", "1", "--url", server.url)
    assert done.returncode == 0, done.stderr
    import_id = int(done.stdout.splitlines()[-5].split()[1].rstrip(":"))

    revert = cli("revert", str(import_id), "--course", "1", "--url", server.url)

    assert revert.returncode == 0, revert.stderr
    lines = revert.stdout.splitlines()
    revert_id = import_id + 1
    assert lines[0] == f"import {import_id}: reverted by import {revert_id} (created)"
    assert f"import {revert_id}: succeeded" in lines
    exported = cli("export", "--course", "1", "--url", server.url)
    assert exported.stdout.count("\n") == 1  # the header alone: the tree is as before
    twice = cli("revert", str(import_id), "--course", "1", "--url", server.url)
    assert twice.returncode == 2
    assert twice.stderr == (
        f"lms-outcomes: error: {server.url} answered 409: Import {import_id} is already "
        f"reverted (by import {revert_id})\n"
    )

