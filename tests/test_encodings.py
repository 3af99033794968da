"""Files in other encodings than UTF-8, over real HTTP on both backends: Excel's "Unicode Text"
(UTF-16 with a byte-order mark, tab-separated), windows-1252 chosen or found by ``auto``, the
``encoding`` parameter and the raw upload's ``charset``; then the format's side: byte-order marks,
undecodable bytes, and memory that does not grow with a file ``auto`` reads twice.

The files are made here, byte for byte as the programs that write them do.
"""

from __future__ import annotations

import io
import tracemalloc
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from lms_outcomes_plugin.formats import FormatOptions
from lms_outcomes_plugin.formats.instructure_csv import InstructureCsv
from lms_outcomes_plugin.records import GroupRecord, RowError, RowWarning
from tests.conftest import Api, World
from tests.store_tables import Tree

UTF16_WARNING = [1, "Read as UTF-16 (byte-order mark): tab-separated columns are accepted"]
AUTO_WARNING = [1, "Read as windows-1252: the file is not valid UTF-8"]
UTF8_REQUIRED = "Invalid content type, UTF-8 required"
INVALID_ENCODING = (
    "Invalid encoding {!r}; valid encodings: utf-8, windows-1252, iso-8859-1, utf-16, auto"
)

#: An outcome with text in several scripts, a quoted cell (Excel quotes a cell that holds a
#: quote), and ratings, under a group: as Excel's "Unicode Text" export writes it.
EXCEL_ROWS = [
    ["vendor_guid", "object_type", "title", "description", "parent_guids", "mastery_points",
     "ratings", "", "", ""],
    ["g1", "group", "Søren's group", "Für Schüler", "", "", "", "", "", ""],
    ["o1", "outcome", "Ångström € 1", 'Say "Ωmega", not €', "g1", "3", "5", "Übertrifft", "3",
     "Erfüllt"],
]


def excel_unicode_text(rows: list[list[str]]) -> bytes:
    """Excel's "Unicode Text" (.txt): UTF-16 LE after its byte-order mark, tab-separated, CRLF,
    a cell with a quote in quotes (the quote doubled)."""
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if '"' in value else value

    text = "".join("\t".join(cell(value) for value in row) + "\r\n" for row in rows)
    return b"\xff\xfe" + text.encode("utf-16-le")


#: "é" is 0xE9, "€" 0x80 and a right single quote (U+2019) 0x92 in windows-1252 (none of them
#: valid UTF-8 alone).
WINDOWS_1252 = (
    "vendor_guid,object_type,title,description\r\n"
    "g1,group,Café \u2019Olé\u2019,Prix: 5 €\r\n"
).encode("cp1252")


def imports_of(world: World) -> str:
    return f"/api/v1/accounts/{world.account_id}/outcome_imports"


async def imported(api: Api, world: World, path: str, body: bytes, **kwargs: Any) -> Any:
    """POST a raw ``body`` to the account's imports (``path`` is what follows them) and wait for
    the import to end: its JSON."""
    headers = {"Content-Type": "text/csv", **kwargs.pop("headers", {})}
    created = await api.post(imports_of(world) + path, body=body, headers=headers, **kwargs)
    assert created.status == 200, created.body
    assert created.body["warnings"] == []
    done = await api.wait_for_import(f"{imports_of(world)}/{created.body['id']}")
    return done.body


async def tree_of(api: Api, world: World) -> tuple[list[str], list[dict[str, Any]]]:
    """The account's group titles (its root group's included) and its outcomes, as the read API
    shows them."""
    account = f"/api/v1/accounts/{world.account_id}"
    groups = await api.get(f"{account}/outcome_groups?per_page=100")
    links = await api.get(f"{account}/outcome_group_links?outcome_style=full&per_page=100")
    assert (groups.status, links.status) == (200, 200)
    return [group["title"] for group in groups.body], [link["outcome"] for link in links.body]


# -- UTF-16 with a byte-order mark: Excel's "Unicode Text" ---------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_excel_unicode_text_imports_with_a_warning(api: Api, world: World) -> None:
    done = await imported(api, world, "", excel_unicode_text(EXCEL_ROWS))

    assert done["workflow_state"] == "succeeded", done
    assert (done["processing_errors"], done["warnings"]) == ([], [UTF16_WARNING])
    titles, [outcome] = await tree_of(api, world)
    assert "Søren's group" in titles
    assert (outcome["title"], outcome["description"]) == ("Ångström € 1", 'Say "Ωmega", not €')
    assert outcome["ratings"] == [
        {"description": "Übertrifft", "points": 5.0},
        {"description": "Erfüllt", "points": 3.0},
    ]


