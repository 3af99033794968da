"""docs/hooks.md documents every hook, with its exact signature (Datasette's docs test)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import lms_hooks.host
from lms_outcomes_plugin import hookspecs as outcomes_hookspecs

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
    }


@pytest.mark.parametrize("name", sorted(ALL_SPECS))
def test_every_hook_is_documented_with_its_signature(name: str) -> None:
    assert ALL_SPECS[name] in DOCUMENTED, f"docs/hooks.md needs a heading: ### {ALL_SPECS[name]}"


def test_docs_name_no_hook_that_does_not_exist() -> None:
    assert set(DOCUMENTED) <= set(ALL_SPECS.values())

