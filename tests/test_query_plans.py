"""Each batch's lookups read the rows they name through an index: a lookup that scans its table
makes every batch of a large import slower than the one before. The outcome lookup is checked on
both backends, the parents' lookup on SQLite, the statements of a batch that name rows by id on
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from benchmarks.generate import write
from lms_outcomes_plugin.storage import statements
from lms_outcomes_plugin.storage.migrate import load_migrations
from lms_outcomes_plugin.storage.postgresql import (
    FIRST_ANALYZE_AFTER,
    POSTGRESQL,
    PgBatch,
    PostgresStore,
)
from lms_outcomes_plugin.storage.sql import sort_title
from lms_outcomes_plugin.storage.sqlite import SQLITE, SqliteStore, sqlite_path
from tests.conftest import Api

OUTCOMES = 50_000
GUIDS = json.dumps([f"guid-{n}" for n in range(100, 1100)])
IDS = json.dumps([7, 8])
# Valid in both dialects (SQLite has no generate_series).
FILL = f"""
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {OUTCOMES})
INSERT INTO lms_outcomes_outcomes (context_type, context_id, vendor_guid, title, sort_title,
    calculation_method, mastery_points, points_possible, ratings, created_at, updated_at)
SELECT 'account', 1, 'guid-' || i, 't', 't', 'highest', 3, 5, '[]', '2026-01-01', '2026-01-01'
FROM n
"""


@pytest.mark.gen_test(timeout=60)
async def test_the_outcome_lookup_reads_only_the_outcomes_it_names(
    storage_backend: str, storage_url: str
) -> None:
    if storage_backend == "sqlite":
        plan = await _sqlite_plan(sqlite_path(storage_url))
    else:
        plan = await _postgres_plan(storage_url)
    scans = ("Seq Scan on lms_outcomes_outcomes", "SCAN lms_outcomes_outcomes")
    assert not [step for step in plan if any(scan in step for scan in scans)], plan


def sqlite_plan(tmp_path: Path, statement: str, params: tuple[object, ...]) -> list[str]:
    """SQLite's query plan of ``statement`` on a new store: its steps' descriptions."""
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.create_function("sort_title", 1, sort_title)
        for migration in load_migrations("sqlite"):
            db.executescript(migration.sql)
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {SQLITE(statement)}", params)]
    db.close()
    return plan


def test_parents_are_found_by_import_and_guid_not_by_reading_the_whole_import(
    tmp_path: Path,
) -> None:
    """Each batch looks up the parents it names among the groups its import processed: with an
    index on the import alone, that read every group the import had processed so far."""
    plan = sqlite_plan(tmp_path, statements.SELECT_PARENTS, (1, '["a", "b"]'))
    assert any(
        "lms_outcomes_groups_by_import_guid (outcome_import_id=? AND vendor_guid=?)" in step
        for step in plan
    ), plan


async def _sqlite_plan(path: Path) -> list[str]:
    store = SqliteStore(path)
    await store.open()  # migrates
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute(FILL)
        db.execute("ANALYZE")
        plan = [row[3] for row in db.execute(
            f"EXPLAIN QUERY PLAN {SQLITE(statements.SELECT_OUTCOMES)}", (GUIDS, IDS)
        )]
    db.close()
    return plan


async def _postgres_plan(url: str) -> list[str]:
    store = PostgresStore(url)
    await store.open()
    await store.close()
    db = await asyncpg.connect(url)
    try:
        await db.execute(FILL)
        await db.execute("ANALYZE lms_outcomes_outcomes")
        rows = await db.fetch(
            f"EXPLAIN {POSTGRESQL(statements.SELECT_OUTCOMES)}", GUIDS, IDS
        )
        return [row[0] for row in rows]
    finally:
        await db.close()


LINK_FILL = """
INSERT INTO lms_outcomes_groups (context_type, context_id, title, is_root, created_at, updated_at)
VALUES ('account', 1, 'root', TRUE, now(), now());
INSERT INTO lms_outcomes_links (context_type, context_id, group_id, outcome_id, created_at,
    updated_at)
SELECT 'account', 1, (SELECT MIN(id) FROM lms_outcomes_groups), id, now(), now()
FROM lms_outcomes_outcomes;
INSERT INTO lms_outcomes_groups (context_type, context_id, parent_id, vendor_guid, title,
    outcome_import_id, created_at, updated_at)