@pytest.mark.gen_test(timeout=30)
async def test_a_byte_order_mark_decides_whatever_encoding_says(api: Api, world: World) -> None:
    """UTF-16 big-endian, comma-separated, asked for as windows-1252: the mark decides; so does
    UTF-8's over windows-1252, with a warning that says so."""
    big_endian = b"\xfe\xff" + "vendor_guid,object_type,title\r\ng1,group,Ωmega\r\n".encode(
        "utf-16-be"
    )
    utf8 = b"\xef\xbb\xbf" + "vendor_guid,object_type,title\ng2,group,Café\n".encode()

    first = await imported(api, world, "?encoding=windows-1252", big_endian)
    second = await imported(api, world, "?encoding=windows-1252", utf8)

    assert first["warnings"] == [UTF16_WARNING]
    assert second["warnings"] == [[1, "Read as UTF-8 (byte-order mark), not as windows-1252"]]
    titles, _ = await tree_of(api, world)
    assert {"Ωmega", "Café"} <= set(titles)


@pytest.mark.gen_test(timeout=30)
async def test_utf16_without_a_mark_is_little_endian_when_asked_for(
    api: Api, world: World
) -> None:
    body = "vendor_guid\tobject_type\ttitle\r\ng1\tgroup\tÅse\r\n".encode("utf-16-le")

    done = await imported(api, world, "?encoding=utf-16", body)

    assert (done["workflow_state"], done["processing_errors"], done["warnings"]) == (
        "succeeded", [], []
    )
    titles, _ = await tree_of(api, world)
    assert "Åse" in titles


# -- windows-1252: chosen, or found by auto -------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize(
    ("path", "warnings"),
    [("?encoding=windows-1252", []), ("?encoding=auto", [AUTO_WARNING]),
     ("?encoding=Windows-1252", [])],
)
async def test_a_windows_1252_file_reads_right(
    api: Api, world: World, path: str, warnings: list[Any]
) -> None:
    done = await imported(api, world, path, WINDOWS_1252)

    assert (done["workflow_state"], done["processing_errors"]) == ("succeeded", [])
    assert done["warnings"] == warnings
    account = f"/api/v1/accounts/{world.account_id}"
    [group] = [g for g in (await api.get(f"{account}/outcome_groups")).body if g["vendor_guid"]]
    assert (group["title"], group["description"]) == ("Café \u2019Olé\u2019", "Prix: 5 €")


@pytest.mark.gen_test(timeout=30)
async def test_utf8_stays_the_default_with_canvass_row_errors(api: Api, world: World) -> None:
    done = await imported(api, world, "", WINDOWS_1252)

    assert done["processing_errors"] == [
        [2, 'Not a valid utf-8 string: "Caf\\xE9 \\x92Ol\\xE9\\x92"']
    ]
    assert done["warnings"] == []


@pytest.mark.gen_test(timeout=30)
async def test_auto_reads_a_valid_utf8_file_as_utf8_without_a_warning(
    api: Api, world: World
) -> None:
    done = await imported(api, world, "?encoding=auto", "vendor_guid,object_type,title\n"
                          "g1,group,Ça € 5\n".encode())

    assert (done["processing_errors"], done["warnings"]) == ([], [])
    titles, _ = await tree_of(api, world)
    assert "Ça € 5" in titles


@pytest.mark.gen_test(timeout=30)
async def test_iso_8859_1_maps_every_byte_to_its_code_point(api: Api, world: World) -> None:
    body = "vendor_guid,object_type,title\ng1,group,Ørsted ±1\n".encode("latin-1") + (
        b"g2,group,x\x80y\n"
    )

    done = await imported(api, world, "?encoding=iso-8859-1", body)

    assert (done["processing_errors"], done["warnings"]) == ([], [])
    titles, _ = await tree_of(api, world)
    assert {"Ørsted ±1", "x\x80y"} <= set(titles)


@pytest.mark.gen_test(timeout=30)
async def test_the_encoding_may_be_a_form_field_and_the_query_wins(api: Api, world: World) -> None:
    files = {"attachment": ("outcomes.csv", WINDOWS_1252, "text/csv")}
    form = await api.post_multipart(imports_of(world), fields={"encoding": "auto"}, files=files)
    query = await api.post_multipart(
        imports_of(world) + "?encoding=utf-8", fields={"encoding": "auto"}, files=files
    )

    form_done = await api.wait_for_import(f"{imports_of(world)}/{form.body['id']}")
    query_done = await api.wait_for_import(f"{imports_of(world)}/{query.body['id']}")
    assert (form_done.body["warnings"], form_done.body["processing_errors"]) == (
        [AUTO_WARNING], []
    )
    assert query_done.body["warnings"] == []
    assert query_done.body["processing_errors"][0][1].startswith("Not a valid utf-8 string")


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_an_unknown_encoding_is_400_naming_the_valid_ones(
    api: Api, world: World, tree: Tree
) -> None:
    in_query = await api.post_csv(f"{imports_of(world)}?encoding=latin1", b"x")
    in_form = await api.post_multipart(
        imports_of(world), fields={"encoding": "ebcdic"},
        files={"attachment": ("outcomes.csv", b"x", "text/csv")},
    )

    assert (in_query.status, in_query.body) == (400, {"error": INVALID_ENCODING.format("latin1")})
    assert (in_form.status, in_form.body) == (400, {"error": INVALID_ENCODING.format("ebcdic")})
    assert tree.rows("SELECT count(*) FROM lms_outcomes_imports") == [(0,)]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize(
    ("path", "charset", "refusal"),
    [
        ("?encoding=windows-1252", "windows-1252", None),
        ("?encoding=windows-1252", "CP1252", None),
        ("?encoding=iso-8859-1", "latin1", None),
        ("?encoding=utf-16", "UTF-16LE", None),
        ("?encoding=windows-1252", "utf-8", None),
        ("?encoding=windows-1252", "latin1",
         "Invalid content type, UTF-8 or windows-1252 required"),
        ("?encoding=auto", "windows-1252", UTF8_REQUIRED),
        ("", "windows-1252", UTF8_REQUIRED),
    ],
)
async def test_a_raw_uploads_charset_may_name_the_chosen_encoding(
    api: Api, world: World, path: str, charset: str, refusal: str | None
) -> None:
    response = await api.post(
        imports_of(world) + path, body=WINDOWS_1252,
        headers={"Content-Type": f"text/csv; charset={charset}"},
    )

    if refusal is None:
        assert response.status == 200, response.body
    else:
        assert (response.status, response.body) == (400, {"error": refusal})


