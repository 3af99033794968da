"""Canvas's JSON of the outcome tree: OutcomeGroup, Outcome and OutcomeLink (full and abbrev).

URLs are paths under the host's base URL, as Canvas's ``polymorphic_path`` makes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lms_outcomes_plugin.models import ContextRef
from lms_outcomes_plugin.storage import LinkedOutcome, StoredGroup, StoredOutcome

#: The only methods whose outcomes show a ``calculation_int``.
METHODS_WITH_INT = ("decaying_average", "n_mastery", "standard_decaying_average",
                    "weighted_average")
CANVAS_CONTEXT_TYPES = {"account": "Account", "course": "Course"}
URL_SEGMENTS = {"account": "accounts", "course": "courses"}


def context_path(base_url: str, context: ContextRef) -> str:
    if context.type is None:
        return f"{base_url}/api/v1/global"
    return f"{base_url}/api/v1/{URL_SEGMENTS[context.type]}/{context.id}"


@dataclass(frozen=True, slots=True)
class Views:
    """Renders tree objects for one request: ``can_edit`` is what the caller may manage."""

    base_url: str
    manageable: frozenset[ContextRef]

    def group(self, group: StoredGroup, parent: StoredGroup | None = None,
              full: bool = True) -> dict[str, Any]:
        url = f"{context_path(self.base_url, group.context)}/outcome_groups/{group.id}"
        body: dict[str, Any] = {
            "id": group.id,
            "title": group.title,
            "vendor_guid": group.vendor_guid,
            "url": url,
            "subgroups_url": f"{url}/subgroups",
            "outcomes_url": f"{url}/outcomes",
            "can_edit": group.context in self.manageable,
        }
        if not full:
            return body
        body["import_url"] = f"{url}/import"
        if parent is not None:
            body["parent_outcome_group"] = self.group(parent, full=False)
        body["context_id"] = group.context.id
        body["context_type"] = CANVAS_CONTEXT_TYPES.get(group.context.type or "")
        body["description"] = group.description if group.parent_id is not None else None
        return body

    def outcome(self, outcome: StoredOutcome, full: bool = True,
                friendly_description: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": outcome.id,
            "context_type": CANVAS_CONTEXT_TYPES.get(outcome.context.type or ""),
            "context_id": outcome.context.id,
            "vendor_guid": outcome.vendor_guid,
            "display_name": outcome.display_name,
            "title": outcome.title,
            "url": f"{self.base_url}/api/v1/outcomes/{outcome.id}",
            "can_edit": outcome.context in self.manageable,
            "has_updateable_rubrics": False,
        }
        if not full:
            return body
        body.update(
            description=outcome.description,
            friendly_description=friendly_description,
            points_possible=outcome.points_possible,
            mastery_points=outcome.mastery_points,
            ratings=[{"description": text, "points": points} for points, text in outcome.ratings],
            calculation_method=outcome.calculation_method or "highest",
            assessed=False,
        )
        if outcome.calculation_method in METHODS_WITH_INT:
            body["calculation_int"] = outcome.calculation_int
        return body

    def link(self, linked: LinkedOutcome, outcome_full: bool = False,
             group_full: bool = False, parent: StoredGroup | None = None,
             friendly_description: str | None = None) -> dict[str, Any]:
        link = linked.link
        group_url = f"{context_path(self.base_url, link.context)}/outcome_groups/{link.group_id}"
        return {
            "context_type": CANVAS_CONTEXT_TYPES.get(link.context.type or ""),
            "context_id": link.context.id,
            "url": f"{group_url}/outcomes/{link.outcome_id}",
            "outcome_group": self.group(linked.group, parent, full=group_full),
            "outcome": self.outcome(linked.outcome, outcome_full, friendly_description),
            "can_unlink": link.context in self.manageable,
            "assessed": False,
        }
