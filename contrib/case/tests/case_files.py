"""CASE packages for the tests: the real one in fixtures/, read as it is, variants built from it
in code, and the tree a package should become, worked out from its JSON independently of the
format's code."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ACT_MATH = FIXTURES / "opensalt_Ordering_ACT_math_case.json"
#: Canvas's scale for an outcome imported without ratings.
DEFAULT_SCALE = [(5.0, "Exceeds Expectations"), (3.0, "Meets Expectations"),
                 (0.0, "Does Not Meet Expectations")]


def act_math() -> dict[str, Any]:
    return json.loads(ACT_MATH.read_bytes())


def encoded(package: dict[str, Any]) -> bytes:
    return json.dumps(package).encode("utf-8")


def node(guid: str, document: dict[str, Any] | None = None) -> dict[str, str]:
    """A LinkURI, as a package names a node."""
    return {"identifier": guid, "uri": f"https://case.example/{guid}",
            "title": (document or {}).get("title", guid)}


def child_of(association: str, child: str, parent: str) -> dict[str, Any]:
    return {"identifier": association, "associationType": "isChildOf",
            "originNodeURI": node(child), "destinationNodeURI": node(parent)}


def new_version(package: dict[str, Any]) -> dict[str, Any]:
    """The framework's next version: one outcome added, one reworded, one removed."""
    package = copy.deepcopy(package)
    items = package["CFItems"]
    items[5]["fullStatement"] = "Tell open figures from closed ones"
    removed = items.pop(6)["identifier"]
    package["CFAssociations"] = [
        a for a in package["CFAssociations"] if a["originNodeURI"]["identifier"] != removed
    ]
    parent = package["CFAssociations"][-1]["destinationNodeURI"]["identifier"]
    items.append({"identifier": "new-outcome-1", "fullStatement": "Draw a hexagon",
                  "humanCodingScheme": "H.A.MATH.GM.PF.2DFP.L1.25"})
    package["CFAssociations"].append(child_of("new-association-1", "new-outcome-1", parent))
    return package


def expected_tree(package: dict[str, Any]) -> dict[str, Any]:
    """The group the package's CFDocument becomes, as tests/http_tree.py reads it."""
    document = package["CFDocument"]
    items = {item["identifier"]: item for item in package["CFItems"]}
    children: dict[str, list[str]] = {}
    for association in package["CFAssociations"]:
        if association["associationType"] == "isChildOf":
            parent = association["destinationNodeURI"]["identifier"]
            children.setdefault(parent, []).append(association["originNodeURI"]["identifier"])

    def title_of(item: dict[str, Any]) -> str:
        text = item.get("abbreviatedStatement") or item["fullStatement"]
        if len(text) > 80:  # the first whole words of at most 80 characters
            text = text[:80].rsplit(" ", 1)[0] + "…"
        return f"{item['humanCodingScheme']} {text}" if item.get("humanCodingScheme") else text

    def group(guid: str, title: str, description: str | None) -> dict[str, Any]:
        kids = [items[kid] for kid in children.get(guid, [])]
        return {
            "title": title,
            "description": description,
            "vendor_guid": guid,
            "groups": sorted(
                (group(kid["identifier"], title_of(kid), kid["fullStatement"])
                 for kid in kids if kid["identifier"] in children),
                key=lambda found: found["title"],
            ),
            "outcomes": sorted(
                ({"title": title_of(kid), "description": kid["fullStatement"],
                  "vendor_guid": kid["identifier"], "ratings": DEFAULT_SCALE,
                  "mastery_points": 3.0}
                 for kid in kids if kid["identifier"] not in children),
                key=lambda found: found["title"],
            ),
        }

    return group(document["identifier"], document["title"], document.get("description", ""))
