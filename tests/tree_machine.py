"""A Hypothesis state machine of imports into a small outcome tree, and the server it drives.

Each example is a fresh world (a root account, its sub-account and a course in it) on one real
``lms-outcomes serve`` per backend, with a batch size of 3 so that rows span batches. Its steps
are CSV imports over HTTP of a few rows naming a handful of groups and outcomes: by guid, by
``canvas_outcome_group:<id>`` / ``canvas_outcome:<id>`` (the context's root group included),
with parents, moves, deletions, resurrections, ``course_id`` rows and target groups. After every
import the tree must be sound (:meth:`TreeMachine.check`), and re-importing the file must change
nothing. A step may also revert the latest import not yet reverted: the store and the read API
must then be exactly as before that import.

The server runs in its own process so that an import that never ends (a walk round a cycle of
groups) can be stopped: the example fails, and the next one starts a new server on a new store.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import currently_in_test_context, note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from lms_outcomes_plugin.host.db import HostDatabase
from tests.reliability_helpers import Serve
from tests.store_tables import Tree

BATCH_SIZE = 3
#: An import of a few rows ends in well under a second; one still running after this never ends.
IMPORT_TIMEOUT = 10.0
#: An id no group or outcome has: a magic guid naming an object that does not exist.
MISSING_ID = 999_999_999
UNEXPECTED = "An unexpected error has occurred"
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
HEADER = ["vendor_guid", "object_type", "title", "parent_guids", "workflow_state"]

GROUPS = ("g0", "g1", "g2", "g3")
OUTCOMES = ("o0", "o1", "o2")
#: A store, made fresh for a server: its URL, and how to throw it away afterwards.
NewStore = Callable[[Path], tuple[str, Callable[[], None]]]


class Wedged(AssertionError):
    """The server stopped answering, or an import never ended."""


# -- the rows of a file ---------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One CSV row, by the names of a world's objects (resolved when the file is written).

    ``ref`` is a guid name (``g1``, ``o1``), ``@g1`` / ``@o1`` for the magic guid of that
    object's id (of the row's context first, then of any context of the world), or ``@root``
    for the row's context's root group. ``course`` puts a group in the world's course.
    """

    kind: str
    ref: str
    parents: tuple[str, ...] = ()
    state: str = ""
    course: bool = False
    title: str = "t0"

    def __repr__(self) -> str:
        # Printed in Hypothesis's falsifying examples: only what differs from the defaults.
        cells = [repr(self.ref)]
        defaults = Row(self.kind, self.ref)
        for name in ("parents", "state", "course", "title"):
            if getattr(self, name) != getattr(defaults, name):
                cells.append(f"{name}={getattr(self, name)!r}")
        return f"{'G' if self.kind == 'group' else 'O'}({', '.join(cells)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis's printer shows a dataclass field by field: show the short form."""
        printer.text(repr(self))


def G(ref: str, **cells: Any) -> Row:
    return Row("group", ref, **cells)


def O(ref: str, **cells: Any) -> Row:  # noqa: E743
    return Row("outcome", ref, **cells)


# Every sampled_from lists the simplest choice first: Hypothesis shrinks towards it.
_states = st.sampled_from(("", "", "deleted", "active"))
_titles = st.sampled_from(("t0", "t1"))
_group_refs = st.sampled_from((*GROUPS, *GROUPS, "@root", *(f"@{g}" for g in GROUPS)))
_outcome_refs = st.sampled_from((*OUTCOMES, *OUTCOMES, *(f"@{o}" for o in OUTCOMES)))


@st.composite
def rows_strategy(draw: st.DrawFn) -> list[Row]:
    """One to seven rows. Parents are mostly groups of earlier rows of the file (so that they
    are found), else any group name (found only when an earlier row named it) or "nope"."""
    rows: list[Row] = []
    for _ in range(draw(st.integers(1, 7))):
        earlier = [row.ref for row in rows if row.kind == "group" and row.ref in GROUPS]
        pool = (*earlier, *earlier, *earlier, *GROUPS, "nope")
        parents = tuple(draw(st.lists(st.sampled_from(pool), max_size=2, unique=True)))
        if draw(st.booleans()):
            rows.append(Row("outcome", draw(_outcome_refs), parents, draw(_states),
                            title=draw(_titles)))
        else:
            course = draw(st.sampled_from((False, False, False, True)))
            rows.append(Row("group", draw(_group_refs), parents, draw(_states), course,
                            draw(_titles)))
    return rows


