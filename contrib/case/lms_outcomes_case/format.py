"""The ``case`` import type: a CASE 1.0/1.1 package (IMS Global's Competencies and Academic
Standards Exchange) as outcome groups and outcomes.

A package is one JSON object: ``CFDocument`` (the framework), ``CFItems`` (its statements),
``CFAssociations`` (how they relate) and optionally ``CFRubrics``; a ``CFPackage`` wrapper around
them is accepted too. The tree comes from ``isChildOf`` associations, which a package lists after
its items, so nothing can be written as it is read: the items, the associations and the rubrics
are streamed (``ijson``) into a scratch SQLite file on disk, and the tree is then read back from it
in order, parents first. Memory stays bounded whatever the package's size; the disk holds about
one copy of what is imported.

Rows: JSON has no lines that mean anything to a user, so row 1 is the package as a whole (the
CFDocument's group and the warnings about associations), and rows 2, 3, ... are the objects in the
order they are imported (the tree, depth first). Messages name the CASE identifier.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, BinaryIO

import ijson

from lms_outcomes_plugin import (
    DataFormatError,
    FormatOptions,
    FormatOutput,
    GroupRecord,
    OutcomeRecord,
    Progress,
    Rating,
    RowError,
    RowWarning,
)

NOT_JSON = "The file is not valid JSON: a CASE package is a JSON object with a CFDocument"
NOT_CASE = "The file is not a CASE package: it has no CFDocument with an identifier and a title"
#: Progress is counted in thousandths: the first half is reading the package (three passes over
#: its bytes), the second writing the tree (one object at a time).
PROGRESS_TOTAL = 1000
_READ_PASSES = 3
_CHUNK = 200
#: How much of a fullStatement makes a title when the item has no abbreviatedStatement.
TITLE_WORDS_CHARS = 80
MAX_TITLE_CHARS = 255


class CaseFormat:
    """``import_type=case``. Stateless: the parse worker receives it pickled."""

    name = "case"

    def __repr__(self) -> str:
        return "CaseFormat()"

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[FormatOutput]:
        with tempfile.TemporaryDirectory(prefix="lms-outcomes-case-") as scratch:
            db = _scratch_db(os.path.join(scratch, "package.sqlite"))
            try:
                document = yield from _load(db, source, options)
                yield from _emit(db, document)
            finally:
                db.close()


# -- reading the package into the scratch database ------------------------------------------

_SCHEMA = """
CREATE TABLE item (idx INTEGER PRIMARY KEY, guid TEXT NOT NULL UNIQUE, title TEXT,
                   description TEXT, problem TEXT);
CREATE TABLE assoc (seq INTEGER PRIMARY KEY, guid TEXT, type TEXT, origin TEXT,
                    destination TEXT, ordering REAL);
