"""The instructure_csv format at Canvas parity: Canvas's CSV rules and
the format-level cases of its specs, our decisions 4-7 and 11, and Canvas's own fixture files."""

from __future__ import annotations

import csv
import io

import pluggy
import pytest
from formats_helpers import (
    CANVAS_FIXTURES,
    H,
    errors,
    group_row,
    groups,
    lines,
    outcome_row,
    outcomes,
    parse,
)

from lms_outcomes_plugin import hookspecs
from lms_outcomes_plugin.formats import (
    FormatOptions,
    ImportFormat,
    ImportFormatRegistry,
    instructure_csv,
)
from lms_outcomes_plugin.formats.instructure_csv import InstructureCsv
from lms_outcomes_plugin.formats.instructure_csv.numbers import LocaleNumbers, ruby_float
from lms_outcomes_plugin.records import (
    DataFormatError,
    GroupRecord,
    OutcomeRecord,
    Rating,
    RowError,
)
from lms_outcomes_plugin.ruby import float_to_s, inspect

BOM = "\ufeff"

# --- file-level failures: one DataFormatError, nothing yielded -------------------------------

FILE_FAILURES = [
    ("29 empty file", "", "File has no data"),
    ("BOM alone", BOM, "File has no data"),
    (
        "30 missing required",
        lines("parent_guids,ratings", "a,1"),
        'Missing required fields: ["title", "vendor_guid", "object_type"]',
    ),
    (
        "31 after ratings",
        lines("parent_guids,ratings,vendor_guid,,blagh,", "a"),
        'Invalid fields after ratings: ["vendor_guid", "blagh"]',
    ),
    (
        "32 invalid field",
        lines("vendor_guid,title,object_type,spanish_inquisition,parent_guids,ratings", "a"),
        'Invalid fields: ["spanish_inquisition"]',
    ),
    ("33 no rows", lines(H + ",ratings"), "File has no outcomes data"),
    ("33 no rows, no newline", H + ",ratings", "File has no outcomes data"),
    (
        "34 col_sep ':(' read with ','",
        lines(H.replace(",", ":("), 'title:(g1:(group:("":("":("":("'),
        "Invalid CSV File",
    ),
    (
        "35 after ratings first",
        lines("foo,ratings,bar", "a"),
        'Invalid fields after ratings: ["bar"]',
    ),
    (
        "35 invalid after missing",
        lines("title,vendor_guid,object_type,foo", "a"),
        'Invalid fields: ["foo"]',
    ),
    (
        "missing in fixed order",
        lines("object_type,description", "a"),
        'Missing required fields: ["title", "vendor_guid"]',
    ),
    (
        "decision 7: empty header cell",
        lines("title,vendor_guid,,object_type", "a"),
        'Invalid fields: [""]',
    ),
    (
        "decision 7: quoted empty header",
        lines('title,vendor_guid,"",object_type', "a"),
        'Invalid fields: [""]',
    ),
    (
        "duplicated unknown column listed twice",
        lines("title,vendor_guid,object_type,x,x", "a"),
        'Invalid fields: ["x", "x"]',
    ),
    (
        "header names are Ruby-inspected",
        lines('title,vendor_guid,object_type,"a""b",#{x}', "a"),
        'Invalid fields: ["a\\"b", "\\#{x}"]',
    ),
    (
        "header names are case-sensitive",
        lines("Title,vendor_guid,object_type", "a"),
        'Missing required fields: ["title"]',
    ),
    (
        "a blank first line is the header",
        lines("", H, group_row()),
        'Missing required fields: ["title", "vendor_guid", "object_type"]',
    ),
    ("decision 6: quote in unquoted cell", lines(H, group_row(title='ti"tle')), "Invalid CSV File"),
    (
        "decision 6: quote opening mid-cell",
        lines(H, group_row(title=' "title"')),
        "Invalid CSV File",
    ),
    (
        "decision 6: text after closing quote",
        lines(H, group_row(title='"ti"tle')),
        "Invalid CSV File",
    ),
    (
        "decision 6: space after closing quote",
        lines(H, group_row(title='"title" ')),
        "Invalid CSV File",
    ),
    ("decision 6: unclosed quote", lines(H, group_row(title='"title')), "Invalid CSV File"),
    ("decision 6: unclosed quote at EOF", H + "\n" + group_row() + ',"', "Invalid CSV File"),
    (
        "decision 6: malformed header",
        lines('title,vendor_guid,object_type"', "a"),
        "Invalid CSV File",
    ),
    ("malformed CSV wins over a bad header", lines("nope", 'a"b'), "Invalid CSV File"),
]


