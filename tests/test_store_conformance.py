"""Both built-in backends pass the conformance suite the plugin ships to third parties,
imported from the installed package as they import it."""

from __future__ import annotations

import pytest

from lms_outcomes_plugin.storage import Store
from lms_outcomes_plugin.storage.postgresql import PostgresStore
from lms_outcomes_plugin.storage.sqlite import SqliteStore
from lms_outcomes_plugin.testing import StoreConformance


class TestBuiltInStores(StoreConformance):
    @pytest.fixture
    def store(self, storage_url: str) -> Store:
        if storage_url.startswith("sqlite:"):
            return SqliteStore.from_url(storage_url, {})
        return PostgresStore.from_url(storage_url, {})