CREATE TABLE rating (guid TEXT NOT NULL, points REAL NOT NULL, description TEXT NOT NULL);
CREATE TABLE warning (seq INTEGER PRIMARY KEY, message TEXT NOT NULL);
CREATE INDEX rating_guid ON rating (guid);
"""


def _scratch_db(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    # A scratch file: no journal, no fsync; sorts spill to disk, the page cache stays small.
    db.executescript(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE;"
        "PRAGMA cache_size=-2048;" + _SCHEMA
    )
    return db


def _load(
    db: sqlite3.Connection, source: BinaryIO, options: FormatOptions
) -> Iterator[Progress | dict[str, Any]]:
    """Check the package and copy what the tree needs into ``db``; returns the CFDocument.
    Yields only Progress: a bad file raises DataFormatError before any record."""
    size = max(source.seek(0, os.SEEK_END), 1)
    yield Progress(0, PROGRESS_TOTAL)
    base = _base_prefix(source)
    document = _document(source, base)
    passes: list[tuple[str, Any]] = [
        ("CFItems", lambda values: _store_items(db, values, options)),
        ("CFAssociations", lambda values: _store_associations(db, values)),
        ("CFRubrics", lambda values: _store_rubrics(db, values)),
    ]
    for number, (name, store) in enumerate(passes):
        source.seek(0)
        values = _json_items(source, f"{base}{name}.item")
        for chunk in _chunks(values):
            store(chunk)
            done = (number * size + source.tell()) * (PROGRESS_TOTAL // 2) // (_READ_PASSES * size)
            yield Progress(min(done, PROGRESS_TOTAL // 2), PROGRESS_TOTAL)
    return document


def _base_prefix(source: BinaryIO) -> str:
    """``""`` for a bare package, ``"CFPackage."`` for one wrapped in a CFPackage member."""
    source.seek(0)
    try:
        events = ijson.parse(source)
        if next(events, None) != ("", "start_map", None):
            raise DataFormatError(NOT_CASE)
        for prefix, event, value in events:
            if prefix == "" and event == "map_key":
                return "CFPackage." if value == "CFPackage" else ""
    except ijson.JSONError:
        raise DataFormatError(NOT_JSON) from None
    raise DataFormatError(NOT_CASE)


def _document(source: BinaryIO, base: str) -> dict[str, Any]:
    source.seek(0)
    found = next(iter(_json_items(source, f"{base}CFDocument")), None)
    if not (
        isinstance(found, dict)
        and isinstance(found.get("identifier"), str)
        and found["identifier"].strip()
        and isinstance(found.get("title"), str)
        and found["title"].strip()
    ):
        raise DataFormatError(NOT_CASE)
    return found


def _json_items(source: BinaryIO, prefix: str) -> Iterator[Any]:
    try:
        yield from ijson.items(source, prefix, use_float=True)
    except ijson.JSONError:
        raise DataFormatError(NOT_JSON) from None
    except UnicodeDecodeError:
        raise DataFormatError(NOT_JSON) from None


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    iterator = iter(values)
    while chunk := list(islice(iterator, _CHUNK)):
        yield chunk


def _store_items(db: sqlite3.Connection, items: list[Any], options: FormatOptions) -> None:
    rows = []
    for item in items:
        guid = _identifier(item)
        if guid is None:
            _warn(db, f"A CFItem without an identifier was skipped: {_quote(item)}")
            continue
        rows.append((guid, *_item_fields(item, options)))
    for guid, *fields in rows:
        inserted = db.execute(
            "INSERT OR IGNORE INTO item (guid, title, description, problem) VALUES (?, ?, ?, ?)",
            (guid, *fields),
        ).rowcount
        if not inserted:
            _warn(db, f"CFItem {guid} appears twice in the package: the first one is imported")


def _item_fields(item: dict[str, Any], options: FormatOptions) -> tuple[str | None, ...]:
    statement = _text(item.get("fullStatement"))
    if not statement:
        return None, None, f"CFItem {item['identifier']} has no fullStatement"
    if len(statement.encode("utf-8")) > options.max_cell_bytes:
        return None, None, (
            f'The "fullStatement" field is too long (maximum is {options.max_cell_bytes} bytes)'
        )
    return _title(item, statement), statement, None


def _title(item: dict[str, Any], statement: str) -> str:
    """humanCodingScheme and abbreviatedStatement, else the first words of fullStatement."""
    code = _text(item.get("humanCodingScheme"))
    text = _text(item.get("abbreviatedStatement")) or _first_words(statement)
    title = f"{code} {text}" if code else text
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


def _first_words(statement: str) -> str:
    line = " ".join(statement.split())
    if len(line) <= TITLE_WORDS_CHARS:
        return line
    cut = line[:TITLE_WORDS_CHARS].rsplit(" ", 1)[0] or line[:TITLE_WORDS_CHARS]
    return cut + "…"


def _store_associations(db: sqlite3.Connection, associations: list[Any]) -> None:
    rows = []
    for association in associations:
        if not isinstance(association, dict):
            continue
        ordering = association.get("sequenceNumber")
        rows.append((
            _identifier(association),
            _text(association.get("associationType")),
            _node(association.get("originNodeURI")),
            _node(association.get("destinationNodeURI")),
            ordering if isinstance(ordering, int | float) else None,
        ))
    db.executemany(
        "INSERT INTO assoc (guid, type, origin, destination, ordering) VALUES (?, ?, ?, ?, ?)",
        rows,
    )


def _store_rubrics(db: sqlite3.Connection, rubrics: list[Any]) -> None:
    """A criterion's levels become the ratings of the item it names (CFItemURI)."""
    rows = []
    for rubric in rubrics:
        for criterion in _list(rubric, "CFRubricCriteria"):
            guid = _node(criterion.get("CFItemURI")) or _text(criterion.get("CFItemURI"))
            for level in _list(criterion, "CFRubricCriterionLevels"):
                score = level.get("score")
                if guid and isinstance(score, int | float):
                    text = _text(level.get("quality")) or _text(level.get("description"))
                    rows.append((guid, float(score), text or ""))
    db.executemany("INSERT INTO rating (guid, points, description) VALUES (?, ?, ?)", rows)