contexts_strategy = st.sampled_from(("account", "account", "sub", "course"))
targets_strategy = st.sampled_from((None,) * 6 + ("root", "root", "g0", "g1"))


# -- the world and the server ----------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """A root account with a sub-account and a course, and its admin's token."""

    account: int
    sub: int
    course: int
    token: str
    #: Each context's name, which its root group is titled after.
    names: dict[tuple[str, int], str]

    @property
    def contexts(self) -> dict[str, tuple[str, int]]:
        return {"account": ("account", self.account), "sub": ("account", self.sub),
                "course": ("course", self.course)}

    def path(self, name: str) -> str:
        kind, context_id = self.contexts[name]
        return f"/api/v1/{kind}s/{context_id}"


@dataclass
class Stats:
    examples: int = 0
    imports: int = 0
    reimports: int = 0
    dry_runs: int = 0
    reverts: int = 0
    refused_targets: int = 0
    rows: int = 0
    row_errors: int = 0
    restarts: int = 0
    messages: dict[str, int] = field(default_factory=dict)

    def summary(self, seconds: float) -> str:
        common = sorted(self.messages.items(), key=lambda item: -item[1])[:6]
        return (
            f"{self.examples} examples, {self.imports} imports ({self.reimports} re-imports, "
            f"{self.dry_runs} dry runs, {self.reverts} reverts, "
            f"{self.refused_targets} refused targets), "
            f"{self.rows} rows, {self.row_errors} row errors, {self.restarts} server restarts, "
            f"{seconds:.1f} s; most common errors: "
            + "; ".join(f"{count}x {message}" for message, count in common)
        )


