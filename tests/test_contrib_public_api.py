"""The contrib distributions are built as a third party would build them: they import from
lms_outcomes_plugin only what docs/hooks.md calls public (its "What is public" list), tests
included, and each is found through its own entry point."""

from __future__ import annotations

import ast
import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRIB = sorted(path.parent for path in ROOT.glob("contrib/*/pyproject.toml"))
DOCS = ROOT / "docs" / "hooks.md"


def public_names() -> set[str]:
    """``module`` and ``module.name`` entries of docs/hooks.md's "What is public" section."""
    section = DOCS.read_text("utf-8").split("## What is public", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([\w.*]+)`", section, flags=re.MULTILINE))


def imported_names(path: Path) -> set[str]:
    """``module.name`` for each ``from lms_outcomes_plugin... import name``, and ``module`` for
    each ``import lms_outcomes_plugin...``, in one Python file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "lms_outcomes_plugin"
        ):
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names
                         if alias.name.startswith("lms_outcomes_plugin"))
    return found


def test_there_are_contrib_distributions() -> None:
    assert {path.name for path in CONTRIB} >= {"case", "moodle", "webhooks"}


@pytest.mark.parametrize("project", CONTRIB, ids=lambda path: path.name)
def test_contrib_imports_only_what_the_docs_call_public(project: Path) -> None:
    public = public_names()
    private = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in project.rglob("*.py")
        for name in imported_names(path)
        if name not in public and name.rsplit(".", 1)[0] + ".*" not in public
    }
    assert private == set()


def test_the_public_list_names_what_exists() -> None:
    import importlib

    for entry in public_names():
        module, _, name = entry.rpartition(".")
        if name == "*":
            importlib.import_module(module)
        else:
            assert hasattr(importlib.import_module(module), name), entry


def test_the_checker_sees_a_private_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from lms_outcomes_plugin.imports.planner import BatchPlanner\n"
                      "import lms_outcomes_plugin.storage.sql\n", "utf-8")
    assert imported_names(sample) == {"lms_outcomes_plugin.imports.planner.BatchPlanner",
                                      "lms_outcomes_plugin.storage.sql"}
    assert not imported_names(sample) & public_names()


def test_the_formats_are_found_through_their_entry_points() -> None:
    found = {entry.name: entry.value for entry in entry_points(group="lms_outcomes")}
    assert found["case"] == "lms_outcomes_case"
    assert found["moodle_competency_csv"] == "lms_outcomes_moodle"
    assert found["webhooks"] == "lms_outcomes_webhooks.plugin"