@pytest.mark.parametrize(
    ("data", "message"), [case[1:] for case in FILE_FAILURES], ids=[c[0] for c in FILE_FAILURES]
)
def test_file_level_failures(data: str, message: str) -> None:
    with pytest.raises(DataFormatError) as raised:
        parse(data)
    assert str(raised.value) == message


def test_malformed_row_far_down_fails_before_anything_is_yielded() -> None:
    # Decisions 5 and 6: the whole file is checked before the first record.
    rows = [group_row(vendor_guid=f"g{i}") for i in range(5000)]
    data = lines(H, *rows, group_row(title='bad "quote"'))
    items = InstructureCsv().parse(io.BytesIO(data.encode()), FormatOptions())
    with pytest.raises(DataFormatError, match=r"^Invalid CSV File$"):
        next(items)


# --- row-level errors: exact messages and row numbers ----------------------------------------


def tier_order(tier: int, points: str, prior: str) -> str:
    return (
        f"Points for tier {tier} must be less than points for prior tier "
        f"({points} is greater than {prior})"
    )


O_RATINGS = outcome_row()
ROW_ERRORS = [
    (
        "36 tier points missing",
        lines(H + ",ratings", O_RATINGS + ",1,Sad Trombone,,Zesty Trombone"),
        [(2, "Points for rating tier 2 not present")],
    ),
    (
        "37 tier points invalid",
        lines(H + ",ratings", O_RATINGS + ",1,Sad Trombone,bwaaaaaa bwa bwaaaaa,Zesty Trombone"),
        [(2, 'Invalid value for rating tier 2 threshold: "bwaaaaaa bwa bwaaaaa"')],
    ),
    (
        "38 tiers increasing",
        lines(H + ",ratings", O_RATINGS + ",1,Sad Trombone,2,Zesty Trombone"),
        [
            (
                2,
                tier_order(2, "2.0", "1.0"),
            )
        ],
    ),
    (
        "tier numbers as Ruby Float#to_s",
        lines(H + ",ratings", O_RATINGS + ",1234.5678,a,1e20,b"),
        [
            (
                2,
                tier_order(2, "1.0e+20", "1234.5678"),
            )
        ],
    ),
    (
        "39 object_type",
        lines(H, group_row(object_type="giraffe")),
        [(2, 'Invalid object_type: "giraffe"')],
    ),
    ("blank object_type", lines(H, group_row(object_type="")), [(2, 'Invalid object_type: ""')]),
    (
        "41 title",
        lines(H, outcome_row(object_type="group", title="")),
        [(2, 'The "title" field is required')],
    ),
    (
        "42 vendor_guid",
        lines(H, outcome_row(vendor_guid="")),
        [(2, 'The "vendor_guid" field is required')],
    ),
    (
        "vendor_guid before title",
        lines(H, outcome_row(vendor_guid="", title="")),
        [(2, 'The "vendor_guid" field is required')],
    ),
    (
        "43 spaces",
        lines(H, outcome_row(vendor_guid="look some spaces")),
        [(2, 'The "vendor_guid" field must have no spaces')],
    ),
    (
        "tab in vendor_guid",
        lines(H, outcome_row(vendor_guid="look\tsome")),
        [(2, 'The "vendor_guid" field must have no spaces')],
    ),
    (
        "44 workflow_state",
        lines(
            H,
            outcome_row(workflow_state="limbo", vendor_guid="o"),
            group_row(workflow_state="limbo"),
        ),
        [(row, '"workflow_state" must be either "active" or "deleted"') for row in (2, 3)],
    ),
    (
        "workflow_state is not trimmed",
        lines(H, outcome_row(workflow_state=" active")),
        [(2, '"workflow_state" must be either "active" or "deleted"')],
    ),
    (
        "48 outcome-only fields on a group",
        lines(
            H + ",ratings",
            group_row(vendor_guid="a", calculation_method="n_mastery", calculation_int="5")
            + ",1,Sad Trombone",
        ),
        [(2, 'Invalid fields for a group: ["calculation_method", "calculation_int", "ratings"]')],
    ),
    (
        "group fields in header order",
        lines(
            "title,vendor_guid,object_type,calculation_int,calculation_method",
            "t,a,group,5,highest",
        ),
        [(2, 'Invalid fields for a group: ["calculation_int", "calculation_method"]')],
    ),
    (
        "53 friendly description too long",
        lines(H + ",friendly_description", outcome_row() + "," + "x" * 256),
        [(2, "Friendly description is too long (maximum is 255 characters)")],
    ),
    (
        "53 friendly description of 255",
        lines(H + ",friendly_description", outcome_row() + "," + "x" * 255),
        [],
    ),
    (
        "54 mastery points",
        lines(H + ",mastery_points", outcome_row() + ",abc"),
        [(2, 'Invalid value for mastery points: "abc"')],
    ),
    (
        "55 course_id on an outcome",
        lines(H + ",course_id", outcome_row() + ",5"),
        [(2, 'Invalid fields for an outcome: ["course_id"]')],
    ),
    (
        "ratings are checked before mastery points",
        lines(H + ",mastery_points,ratings", outcome_row() + ",abc,1,a,2,b"),
        [
            (
                2,
                tier_order(2, "2.0", "1.0"),
            )
        ],
    ),
    (
        "mastery points before the common checks",
        lines(H + ",mastery_points", outcome_row(vendor_guid="") + ",abc"),
        [(2, 'Invalid value for mastery points: "abc"')],
    ),
    (
        "decision 11: fractional calculation_int",
        lines(H, outcome_row(calculation_method="n_mastery", calculation_int="3.7")),
        [(2, 'Invalid value for calculation_int: "3.7"')],
    ),
    (
        "decision 11: text calculation_int",
        lines(H, outcome_row(calculation_method="n_mastery", calculation_int="abc")),
        [(2, 'Invalid value for calculation_int: "abc"')],
    ),
    (
        "decision 11: after mastery points",
        lines(H + ",mastery_points", outcome_row(calculation_int="abc") + ",x"),
        [(2, 'Invalid value for mastery points: "x"')],
    ),
    (
        "108 whitespace-only vendor_guid",
        lines(H, outcome_row(vendor_guid="   ")),
        [(2, 'The "vendor_guid" field is required')],
    ),
    (
        "108 untrimmed object_type",
        lines(H, outcome_row(object_type=" outcome")),
        [(2, 'Invalid object_type: " outcome"')],
    ),
    (
        "67 blank rows keep their number",
        lines(H, outcome_row(vendor_guid="x"), ",,,,,,", outcome_row(vendor_guid="")),
        [(4, 'The "vendor_guid" field is required')],
    ),
    (
        "109 whitespace-only row skipped",
        lines(H, " , ,\t, , , , ", outcome_row(vendor_guid="")),
        [(3, 'The "vendor_guid" field is required')],
    ),
    (
        "row numbers are records, not lines",
        lines(H, group_row(title='"multi\nline\ntitle"'), outcome_row(vendor_guid="")),
        [(3, 'The "vendor_guid" field is required')],
    ),
    (
        "quoted empty trailing cell is not dropped",
        lines(H + ",ratings", O_RATINGS + ',3,Good,"",,'),
        [(2, "Points for rating tier 2 not present")],
    ),
]


