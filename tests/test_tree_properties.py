"""Random sequences of imports into a small tree keep it sound, on both backends, over HTTP.

The state machine is tests/tree_machine.py. In the suite the run is small and derandomized (the
same examples every time); ``make fuzz`` sets ``LMS_OUTCOMES_FUZZ_EXAMPLES`` for a long random
run. Either prints a summary of what it imported. The sequences the machine found wedging or
corrupting the tree are replayed here too, whatever the random run draws.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.conftest import POSTGRES_TEMPLATE
from tests.tree_machine import G, Harness, O, Stats, TreeMachine

FUZZ_EXAMPLES = int(os.environ.get("LMS_OUTCOMES_FUZZ_EXAMPLES") or 0)
# In the suite: one failure, shrunk but not explained, since an example that wedges the server
# costs the import timeout each time it runs.
SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES or 25,  # each example may also dry-run its imports
    stateful_step_count=8 if FUZZ_EXAMPLES else 6,
    derandomize=not FUZZ_EXAMPLES,
    report_multiple_bugs=bool(FUZZ_EXAMPLES),
    phases=list(Phase) if FUZZ_EXAMPLES else [p for p in Phase if p != Phase.explain],
    print_blob=bool(FUZZ_EXAMPLES),
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: Imports (into account, without a target group unless told, each re-imported) that made a
#: group its own ancestor, or linked a deleted outcome, before a root group could no longer be
#: named and an import could no longer write an object twice under two names.
KNOWN_SEQUENCES: dict[str, list[dict[str, Any]]] = {
    "the root group renamed and moved under itself, then a target import": [
        {"rows": [G("@root", title="x")]},
        {"into": "root", "rows": [G("g0")]},
    ],
    "the root group deleted": [{"rows": [G("@root", state="deleted")]}],
    "a group under its own child, named by guid then by id in one batch": [
        {"rows": [G("g0")]},
        {"rows": [G("g0"), G("g1", parents=("g0",)), G("@g0", parents=("g1",))]},
    ],
    "the same, deleted": [
        {"rows": [G("g0")]},
        {"rows": [G("g0"), G("g1", parents=("g0",)),
                  G("@g0", parents=("g1",), state="deleted")]},
    ],
    "an outcome linked by guid then deleted by id in one batch": [
        {"rows": [O("o0")]},
        {"rows": [G("g0"), O("o0", parents=("g0",)), O("@o0", state="deleted")]},
    ],
}


def _sqlite_store(folder: Path) -> tuple[str, Callable[[], None]]:
    return f"sqlite:///{folder / 'store.db'}", lambda: None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """A server per backend for the module, restarted on a fresh store after a wedge: a new
    SQLite file, or a new database of the session's PostgreSQL server."""
    if request.param == "sqlite":
        new_store = _sqlite_store
    else:
        server = request.getfixturevalue("postgres_server")

        def new_store(folder: Path) -> tuple[str, Callable[[], None]]:
            name = f"tree_{uuid.uuid4().hex}"
            url = server.create_database(name, template=POSTGRES_TEMPLATE)
            return url, lambda: server.drop_database(name)

    # Not under tmp_path: the server's parse worker binds a socket in its TMPDIR (the server's
    # log folder), and a socket's path may not be longer than 107 bytes.
    started = Harness(Path(tempfile.mkdtemp(prefix="tree-")), new_store)
    yield started
    started.close()


def machine(harness: Harness) -> type[TreeMachine]:
    return type("TreeMachine", (TreeMachine,), {"harness": harness})


def test_random_imports_keep_the_tree_sound(harness: Harness) -> None:
    harness.stats = Stats()
    began = time.monotonic()
    try:
        run_state_machine_as_test(machine(harness), settings=SETTINGS)
    finally:
        print(f"\ntree properties: {harness.stats.summary(time.monotonic() - began)}")


@pytest.mark.parametrize("name", sorted(KNOWN_SEQUENCES))
def test_known_sequences_keep_the_tree_sound(harness: Harness, name: str) -> None:
    state = machine(harness)()
    for step in KNOWN_SEQUENCES[name]:
        state.import_file(**{"context": "account", "into": None, "reimport": True, **step})
