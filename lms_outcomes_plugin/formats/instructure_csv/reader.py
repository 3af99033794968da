"""Strict CSV reading: Ruby's CSV grammar checked over the whole file, then C-speed records.

Canvas parses with Ruby's CSV, which rejects a quote inside an unquoted cell, text after a
closing quote and an unclosed quote. Python's ``csv`` module accepts the first (even with
``strict=True``), so pass 1 (:func:`scan`) checks the grammar itself. Only quotes can break it,
so the check jumps from quote to quote (``str.find``) and costs nothing on quote-free text.
Pass 2 (:func:`read_rows`) then splits quote-free lines with ``str.split`` and hands records
with quotes to ``csv.reader``.

Records end at CRLF, LF or a lone CR outside quotes, whichever the file uses, even mixed (Ruby
fixes one row separator per file and rejects the others; accepting them cannot turn a file
Canvas reads into a different one).

Both passes hold at most :attr:`Bounds.record` characters of a record at once: a longer record
(one huge cell, or a quoted cell over thousands of lines) is split into cells as it streams by,
and only the first :attr:`Bounds.cell` characters of each cell are kept, enough for the row
parser to report a cell over the limit. Memory stays bounded whatever one line holds.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, BinaryIO

from lms_outcomes_plugin.formats.encoding import Decoding, decoding_for
from lms_outcomes_plugin.models import MAX_ERROR_LENGTH
from lms_outcomes_plugin.records import DataFormatError
from lms_outcomes_plugin.ruby import has_invalid_utf8

NO_DATA = "File has no data"
INVALID_CSV = "Invalid CSV File"
_CHUNK = 1 << 16
_FIELD_LIMIT_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Bounds:
    """How much of a record the reader holds: a record of up to ``record`` characters is read
    whole; a longer one is split as it is read, keeping the first ``cell`` characters of each
    cell."""

    cell: int
    record: int

    @classmethod
    def for_cells_of(cls, max_cell_bytes: int) -> Bounds:
        """For cells of at most ``max_cell_bytes`` UTF-8 bytes: a character is one byte or
        more, so a cell cut to one character more is still over the limit. Cells keep at least
        what a message shows: a long header cell is quoted in Canvas's "Invalid fields"."""
        keep = max(max_cell_bytes, MAX_ERROR_LENGTH) + 1
        return cls(cell=keep, record=max(_CHUNK, 2 * max_cell_bytes))


@dataclass(frozen=True, slots=True)
class Layout:
    """How the CSV text is decoded (and where it starts, after a BOM), and which column
    separator it uses."""

    decoding: Decoding
    separator: str


@dataclass(frozen=True, slots=True)
class Scan:
    """What pass 1 learned: the header cells, whether rows follow, and whether the rows hold
    bytes the file's encoding cannot decode (so that pass 2 checks cells only when it must)."""

    header: list[str]
    #: Whether any record follows the header (blank ones count).
    has_rows: bool
    undecodable: bool


def detect_layout(source: BinaryIO, decoding: Decoding | None = None) -> Layout:
    """Canvas's ``test_header_i18n``: ``;`` separates columns when the first ``\\n``-terminated
    line holds more ``;`` than ``,`` (a CR-only file is one such line). In a file read as UTF-16
    (Excel's "Unicode Text" export, tab-separated), tab does when that line holds more tabs
    than either. ``decoding`` defaults to UTF-8, its BOM skipped, as Canvas reads."""
    decoding = decoding or decoding_for(source)
    counts = dict.fromkeys(",;\t", 0)
    with _text(source, decoding) as text:
        while chunk := text.read(_CHUNK):
            line, newline, _ = chunk.partition("\n")
            for separator in counts:
                counts[separator] += line.count(separator)
            if newline:
                break
    separator = ";" if counts[";"] > counts[","] else ","
    if decoding.name == "utf-16" and counts["\t"] > max(counts[";"], counts[","]):
        separator = "\t"
    return Layout(decoding, separator)


