"""The engine works in batches: store round trips follow the batches, never the rows."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from lms_outcomes_plugin import hookimpl
from lms_outcomes_plugin.storage.postgresql import PostgresStore
from lms_outcomes_plugin.storage.sqlite import SqliteStore
from tests.conftest import Api, World
from tests.tree import G, O, Tree, csv_of, run_import


class CountingConnection:
    """Counts the queries (each one a round trip) a batch makes."""

    def __init__(self, connection: Any, counts: Counter[str]) -> None:
        self._connection = connection
        self._counts = counts

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._connection, name)
        if name not in ("fetch", "execute", "executemany"):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._counts["queries"] += 1
            return attribute(*args, **kwargs)

        return counted


COUNTS: Counter[str] = Counter()


class CountingMixin:
    """A real store, counting its batches and the queries inside them."""

    @asynccontextmanager
    async def batch(self, import_id: int, runner: str) -> AsyncIterator[Any]:
        COUNTS["batches"] += 1
        async with super().batch(import_id, runner) as tx:  # type: ignore[misc]
            tx._db = CountingConnection(tx._db, COUNTS)
            yield tx


class CountingSqlite(CountingMixin, SqliteStore):
    pass


class CountingPostgres(CountingMixin, PostgresStore):
    pass


class CountingBackend:
    """``counting+<url>``: the store of ``<url>``, counting."""

    @hookimpl
    def lms_outcomes_register_storage_backends(self, registry: Any) -> None:
        registry.add("counting", self.create)

    @staticmethod
    def create(url: str, settings: Mapping[str, Any]) -> Any:
        real = url.removeprefix("counting+")
        if real.startswith("sqlite:"):
            return CountingSqlite.from_url(real, settings)
        return CountingPostgres.from_url(real, settings)


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> Mapping[str, Any]:
    COUNTS.clear()
    return {**plugin_settings, "storage_url": f"counting+{plugin_settings['storage_url']}",
            "extra_plugins": [CountingBackend()]}


def big_file(rows: int) -> bytes:
    """A tree with a group per 10 rows, each outcome in its group and the previous one."""
    records = []
    for index in range(rows):
        if index % 10 == 0:
            records.append(G(vendor_guid=f"g{index}"))
        else:
            group = index - index % 10
            previous = max(group - 10, 0)
            records.append(O(vendor_guid=f"o{index}", parent_guids=f"g{group} g{previous}"))
    return csv_of(records)


@pytest.mark.gen_test(timeout=120)
async def test_round_trips_follow_batches_not_rows(api: Api, world: World, tree: Tree) -> None:
    rows = 5_000
    batches = math.ceil(rows / 1000)  # the header rides in the first batch's parse, not a row

    first = await run_import(api, f"accounts/{world.account_id}", big_file(rows))
    first_counts = dict(COUNTS)
    COUNTS.clear()
    again = await run_import(api, f"accounts/{world.account_id}", big_file(rows))

    assert first["processing_errors"] == [] == again["processing_errors"]
    assert tree.rows("SELECT COUNT(*) FROM lms_outcomes_outcomes")[0][0] == 4_500
    for counts in (first_counts, COUNTS):
        assert counts["batches"] == batches
        # a lookup and an apply: a handful of statements each, whatever the batch holds
        assert counts["queries"] <= 16 * batches, counts