class Harness:
    """One ``lms-outcomes serve`` on a store of the backend under test, restarted on a new
    store when an example wedged it."""

    def __init__(self, folder: Path, new_store: NewStore) -> None:
        self.folder = folder
        self.new_store = new_store
        self.stats = Stats()
        self._starts = itertools.count()
        self.serve: Serve | None = None
        self.tree: Tree | None = None
        self._drop_store: Callable[[], None] = lambda: None
        self._start()

    def _start(self) -> None:
        run = self.folder / f"run{next(self._starts)}"
        run.mkdir(parents=True)
        self.db = run / "host.db"
        url, self._drop_store = self.new_store(run)
        self.serve = Serve(self.db, run / "logs", f"lms_outcomes.batch_size={BATCH_SIZE}",
                           storage=url)
        self.tree = Tree(url)

    def _stop(self) -> None:
        if self.tree is not None:
            self.tree.close()
            self.tree = None
        if self.serve is not None:
            self.serve.kill()
            self.serve = None
        self._drop_store()

    def wedged(self) -> None:
        """Stop a server that stopped answering: the next example gets a new one."""
        self._stop()
        self.stats.restarts += 1

    def tracebacks(self) -> str:
        """The server's last traceback, to show why it failed."""
        output = self.serve.output() if self.serve is not None else ""
        return "Traceback" + output.rsplit("Traceback", 1)[-1] if "Traceback" in output else ""

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def new_world(self) -> World:
        if self.serve is None:
            self._start()
        self.stats.examples += 1
        return asyncio.run(_create_world(self.db, self.stats.examples))

    def request(self, method: str, path: str, token: str, body: bytes | None = None,
                timeout: float = IMPORT_TIMEOUT) -> tuple[int, Any]:
        assert self.serve is not None
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "text/csv"
        request = urllib.request.Request(self.serve.url + path, data=body, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.load(error)
        except (TimeoutError, urllib.error.URLError) as error:
            self.wedged()
            raise Wedged(f"{method} {path}: no answer within {timeout} s ({error})") from None


async def _create_world(db: Path, number: int) -> World:
    async with HostDatabase(db) as host:
        names = (f"District {number}", f"School {number}", f"Course {number}")
        account = await host.create_account(names[0])
        sub = await host.create_account(names[1], parent_id=account)
        course = await host.create_course(names[2], account_id=sub)
        admin = await host.create_user(f"Admin {number}", admin_of=account)
        token = await host.create_token(admin)
        contexts = (("account", account), ("account", sub), ("course", course))
        return World(account, sub, course, token, dict(zip(contexts, names, strict=True)))


# -- the machine -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    """A real import that may be reverted, and the tree before it (in the store, and as the
    read API showed it)."""

    status_path: str
    stored_before: list[list[tuple[Any, ...]]]
    read_before: list[Any]


@dataclass(frozen=True)
class Done:
    """An import as it ended: its errors, the groups it wrote, and the tree after it."""

    errors: list[Any]
    group_ids: list[str]
    snapshot: list[list[tuple[Any, ...]]]
    counts: dict[str, Any]


class TreeMachine(RuleBasedStateMachine):
    harness: Harness  # set by the test, per backend

    def __init__(self) -> None:
        super().__init__()
        self.world = self.harness.new_world()
        self.prefix = f"w{self.world.account}-"
        self.note(f"world: {self.world}")
        self.check()  # the reads create each context's root group
        #: The imports not reverted, latest last.
        self.revertable: list[Imported] = []
        self.read = self.read_snapshot()

    # Hypothesis reserves ``target`` for bundles: the target group is ``into``.
    @rule(context=contexts_strategy, into=targets_strategy, rows=rows_strategy(),
          reimport=st.booleans(), dry_run=st.booleans())
    def import_file(self, context: str, into: str | None, rows: list[Row],
                    reimport: bool, dry_run: bool = False) -> None:
        """Import ``rows`` into ``context`` (under the target group ``into``), then check the
        tree; with ``reimport``, import the same file again: nothing may change. With
        ``dry_run``, a dry run first: it changes nothing and predicts the import."""
        path = self.world.path(context) + "/outcome_imports"
        target_id, refused = self._target(context, into)
        if target_id is not None:
            path += f"/group/{target_id}"
        body = self._csv(context, rows)
        self.note(f"POST {path}\n{body.decode()}")
        if refused:
            self._refused(path, body)
            return
        dry = self._dry_run(path, body) if dry_run else None
        done = self._import(path, body)
        if dry is not None:
            assert (dry.errors, dry.counts) == (done.errors, done.counts), "a dry run mispredicted"
        if not reimport:
            return
        again = self._import(path, body)
        self.harness.stats.reimports += 1
        assert again.errors == done.errors, "a re-import reported other errors"
        assert again.group_ids == done.group_ids, "a re-import wrote other groups"
        before, after = done.snapshot, again.snapshot
        if _retires_across_batches(rows):
            before, after = _without_times(before), _without_times(after)
        assert after == before, _changes(before, after)

    @precondition(lambda self: bool(self.revertable))
    @rule()
    def revert_latest(self) -> None:
        """Revert the latest import not reverted: nothing later blocks it, and the tree is then
        exactly as before it, in the store and through the read API (timestamps included)."""
        latest = self.revertable.pop()
        self.note(f"POST {latest.status_path}/revert")
        status, queued = self.harness.request(
            "POST", f"{latest.status_path}/revert", self.world.token)
        assert status == 200, (status, queued)
        revert_path = latest.status_path.rsplit("/", 1)[0] + f"/{queued['id']}"
        ended = self._wait(revert_path)
        assert (ended["workflow_state"], ended["processing_errors"]) == ("succeeded", []), ended
        self.harness.stats.reverts += 1
        self.check()
        after = self.snapshot()
        assert after == latest.stored_before, _changes(latest.stored_before, after)
        self.read = self.read_snapshot()
        assert self.read == latest.read_before

    def note(self, text: str) -> None:
        """Shown with a falsifying example (printed when the machine runs outside one)."""
        if currently_in_test_context():
            note(text)
        else:
            print(text)

    # resolving names ------------------------------------------------------------------------

    def _target(self, context: str, target: str | None) -> tuple[int | None, bool]:
        """The target group's id, and whether the POST must refuse it: a group that is missing,
        deleted or of another context is 404 and no import."""
        ref = self.world.contexts[context]
        if target is None:
            return None, False
        if target == "root":
            return self._root(ref), False
        found = self.harness.tree.rows(  # type: ignore[union-attr]
            f"SELECT id, context_type, context_id, workflow_state FROM lms_outcomes_groups "
            f"WHERE {WORLD} AND vendor_guid = ? ORDER BY id", *self.world_params,
            self.prefix + target)
        ours = [row for row in found if tuple(row[1:3]) == ref]
        if ours:
            return ours[0][0], ours[0][3] != "active"
        return (found[0][0] if found else MISSING_ID), True

    def _root(self, context: tuple[str, int]) -> int:
        return self.harness.tree.rows(  # type: ignore[union-attr]
            "SELECT id FROM lms_outcomes_groups WHERE context_type = ? AND context_id = ? "
            "AND is_root", *context)[0][0]

    def _group_ids(self, guid: str, context: tuple[str, int] | None = None) -> list[int]:
        """The world's groups with this guid: those of ``context`` first."""
        found = self.harness.tree.rows(  # type: ignore[union-attr]
            f"SELECT id, context_type, context_id FROM lms_outcomes_groups WHERE {WORLD} "
            "AND vendor_guid = ? ORDER BY id", *self.world_params, guid)
        return [gid for gid, *where in sorted(found, key=lambda g: tuple(g[1:]) != context)]

    @property
    def world_params(self) -> tuple[int, int, int]:
        return self.world.account, self.world.sub, self.world.course

    def _guid(self, row: Row, context: tuple[str, int]) -> str:
        if row.ref == "@root":
            return f"canvas_outcome_group:{self._root(context)}"
        if not row.ref.startswith("@"):
            return self.prefix + row.ref
        name = self.prefix + row.ref[1:]
        if row.kind == "group":
            found = self._group_ids(name, context)
            return f"canvas_outcome_group:{found[0] if found else MISSING_ID}"
        outcome = self.harness.tree.rows(  # type: ignore[union-attr]
            "SELECT id FROM lms_outcomes_outcomes WHERE vendor_guid = ?", name)
        return f"canvas_outcome:{outcome[0][0] if outcome else MISSING_ID}"

    def _csv(self, context: str, rows: list[Row]) -> bytes:
        with_course = any(row.course for row in rows)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER + (["course_id"] if with_course else []))
        importing = self.world.contexts[context]
        for row in rows:
            course = row.course and row.kind == "group"
            where = ("course", self.world.course) if course else importing
            parents = " ".join(p if p == "nope" else self.prefix + p for p in row.parents)
            cells = [self._guid(row, where), row.kind, row.title, parents, row.state]
            writer.writerow(cells + ([str(self.world.course) if course else ""]
                                     if with_course else []))
        self.harness.stats.rows += len(rows)
        return out.getvalue().encode()

    # importing ---------------------------------------------------------------------------------

    def _refused(self, path: str, body: bytes) -> None:
        before = self.snapshot()
        status, answer = self.harness.request("POST", path, self.world.token, body)
        assert (status, answer) == (404, NOT_FOUND)
        assert self.snapshot() == before
        self.harness.stats.refused_targets += 1

    def _dry_run(self, path: str, body: bytes) -> Done:
        """A dry run of the file: the tree is as before it, and it created no group."""
        before = self.snapshot()
        dry = self._import(path, body, dry_run=True)
        assert dry.snapshot == before, _changes(before, dry.snapshot)
        assert dry.group_ids == []
        self.harness.stats.dry_runs += 1
        return dry

    def _import(self, path: str, body: bytes, dry_run: bool = False) -> Done:
        """POST the file, wait for its end and check the tree."""
        harness, token = self.harness, self.world.token
        query = "?dry_run=true" if dry_run else ""
        stored_before = [] if dry_run else self.snapshot()
        status, created = harness.request("POST", path + query, token, body)
        assert status == 200, (status, created, harness.tracebacks())
        harness.stats.imports += 1
        status_path = f"{path.split('/group/')[0]}/{created['id']}"
        ended = self._wait(status_path)
        errors = ended["processing_errors"]
        self.note(f"import {ended['id']}: {ended['workflow_state']} {errors}")
        assert not any(UNEXPECTED in message for _, message in errors), (
            errors, harness.tracebacks())
        assert ended["workflow_state"] == "succeeded", ended
        harness.stats.row_errors += len(errors)
        for _, message in errors:
            generic = re.sub(r"\d+", "N", message.split('"')[0].split("[")[0].split(": ")[0])
            harness.stats.messages[generic] = harness.stats.messages.get(generic, 0) + 1
        self.check()
        status, group_ids = harness.request("GET", f"{status_path}/created_group_ids", token)
        assert status == 200, group_ids
        if not dry_run:
            self.revertable.append(Imported(status_path, stored_before, self.read))
            self.read = self.read_snapshot()
        return Done(errors, sorted(group_ids), self.snapshot(), ended["counts"])

    def _wait(self, path: str) -> dict[str, Any]:
        deadline = time.monotonic() + IMPORT_TIMEOUT
        while True:
            status, body = self.harness.request("GET", path, self.world.token)
            assert status == 200, body
            if body["workflow_state"] in ("succeeded", "failed"):
                return body
            if time.monotonic() > deadline:
                self.harness.wedged()
                raise Wedged(f"import {body['id']} did not end within {IMPORT_TIMEOUT} s: {body}")
            time.sleep(0.01)

    # the invariants ----------------------------------------------------------------------------

    def check(self) -> None:
        """The tree is sound in the store, and reads of it answer 200 and agree with it."""
        tree = self.harness.tree
        assert tree is not None
        # First the reads: the root group's creates it when the context has none yet.
        read_roots = {ref: self._read_root(name) for name, ref in self.world.contexts.items()}
        groups = {row[0]: row for row in tree.rows(
            "SELECT id, context_type, context_id, parent_id, is_root, workflow_state, title, "
            f"vendor_guid FROM lms_outcomes_groups WHERE {WORLD}", *self.world_params)}
        roots = check_groups(groups, self.world.names)
        assert read_roots == roots, f"read root groups {read_roots}, stored {roots}"
        links = tree.rows(LINKS_OF_WORLD, *self.world_params, *self.world_params)
        check_links(links, groups)
        check_linked_outcomes(tree, links)
        for name, context in self.world.contexts.items():
            self._check_subgroups(name, roots[context], reachable(groups, roots[context]))

    def _read_root(self, name: str) -> int:
        path = f"{self.world.path(name)}/root_outcome_group"
        status, group = self.harness.request("GET", path, self.world.token)
        assert status == 200, (status, group)
        return int(group["id"])

    def _check_subgroups(self, name: str, root: int, expected: set[int]) -> None:
        """Walking the root group's subgroups through the API reaches exactly the active
        groups whose ancestors are all active, each once."""
        base, token = self.world.path(name), self.world.token
        seen, queue = {root}, [root]
        while queue:
            parent = queue.pop()
            status, children = self.harness.request(
                "GET", f"{base}/outcome_groups/{parent}/subgroups?per_page=100", token)
            assert status == 200, children
            for child in children:
                assert child["id"] not in seen, f"group {child['id']} is read twice: a cycle"
                seen.add(child["id"])
                queue.append(child["id"])
        assert seen == expected, f"read {sorted(seen)}, stored {sorted(expected)}"

    def read_snapshot(self) -> list[Any]:
        """Every context's groups and links (outcomes in full) as the read API answers."""
        shown = []
        for name in self.world.contexts:
            base = self.world.path(name)
            for route in ("outcome_groups?per_page=100",
                          "outcome_group_links?outcome_style=full&per_page=100"):
                status, body = self.harness.request("GET", f"{base}/{route}", self.world.token)
                assert status == 200, body
                shown.append(body)
        return shown

    def snapshot(self) -> list[list[tuple[Any, ...]]]:
        """The world's rows with their updated_at (an unchanged object keeps it), without the
        import stamps."""
        tree, params = self.harness.tree, self.world_params
        assert tree is not None
        return [
            tree.rows("SELECT id, context_type, context_id, parent_id, vendor_guid, title, "
                      "description, workflow_state, updated_at FROM lms_outcomes_groups "
                      f"WHERE {WORLD} ORDER BY id", *params),
            tree.rows("SELECT id, context_type, context_id, vendor_guid, title, description, "
                      "display_name, calculation_method, calculation_int, mastery_points, "
                      "points_possible, ratings, workflow_state, updated_at "
                      f"FROM lms_outcomes_outcomes WHERE {WORLD} ORDER BY id", *params),
            tree.rows("SELECT id, group_id, outcome_id, context_type, context_id, "
                      f"workflow_state, updated_at FROM ({LINKS_OF_WORLD}) AS l ORDER BY id",
                      *params, *params),
        ]


