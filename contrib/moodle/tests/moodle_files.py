"""Moodle's example framework, read as it is, and the tree it should become, worked out from the
CSV independently of the format's code."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLE = FIXTURES / "moodle_lpimportcsv_example.csv"


def expected_tree(data: bytes) -> dict[str, Any]:
    """The group the framework becomes, as tests/http_tree.py reads it."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    [framework] = [row for row in rows if row["Is framework"] == "1"]
    competencies = [row for row in rows if row["Is framework"] != "1"]
    prefix = framework["Id number"] + "/"
    values = framework["Scale values"].split(",")
    proficient = [entry["id"] for entry in json.loads(framework["Scale configuration"])[1:]
                  if entry.get("proficient")]
    ratings = [(float(points), name) for points, name in enumerate(values, start=1)][::-1]

    def group(parent: str, row: dict[str, str], guid: str) -> dict[str, Any]:
        kids = [kid for kid in competencies if kid["Parent id number"] == parent]
        parents = {kid["Id number"] for kid in competencies if any(
            other["Parent id number"] == kid["Id number"] for other in competencies)}
        return {
            "title": row["Shortname"].strip(),  # as Moodle shows it
            "description": row["Description"],
            "vendor_guid": guid,
            "groups": sorted((group(kid["Id number"], kid, prefix + kid["Id number"])
                              for kid in kids if kid["Id number"] in parents),
                             key=lambda found: found["title"]),
            "outcomes": sorted(
                ({"title": kid["Shortname"].strip(), "description": kid["Description"],
                  "vendor_guid": prefix + kid["Id number"], "ratings": ratings,
                  "mastery_points": float(min(proficient))}
                 for kid in kids if kid["Id number"] not in parents),
                key=lambda found: found["title"]),
        }

    return group("", framework, framework["Id number"])
