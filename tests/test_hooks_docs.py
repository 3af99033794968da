"""docs/hooks.md documents every hook, with its exact signature (Datasette's docs test), and
the format example it and the README print runs as written, in a real import."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import lms_hooks.host
from lms_outcomes_plugin import DataFormatError, GroupRecord, OutcomeRecord, RowError
from lms_outcomes_plugin import hookspecs as outcomes_hookspecs
from lms_outcomes_plugin.testing import check_format
from tests.conftest import Api, World

DOCS = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"


def hookspecs(module: ModuleType) -> dict[str, str]:
    """name -> ``name(arg, ...)`` for every hook specification in ``module``."""
    specs = {}
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if hasattr(function, "lms_spec") or hasattr(function, "lms_outcomes_spec"):
            args = ", ".join(inspect.signature(function).parameters)
            specs[name] = f"{name}({args})"
    return specs


ALL_SPECS = {**hookspecs(lms_hooks.host), **hookspecs(outcomes_hookspecs)}
DOCUMENTED = re.findall(r"^### (\w+\(.*\))$", DOCS.read_text("utf-8"), flags=re.MULTILINE)


def test_hooks_were_found() -> None:
    assert set(ALL_SPECS) >= {
        "lms_routes",
        "lms_startup",
        "lms_shutdown",
        "lms_outcomes_register_import_formats",
        "lms_outcomes_register_storage_backends",
        "lms_outcomes_import_finished",
        "lms_outcomes_background_tasks",
    }


@pytest.mark.parametrize("name", sorted(ALL_SPECS))
def test_every_hook_is_documented_with_its_signature(name: str) -> None:
    assert ALL_SPECS[name] in DOCUMENTED, f"docs/hooks.md needs a heading: ### {ALL_SPECS[name]}"


def test_docs_name_no_hook_that_does_not_exist() -> None:
    assert set(DOCUMENTED) <= set(ALL_SPECS.values())


# -- the LinesFormat example, as written in README.md and docs/hooks.md -----------------------

EXAMPLES = {"readme": DOCS.parents[1] / "README.md", "hooks": DOCS}


def example_code(markdown: Path) -> str:
    """The python block of ``markdown`` that defines LinesFormat, as written."""
    [code] = [
        block for block in re.findall(r"^```python\n(.*?)^```$", markdown.read_text("utf-8"),
                                      flags=re.MULTILINE | re.DOTALL)
        if "class LinesFormat" in block
    ]
    return code


@pytest.fixture(params=sorted(EXAMPLES))
def example(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """The example as a module of its own, importable by the parse worker too."""
    name = f"lines_format_{request.param}"
    (tmp_path / f"{name}.py").write_text(example_code(EXAMPLES[request.param]), "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module(name)
    sys.modules.pop(name, None)


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any], example: ModuleType) -> dict[str, Any]:
    return {**plugin_settings, "extra_plugins": [example]}


LINES = (
    b"group reading Reading and writing\r\n"
    b"\r\n"
    b"outcome decode Decode words\r\n"
    b"outcome short\n"
    b"\n"
    b"lesson l1 Not a kind\n"
    b"group writing Writing"  # no end of line
)


def test_the_example_keeps_the_rules(example: ModuleType) -> None:
    items = check_format(example.LinesFormat(), LINES)
    assert items == [
        GroupRecord(row=1, vendor_guid="reading", title="Reading and writing"),
        OutcomeRecord(row=3, vendor_guid="decode", title="Decode words"),
        RowError(4, "Expected: KIND GUID TITLE"),
        RowError(6, "Unknown kind: lesson"),
        GroupRecord(row=7, vendor_guid="writing", title="Writing"),
    ]
    with pytest.raises(DataFormatError, match=r"^The file has no objects$"):
        check_format(example.LinesFormat(), b"\r\n\n  \n")


@pytest.mark.gen_test(timeout=30)
async def test_the_example_runs_a_real_import(api: Api, world: World) -> None:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post(
        f"{imports}?import_type=lines", body=LINES, headers={"Content-Type": "text/plain"}
    )
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert done.body["workflow_state"] == "succeeded"
    assert done.body["processing_errors"] == [
        [4, "Expected: KIND GUID TITLE"], [6, "Unknown kind: lesson"]
    ]
    groups = await api.get(f"/api/v1/accounts/{world.account_id}/outcome_groups")
    titles = sorted(group["title"] for group in groups.body)
    assert titles == ["Reading and writing", "Springfield District", "Writing"]


@pytest.mark.gen_test(timeout=30)
async def test_the_example_fails_a_bad_file_writing_nothing(api: Api, world: World) -> None:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post(
        f"{imports}?import_type=lines", body=b"group a A\ngroup b \xff\n",
        headers={"Content-Type": "text/plain"},
    )
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert done.body["workflow_state"] == "failed"
    assert done.body["processing_errors"] == [[1, "Line 2 is not UTF-8"]]
    groups = await api.get(f"/api/v1/accounts/{world.account_id}/outcome_groups")
    assert [group["title"] for group in groups.body] == ["Springfield District"]
