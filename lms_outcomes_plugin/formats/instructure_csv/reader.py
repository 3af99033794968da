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
from functools import lru_cache
from typing import Any, BinaryIO

from lms_outcomes_plugin.records import DataFormatError
from lms_outcomes_plugin.ruby import has_invalid_utf8

BOM = b"\xef\xbb\xbf"
NO_DATA = "File has no data"
INVALID_CSV = "Invalid CSV File"
_CHUNK = 1 << 16
_FIELD_LIMIT_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the CSV text starts (after a BOM) and which column separator it uses."""

    start: int
    separator: str


@dataclass(frozen=True, slots=True)
class Scan:
    """What pass 1 learned: the header cells, whether rows follow, and whether the rows hold
    bytes that are not UTF-8 (so that pass 2 checks cells only when it must)."""

    header: list[str]
    #: Whether any record follows the header (blank ones count).
    has_rows: bool
    invalid_utf8: bool


def detect_layout(source: BinaryIO) -> Layout:
    """Canvas's ``test_header_i18n``: skip a UTF-8 BOM; ``;`` separates columns when the first
    ``\\n``-terminated line holds more ``;`` than ``,`` (a CR-only file is one such line)."""
    source.seek(0)
    chunk = source.read(_CHUNK)
    start = len(BOM) if chunk.startswith(BOM) else 0
    semicolons = commas = 0
    while chunk:
        line, newline, _ = chunk.partition(b"\n")
        semicolons += line.count(b";")
        commas += line.count(b",")
        if newline:
            break
        chunk = source.read(_CHUNK)
    return Layout(start, ";" if semicolons > commas else ",")


def scan(source: BinaryIO, layout: Layout) -> Scan:
    """Pass 1 over the whole file: raises DataFormatError for no data or malformed CSV."""
    quotes = _QuoteChecker(layout.separator)
    header_lines: list[str] = []
    invalid_utf8 = more = False
    with _text(source, layout.start) as text:
        for line in text:  # the header: the lines up to the first record end
            header_lines.append(line)
            quotes.feed(line)
            if not quotes.in_quoted_cell:
                break
        while chunk := text.read(_CHUNK):
            more = True
            quotes.feed(chunk)
            invalid_utf8 = invalid_utf8 or has_invalid_utf8(chunk)
    if not header_lines:  # an empty file, or a BOM alone
        raise DataFormatError(NO_DATA)
    quotes.finish()
    _allow_fields_up_to(sum(map(len, header_lines)))
    header = next(csv.reader(header_lines, delimiter=layout.separator, strict=True))
    return Scan(header, more, invalid_utf8)


def read_rows(source: BinaryIO, layout: Layout) -> Iterator[tuple[list[str], str]]:
    """Pass 2, over a file pass 1 accepted: every record's cells, header first, a blank line as
    ``[]``, each with the record's raw text when it holds a quote ("" otherwise).

    A line without a quote is a whole record and is split in C; a record with quotes goes to
    ``csv.reader`` in one piece (its lines up to an even number of quotes).
    """
    separator = layout.separator
    feed: deque[str] = deque()
    quoted_reader = csv.reader(iter(feed.popleft, None), delimiter=separator, strict=True)
    pending: list[str] = []
    quotes = 0
    limit = csv.field_size_limit()
    with _text(source, layout.start) as text:
        for line in text:
            if pending:
                pending.append(line)
                quotes += line.count('"')
                if quotes % 2:
                    continue
                raw = "".join(pending)
                pending.clear()
            elif '"' in line:
                quotes = line.count('"')
                if quotes % 2:  # a quoted cell runs on to the next line
                    pending.append(line)
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


def _allow_fields_up_to(length: int) -> int:
    # csv.reader refuses cells over a process-wide limit (128 Ki characters by default) that
    # Ruby does not have. Before csv reads a record longer than the limit, raise the limit to
    # that length (only ever up: another import may be reading); the upload size cap bounds
    # the memory such a cell takes.
    with _FIELD_LIMIT_LOCK:
        limit = csv.field_size_limit()
        if length > limit:
            csv.field_size_limit(length)
            return length
        return limit


@contextmanager
def _text(source: BinaryIO, start: int) -> Iterator[io.TextIOWrapper]:
    # surrogateescape keeps invalid bytes (for the per-cell check); newline="" keeps CRLF, LF
    # and CR as they are, which csv.reader needs inside quoted cells.
    source.seek(start)
    buffer: Any = source  # any readable binary file will do, not just BufferedIOBase
    text = io.TextIOWrapper(buffer, encoding="utf-8", errors="surrogateescape", newline="")
    try:
        yield text
    finally:
        # The engine owns `source`: detach so that it is never closed here. If the engine
        # closed it first (an abandoned import), there is nothing left to detach from.
        if not source.closed:
            text.detach()
