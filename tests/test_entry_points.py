"""A third party's distribution, installed (a dist-info on sys.path), brings a format, a storage
backend and an event plugin through the ``lms_outcomes`` entry points, found by pluggy's own
``load_setuptools_entrypoints``: all three run in a real import over HTTP. A distribution with
a misspelled hook stops the plugin at start."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest

from lms_outcomes_plugin.extensions import make_plugin_manager
from tests.conftest import Api, World, until

ACME = '''
"""Acme's extension of lms-outcomes: a format, a storage backend, an event plugin."""

from lms_outcomes_plugin import GroupRecord, hookimpl
from lms_outcomes_plugin.storage.postgresql import PostgresStore
from lms_outcomes_plugin.storage.sqlite import SqliteStore

OPENED = []
EVENTS = []


class ShoutingFormat:
    name = "shouting"

    def parse(self, source, options):
        for row, line in enumerate(source, start=1):
            if guid := line.decode().strip():
                yield GroupRecord(row=row, vendor_guid=guid, title=guid.upper())


class TracingStore:
    """A built-in store, noting that it was opened."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    async def open(self):
        await self._inner.open()
        OPENED.append(type(self._inner).__name__)


def tracing_store(url, settings):
    inner = url.removeprefix("tracing+")
    backend = SqliteStore if inner.startswith("sqlite:") else PostgresStore
    return TracingStore(backend.from_url(inner, settings))


@hookimpl
def lms_outcomes_register_import_formats(registry):
    registry.add(ShoutingFormat())


@hookimpl
def lms_outcomes_register_storage_backends(registry):
    registry.add("tracing", tracing_store)


@hookimpl
async def lms_outcomes_import_finished(outcome_import, host):
    channel = host.plugin_settings("acme")["channel"]
    EVENTS.append((channel, outcome_import.id, outcome_import.workflow_state))
'''

TYPO = '''
from lms_outcomes_plugin import hookimpl


@hookimpl
def lms_outcomes_register_import_format(registry):
    """One letter short."""
'''


def install(site: Path, module: str, source: str) -> None:
    """A distribution named after ``module``, its module registered in the lms_outcomes
    entry-point group, as pip would leave it in site-packages."""
    (site / f"{module}.py").write_text(textwrap.dedent(source), "utf-8")
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir()
    name = module.replace("_", "-")
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[lms_outcomes]\n{module} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site-packages of the test's own, on sys.path (the parse worker inherits it)."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in ("acme_outcomes", "typo_outcomes"):
        sys.modules.pop(module, None)


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any], site: Path) -> dict[str, Any]:
    install(site, "acme_outcomes", ACME)
    return {**plugin_settings, "storage_url": f"tracing+{plugin_settings['storage_url']}"}


@pytest.fixture
def host_settings(host_settings: dict[str, Any]) -> dict[str, Any]:
    return {**host_settings, "acme": {"channel": "#acme"}}


def acme() -> ModuleType:
    """The module as pluggy loaded it."""
    return sys.modules["acme_outcomes"]


@pytest.mark.gen_test(timeout=60)
async def test_a_format_a_store_and_an_event_plugin_from_entry_points_all_run(
    api: Api, world: World, storage_backend: str
) -> None:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post(
        f"{imports}?import_type=shouting", body=b"reading\r\n\r\nwriting\r\n",
        headers={"Content-Type": "text/plain"},
    )
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert done.body["workflow_state"] == "succeeded", done.body
    groups = await api.get(f"/api/v1/accounts/{world.account_id}/outcome_groups")
    titles = sorted(group["title"] for group in groups.body)
    assert titles == ["READING", "Springfield District", "WRITING"]
    opened, events = acme().OPENED, acme().EVENTS
    assert opened == ["SqliteStore" if storage_backend == "sqlite" else "PostgresStore"]
    await until(lambda: bool(events))
    assert events == [("#acme", created.body["id"], "succeeded")]


def test_a_misspelled_hook_in_a_distribution_stops_the_plugin_at_start(site: Path) -> None:
    install(site, "typo_outcomes", TYPO)
    with pytest.raises(pluggy.PluginValidationError) as raised:
        make_plugin_manager()
    assert str(raised.value) == (
        f"unknown hook 'lms_outcomes_register_import_format' in plugin "
        f"{sys.modules['typo_outcomes']!r}; the lms_outcomes hooks are: "
        "lms_outcomes_background_tasks, lms_outcomes_import_finished, "
        "lms_outcomes_register_import_formats, "
        "lms_outcomes_register_storage_backends"
    )