@pytest.mark.parametrize(
    ("data", "expected"), [case[1:] for case in ROW_ERRORS], ids=[c[0] for c in ROW_ERRORS]
)
def test_row_errors(data: str, expected: list[tuple[int, str]]) -> None:
    assert errors(parse(data)) == expected


def test_45_invalid_utf8_cell() -> None:
    data = lines(H).encode() + outcome_row(title="evil \udcff utf-8").encode(
        "utf-8", "surrogateescape"
    )
    assert errors(parse(data)) == [(2, 'Not a valid utf-8 string: "evil \\xFF utf-8"')]


def test_utf8_is_checked_before_the_blank_row_skip() -> None:
    blank_but_bad = ",\udce9,,,,,\n".encode("utf-8", "surrogateescape")
    items = parse(lines(H).encode() + blank_but_bad + lines(group_row()).encode())
    assert errors(items) == [(2, 'Not a valid utf-8 string: "\\xE9"')]
    assert [g.row for g in groups(items)] == [3]


def test_header_cells_are_not_utf8_checked() -> None:
    header = lines(H + ",caf\udcc3").encode("utf-8", "surrogateescape")
    with pytest.raises(DataFormatError) as raised:
        parse(header + lines(group_row()).encode())
    assert str(raised.value) == 'Invalid fields: ["caf\\xC3"]'