#: The groups and outcomes of a world's three contexts (params: account, sub-account, course).
WORLD = ("((context_type = 'account' AND context_id IN (?, ?)) "
         "OR (context_type = 'course' AND context_id = ?))")
#: Links in a world's groups or of its outcomes (params: the world's, twice).
LINKS_OF_WORLD = (
    "SELECT id, group_id, outcome_id, context_type, context_id, workflow_state, updated_at "
    "FROM lms_outcomes_links WHERE group_id IN (SELECT id FROM lms_outcomes_groups WHERE "
    f"{WORLD}) OR outcome_id IN (SELECT id FROM lms_outcomes_outcomes WHERE {WORLD})"
)


def check_groups(
    groups: dict[int, tuple[Any, ...]], names: dict[tuple[str, int], str]
) -> dict[tuple[str, int], int]:
    """One root per context, untouched; every group (live or deleted) reaches its context's
    root through parents of its own context, without a cycle. The roots, by context."""
    roots: dict[tuple[str, int], int] = {}
    for gid, ctype, cid, parent, is_root, state, title, _ in groups.values():
        if is_root:
            assert (ctype, cid) not in roots, f"two root groups in {ctype} {cid}"
            roots[(ctype, cid)] = gid
            assert (parent, state, title) == (None, "active", names[(ctype, cid)]), (
                f"root group {gid} was changed: parent {parent}, {state}, titled {title!r}")
    assert set(roots) == set(names), f"root groups of {sorted(roots)}, not {sorted(names)}"
    for group in groups.values():
        chain = ancestors(groups, group[0])
        assert chain[-1] == roots[(group[1], group[2])], f"group {group[0]}: {chain}"
    return roots


