"""Helpers shared by the import-format tests: parse bytes, build CSV text, read fixtures."""

from __future__ import annotations

import io
from pathlib import Path

from lms_outcomes_plugin.formats import FormatOptions
from lms_outcomes_plugin.formats.instructure_csv import InstructureCsv
from lms_outcomes_plugin.records import GroupRecord, OutcomeRecord, ParsedItem, RowError

CANVAS_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "canvas"

#: The Canvas spec's default header ("H").
H = "title,vendor_guid,object_type,parent_guids,calculation_method,calculation_int,workflow_state"


def parse(data: bytes | str, locale: str = "en") -> list[ParsedItem]:
    """Every item the instructure_csv format yields for ``data`` (str is UTF-8 encoded)."""
    raw = data.encode() if isinstance(data, str) else data
    return list(InstructureCsv().parse(io.BytesIO(raw), FormatOptions(locale=locale)))


def errors(items: list[ParsedItem]) -> list[tuple[int, str]]:
    """The row errors as Canvas's ``[row, message]`` pairs."""
    return [(item.row, item.message) for item in items if isinstance(item, RowError)]


def outcomes(items: list[ParsedItem]) -> list[OutcomeRecord]:
    return [item for item in items if isinstance(item, OutcomeRecord)]


def groups(items: list[ParsedItem]) -> list[GroupRecord]:
    return [item for item in items if isinstance(item, GroupRecord)]


def lines(*rows: str, eol: str = "\n") -> str:
    """CSV text: one line per argument, each ended by ``eol``."""
    return "".join(row + eol for row in rows)


def outcome_row(**cells: str) -> str:
    """The spec's ``O(...)`` row under :data:`H`: title, a guid, outcome, highest."""
    values = {
        "title": "title",
        "vendor_guid": "guid",
        "object_type": "outcome",
        "parent_guids": "",
        "calculation_method": "highest",
        "calculation_int": "",
        "workflow_state": "",
    }
    values.update(cells)
    return ",".join(values[name] for name in H.split(","))


def group_row(**cells: str) -> str:
    """The spec's ``G(...)`` row under :data:`H`: title, a guid, group, other cells empty."""
    values = dict.fromkeys(H.split(","), "")
    values.update(title="title", vendor_guid="guid", object_type="group")
    values.update(cells)
    return ",".join(values[name] for name in H.split(","))
