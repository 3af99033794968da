"""The moodle_competency_csv format on its own, through check_format: the rules every format
keeps, file-level errors, scales and row errors."""

from __future__ import annotations

import pytest
from lms_outcomes_moodle import MoodleCompetencyCsv
from moodle_files import EXAMPLE

from lms_outcomes_plugin import (
    DataFormatError,
    FormatOptions,
    GroupRecord,
    OutcomeRecord,
    Rating,
    RowError,
)
from lms_outcomes_plugin.testing import check_format

HEADER = EXAMPLE.read_bytes().split(b"\n", 1)[0] + b"\n"
SCALE = b'"Beginning,Developing,Secure","[{""scaleid"":""3""},{""id"":2,""proficient"":1}]"'


def test_the_example_keeps_the_rules() -> None:
    items = check_format(MoodleCompetencyCsv(), EXAMPLE.read_bytes())
    assert items[0] == GroupRecord(row=2, vendor_guid="OECD-CORE", title="OECD",
                                   description=items[0].description, prune=True)
    assert len(items) == 65


@pytest.mark.parametrize(("body", "message"), [
    (b"vendor_guid,object_type,title\na,group,A\n", (
        "The file is not a Moodle competency framework export: it needs the 14 columns of "
        'tool_lpimportcsv ("Parent id number", "Id number", "Shortname", ...), one row per '
        "competency")),
    (HEADER + b",c1,C1,,1,,,,0,null,,1,0,\n",
     'The file has no framework row (a row whose "Is framework" is 1)'),
    (HEADER + b",f1,F1,,1,,,,0,null,,1,1,\n,f2,F2,,1,,,,0,null,,2,1,\n",
     'The file has more than one framework row (rows 2 and 3 have "Is framework" 1)'),
])
def test_a_file_that_is_not_a_framework_fails_as_a_whole(body: bytes, message: str) -> None:
    with pytest.raises(DataFormatError) as raised:
        check_format(MoodleCompetencyCsv(), body)
    assert str(raised.value) == message


def test_scales_parents_and_rows_without_id_numbers() -> None:
    body = (
        HEADER
        + b",fw,Reading,<p>All <b>reading</b></p>,1,Not yet,,,0,null,,1,1,\n"
        + b",g,Group,,1,,,,0,null,,2,0,\n"
        + b"g,o1,Outcome one,,1," + SCALE + b",,0,null,,3,0,\n"
        + b"g,o2,Outcome two,<p>x</p>,1,,,,0,null,,4,0,\n"
        + b"g,,No id,,1,,,,0,null,,5,0,\n"
    )
    assert check_format(MoodleCompetencyCsv(), body) == [
        GroupRecord(row=2, vendor_guid="fw", title="Reading",
                    description="<p>All <b>reading</b></p>", prune=True),
        GroupRecord(row=3, vendor_guid="fw/g", title="Group", parent_guids=("fw",)),
        OutcomeRecord(row=4, vendor_guid="fw/o1", title="Outcome one",
                      ratings=(Rating(3.0, "Secure"), Rating(2.0, "Developing"),
                               Rating(1.0, "Beginning")),
                      mastery_points=2.0, parent_guids=("fw/g",)),
        OutcomeRecord(row=5, vendor_guid="fw/o2", title="Outcome two", description="<p>x</p>",
                      ratings=(Rating(1.0, "Not yet"),), parent_guids=("fw/g",)),
        RowError(6, 'A competency needs an "Id number" and a "Shortname"'),
    ]


def test_memory_does_not_grow_with_the_file() -> None:
    """2 MB of competencies parsed holding at most 1.5 MiB at once."""
    rows = [HEADER, b",fw,Reading,,1,\"No,Yes\",,,0,null,,1,1,\n", b",g,Group,,1,,,,0,null,,2,0,\n"]
    rows += [b"g,c%d,Competency %d,<p>%s</p>,1,,,,0,null,,3,0,\n" % (n, n, b"x" * 200)
             for n in range(9000)]
    data = b"".join(rows)
    assert len(data) > 2 * 1024 * 1024
    items = check_format(MoodleCompetencyCsv(), data, max_memory=3 * 512 * 1024)
    assert len(items) == 9002


def test_a_cell_longer_than_the_limit_is_a_row_error() -> None:
    body = (HEADER + b",fw,Reading,,1,,,,0,null,,1,1,\n"
            + b",c1,C1,<p>" + b"x" * 100 + b"</p>,1,,,,0,null,,2,0,\n")
    items = check_format(MoodleCompetencyCsv(), body, FormatOptions(max_cell_bytes=50))
    assert items[1:] == [RowError(3, 'The "Description" field is too long (maximum is 50 bytes)')]