def test_40_parents_are_left_to_the_engine() -> None:
    items = parse(
        lines(H, group_row(vendor_guid="a"), outcome_row(vendor_guid="child", parent_guids="a b c"))
    )
    assert errors(items) == []
    assert outcomes(items)[0].parent_guids == ("a", "b", "c")
    assert outcomes(items)[0].row == 3


def test_engine_checks_are_not_the_formats() -> None:
    # Calculation methods, ranges and lengths are validated later.
    data = lines(
        H,
        outcome_row(vendor_guid="o1", calculation_method="goofy"),
        outcome_row(vendor_guid="long-" * 200),
        outcome_row(vendor_guid="o3", calculation_method="decaying_average", calculation_int="100"),
        outcome_row(vendor_guid="canvas_outcome:999999999"),
    )
    items = parse(data)
    assert errors(items) == []
    assert [o.calculation_method for o in outcomes(items)] == [
        "goofy",
        "highest",
        "decaying_average",
        "highest",
    ]
    assert outcomes(items)[2].calculation_int == 100


# --- values in records -----------------------------------------------------------------------


def test_97_group_rows() -> None:
    data = lines(H, *(group_row(vendor_guid=f"g{i}", title=f"G {i}") for i in range(3)))
    assert parse(data) == [
        GroupRecord(row=2, vendor_guid="g0", title="G 0"),
        GroupRecord(row=3, vendor_guid="g1", title="G 1"),
        GroupRecord(row=4, vendor_guid="g2", title="G 2"),
    ]


def test_98_mastery_points_and_ratings() -> None:
    data = lines(
        H + ",mastery_points,ratings",
        outcome_row() + ",3.14,5.34,awesome,1.2,adequate,0,nonexistant",
    )
    (outcome,) = parse(data)
    assert isinstance(outcome, OutcomeRecord)
    assert outcome.mastery_points == 3.14
    assert outcome.ratings == (
        Rating(5.34, "awesome"),
        Rating(1.2, "adequate"),
        Rating(0.0, "nonexistant"),
    )


@pytest.mark.parametrize(
    ("locale", "cell", "points"),
    [
        ("en", '" 0012,34.5678 "', 1234.5678),  # 99
        ("fr", '" 123 456,5678 "', 123456.5678),  # 100
        ("fr", '"123\u202f456,5"', 123456.5),  # CLDR's own fr group symbol
        ("fr", "1.5", 1.5),  # the separator is replaced, never required
        ("en", '"1,5"', 15.0),  # Canvas's naive delimiter removal
        ("de", '"1.234,5"', 1234.5),
        ("en-GB", "2.5", 2.5),
        ("xx", "2.5", 2.5),  # unknown locales read as English
    ],
)
def test_99_100_locale_numbers(locale: str, cell: str, points: float) -> None:
    data = lines(H + ",ratings", outcome_row() + f",{cell},english number")
    (outcome,) = parse(data, locale=locale)
    assert isinstance(outcome, OutcomeRecord)
    assert outcome.ratings == (Rating(points, "english number"),)


def test_101_semicolon_separator() -> None:
    data = lines(
        H.replace(",", ";"), *(group_row(vendor_guid=f"g{i}").replace(",", ";") for i in range(3))
    )
    assert [g.vendor_guid for g in groups(parse(data))] == ["g0", "g1", "g2"]