SELECT 'account', 1, (SELECT MIN(id) FROM lms_outcomes_groups), 'group-' || i, 'g', 1, now(),
    now()
FROM generate_series(1, 20000) AS i;
"""


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("storage_backend", ["postgresql"], indirect=True)
async def test_a_batch_reads_and_writes_the_rows_it_names_by_id_through_an_index(
    storage_backend: str, storage_url: str
) -> None:
    """On rows written since the table's last ANALYZE (autovacuum lags behind a large
    import), ``x IN (SELECT ... FROM jsonb_array_elements_text(...))`` left PostgreSQL's
    planner expecting half of the table to match, so it scanned the whole table in every batch
    (the links of a batch's outcomes read 20 times slower at 100,000 rows, slower with every
    batch): the ``{in_ids}`` macro is written as ``= ANY(ARRAY(...))``."""
    store = PostgresStore(storage_url)
    await store.open()
    await store.close()
    db = await asyncpg.connect(storage_url)
    try:
        await db.execute(FILL)
        await db.execute(LINK_FILL)
        ids = json.dumps(list(range(20_000, 20_900)))
        for statement, params in ((statements.SELECT_LINKS, (ids,)),
                                  (statements.STAMP_OUTCOMES, (1, ids)),
                                  (statements.SELECT_OUTCOMES, (GUIDS, ids))):
            plan = [row[0] for row in await db.fetch(f"EXPLAIN {POSTGRESQL(statement)}",
                                                     *params)]
            assert not [step for step in plan if "Seq Scan on" in step], plan
        # The parents' lookup: one lookup by import and guid per guid, never the import's
        # groups filtered (the running import's id is never in the statistics).
        plan = [row[0] for row in await db.fetch(f"EXPLAIN {POSTGRESQL(PgBatch.select_parents)}",
                                                 1, GUIDS)]
        assert any("Index Cond: ((outcome_import_id = " in step
                   and step.endswith("AND (vendor_guid = k.guid))") for step in plan), plan
    finally:
        await db.close()


def test_errors_csv_reads_each_chunk_from_where_the_last_ended(tmp_path: Path) -> None:
    """errors.csv reads an import's errors a chunk at a time after the last (row, id) read: in
    index order from there, without sorting what lies beyond (each chunk would then cost as
    much as all the errors after it)."""
    plan = sqlite_plan(tmp_path, statements.IMPORT_ERRORS_AFTER, (1, 5000, 7, 1000))
    assert plan == [
        "SEARCH lms_outcomes_import_errors USING INDEX lms_outcomes_import_errors_by_row "
        "(outcome_import_id=? AND row>?)"
    ], plan


@pytest.mark.parametrize("storage_backend", ["postgresql"])
@pytest.mark.gen_test(timeout=90)
async def test_postgresql_analyzes_the_tree_as_an_import_grows_it(
    api: Api, storage_url: str, tmp_path: Path
) -> None:
    """Autovacuum looks once a minute; an import doubles the tree far faster, and its batches
    were planned on the statistics of the tables before it. The store ANALYZEs them once its
    batches have created FIRST_ANALYZE_AFTER rows (then at ANALYZE_GROWTH times as many)."""
    outcomes = write(FIRST_ANALYZE_AFTER // 2 + 500, tmp_path / "tree.csv").read_bytes()
    assert await _analyzed(storage_url) == {}
    created = await api.post_csv("/api/v1/accounts/1/outcome_imports", outcomes)
    done = await api.wait_for_import(f"/api/v1/accounts/1/outcome_imports/{created.body['id']}")
    assert done.body["workflow_state"] == "succeeded"
    deadline = asyncio.get_running_loop().time() + 30
    while len(analyzed := await _analyzed(storage_url)) < 3:
        assert asyncio.get_running_loop().time() < deadline, analyzed
        await asyncio.sleep(0.1)
    assert set(analyzed) == {"lms_outcomes_groups", "lms_outcomes_outcomes", "lms_outcomes_links"}


async def _analyzed(url: str) -> dict[str, int]:
    """The tables ANALYZE (not autovacuum) has looked at, with their rows as it counted them."""
    db = await asyncpg.connect(url)
    try:
        rows = await db.fetch(
            "SELECT s.relname, c.reltuples FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid WHERE s.last_analyze IS NOT NULL"
        )
        return {row[0]: int(row[1]) for row in rows}
    finally:
        await db.close()


# FILL's outcomes, each linked in the context's root group.
ROOT = """
INSERT INTO lms_outcomes_groups (context_type, context_id, title, is_root, created_at,
    updated_at)
