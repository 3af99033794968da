"""The case format on its own, through lms_outcomes_plugin.testing.check_format: the rules every
format keeps, file-level errors, warnings, rubrics, order and memory."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from case_files import ACT_MATH, act_math, child_of, encoded, node
from lms_outcomes_case import CaseFormat

from lms_outcomes_plugin import (
    DataFormatError,
    FormatOptions,
    GroupRecord,
    OutcomeRecord,
    Rating,
    RowError,
    RowWarning,
)
from lms_outcomes_plugin.testing import check_format

NOT_JSON = "The file is not valid JSON: a CASE package is a JSON object with a CFDocument"
NOT_CASE = "The file is not a CASE package: it has no CFDocument with an identifier and a title"


def test_the_act_package_keeps_the_rules_parents_first() -> None:
    items = check_format(CaseFormat(), ACT_MATH.read_bytes())

    package = act_math()
    assert items[0] == GroupRecord(row=1, vendor_guid=package["CFDocument"]["identifier"],
                                   title="ACT Holistic Framework, Math", prune=True)
    assert [item.row for item in items] == list(range(1, 30))
    seen = {package["CFDocument"]["identifier"]}
    for item in items[1:]:
        assert set(item.parent_guids) <= seen
        seen.add(item.vendor_guid)
    assert seen == {package["CFDocument"]["identifier"]} | {
        item["identifier"] for item in package["CFItems"]}


@pytest.mark.parametrize(("body", "message"), [
    (b"vendor_guid,title\nx,y\n", NOT_JSON),
    (ACT_MATH.read_bytes()[:20000], NOT_JSON),
    (b"[]", NOT_CASE),
    (b'{"CFItems": []}', NOT_CASE),
    (b'{"CFDocument": {"identifier": "d"}}', NOT_CASE),
])
def test_a_file_that_is_not_a_case_package_fails_as_a_whole(body: bytes, message: str) -> None:
    with pytest.raises(DataFormatError) as raised:
        check_format(CaseFormat(), body)
    assert str(raised.value) == message


def small_package() -> dict[str, Any]:
    """A group (listed after its children), two outcomes, one in two groups, rubric levels,
    and associations to another framework."""
    return {"CFPackage": {
        "CFDocument": {"identifier": "doc", "title": "Reading", "description": "Grade 3"},
        "CFItems": [
            {"identifier": "o1", "fullStatement": "Decode words", "humanCodingScheme": "R.1"},
            {"identifier": "o2", "fullStatement": "Read aloud fluently and with expression " * 3},
            {"identifier": "g1", "fullStatement": "Foundations", "abbreviatedStatement": "Found",
             "humanCodingScheme": "R"},
            {"identifier": "g2", "fullStatement": "Fluency"},
        ],
        "CFAssociations": [
            child_of("a1", "o1", "g1"),
            child_of("a2", "o2", "g1"),
            child_of("a3", "o2", "g2"),
            child_of("a4", "g1", "doc"),
            child_of("a5", "g2", "g1"),
            child_of("a6", "o1", "elsewhere"),
            {"identifier": "a7", "associationType": "exactMatchOf", "originNodeURI": node("o1"),
             "destinationNodeURI": node("other-framework-item")},
        ],
        "CFRubrics": [{"identifier": "r1", "CFRubricCriteria": [{
            "identifier": "c1", "CFItemURI": node("o1"),
            "CFRubricCriterionLevels": [
                {"identifier": "l1", "quality": "Beginning", "score": 1},
                {"identifier": "l2", "quality": "Proficient", "score": 3},
            ]}]}],
    }}


def test_a_package_becomes_groups_and_outcomes_with_warnings() -> None:
    items = check_format(CaseFormat(), encoded(small_package()))

    fluently = "Read aloud fluently and with expression " * 3
    assert items == [
        GroupRecord(row=1, vendor_guid="doc", title="Reading", description="Grade 3",
                    prune=True),
        RowWarning(1, "CFAssociation a6 (isChildOf) points outside the package, to elsewhere: "
                      "not imported"),
        RowWarning(1, "CFAssociation a7 (exactMatchOf) points outside the package, to "
                      "other-framework-item: not imported"),
        GroupRecord(row=2, vendor_guid="g1", title="R Found", description="Foundations",
                    parent_guids=("doc",)),
        OutcomeRecord(row=3, vendor_guid="o1", title="R.1 Decode words",
                      description="Decode words",
                      ratings=(Rating(1.0, "Beginning"), Rating(3.0, "Proficient")),
                      parent_guids=("g1",)),
        GroupRecord(row=4, vendor_guid="g2", title="Fluency", description="Fluency",
                    parent_guids=("g1",)),
        OutcomeRecord(row=5, vendor_guid="o2",
                      title=("Read aloud fluently and with expression " * 2).strip() + "…",
                      description=fluently.strip(), parent_guids=("g1", "g2")),
    ]


def test_items_in_a_cycle_are_row_errors() -> None:
    package = small_package()["CFPackage"]
    package["CFAssociations"] = [child_of("x1", "g1", "g2"), child_of("x2", "g2", "g1")]
    package["CFRubrics"] = []

    items = check_format(CaseFormat(), encoded(package))

    assert items[-2:] == [
        RowError(4, "CFItem g1 is in a cycle of isChildOf associations: not imported"),
        RowError(5, "CFItem g2 is in a cycle of isChildOf associations: not imported"),
    ]


def test_memory_does_not_grow_with_the_package() -> None:
    """A package of 2 MB parsed holding at most 1.5 MiB at once (Python's allocations; SQLite's
    page cache, outside Python's allocator, is bounded to 2 MiB by the format)."""
    package = act_math()
    template = package["CFItems"][-1]
    parent = package["CFAssociations"][-1]["destinationNodeURI"]["identifier"]
    for number in range(2000):
        item = copy.deepcopy(template)
        item["identifier"] = f"generated-{number}"
        package["CFItems"].append(item)
        package["CFAssociations"].append(child_of(f"ga-{number}", item["identifier"], parent))
    data = encoded(package)
    assert len(data) > 2 * 1024 * 1024
    items = check_format(CaseFormat(), data, max_memory=3 * 512 * 1024)
    assert len(items) == 29 + 2000


def test_a_group_with_two_parents_duplicates_and_items_without_statements() -> None:
    package = small_package()["CFPackage"]
    package["CFItems"] += [
        {"identifier": "o1", "fullStatement": "A second o1"},
        {"identifier": "empty", "humanCodingScheme": "R.9"},
        {"identifier": "long", "fullStatement": "x" * 151},
        {"fullStatement": "No identifier"},
    ]
    package["CFAssociations"] += [child_of("a8", "g2", "doc"), child_of("a9", "empty", "g1"),
                                  child_of("a10", "long", "g1")]
    package["CFRubrics"] = []
    options = FormatOptions(max_cell_bytes=150)

    items = check_format(CaseFormat(), encoded(package), options)

    messages = [(type(item).__name__, item.row, item.message) for item in items
                if isinstance(item, RowError | RowWarning)]
    assert messages == [
        ("RowWarning", 1, 'A CFItem without an identifier was skipped: {"fullStatement": '
                          '"No identifier"}'),
        ("RowWarning", 1, "CFItem o1 appears twice in the package: the first one is imported"),
        ("RowWarning", 1, "CFAssociation a6 (isChildOf) points outside the package, to "
                          "elsewhere: not imported"),
        ("RowWarning", 1, "CFAssociation a7 (exactMatchOf) points outside the package, to "
                          "other-framework-item: not imported"),
        ("RowWarning", 4, "CFItem g2 has 2 parents: a group has one, so it is imported under "
                          "the first (g1)"),
        ("RowError", 6, "CFItem empty has no fullStatement"),
        ("RowError", 7, 'The "fullStatement" field is too long (maximum is 150 bytes)'),
    ]
