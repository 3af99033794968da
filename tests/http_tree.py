"""An outcome tree as a client reads it over HTTP, for comparing an import with the file it
came from: each group with its title, description, vendor_guid, subgroups and outcomes (their
titles, descriptions, ratings and mastery points), subgroups and outcomes sorted by title."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

PER_PAGE = 50


async def read_tree(api: Api, context: str) -> dict[str, Any]:
    """The tree under ``context``'s root group (``accounts/1``)."""
    root = await api.get(f"/api/v1/{context}/root_outcome_group", follow_redirects=True)
    assert root.status == 200, root.body
    return await _group(api, context, root.body["id"])


async def read_group(api: Api, context: str, group_id: int) -> dict[str, Any]:
    """The tree under one group."""
    return await _group(api, context, group_id)


async def _group(api: Api, context: str, group_id: int) -> dict[str, Any]:
    path = f"/api/v1/{context}/outcome_groups/{group_id}"
    group = await api.get(path)
    assert group.status == 200, group.body
    subgroups = await _all(api, f"{path}/subgroups")
    links = await _all(api, f"{path}/outcomes?outcome_style=full")
    return {
        "title": group.body["title"],
        "description": group.body["description"],
        "vendor_guid": group.body["vendor_guid"],
        "groups": sorted(
            [await _group(api, context, sub["id"]) for sub in subgroups],
            key=lambda node: node["title"],
        ),
        "outcomes": sorted((_outcome(link["outcome"]) for link in links),
                           key=lambda node: node["title"]),
    }


def _outcome(outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": outcome["title"],
        "description": outcome["description"],
        "vendor_guid": outcome["vendor_guid"],
        "ratings": [(rating["points"], rating["description"]) for rating in outcome["ratings"]],
        "mastery_points": outcome["mastery_points"],
    }


async def _all(api: Api, path: str) -> list[dict[str, Any]]:
    """Every page of a paginated list."""
    found: list[dict[str, Any]] = []
    separator = "&" if "?" in path else "?"
    page = 1
    while True:
        response = await api.get(f"{path}{separator}per_page={PER_PAGE}&page={page}")
        assert response.status == 200, response.body
        found.extend(response.body)
        if len(response.body) < PER_PAGE:
            return found
        page += 1