@pytest.mark.parametrize(
    ("data", "title"),
    [
        # Canvas counts in the first "\n"-terminated line: with CR records, that spans rows.
        ("title,vendor_guid,object_type\rt;;;;,g,group\n", "t;;;;"),  # 4 and 4: a comma
        ("title;vendor_guid;object_type\rt,x;g;group\n", "t,x"),  # 4 to 1: a semicolon
    ],
)
def test_separator_counts(data: str, title: str) -> None:
    assert groups(parse(data)) == [GroupRecord(row=2, vendor_guid="g", title=title)]


OPTIONAL_IN_SPEC = [*H.split(",")[3:], "canvas_id", "description", "display_name"]


@pytest.mark.parametrize("column", OPTIONAL_IN_SPEC)
def test_102_each_optional_column_may_be_absent(column: str) -> None:
    names = [c for c in H.split(",")[:3] + OPTIONAL_IN_SPEC if c != column]
    values = {"title": "T", "object_type": "group", "workflow_state": "active"}
    rows = [
        {**values, "vendor_guid": "a"},
        {**values, "vendor_guid": "b", "parent_guids": "a"},
        {**values, "vendor_guid": "c", "parent_guids": "a"},
        {**values, "vendor_guid": "d", "object_type": "outcome", "calculation_method": "highest"},
    ]
    data = lines(",".join(names), *(",".join(row.get(n, "") for n in names) for row in rows))
    items = parse(data)
    assert errors(items) == []
    assert (len(groups(items)), len(outcomes(items))) == (3, 1)


def test_103_bom_is_skipped() -> None:
    items = parse(BOM + lines(H, group_row()))
    assert groups(items) == [GroupRecord(row=2, vendor_guid="guid", title="title")]


@pytest.mark.parametrize("eol", ["\r\n", "\n", "\r"], ids=["CRLF", "LF", "CR"])
def test_104_line_endings(eol: str) -> None:
    data = lines(H, group_row(title='"two\nlines"'), outcome_row(vendor_guid="o"), eol=eol)
    items = parse(data)
    assert errors(items) == []
    assert groups(items)[0].title == "two\nlines"
    assert outcomes(items)[0].row == 3


def test_105_trailing_empty_cells_and_missing_descriptions() -> None:
    data = lines(
        H + ",ratings",
        outcome_row(vendor_guid="a") + ",2,Good,1,,,,",
        outcome_row(vendor_guid="b") + ",1",
        outcome_row(vendor_guid="c") + ',2,"",1,,',
        outcome_row(vendor_guid="d") + ",2,,1,x",
    )
    ratings = [o.ratings for o in outcomes(parse(data))]
    assert ratings == [
        (Rating(2.0, "Good"), Rating(1.0, "No Comment")),
        (Rating(1.0, "No Comment"),),
        (Rating(2.0, ""), Rating(1.0, "No Comment")),  # a quoted "" is not nil
        (Rating(2.0, "No Comment"), Rating(1.0, "x")),
    ]


def test_106_equal_points_are_allowed() -> None:
    (outcome,) = parse(lines(H + ",ratings", O_RATINGS + ",2,a,2,b"))
    assert isinstance(outcome, OutcomeRecord)
    assert outcome.ratings == (Rating(2.0, "a"), Rating(2.0, "b"))


def test_107_cells_after_the_main_columns_are_ratings() -> None:
    (outcome,) = parse(lines(H, O_RATINGS + ",3,Good,1,Bad"))
    assert isinstance(outcome, OutcomeRecord)
    assert outcome.ratings == (Rating(3.0, "Good"), Rating(1.0, "Bad"))


def test_values_are_not_trimmed_and_blanks_are_none() -> None:
    header = H + ",description,display_name,friendly_description,canvas_id,mastery_points"
    row = outcome_row(title="  spaced  ", calculation_method=" ", workflow_state="deleted")
    (outcome,) = parse(lines(header, row + ",,,  ,,"))
    assert outcome == OutcomeRecord(
        row=2,
        vendor_guid="guid",
        title="  spaced  ",
        workflow_state="deleted",
    )