def ancestors(groups: dict[int, tuple[Any, ...]], group_id: int) -> list[int]:
    """The group and its ancestors up to one without a parent; a cycle, a depth beyond the
    number of groups or a parent of another context fails."""
    chain = [group_id]
    while (parent := groups[chain[-1]][3]) is not None:
        assert parent not in chain, f"a cycle of groups: {[*chain, parent]}"
        assert parent in groups, f"group {chain[-1]}'s parent {parent} is of another context"
        assert groups[parent][1:3] == groups[group_id][1:3], (
            f"group {chain[-1]}'s parent {parent} is of another context")
        chain.append(parent)
        assert len(chain) <= len(groups), f"deeper than the {len(groups)} groups: {chain}"
    return chain


def reachable(groups: dict[int, tuple[Any, ...]], root: int) -> set[int]:
    """The root and the active groups below it through active groups only (what reads show);
    an active group under a deleted one is not shown (Canvas lets a row name a group deleted
    earlier in the same file as its parent)."""
    found = {root}
    for gid in groups:
        chain = ancestors(groups, gid)
        if chain[-1] == root and all(groups[g][5] == "active" for g in chain):
            found.add(gid)
    return found


def check_links(links: list[tuple[Any, ...]], groups: dict[int, tuple[Any, ...]]) -> None:
    """Every active link is in a group of the world, in that group's context, to an active
    outcome. Its group may be deleted (see :func:`reachable`)."""
    for _, group_id, _, ctype, cid, state, _ in links:
        if state == "active":
            assert group_id in groups, f"an active link into group {group_id}, not the world's"
            assert groups[group_id][1:3] == (ctype, cid), f"link in {ctype} {cid}: {links}"