# -- the format: decoding, undecodable bytes, memory -----------------------------------------------


def parse(data: bytes, encoding: str = "utf-8") -> list[Any]:
    return list(InstructureCsv().parse(io.BytesIO(data), FormatOptions(encoding=encoding)))


def test_bytes_the_encoding_cannot_decode_are_row_errors_naming_it() -> None:
    """windows-1252 leaves 0x81 undefined; a UTF-16 surrogate without its pair, or a last odd
    byte, is no character: each is its row's error, the other rows are read."""
    windows = b"vendor_guid,object_type,title\ng1,group,a\x81b\ng2,group,ok\n"
    utf16 = (
        b"\xff\xfe" + "vendor_guid\tobject_type\ttitle\r\ng1\tgroup\tX".encode("utf-16-le")
        + b"\x00\xd8" + "\r\ng2\tgroup\tok\r\n".encode("utf-16-le") + b"A"
    )

    assert parse(windows, "windows-1252") == [
        RowError(2, 'Not a valid windows-1252 string: "a\\x81b"'),
        GroupRecord(row=3, vendor_guid="g2", title="ok"),
    ]
    assert parse(utf16) == [
        RowWarning(*UTF16_WARNING),
        RowError(2, 'Not a valid utf-16 string: "X\\x00\\xD8"'),
        GroupRecord(row=3, vendor_guid="g2", title="ok"),
        RowError(4, 'Not a valid utf-16 string: "\\x41"'),
    ]


def test_in_utf16_tab_separates_only_where_tabs_outnumber_commas() -> None:
    """Canvas's rule for ``;`` and ``,`` holds in UTF-16 too; tab separates where the first line
    holds more tabs than either."""
    commas = "vendor_guid,object_type,title\ng1,group,a\tb\n"
    tabs = "vendor_guid\tobject_type\ttitle\ng1\tgroup\ta,b\n"

    for text, title in ((commas, "a\tb"), (tabs, "a,b")):
        items = parse(b"\xff\xfe" + text.encode("utf-16-le"))
        assert items == [RowWarning(*UTF16_WARNING), GroupRecord(2, "g1", title)]


def test_a_file_auto_reads_twice_is_read_within_the_same_memory(tmp_path: Path) -> None:
    """``auto`` validates the whole file as UTF-8 before the first record, a chunk at a time:
    a file whose only byte that is not UTF-8 is its last is then read as windows-1252, and its
    import holds no more memory than the UTF-8 reading of a file like it."""
    rows = "".join(f"g{n},group,Caf{'é' if n % 2 else 'e'} {n}\n" for n in range(100_000))
    header = "vendor_guid,object_type,title\n"
    utf8, windows = tmp_path / "utf8.csv", tmp_path / "windows.csv"
    utf8.write_bytes((header + rows).encode())
    windows.write_bytes((header + rows + "g,group,€\n").encode("cp1252"))
    assert windows.stat().st_size > 2 * 1024 * 1024
    parse(utf8.read_bytes()[:1000], "auto")  # one-time loads: locale data, regexes

    utf8_warnings, utf8_peak = parse_with_peak(utf8, "auto")
    windows_warnings, windows_peak = parse_with_peak(windows, "auto")

    assert (utf8_warnings, windows_warnings) == ([], [RowWarning(*AUTO_WARNING)])
    assert windows_peak < 1024 * 1024, (utf8_peak, windows_peak)
    assert windows_peak < utf8_peak + 256 * 1024, (utf8_peak, windows_peak)


def parse_with_peak(path: Path, encoding: str) -> tuple[list[RowWarning], int]:
    """The warnings of parsing ``path``, and the parser's peak traced memory in bytes."""
    with path.open("rb") as source:
        tracemalloc.start()
        try:
            items = InstructureCsv().parse(source, FormatOptions(encoding=encoding))
            first = [next(items)]
            deque(items, maxlen=0)  # consumed and dropped as it goes, like the engine's batches
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return [item for item in first if isinstance(item, RowWarning)], peak
