"""Test-only: ``lms-outcomes serve`` that freezes itself at exact points of the store's writes.

``python tests/takeover_faults.py SCENARIO FOLDER serve ...`` runs the CLI exactly as
``lms-outcomes`` does, with the store's fault hook (``SqlStore.fault_hook``) set to this
module's :class:`Faults` for SCENARIO. Every point the process reaches is appended to
``FOLDER/points-<pid>.jsonl``; at the points its scenario names, the process stops itself with
SIGSTOP, as an operator's ``kill -STOP`` would, and the test resumes it with SIGCONT.

Two such processes share one store. The first to reach a scenario's first point is its *runner*
(``FOLDER/runner.json`` holds its pid and the claim of its run); in the ``between`` scenario the
other one, the *taker*, is frozen too, inside the takeover of that run. See
tests/test_takeovers.py for what the test does at each freeze.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from lms_outcomes_plugin.host import cli
from lms_outcomes_plugin.storage.sql import SqlStore

#: The run is frozen at its third batch: batches committed before it have errors and stamps
#: that a takeover must clear, and batches after it are still to come.
NTH_BATCH = 3
RUNNER = "runner.json"
#: The write transactions of a process's dispatcher. They run beside the run's own: one open
#: through a freeze would hold the run's import row (PostgreSQL) or the file's write lock
#: (SQLite) until the process is resumed.
DISPATCHER = frozenset({"claim", "heartbeat", "takeover", "stall"})


class Faults:
    """The fault hook of one process, playing SCENARIO (a method's name)."""

    def __init__(self, scenario: str, folder: Path) -> None:
        self._play = getattr(self, f"_{scenario}")
        self._folder = folder
        self._points = folder / f"points-{os.getpid()}.jsonl"
        self._seen: Counter[str] = Counter()
        self._step = 0
        #: The claim of the run, in the runner's process.
        self._claim: str | None = None
        self._go_on = asyncio.Event()
        #: The dispatcher's transactions begun and not yet committed (one at a time each), and
        #: an event set while there are none.
        self._in_flight: set[str] = set()
        self._settled = asyncio.Event()
        self._settled.set()

    async def __call__(self, point: str, claims: Sequence[str]) -> None:
        name, _, moment = point.partition(":")
        if name in DISPATCHER:
            if moment == "begin":
                self._in_flight.add(name)
                self._settled.clear()
            elif moment == "committed":
                self._in_flight.discard(name)
                if not self._in_flight:
                    self._settled.set()
        if not claims or moment == "begin":
            return  # only writes for a claim are played and noted
        self._seen[point] += 1
        self._note(point, claims)
        await self._play(point, list(claims))

    # -- scenarios ---------------------------------------------------------------------------

    async def _progress(self, point: str, claims: list[str]) -> None:
        """After the third batch's progress update, before its COMMIT; then right after that
        COMMIT, so that the takeover comes before the run's next write on either backend."""
        if self._step == 0 and self._is_nth_batch(point, "batch:before-commit", claims):
            self._freeze(1, point, claims)
        elif self._step == 1 and point == "batch:committed":
            await self._freeze_outside(2, point, claims)

    async def _finish(self, point: str, claims: list[str]) -> None:
        """After the finish update, before its COMMIT; then right after that COMMIT."""
        if self._step == 0 and point == "finish:before-commit" and self._be_runner(claims):
            self._freeze(1, point, claims)
        elif self._step == 1 and point == "finish:committed":
            await self._freeze_outside(2, point, claims)

    async def _heartbeat(self, point: str, claims: list[str]) -> None:
        """The run waits after its third batch (outside any transaction); the heartbeat that
        renews its lease next is frozen before its COMMIT, then right after it, and only then
        does the run go on."""
        if self._step == 0 and self._is_nth_batch(point, "batch:committed", claims):
            self._step = 1
            await self._go_on.wait()
        elif self._step == 1 and point == "heartbeat:before-commit" and self._claim in claims:
            self._freeze(2, point, claims)
        elif self._step == 2 and point == "heartbeat:committed":
            self._freeze(3, point, claims)
            self._go_on.set()

    async def _between(self, point: str, claims: list[str]) -> None:
        """The run is frozen between its third and fourth batches; the taker is frozen inside
        its takeover of the run, before its COMMIT and right after it. The runner's process,
        resumed, claims the import anew, and only then does the old run go on."""
        if self._step == 0 and self._is_nth_batch(point, "batch:committed", claims):
            await self._freeze_outside(1, point, claims)
            await self._go_on.wait()
        elif self._step == 1 and point == "claim:committed":
            self._step = 2
            self._go_on.set()
        elif point.startswith("takeover:") and self._claim is None and self._runs(claims):
            self._freeze(self._step, point, claims)

    # -- helpers -----------------------------------------------------------------------------

    def _is_nth_batch(self, point: str, wanted: str, claims: list[str]) -> bool:
        return point == wanted and self._seen[point] == NTH_BATCH and self._be_runner(claims)

    def _be_runner(self, claims: list[str]) -> bool:
        """Become the scenario's runner, unless the other process already is."""
        try:
            fd = os.open(self._folder / RUNNER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as out:
            json.dump({"pid": os.getpid(), "claim": claims[0]}, out)
        self._claim = claims[0]
        return True

    def _runs(self, claims: list[str]) -> bool:
        """Whether ``claims`` hold the runner's claim (read from its file)."""
        path = self._folder / RUNNER
        return path.exists() and json.loads(path.read_text())["claim"] in claims

    def _freeze(self, step: int, point: str, claims: Sequence[str]) -> None:
        self._step = step
        self._note(point, claims, frozen=True)
        os.kill(os.getpid(), signal.SIGSTOP)

    async def _freeze_outside(self, step: int, point: str, claims: Sequence[str]) -> None:
        """Freeze outside every transaction of this process: once no write transaction of its
        dispatcher is in flight (one that was would hold what the takeover must lock through
        the freeze: the heartbeat's window, not this one)."""
        self._step = step
        while self._in_flight:
            await self._settled.wait()
        self._freeze(step, point, claims)

    def _note(self, point: str, claims: Sequence[str], frozen: bool = False) -> None:
        line = {"point": point, "claims": list(claims), "frozen": frozen, "at": time.time()}
        with self._points.open("a") as out:
            out.write(json.dumps(line) + "\n")


def main(argv: Sequence[str]) -> int:
    scenario, folder, *cli_args = argv
    SqlStore.fault_hook = Faults(scenario, Path(folder))
    return cli.main(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