VALUES ('account', 1, 'Account 1', TRUE, '2026-01-01', '2026-01-01')
"""
LINK_ALL = """
INSERT INTO lms_outcomes_links (context_type, context_id, group_id, outcome_id, created_at,
    updated_at)
SELECT 'account', 1, (SELECT id FROM lms_outcomes_groups WHERE is_root), id, '2026-01-01',
    '2026-01-01'
FROM lms_outcomes_outcomes
"""
MIDDLE = OUTCOMES // 2
CHUNK = list(range(MIDDLE + 1, MIDDLE + 1001))
# The export's chunk mid-tree: statement, its parameters' types (for a generic plan), params.
EXPORT_READS = {
    "TREE_OUTCOMES_AFTER": ("text, bigint, bigint, bigint, bigint",
                            ("account", 1, MIDDLE, MIDDLE, 1000)),
    "TREE_PARENTS": ("text, bigint, bigint, bigint, text",
                     ("account", 1, CHUNK[0], CHUNK[-1], json.dumps(CHUNK))),
}


@pytest.mark.parametrize("storage_backend", ["postgresql"])  # SQLite's: the test below
@pytest.mark.gen_test(timeout=120)
async def test_each_export_chunk_reads_the_links_and_outcomes_of_its_own_range(
    storage_url: str,
) -> None:
    """The export reads the context's outcomes and their links a chunk at a time after the last
    id: with or without statistics (a large import leaves none until autovacuum analyzes the
    tables), and in a prepared statement's generic plan, each chunk reads an index range from
    there. A plan that reads the context's links from its start, or all of them, makes every
    chunk cost as much as the tree (a 100,000-row export took half a minute)."""
    db = await asyncpg.connect(storage_url)  # migrated
    try:
        for statement in (FILL, ROOT, LINK_ALL):
            await db.execute(statement)
        for when in ("right after the import", "analyzed", "generic"):
            if when == "analyzed":
                await db.execute("ANALYZE")
            for name in EXPORT_READS:
                plan = await _export_plan(db, name, generic=when == "generic")
                assert _unbounded_reads(plan) == [], (when, name, plan)
    finally:
        await db.close()


async def _export_plan(db: asyncpg.Connection, name: str, generic: bool) -> list[str]:
    statement = POSTGRESQL(getattr(statements, name))
    types, params = EXPORT_READS[name]
    if not generic:
        return [row[0] for row in await db.fetch(f"EXPLAIN {statement}", *params)]
    await db.execute("SET plan_cache_mode = force_generic_plan")
    try:
        await db.execute(f"PREPARE chunk ({types}) AS {statement}")
        values = ", ".join(f"'{value}'" for value in params)
        return [row[0] for row in await db.fetch(f"EXPLAIN EXECUTE chunk ({values})")]
    finally:
        await db.execute("DEALLOCATE ALL")
        await db.execute("RESET plan_cache_mode")


def _unbounded_reads(plan: list[str]) -> list[str]:
    """The plan's reads of links not bounded by the outcome id (all the context's links), and
    of outcomes in id order not bounded by it (from the first outcome on). A small table may be
    read whole where the planner finds that cheaper than a chunk's lookups; never the links."""
    unbounded = []
    for step, detail in zip(plan, [*plan[1:], ""], strict=True):
        conditions = detail.replace("(", " (") if "Index Cond" in detail else ""
        if "on lms_outcomes_links " in step and " (outcome_id " not in conditions:
            unbounded.append(step.strip())
        if "using lms_outcomes_outcomes_pkey" in step and " (id " not in conditions:
            unbounded.append(step.strip())
    return unbounded


def test_the_export_reads_outcomes_in_link_order_without_grouping_the_rest(
    tmp_path: Path,
) -> None:
    """On SQLite the chunk's outcomes are the links' from the last id on, in index order: a
    temporary b-tree would group every link after it, for every chunk."""
    plan = sqlite_plan(tmp_path, statements.TREE_OUTCOMES_AFTER, ("account", 1, 5, 5, 1000))
    assert "SEARCH l USING INDEX lms_outcomes_links_by_outcome (outcome_id>?)" in plan, plan
    assert not [step for step in plan if "GROUP BY" in step], plan