def _list(value: Any, key: str) -> list[dict[str, Any]]:
    found = value.get(key) if isinstance(value, dict) else None
    return [entry for entry in found if isinstance(entry, dict)] if isinstance(found, list) else []


def _identifier(value: Any) -> str | None:
    guid = value.get("identifier") if isinstance(value, dict) else None
    return guid.strip() if isinstance(guid, str) and guid.strip() else None


def _node(value: Any) -> str | None:
    """A LinkURI's identifier (``{"title", "identifier", "uri"}``)."""
    return _identifier(value)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _quote(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


def _warn(db: sqlite3.Connection, message: str) -> None:
    db.execute("INSERT INTO warning (message) VALUES (?)", (message,))


# -- the tree, parents first ------------------------------------------------------------------

_TREE = """
-- isChildOf associations whose two ends are in the package (the document or an item)
CREATE TABLE edge AS
SELECT a.seq, a.origin AS child, a.destination AS parent, a.ordering
FROM assoc a JOIN item c ON c.guid = a.origin
WHERE a.type = 'isChildOf' AND a.origin != a.destination
  AND (a.destination = :document OR a.destination IN (SELECT guid FROM item));
CREATE INDEX edge_child ON edge (child, seq);
CREATE INDEX edge_parent ON edge (parent);
-- an item with children is a group: it keeps its first parent; a leaf is linked into each one
CREATE TABLE placed AS
SELECT child, parent, ordering, seq FROM edge e
WHERE NOT EXISTS (SELECT 1 FROM edge p WHERE p.parent = e.child)
   OR e.seq = (SELECT min(seq) FROM edge f WHERE f.child = e.child);
-- an item with no parent in the package goes under the document
INSERT INTO placed
SELECT guid, :document, NULL, -idx FROM item WHERE guid NOT IN (SELECT child FROM edge);
CREATE INDEX placed_parent ON placed (parent);
CREATE INDEX placed_child ON placed (child, seq);
-- siblings in the package's order: sequenceNumber where given, else the items' order
CREATE TABLE ranked AS
SELECT child, parent, printf('%010d', row_number() OVER (
  PARTITION BY parent ORDER BY ordering IS NULL, ordering, i.idx)) AS rank
FROM placed JOIN item i ON i.guid = placed.child;
CREATE INDEX ranked_parent ON ranked (parent);
"""

_ORDER = """
WITH RECURSIVE
walk(guid, path) AS (
  SELECT :document, ''
  UNION ALL
  SELECT r.child, walk.path || r.rank FROM ranked r JOIN walk ON r.parent = walk.guid)
SELECT w.guid, i.title, i.description, i.problem,
       EXISTS (SELECT 1 FROM edge WHERE edge.parent = w.guid) AS is_group,
       (SELECT json_group_array(parent) FROM
          (SELECT parent FROM placed WHERE placed.child = w.guid ORDER BY seq)) AS parents,
       (SELECT json_group_array(json_array(points, description)) FROM rating
          WHERE rating.guid = w.guid) AS ratings,
       (SELECT count(*) FROM edge WHERE edge.child = w.guid) AS parent_count
FROM (SELECT guid, max(path) AS path FROM walk WHERE guid != :document GROUP BY guid) w
JOIN item i ON i.guid = w.guid
ORDER BY w.path
"""

_OUTSIDE = """
SELECT a.guid, a.type, CASE WHEN o.guid IS NULL AND a.origin != :document
                            THEN a.origin ELSE a.destination END
FROM assoc a LEFT JOIN item o ON o.guid = a.origin LEFT JOIN item d ON d.guid = a.destination
WHERE (o.guid IS NULL AND a.origin IS NOT :document)
   OR (d.guid IS NULL AND a.destination IS NOT :document)
ORDER BY a.seq
"""


def _emit(db: sqlite3.Connection, document: dict[str, Any]) -> Iterator[FormatOutput]:
    guid = document["identifier"].strip()
    names = {"document": guid}
    db.executescript(_TREE.replace(":document", _sql_literal(guid)))
    total = 1 + db.execute("SELECT count(*) FROM item").fetchone()[0]
    # The package is the whole framework: what a new version drops is deleted (prune).
    yield GroupRecord(
        row=1, vendor_guid=guid, title=document["title"].strip(),
        description=_text(document.get("description")), prune=True,
    )
    yield from (RowWarning(1, message) for (message,) in
                db.execute("SELECT message FROM warning ORDER BY seq"))
    for association, kind, node in db.execute(_OUTSIDE, names):
        yield RowWarning(1, _outside_message(association, kind, node))
    row = 1
    for row, values in enumerate(db.execute(_ORDER, names), start=2):
        yield from _objects(row, *values)
        if row % 100 == 0:
            yield Progress(_emitted(row, total), PROGRESS_TOTAL)
    cycles = enumerate(db.execute(_unreached(guid)), start=row + 1)
    for cycle_row, (item,) in cycles:
        yield RowError(cycle_row, f"CFItem {item} is in a cycle of isChildOf associations: "
                                  "not imported")
    yield Progress(PROGRESS_TOTAL, PROGRESS_TOTAL)


def _unreached(document: str) -> str:
    """Items the walk from the document never reaches: their isChildOf associations go round
    in a circle."""
    return (
        "WITH RECURSIVE walk(guid) AS (SELECT " + _sql_literal(document) + " UNION "
        "SELECT placed.child FROM placed JOIN walk ON placed.parent = walk.guid) "
        "SELECT guid FROM item WHERE guid NOT IN (SELECT guid FROM walk) ORDER BY idx"
    )


def _objects(
    row: int, guid: str, title: str | None, description: str | None, problem: str | None,
    is_group: int, parents: str, ratings: str, parent_count: int,
) -> Iterator[FormatOutput]:
    if problem is not None:
        yield RowError(row, problem)
        return
    assert title is not None
    parent_guids = tuple(json.loads(parents))
    if is_group:
        yield GroupRecord(row=row, vendor_guid=guid, title=title, description=description,
                          parent_guids=parent_guids)
        if parent_count > 1:
            yield RowWarning(row, f"CFItem {guid} has {parent_count} parents: a group has one, "
                                  f"so it is imported under the first ({parent_guids[0]})")
        return
    yield OutcomeRecord(
        row=row, vendor_guid=guid, title=title, description=description,
        ratings=tuple(Rating(points, text) for points, text in json.loads(ratings)),
        parent_guids=parent_guids,
    )


def _outside_message(association: str | None, kind: str | None, node: str | None) -> str:
    return (
        f"CFAssociation {association or '(no identifier)'} ({kind or 'no associationType'}) "
        f"points outside the package, to {node or '(no identifier)'}: not imported"
    )


def _emitted(row: int, total: int) -> int:
    half = PROGRESS_TOTAL // 2
    return half + min(row, total) * half // total


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
