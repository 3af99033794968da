"""Records cross from the parse worker process in pickles, and must arrive whole."""

from __future__ import annotations

import pickle

from lms_outcomes_plugin.records import GroupRecord, OutcomeRecord, Rating, RowError


def test_records_survive_the_trip_from_the_parse_worker() -> None:
    items = [
        GroupRecord(row=2, vendor_guid="g", title="G", description=None, parent_guids=("p",),
                    workflow_state="deleted", course_id="5", canvas_id="9"),
        OutcomeRecord(row=3, vendor_guid="o", title="O", description="d", display_name="D",
                      friendly_description="f", calculation_method="n_mastery",
                      calculation_int=3, mastery_points=2.5,
                      ratings=(Rating(3.0, "a"), Rating(1.0, "b")), parent_guids=("g", "h"),
                      canvas_id="1", indirect_parents=True),
        RowError(4, "bad"),
    ]

    again = pickle.loads(pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL))

    assert again == items
    assert [type(item) for item in again] == [GroupRecord, OutcomeRecord, RowError]