def scan(source: BinaryIO, layout: Layout, bounds: Bounds) -> Scan:
    """Pass 1 over the whole file: raises DataFormatError for no data or malformed CSV."""
    quotes = _QuoteChecker(layout.separator)
    header = _HeaderText(layout.separator, bounds)
    undecodable = more = False
    with _text(source, layout.decoding) as text:
        for piece in iter(partial(text.readline, bounds.record), ""):
            quotes.feed(piece)
            header.add(piece)
            if piece[-1] in "\r\n" and not quotes.in_quoted_cell:
                break
        split_crlf = header.ends_split_crlf()
        while chunk := text.read(_CHUNK):
            if split_crlf:  # the LF of the header's CRLF: not a record of its own
                split_crlf = False
                chunk = chunk.removeprefix("\n")
                if not chunk:
                    continue
            more = True
            quotes.feed(chunk)
            undecodable = undecodable or has_invalid_utf8(chunk)
    if header.empty:  # an empty file, or a BOM alone
        raise DataFormatError(NO_DATA)
    quotes.finish()
    return Scan(header.cells(), more, undecodable)


def read_rows(source: BinaryIO, layout: Layout, bounds: Bounds) -> Iterator[tuple[list[str], str]]:
    """Pass 2, over a file pass 1 accepted: every record's cells, header first, a blank line as
    ``[]``, each with the record's raw text when it holds a quote ("" otherwise).

    A line without a quote is a whole record and is split in C; a record with quotes goes to
    ``csv.reader`` in one piece (its lines up to an even number of quotes); a record longer than
    ``bounds.record`` is cut cell by cell as it streams by.
    """
    separator = layout.separator
    cap = bounds.record
    feed: deque[str] = deque()
    quoted_reader = csv.reader(iter(feed.popleft, None), delimiter=separator, strict=True)
    pending: list[str] = []
    size = quotes = 0
    split_crlf = False
    limit = csv.field_size_limit()
    with _text(source, layout.decoding) as text:
        lines = iter(partial(text.readline, cap), "")
        for line in lines:
            if split_crlf:
                split_crlf = False
                if line == "\n":  # the LF of a CRLF that the cap split from its CR
                    continue
            if len(line) + size >= cap:  # too long to hold whole: cut it as it streams by
                pending.append(line)
                cells, raw, split_crlf = _cut_record(pending, lines, separator, bounds)
                pending.clear()
                size = 0
                yield cells, raw
                continue
            if pending:
                pending.append(line)
                size += len(line)
                quotes += line.count('"')
                if quotes % 2:
                    continue
                raw = "".join(pending)
                pending.clear()
                size = 0
            elif '"' in line:
                quotes = line.count('"')
                if quotes % 2:  # a quoted cell runs on to the next line
                    pending.append(line)
                    size = len(line)
                    continue
                raw = line
            else:
                body = line.rstrip("\r\n")
                yield (body.split(separator) if body else []), ""
                continue
            if len(raw) > limit:
                limit = _allow_fields_up_to(len(raw))
            feed.append(raw)
            yield next(quoted_reader), raw


def quoted_cells(raw: str, separator: str) -> list[bool]:
    """For a record pass 1 accepted: whether each cell was quoted (Ruby reads an unquoted empty
    cell as nil and a quoted one as "", which ``csv.reader`` cannot tell apart)."""
    match_cell = _cell_pattern(separator).match
    flags: list[bool] = []
    position = 0
    while True:
        flags.append(raw.startswith('"', position))
        position = match_cell(raw, position).end()  # type: ignore[union-attr]
        if not raw.startswith(separator, position):
            return flags
        position += 1


