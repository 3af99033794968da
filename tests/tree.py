"""Canvas-style import specs as CSV (the H, O and G of Canvas's importer specs), run via HTTP."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.conftest import Api
from tests.store_tables import Tree

__all__ = ["G", "H", "O", "Tree", "csv_of", "run_import"]

#: The header of Canvas's import specs (``H``).
H = ["title", "vendor_guid", "object_type", "parent_guids", "calculation_method",
     "calculation_int", "workflow_state"]


def O(**cells: str) -> dict[str, str]:  # noqa: E743 - named after Canvas's specs' O(...)
    """An outcome row with the spec's defaults (``calculation_method=highest``)."""
    return {"title": "title", "object_type": "outcome", "calculation_method": "highest", **cells}


def G(**cells: str) -> dict[str, str]:
    """A group row (Canvas's specs' G(...))."""
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
