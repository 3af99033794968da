"""The ``moodle_competency_csv`` import type: a competency framework as Moodle's
``tool_lpimportcsv`` exports it.

The export is a CSV file with a header and 14 columns, read by position as Moodle reads it. One
row has "Is framework" set: the framework, whose scale gives the ratings. Every other row is a
competency: "Parent id number" names its parent ("" for the framework), and a competency with
children becomes a group, one without an outcome. Moodle writes parents before children.

- vendor_guid: a group's or outcome's "Id number" after the framework's and a slash
  (``OECD-CORE/level-1``), the framework's own "Id number" for its group; id numbers are unique
  in a framework only, vendor_guids across the installation.
- title: "Shortname"; description: "Description" as it is (Moodle stores HTML).
- ratings: the scale's values (``Not yet competent,Competent``), the first worth 1 point, the
  next 2, ...; mastery at the first value the "Scale configuration" marks ``proficient``. A
  competency's own scale replaces the framework's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import BinaryIO

from lms_outcomes_plugin import (
    DataFormatError,
    FormatOptions,
    FormatOutput,
    GroupRecord,
    OutcomeRecord,
    Rating,
    RowError,
    RowWarning,
)
from lms_outcomes_plugin.formats.encoding import Decoding, decoding_for

COLUMNS = (
    "Parent id number", "Id number", "Shortname", "Description", "Description format",
    "Scale values", "Scale configuration", "Rule type (optional)", "Rule outcome (optional)",
    "Rule config (optional)", "Cross referenced competency id numbers",
    "Exported id (optional)", "Is framework", "Taxonomy",
)
PARENT, IDNUMBER, SHORTNAME, DESCRIPTION, _FORMAT, SCALE, SCALE_CONFIG = range(7)
IS_FRAMEWORK = 12
NOT_MOODLE = (
    "The file is not a Moodle competency framework export: it needs the 14 columns of "
    'tool_lpimportcsv ("Parent id number", "Id number", "Shortname", ...), one row per '
    "competency"
)
NO_FRAMEWORK = 'The file has no framework row (a row whose "Is framework" is 1)'
TWO_FRAMEWORKS = 'The file has more than one framework row (rows {} and {} have "Is framework" 1)'
NO_ID = 'A competency needs an "Id number" and a "Shortname"'


@dataclass(frozen=True, slots=True)
class Scale:
    ratings: tuple[Rating, ...]
    mastery_points: float | None


@dataclass(frozen=True, slots=True)
class Framework:
    row: int
    idnumber: str
    #: The id numbers of competencies that have children: they become groups.
    parents: frozenset[str]


class MoodleCompetencyCsv:
    """``import_type=moodle_competency_csv``. Stateless: pickled to the parse worker."""

    name = "moodle_competency_csv"

    def __repr__(self) -> str:
        return "MoodleCompetencyCsv()"

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[FormatOutput]:
        decoding = decoding_for(source, options.encoding)
        # Each pass closes its reader while ``source`` is still open, however it ends.
        with closing(_rows(source, decoding, options)) as rows:
            framework = _check(rows)
        if decoding.warning:
            yield RowWarning(1, decoding.warning)
        scale: Scale | None = None
        with closing(_rows(source, decoding, options)) as rows:
            for row, cells in rows:
                if row == 1 or not any(cells):
                    continue
                if row == framework.row:
                    scale = _scale(cells[SCALE], cells[SCALE_CONFIG])
                    yield GroupRecord(row=row, vendor_guid=framework.idnumber,
                                      title=cells[SHORTNAME].strip(),
                                      description=cells[DESCRIPTION] or None,
                                      prune=True)  # the whole framework: see the README
                else:
                    yield from _competency(row, cells, framework, scale, options)


def _rows(
    source: BinaryIO, decoding: Decoding, options: FormatOptions
) -> Iterator[tuple[int, list[str]]]:
    """(row, its 14 cells) from the top of the file; row 1 is the header."""
    source.seek(decoding.start)
    text = io.TextIOWrapper(source, encoding=decoding.codec, errors=decoding.errors, newline="")
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, 4 * options.max_cell_bytes + 1))
    try:
        for row, cells in enumerate(csv.reader(text), start=1):
            yield row, (cells + [""] * len(COLUMNS))[: len(COLUMNS)]
    except csv.Error as error:
        raise DataFormatError(f"The file is not valid CSV: {error}") from None
    finally:
        csv.field_size_limit(limit)
        text.detach()


def _check(rows: Iterator[tuple[int, list[str]]]) -> Framework:
    """The whole file's structure, before any record: its header, its one framework row, and
    which competencies have children."""
    header = next(rows, (1, []))[1]
    if len([cell for cell in header if cell]) != len(COLUMNS):
        raise DataFormatError(NOT_MOODLE)
    framework: tuple[int, str] | None = None
    parents: set[str] = set()
    for row, cells in rows:
        if cells[IS_FRAMEWORK].strip() == "1":
            if framework is not None:
                raise DataFormatError(TWO_FRAMEWORKS.format(framework[0], row))
            framework = (row, cells[IDNUMBER].strip())
        elif cells[PARENT]:
            parents.add(cells[PARENT])
    if framework is None or not framework[1]:
        raise DataFormatError(NO_FRAMEWORK)
    return Framework(framework[0], framework[1], frozenset(parents))


def _competency(
    row: int, cells: list[str], framework: Framework, scale: Scale | None,
    options: FormatOptions,
) -> Iterator[FormatOutput]:
    idnumber, title = cells[IDNUMBER], cells[SHORTNAME].strip()
    if not idnumber or not title:
        yield RowError(row, NO_ID)
        return
    for column in (DESCRIPTION, SCALE, SCALE_CONFIG):
        if len(cells[column].encode("utf-8", "surrogateescape")) > options.max_cell_bytes:
            yield RowError(row, f'The "{COLUMNS[column]}" field is too long (maximum is '
                                f"{options.max_cell_bytes} bytes)")
            return
    prefix = f"{framework.idnumber}/"
    parent = prefix + cells[PARENT] if cells[PARENT] else framework.idnumber
    guid = prefix + idnumber
    description = cells[DESCRIPTION] or None
    if idnumber in framework.parents:
        yield GroupRecord(row=row, vendor_guid=guid, title=title, description=description,
                          parent_guids=(parent,))
        return
    own = _scale(cells[SCALE], cells[SCALE_CONFIG]) if cells[SCALE] else None
    chosen = own or scale or Scale((), None)
    yield OutcomeRecord(row=row, vendor_guid=guid, title=title, description=description,
                        ratings=chosen.ratings, mastery_points=chosen.mastery_points,
                        parent_guids=(parent,))


def _scale(values: str, configuration: str) -> Scale | None:
    """Moodle's scale: values from worst to best, worth 1, 2, ... points; mastery at the first
    one the configuration marks proficient (Moodle: ``[{"scaleid": ...}, {"id": 2,
    "scaledefault": 1, "proficient": 1}]``, ids counting values from 1)."""
    names = [name.strip() for name in values.split(",") if name.strip()]
    if not names:
        return None
    ratings = tuple(Rating(float(points), name) for points, name in enumerate(names, start=1))
    try:
        entries = json.loads(configuration) if configuration else []
    except ValueError:
        entries = []
    proficient = [
        entry["id"] for entry in entries[1:] if isinstance(entries, list)
        if isinstance(entry, dict) and entry.get("proficient") in (1, "1")
        and isinstance(entry.get("id"), int) and 1 <= entry["id"] <= len(names)
    ]
    return Scale(ratings[::-1], float(min(proficient)) if proficient else None)
