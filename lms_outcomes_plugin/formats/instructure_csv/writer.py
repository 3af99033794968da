"""The ``instructure_csv`` file as Canvas's outcome export writes it: its columns in Canvas's
order, groups and outcomes as rows, numbers as Canvas prints them in the context's locale.

Everything this module writes, the format reads back to the same values: a rating whose
description is empty is written quoted (``""``), which the format keeps empty, where an
unquoted empty cell would read as Canvas's ``No Comment``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from lms_outcomes_plugin.formats.instructure_csv.numbers import number_symbols
from lms_outcomes_plugin.ruby import float_to_s

#: Canvas's export columns, in its order; the rating cells start at ``ratings``.
HEADER = (
    "vendor_guid",
    "object_type",
    "title",
    "description",
    "friendly_description",
    "display_name",
    "calculation_method",
    "calculation_int",
    "parent_guids",
    "workflow_state",
    "mastery_points",
    "ratings",
)


def group_guid(group_id: int, vendor_guid: str | None) -> str:
    """How a row names a group: its vendor_guid, else ``canvas_outcome_group:<id>``."""
    return vendor_guid if vendor_guid is not None else f"canvas_outcome_group:{group_id}"


def outcome_guid(outcome_id: int, vendor_guid: str | None) -> str:
    """How a row names an outcome: its vendor_guid, else ``canvas_outcome:<id>``."""
    return vendor_guid if vendor_guid is not None else f"canvas_outcome:{outcome_id}"


class CsvWriter:
    """Rows to text, a few at a time: :meth:`take` returns what was written since last."""

    def __init__(self, locale: str) -> None:
        self._separator = number_symbols(locale or "en").separator
        self._text = io.StringIO()
        # "\r\n" ends rows: the csv module then quotes a cell holding either character.
        self._minimal = csv.writer(self._text, lineterminator="\r\n")
        self._quoted = csv.writer(self._text, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
        self._minimal.writerow(HEADER)

    def number(self, value: float | None) -> str:
        """Ruby's ``Float#to_s`` with the locale's decimal separator: ``3.0``, ``3,0``."""
        if value is None:
            return ""
        return float_to_s(value).replace(".", self._separator)

    def group(self, guid: str, title: str, description: str | None, parent: str) -> None:
        self._minimal.writerow(
            (guid, "group", title, description or "", "", "", "", "", parent, "active", "")
        )

    def outcome(
        self,
        guid: str,
        fields: Sequence[str | None],
        calculation_int: int | None,
        parents: Iterable[str],
        mastery_points: float | None,
        ratings: Iterable[tuple[float, str]],
    ) -> None:
        """``fields``: title, description, friendly description, display name and calculation
        method; ``ratings`` highest first, as (points, description)."""
        cells = [guid, "outcome", *(value or "" for value in fields),
                 "" if calculation_int is None else str(calculation_int), " ".join(parents),
                 "active", self.number(mastery_points)]  # fmt: skip
        empty_description = False
        for points, description in ratings:
            cells += (self.number(points), description)
            empty_description = empty_description or description == ""
        (self._quoted if empty_description else self._minimal).writerow(cells)

    def take(self) -> str:
        """The text written since the last call."""
        text = self._text.getvalue()
        self._text.seek(0)
        self._text.truncate()
        return text