def test_short_rows_read_missing_cells_as_blank() -> None:
    assert parse(lines(H, "t,g,group")) == [GroupRecord(row=2, vendor_guid="g", title="t")]


def test_all_fields_reach_the_records() -> None:
    header = (
        "canvas_id,course_id,vendor_guid,object_type,title,description,friendly_description,"
        "display_name,parent_guids,calculation_method,calculation_int,mastery_points,"
        "workflow_state,ratings"
    )
    data = lines(
        header,
        "7,12,g,group,G,GD,,,,,,,deleted",
        '8,,o,outcome,O,OD,Hi,Disp,"a\tb  a\nc",n_mastery, 3 ,2.5,active,3,x,1,y',
    )
    group, outcome = parse(data)
    assert group == GroupRecord(
        row=2, vendor_guid="g", title="G", description="GD", workflow_state="deleted",
        course_id="12", canvas_id="7",
    )  # fmt: skip
    assert outcome == OutcomeRecord(
        row=3, vendor_guid="o", title="O", description="OD", display_name="Disp",
        friendly_description="Hi", calculation_method="n_mastery", calculation_int=3,
        mastery_points=2.5, ratings=(Rating(3.0, "x"), Rating(1.0, "y")),
        parent_guids=("a", "b", "c"), workflow_state="active", canvas_id="8",
        indirect_parents=True,
    )  # fmt: skip


def test_indirect_parents_follow_the_course_id_column() -> None:
    (without,) = parse(lines(H, outcome_row()))
    (with_column,) = parse(lines(H + ",course_id", outcome_row() + ","))
    assert isinstance(without, OutcomeRecord)
    assert isinstance(with_column, OutcomeRecord)
    assert (without.indirect_parents, with_column.indirect_parents) == (False, True)


def test_duplicate_columns_last_wins() -> None:
    (group,) = parse(lines("title,vendor_guid,object_type,title", "first,g,group,last"))
    assert group == GroupRecord(row=2, vendor_guid="g", title="last")


def test_ruby_whitespace_rules() -> None:
    nbsp = "\u00a0"
    data = lines(
        H,
        group_row(vendor_guid=f"a{nbsp}b", parent_guids=nbsp),  # no \s; a blank parent list
        group_row(vendor_guid=nbsp),  # blank
        group_row(vendor_guid="c", parent_guids=f"x{nbsp}y z"),  # split on ASCII only
    )
    items = parse(data)
    assert errors(items) == [(3, 'The "vendor_guid" field is required')]
    assert [(g.vendor_guid, g.parent_guids) for g in groups(items)] == [
        (f"a{nbsp}b", ()),
        ("c", (f"x{nbsp}y", "z")),
    ]


def test_decision_11_calculation_int_values() -> None:
    data = lines(
        H,
        outcome_row(vendor_guid="a", calculation_int="7"),
        outcome_row(vendor_guid="b", calculation_int=" 12 "),
        outcome_row(vendor_guid="c", calculation_int="  "),
        outcome_row(vendor_guid="d", calculation_int="-1"),
    )
    assert [o.calculation_int for o in outcomes(parse(data))] == [7, 12, None, -1]


def test_repeated_scales_are_parsed_once_but_errors_repeat() -> None:
    rows = [O_RATINGS.replace("guid", f"g{i}") + ",4,a,3,b" for i in range(3)]
    bad = [O_RATINGS.replace("guid", f"b{i}") + ",1,a,3,b" for i in range(2)]
    items = parse(lines(H + ",ratings", *rows, *bad))
    assert [o.ratings for o in outcomes(items)] == [(Rating(4.0, "a"), Rating(3.0, "b"))] * 3
    assert [row for row, _ in errors(items)] == [5, 6]