def check_linked_outcomes(tree: Tree, links: list[tuple[Any, ...]]) -> None:
    """Every outcome with an active link exists and is active."""
    linked = sorted({outcome for _, _, outcome, _, _, state, _ in links if state == "active"})
    if not linked:
        return
    states = dict(tree.rows(
        "SELECT id, workflow_state FROM lms_outcomes_outcomes WHERE id IN "
        f"({', '.join('?' * len(linked))})", *linked))
    for outcome in linked:
        assert states.get(outcome) == "active", (
            f"outcome {outcome} is {states.get(outcome, 'missing')} but linked")


def _retires_across_batches(rows: list[Row]) -> bool:
    """Whether a row may retire what a later batch of the file brings back (a group deletion,
    or an outcome of another context named again): a re-import retires and restores it again,
    so its updated_at moves, and nothing else."""
    outcomes = [row.ref.lstrip("@") for row in rows if row.kind == "outcome"]
    deletes = any(row.kind == "group" and row.state == "deleted" for row in rows)
    repeats = len(set(outcomes)) < len(outcomes)
    return (deletes or repeats) and len(rows) > BATCH_SIZE


def _without_times(snapshot: list[list[tuple[Any, ...]]]) -> list[list[tuple[Any, ...]]]:
    return [[row[:-1] for row in table] for table in snapshot]  # updated_at is last


def _changes(before: list[list[tuple[Any, ...]]], after: list[list[tuple[Any, ...]]]) -> str:
    tables = ("groups", "outcomes", "links")
    lines = ["re-importing the file changed the tree:"]
    for table, old, new in zip(tables, before, after, strict=True):
        lines += [f"  {table} - {row}" for row in old if row not in new]
        lines += [f"  {table} + {row}" for row in new if row not in old]
    return "\n".join(lines)

