"""Reading the outcome tree straight from the store's SQLite file, for assertions."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import Api

#: The header of Canvas's import specs (REF §5's ``H``).
H = ["title", "vendor_guid", "object_type", "parent_guids", "calculation_method",
     "calculation_int", "workflow_state"]


def O(**cells: str) -> dict[str, str]:  # noqa: E743 - named after REF §5's O(...)
    """An outcome row with the spec's defaults (``calculation_method=highest``)."""
    return {"title": "title", "object_type": "outcome", "calculation_method": "highest", **cells}


def G(**cells: str) -> dict[str, str]:
    """A group row (REF §5's G(...))."""
    return {"title": "title", "object_type": "group", **cells}


def csv_of(rows: list[dict[str, str]], header: list[str] | None = None,
           extra: list[list[str]] | None = None) -> bytes:
    """A CSV file of ``rows`` under ``header`` (H by default); ``extra[i]`` trails row i."""
    header = header or H
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for index, row in enumerate(rows):
        writer.writerow([row.get(name, "") for name in header if name != "ratings"]
                        + (extra[index] if extra else []))
    return out.getvalue().encode()


async def run_import(api: Api, context: str, body: bytes, group_id: int | None = None) -> Any:
    """POST ``body`` to ``context`` (``accounts/1``), wait for the end, return the JSON."""
    path = f"/api/v1/{context}/outcome_imports"
    target = f"/group/{group_id}" if group_id is not None else ""
    created = await api.post_csv(path + target, body)
    assert created.status == 200, created.body
    done = await api.wait_for_import(f"{path}/{created.body['id']}")
    return done.body


@dataclass
class Tree:
    path: Path

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as db:
            result = db.execute(sql, params).fetchall()
        db.close()
        return result

    def group(self, guid: str, context: tuple[str, int] | None = None) -> dict[str, Any] | None:
        where = "g.vendor_guid = ?" + (" AND g.context_type = ? AND g.context_id = ?"
                                        if context else "")
        found = self.rows(
            "SELECT g.id, g.title, g.description, g.workflow_state, g.context_type, "
            "g.context_id, p.vendor_guid, p.is_root FROM lms_outcomes_groups g "
            f"LEFT JOIN lms_outcomes_groups p ON p.id = g.parent_id WHERE {where}",
            guid, *(context or ()),
        )
        if not found:
            return None
        gid, title, description, state, ctype, cid, parent, parent_is_root = found[0]
        return {"id": gid, "title": title, "description": description, "state": state,
                "context": (ctype, cid), "parent": "ROOT" if parent_is_root else parent}

    def groups(self, context: tuple[str, int]) -> list[str]:
        """Vendor guids of the context's groups, root group as "ROOT"."""
        return sorted(
            guid or "ROOT" for (guid,) in self.rows(
                "SELECT vendor_guid FROM lms_outcomes_groups WHERE context_type = ? "
                "AND context_id = ?", *context)
        )

    def outcome(self, guid: str) -> dict[str, Any] | None:
        found = self.rows(
            "SELECT id, title, description, display_name, calculation_method, calculation_int, "
            "mastery_points, points_possible, ratings, workflow_state, context_type, context_id "
            "FROM lms_outcomes_outcomes WHERE vendor_guid = ?", guid)
        if not found:
            return None
        keys = ("id", "title", "description", "display_name", "method", "int", "mastery",
                "possible", "ratings", "state", "context_type", "context_id")
        outcome = dict(zip(keys, found[0], strict=True))
        outcome["ratings"] = [tuple(r) for r in json.loads(outcome["ratings"])]
        return outcome

    def outcome_by_id(self, outcome_id: int) -> dict[str, Any]:
        [(guid,)] = self.rows("SELECT vendor_guid FROM lms_outcomes_outcomes WHERE id = ?",
                              outcome_id)
        return self.outcome(guid)  # type: ignore[return-value]

    def links(self, outcome_id: int, state: str = "active") -> list[str]:
        """Where the outcome is linked: group guids, "ROOT" for a root group."""
        return sorted(
            "ROOT" if is_root else guid for guid, is_root in self.rows(
                "SELECT g.vendor_guid, g.is_root FROM lms_outcomes_links l "
                "JOIN lms_outcomes_groups g ON g.id = l.group_id "
                "WHERE l.outcome_id = ? AND l.workflow_state = ?", outcome_id, state)
        )

    def links_in(self, group_id: int) -> int:
        return self.rows("SELECT COUNT(*) FROM lms_outcomes_links WHERE group_id = ? AND "
                         "workflow_state = 'active'", group_id)[0][0]

    def friendly(self, outcome_id: int) -> list[tuple[str, str]]:
        return self.rows("SELECT description, workflow_state FROM "
                         "lms_outcomes_friendly_descriptions WHERE outcome_id = ?", outcome_id)

    def snapshot(self) -> list[list[tuple[Any, ...]]]:
        """Every row of the tree's tables but timestamps and import stamps."""
        return [
            self.rows("SELECT id, context_type, context_id, parent_id, vendor_guid, title, "
                      "description, workflow_state FROM lms_outcomes_groups ORDER BY id"),
            self.rows("SELECT id, context_type, context_id, vendor_guid, title, description, "
                      "display_name, calculation_method, calculation_int, mastery_points, "
                      "points_possible, ratings, workflow_state, updated_at "
                      "FROM lms_outcomes_outcomes ORDER BY id"),
            self.rows("SELECT id, group_id, outcome_id, workflow_state, updated_at "
                      "FROM lms_outcomes_links ORDER BY id"),
            self.rows("SELECT * FROM lms_outcomes_friendly_descriptions ORDER BY id"),
        ]