# --- numbers and Ruby formatting --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        (" 1.5 ", 1.5),
        ("\t-2\n", -2.0),
        ("1e3", 1000.0),
        ("1E-2", 0.01),
        ("1_000", 1000.0),
        (".5", 0.5),
        ("+3", 3.0),
        ("0x1A", 26.0),
        ("-0x10", -16.0),
        ("1e400", float("inf")),
        ("1.", None),
        ("", None),
        ("abc", None),
        ("1__0", None),
        ("_1", None),
        ("1_", None),
        ("1 2", None),
        ("nan", None),
        ("inf", None),
        ("0xa.a", None),
        ("\u0661", None),  # Python's float() reads Arabic-Indic digits; Ruby does not
        ("1\u00a0", None),
    ],
)
def test_ruby_float(text: str, value: float | None) -> None:
    assert ruby_float(text) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2.0"),
        (1234.5678, "1234.5678"),
        (1e20, "1.0e+20"),
        (1e16, "1.0e+16"),
        (1e15, "1000000000000000.0"),
        (0.0001, "0.0001"),
        (0.00001, "1.0e-05"),
        (1.5e-7, "1.5e-07"),
        (-0.0, "-0.0"),
        (float("inf"), "Infinity"),
    ],
)
def test_float_to_s(value: float, text: str) -> None:
    assert float_to_s(value) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", '"plain"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("tab\tnew\nline\x1b", '"tab\\tnew\\nline\\e"'),
        ("#{x} #$y #@z #w", '"\\#{x} \\#$y \\#@z #w"'),
        ("\x01\x7f", '"\\u0001\\u007F"'),
        ("søren 作戰", '"søren 作戰"'),
        ("\u2028", '"\\u2028"'),
        ("bad \udcc3\udca9", '"bad \\xC3\\xA9"'),
    ],
)
def test_ruby_inspect(text: str, shown: str) -> None:
    assert inspect(text) == shown


def test_locale_numbers_reject_what_canvas_rejects() -> None:
    numbers = LocaleNumbers("en")
    assert numbers.parse("3") == 3.0
    assert numbers.parse("3") == 3.0  # memoised
    assert numbers.parse("3,,") == 3.0
    assert numbers.parse("1.") is None


# --- Canvas's fixture files (tests/fixtures/README.md) -----------------------------------------


def parse_fixture(name: str) -> list:
    return parse((CANVAS_FIXTURES / name).read_bytes())


def by_guid(items: list) -> dict:
    return {item.vendor_guid: item for item in items}


@pytest.mark.parametrize("name", ["demo.csv", "test_outcomes_1.csv"])
def test_fixture_demo(name: str) -> None:
    items = parse_fixture(name)
    assert errors(items) == []
    assert [(g.vendor_guid, g.parent_guids) for g in groups(items)] == [("a", ()), ("b", ("a",))]
    (c,) = outcomes(items)
    assert (c.vendor_guid, c.title, c.description, c.display_name) == ("c", "C", "CCC", "here")
    assert (c.calculation_method, c.calculation_int) == ("decaying_average", 40)
    assert c.parent_guids == ("a", "b")
    assert c.ratings == (Rating(3.0, "Betterest"), Rating(2.0, "Better"), Rating(1.0, "Good"))
    assert groups(items)[1].description == "BBB"


def test_fixture_scoring() -> None:
    items = parse_fixture("scoring.csv")
    assert errors(items) == []
    found = by_guid(outcomes(items))
    assert {guid: len(o.ratings) for guid, o in found.items()} == {
        "c": 3, "d": 2, "e": 2, "f": 2, "g": 1, "h": 2, "i": 2,
    }  # fmt: skip
    assert {o.calculation_method for o in found.values()} == {
        None, "highest", "latest", "decaying_average", "n_mastery", "average",
        "standard_decaying_average",
    }  # fmt: skip
    assert (found["g"].calculation_method, found["g"].calculation_int) == ("n_mastery", 3)
    assert (found["f"].calculation_int, found["i"].calculation_int, found["c"].calculation_int) == (
        40,
        65,
        None,
    )
    assert found["c"].ratings == (
        Rating(3.0, "Betterest"),
        Rating(2.0, "Better"),
        Rating(1.0, "Good"),
    )
    assert found["d"].ratings == (Rating(2.0, "Good"), Rating(1.0, "No Comment"))