class _QuoteChecker:
    """Ruby CSV's quoting rules, fed the text in pieces of any size.

    A quote opens a quoted cell only at a cell's start (after a separator or a line break, or
    at the very start); inside, ``""`` is a quote and a lone ``"`` closes the cell, which a
    separator, a line break or the end of the file must follow.
    """

    def __init__(self, separator: str) -> None:
        self._boundaries = frozenset((separator, "\r", "\n"))
        self.in_quoted_cell = False
        # In a quoted cell, a quote ended the previous piece: "" or a closing quote?
        self._quote_pending = False
        self._previous = "\n"  # the text starts a record

    def feed(self, text: str) -> None:
        """Check the next piece of text; raise ``Invalid CSV File`` at the first grammar error."""
        if not text:
            return
        position = self._resolve_pending(text)
        in_cell = self.in_quoted_cell
        find, skip_quoted_text = text.find, _QUOTED_TEXT.match
        while True:
            if in_cell:  # past the cell's text and escaped quotes, in C: to its closing quote
                position = skip_quoted_text(text, position).end()  # type: ignore[union-attr]
            quote = find('"', position)
            if quote < 0:
                break
            if not in_cell:
                before = text[quote - 1] if quote else self._previous
                if before not in self._boundaries:
                    raise DataFormatError(INVALID_CSV)  # a stray quote in an unquoted cell
                in_cell = True
            elif quote + 1 == len(text):
                self._quote_pending = True
            elif text[quote + 1] in self._boundaries:
                in_cell = False
            else:
                raise DataFormatError(INVALID_CSV)  # text after a closing quote
            position = quote + 1
        self.in_quoted_cell = in_cell and not self._quote_pending
        self._previous = text[-1]

    def finish(self) -> None:
        """At the end of the file: a quote pending there closed its cell; none may be open."""
        if self.in_quoted_cell:
            raise DataFormatError(INVALID_CSV)

    def _resolve_pending(self, text: str) -> int:
        if not self._quote_pending:
            return 0
        self._quote_pending = False
        if text[0] == '"':
            self.in_quoted_cell = True
            return 1
        if text[0] not in self._boundaries:
            raise DataFormatError(INVALID_CSV)
        self.in_quoted_cell = False
        return 0


#: A quoted cell's text up to its closing quote (or the end of the piece): escaped quotes ("")
#: and anything but a quote.
_QUOTED_TEXT = re.compile(r'[^"]*+(?:""[^"]*+)*+')


@lru_cache(maxsize=4)
def _cell_pattern(separator: str) -> re.Pattern[str]:
    sep = re.escape(separator)
    return re.compile(rf'"[^"]*+(?:""[^"]*+)*+"|[^"{sep}\r\n]*+')


@lru_cache(maxsize=4)
def _unquoted_pattern(separator: str) -> re.Pattern[str]:
    return re.compile(rf'[^"{re.escape(separator)}\r\n]*+')


class _HeaderText:
    """The header record as pass 1 reads it: its text while short, its cut cells once long."""

    def __init__(self, separator: str, bounds: Bounds) -> None:
        self._separator = separator
        self._bounds = bounds
        self._pieces: list[str] = []
        self._size = 0
        self._last = ""
        self._cutter: _CellCutter | None = None

    @property
    def empty(self) -> bool:
        return not self._size

    def add(self, piece: str) -> None:
        self._size += len(piece)
        self._last = piece
        if self._cutter is not None:
            self._cutter.feed(piece)
            return
        self._pieces.append(piece)
        if self._size >= self._bounds.record:
            self._cutter = _CellCutter(self._separator, self._bounds.cell)
            for held in self._pieces:
                self._cutter.feed(held)
            self._pieces.clear()

    def ends_split_crlf(self) -> bool:
        """Whether the cap ended the last piece on a CR whose LF may come next."""
        return len(self._last) == self._bounds.record and self._last.endswith("\r")

    def cells(self) -> list[str]:
        """The header's cells (the grammar of the whole file has been checked)."""
        if self._cutter is not None:
            return self._cutter.finish()[0]
        text = "".join(self._pieces)
        _allow_fields_up_to(len(text))
        return next(csv.reader([text], delimiter=self._separator, strict=True))


def _cut_record(
    pieces: list[str], lines: Iterator[str], separator: str, bounds: Bounds
) -> tuple[list[str], str, bool]:
    """A record too long to hold whole, from its first ``pieces`` and as many more ``lines`` as
    it takes: its cut cells, a raw text that quotes the cells its text quoted, and whether the
    cap split its final CRLF (the next line is then its LF alone)."""
    cutter = _CellCutter(separator, bounds.cell)
    ended = False
    piece = ""
    for piece in pieces:
        ended = cutter.feed(piece)
    while not ended:
        # Lines inside a quoted cell that has all it keeps change nothing until a quote.
        piece = next(filter(_has_quote, lines) if cutter.full_in_quotes else lines, "")
        if not piece:
            break
        ended = cutter.feed(piece)
    cells, quoted = cutter.finish()
    raw = "" if not any(quoted) else separator.join(
        '"' + cell.replace('"', '""') + '"' if was_quoted else cell
        for cell, was_quoted in zip(cells, quoted, strict=True)
    )
    return cells, raw, ended and len(piece) == bounds.record and piece.endswith("\r")


