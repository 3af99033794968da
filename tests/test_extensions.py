"""Extensions: import formats and events registered through the lms_outcomes hooks."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lms_outcomes_plugin import hookimpl
from lms_outcomes_plugin.extensions import Extensions, make_plugin_manager
from lms_outcomes_plugin.formats import DuplicateImportFormat
from tests.conftest import Api, World
from tests.toy_formats import LinesFormat


class LinesPlugin:
    def __init__(self) -> None:
        self.finished: list[dict[str, Any]] = []

    @hookimpl
    def lms_outcomes_register_import_formats(self, registry: Any) -> None:
        registry.add(LinesFormat())

    @hookimpl
    async def lms_outcomes_import_finished(self, outcome_import: Any) -> None:
        self.finished.append(outcome_import.as_json())


@pytest.fixture
def lines_plugin() -> LinesPlugin:
    return LinesPlugin()


@pytest.fixture
def plugin_settings(plugin_settings: dict, lines_plugin: LinesPlugin) -> dict:
    return {**plugin_settings, "extra_plugins": [lines_plugin]}


@pytest.mark.gen_test(timeout=30)
async def test_a_plugin_import_type_is_used_by_post(
    api: Api, world: World, lines_plugin: LinesPlugin
) -> None:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    body = b"group g1 Reading\noutcome o1 g1 Decode words\nbogus x\n"

    created = await api.post(
        f"{imports}?import_type=lines", body=body, headers={"Content-Type": "text/plain"}
    )
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert created.body["data"] == {"import_type": "lines"}
    assert done.body["workflow_state"] == "succeeded"
    assert done.body["processing_errors"] == [[3, "unknown kind bogus"]]
    assert [event["id"] for event in lines_plugin.finished] == [created.body["id"]]
    assert lines_plugin.finished[0]["workflow_state"] == "succeeded"


@pytest.mark.gen_test
async def test_unknown_import_type_is_400_naming_the_valid_ones(api: Api, world: World) -> None:
    response = await api.post(
        f"/api/v1/accounts/{world.account_id}/outcome_imports?import_type=foo", body=b"x"
    )
    assert response.status == 400
    assert response.body == {
        "error": "Invalid import_type 'foo'; valid import types: instructure_csv, lines"
    }


def test_a_duplicate_import_type_is_a_clear_error_at_startup() -> None:
    class Twice:
        @hookimpl
        def lms_outcomes_register_import_formats(self, registry: Any) -> None:
            registry.add(LinesFormat())

    pm = make_plugin_manager([Twice(), LinesPlugin()], load_entry_points=False)
    with pytest.raises(DuplicateImportFormat, match="import_type 'lines' is registered twice"):
        Extensions.collect(pm)


@pytest.fixture
def installed_extension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real distribution on sys.path whose ``lms_outcomes`` entry point names a module."""
    (tmp_path / "shouting_format.py").write_text(
        textwrap.dedent("""
        from lms_outcomes_plugin import hookimpl, GroupRecord

        class Shouting:
            name = "shouting"
            def parse(self, source, options):
                for row, line in enumerate(source, start=1):
                    guid = line.decode().strip()
                    yield GroupRecord(row=row, vendor_guid=guid, title=guid.upper())

        @hookimpl
        def lms_outcomes_register_import_formats(registry):
            registry.add(Shouting())
    """)
    )
    dist = tmp_path / "shouting_format-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shouting-format\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[lms_outcomes]\nshouting = shouting_format\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "shouting"
    sys.modules.pop("shouting_format", None)


def test_extensions_are_loaded_from_the_entry_point_group(installed_extension: str) -> None:
    extensions = Extensions.collect(make_plugin_manager())

    assert installed_extension in extensions.formats
    assert "instructure_csv" in extensions.formats
    dists = {dist.project_name for _, dist in extensions.plugin_manager.list_plugin_distinfo()}
    assert "shouting-format" in dists