def test_fixture_no_ratings() -> None:
    items = parse_fixture("no-ratings.csv")
    assert errors(items) == []
    (c,) = outcomes(items)
    # no scale from the file: the engine gives a new outcome Canvas's default 5/3/0 scale
    assert (c.vendor_guid, c.ratings, c.mastery_points) == ("c", (), None)
    assert len(groups(items)) == 2


@pytest.mark.parametrize(("name", "eol"), [("nor.csv", "\n"), ("nor-excel.csv", "\r")])
def test_fixture_norwegian(name: str, eol: str) -> None:
    items = parse_fixture(name)
    assert errors(items) == []
    assert [i.row for i in items] == [2, 3, 4]  # nor-excel's 9 blank rows yield nothing
    assert [g.vendor_guid for g in groups(items)].count("søren") == 1
    (c,) = outcomes(items)
    assert c.parent_guids == ("a", "søren")
    assert all(eol in item.description for item in items)
    assert groups(items)[0].description.startswith("Saa oljer han Maskinen")
    expected = (
        ("Good", "søren", "Betterest") if name == "nor.csv" else ("Betterest", "Better", "Good")
    )
    assert c.ratings == tuple(Rating(p, d) for p, d in zip((3.0, 2.0, 1.0), expected, strict=True))


def test_fixture_chinese() -> None:
    items = parse_fixture("chn.csv")
    assert errors(items) == []
    assert [g.vendor_guid for g in groups(items)] == ["始計", "作戰"]
    (outcome,) = outcomes(items)
    assert (outcome.vendor_guid, outcome.parent_guids) == ("軍爭", ("始計", "作戰"))


def test_fixture_no_groups() -> None:
    items = parse_fixture("test_outcomes_no_groups.csv")
    assert items == [
        OutcomeRecord(row=2, vendor_guid="c", title="C", description="CCC", display_name="here")
    ]


def test_fixture_with_errors() -> None:
    with pytest.raises(DataFormatError) as raised:
        parse_fixture("test_outcomes_with_errors.csv")
    assert str(raised.value) == 'Missing required fields: ["vendor_guid", "object_type"]'


# --- the plugin contract -----------------------------------------------------------------------


def test_registered_through_the_hook() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(instructure_csv)
    registry = ImportFormatRegistry()
    manager.hook.lms_outcomes_register_import_formats(registry=registry, host=None)
    found = registry.get("instructure_csv")
    assert isinstance(found, InstructureCsv)
    assert isinstance(found, ImportFormat)


def test_source_is_left_open_and_parse_is_lazy() -> None:
    source = io.BytesIO(lines(H, group_row()).encode())
    items = InstructureCsv().parse(source, FormatOptions())
    assert source.tell() == 0  # nothing read before the first next()
    assert next(items) == GroupRecord(row=2, vendor_guid="guid", title="title")
    assert list(items) == []
    assert not source.closed


@pytest.mark.parametrize("close_source_first", [False, True])
def test_an_abandoned_parse_never_closes_or_trips_over_the_source(close_source_first: bool) -> None:
    source = io.BytesIO(lines(H, *(group_row(vendor_guid=f"g{i}") for i in range(5000))).encode())
    items = InstructureCsv().parse(source, FormatOptions())
    next(items)
    if close_source_first:
        source.close()
    items.close()  # the engine stopped between batches
    assert source.closed == close_source_first


def test_row_errors_are_row_errors() -> None:
    items = parse(lines(H, group_row(object_type="x")))
    assert items == [RowError(2, 'Invalid object_type: "x"')]


def test_cells_longer_than_the_csv_modules_default_limit() -> None:
    # Python's csv module refuses cells over 128 Ki characters; max_cell_bytes may allow more.
    long_text = "x" * 200_000
    saved = csv.field_size_limit()
    try:
        data = lines(
            H + ",description",
            group_row(vendor_guid="a") + f',"{long_text}, quoted"',
            group_row(vendor_guid="b") + f",{long_text}",
        )
        options = FormatOptions(max_cell_bytes=300_000)
        items = list(InstructureCsv().parse(io.BytesIO(data.encode()), options))
    finally:
        csv.field_size_limit(saved)
    assert [g.description for g in groups(items)] == [f"{long_text}, quoted", long_text]