_START, _UNQUOTED, _QUOTED, _QUOTE, _ENDED = range(5)
_has_quote = re.compile('"').search


class _CellCutter:
    """Splits one record, fed in pieces of any length, into its cells, keeping the first
    ``keep`` characters of each cell. Pass 1 has checked the grammar, which this relies on."""

    def __init__(self, separator: str, keep: int) -> None:
        self._separator = separator
        self._unquoted_end = _unquoted_pattern(separator).match
        self._keep = keep
        self._cells: list[str] = []
        self._quoted: list[bool] = []
        self._parts: list[str] = []
        self._room = keep
        self._state = _START

    def feed(self, piece: str) -> bool:
        """Read the record's next piece; True when a line break outside quotes ends the record
        (a piece from ``readline`` holds at most one line break, at its end)."""
        position, end = 0, len(piece)
        while position < end:
            state = self._state
            if state == _START:
                quoted = piece[position] == '"'
                self._quoted.append(quoted)
                self._state = _QUOTED if quoted else _UNQUOTED
                position += quoted
                continue
            if state == _QUOTED:
                quote = piece.find('"', position)
                stop = end if quote < 0 else quote
                self._take(piece, position, stop)
                position = stop + 1
                self._state = _QUOTED if quote < 0 else _QUOTE
                continue
            if state == _QUOTE and piece[position] == '"':  # "" is a quote in the cell
                self._take(piece, position, position + 1)
                position += 1
                self._state = _QUOTED
                continue
            if state == _UNQUOTED:
                stop = self._unquoted_end(piece, position).end()
                self._take(piece, position, stop)
                position = stop
                if position == end:
                    break
            # a separator or a line break ends the cell
            self._cells.append("".join(self._parts))
            self._parts.clear()
            self._room = self._keep
            if piece[position] != self._separator:
                self._state = _ENDED
                return True
            self._state = _START
            position += 1
        return False

    @property
    def full_in_quotes(self) -> bool:
        """Whether the text up to the next quote would be dropped."""
        return self._state == _QUOTED and not self._room

    def finish(self) -> tuple[list[str], list[bool]]:
        """The cells and whether each was quoted, once the record or the file has ended."""
        if self._state == _START:  # the file ends after a separator: an empty last cell
            self._quoted.append(False)
        if self._state != _ENDED:
            self._cells.append("".join(self._parts))
            self._state = _ENDED
        if self._cells == [""] and not self._quoted[0]:
            return [], []  # a blank line, as read_rows gives it
        return self._cells, self._quoted

    def _take(self, piece: str, start: int, stop: int) -> None:
        room = self._room
        if room and stop > start:
            stop = min(stop, start + room)
            self._parts.append(piece[start:stop])
            self._room = room - (stop - start)


def _allow_fields_up_to(length: int) -> int:
    # csv.reader refuses cells over a process-wide limit (128 Ki characters by default) that
    # Ruby does not have. Before csv reads a record longer than the limit, raise the limit to
    # that length (only ever up: another import may be reading). csv only ever reads records
    # of up to Bounds.record characters: longer ones are cut by _CellCutter instead.
    with _FIELD_LIMIT_LOCK:
        limit = csv.field_size_limit()
        if length > limit:
            csv.field_size_limit(length)
            return length
        return limit


@contextmanager
def _text(source: BinaryIO, decoding: Decoding) -> Iterator[io.TextIOWrapper]:
    # The decoding's error handler keeps undecodable bytes (for the per-cell check); newline=""
    # keeps CRLF, LF and CR as they are, which csv.reader needs inside quoted cells.
    source.seek(decoding.start)
    buffer: Any = source  # any readable binary file will do, not just BufferedIOBase
    text = io.TextIOWrapper(
        buffer, encoding=decoding.codec, errors=decoding.errors, newline=""
    )
    try:
        yield text
    finally:
        # The engine owns `source`: detach so that it is never closed here. If the engine
        # closed it first (an abandoned import), there is nothing left to detach from.
        if not source.closed:
            text.detach()
