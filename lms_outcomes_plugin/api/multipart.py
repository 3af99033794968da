"""A streaming reader of Canvas's multipart upload style (``attachment`` plus form fields).

It wraps python-multipart's push parser: the handler feeds it each chunk Tornado delivers and
gets back the pieces of the ``attachment`` part's bytes found in that chunk, to write to storage
at once. Nothing but the small form fields it keeps is ever held in memory.

A body comes from any authenticated client and is read on the IOLoop, so what it may cost is
bounded, each limit refused with :class:`FormLimitError` (whose message names it) as soon as it
is passed: :data:`MAX_PARTS` parts, :data:`MAX_PART_HEADERS` headers in a part, and
:data:`MAX_PART_HEADER_BYTES` bytes in a part's header block. Headers are parsed in linear time
(:mod:`lms_outcomes_plugin.api.mediatype`).
"""

from __future__ import annotations

import mimetypes
import sys

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser

from lms_outcomes_plugin.api.mediatype import filename, media_type, parameters

__all__ = ["ATTACHMENT", "FormLimitError", "FormParserError", "MultipartUpload"]

#: Canvas's file field.
ATTACHMENT = "attachment"
#: The form fields kept besides the file (Canvas reads ``import_type`` from the form too; ours:
#: ``encoding`` and ``dry_run``).
KEPT_FIELDS = frozenset({"import_type", "encoding", "dry_run"})
#: A kept field longer than this is cut here: no valid value comes near it, and memory stays
#: bounded whatever a client sends.
MAX_FIELD_BYTES = 1024
#: Parts in a body: Canvas's form is the file and a field or two.
MAX_PARTS = 16
#: Headers in a part: Content-Disposition and Content-Type are all a form part needs (8 is also
#: python-multipart's own default). Each is parsed on the IOLoop.
MAX_PART_HEADERS = 8
#: Bytes of a part's header block: from the end of the previous part's data (or the body's start)
#: to the start of its own data, so its boundary line, any padding after that, its headers and
#: the blank line after them. (A part with neither headers nor data counts toward the next.)
MAX_PART_HEADER_BYTES = 8 * 1024
#: The parser is fed at most this much at a time, and the header block checked after each slice
#: too: python-multipart walks some bytes one by one without a callback (padding after a
#: boundary, spaces before a header value), and past the limit it never walks more than a slice.
FEED_SLICE = MAX_PART_HEADER_BYTES

TOO_MANY_PARTS = f"The multipart body has more than the limit of {MAX_PARTS} parts"
TOO_MANY_HEADERS = f"A multipart part has more than the limit of {MAX_PART_HEADERS} headers"
HEADERS_TOO_LARGE = (
    f"A multipart part's headers are larger than the limit of {MAX_PART_HEADER_BYTES} bytes"
)

#: The blank line after a part's last header: its data starts after it.
_END_OF_HEADERS = len(b"\r\n\r\n")
_DISPOSITION = b"content-disposition"
_CONTENT_TYPE = b"content-type"
#: What a part's Content-Disposition must contain to be parsed: a kept field's name, or before
#: the file was found, also the file's.
_KEPT_NAMES = tuple(name.encode() for name in sorted(KEPT_FIELDS))
_WANTED_NAMES = (ATTACHMENT.encode(), *_KEPT_NAMES)


class FormLimitError(FormParserError):
    """The body passed one of this module's limits; the message says which."""


class MultipartUpload:
    """One ``multipart/form-data`` request body, parsed as it streams in.

    Rules: the first ``attachment`` part is the file (later ones are ignored); its filename is
    the part's (``outcome_import.csv`` when it has none; RFC 2231 ``filename*`` wins over
    ``filename``) and its content type the part's media type without parameters (guessed from
    the filename when the part has none). Fields in :data:`KEPT_FIELDS` are kept, a later value
    replacing an earlier one (as in Rails); every other part is skipped.

    Parsing stops where nothing can matter any more. Every part's headers are counted and
    size-checked, but only its Content-Disposition and Content-Type are kept, and they are
    parsed only when they can still matter: the Content-Disposition when it contains the name
    of a part still wanted (``attachment`` until the file was found, or a kept field's name,
    since clients may send ``import_type`` after the file), the Content-Type only for the file.
    So once the file has been found, a later part costs a substring search unless it names a
    kept field. The data of skipped parts is never copied, and nothing after the closing
    boundary is parsed.
    """

    def __init__(self, boundary: str) -> None:
        self.filename: str | None = None
        self.content_type: str | None = None
        self.fields: dict[str, str] = {}
        self.complete = False
        self._has_attachment = False
        self._pending: list[bytes] = []
        self._parts = 0
        self._headers: dict[bytes, bytes] = {}  # the part's first Content-Disposition and -Type
        self._header_count = 0
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._role: str | None = None  # "attachment", a kept field's name, or None (skip)
        self._field = bytearray()
        # Offsets in the body: where the current slice starts, where the current header block
        # started, and where the current part's last header ended.
        self._slice = b""
        self._fed = 0
        self._block_start = 0
        self._last_header_end: int | None = None
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_begin": self._on_header_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
            # Our limits above replace python-multipart's per-header ones, which would refuse
            # without saying which limit was passed.
            max_header_count=sys.maxsize,
            max_header_size=sys.maxsize,
        )

    def feed(self, chunk: bytes) -> list[bytes]:
        """Parse ``chunk``; return the attachment's bytes found in it, in order.

        Raises :class:`FormLimitError` when the body passes a limit, :class:`FormParserError`
        when it is not valid multipart.
        """
        for start in range(0, len(chunk), FEED_SLICE):
            if self.complete:
                break  # the epilogue, which the parser would skip anyway
            self._slice = chunk[start : start + FEED_SLICE]
            self._parser.write(self._slice)
            self._fed += len(self._slice)
            if not self.complete:
                self._check_header_block(self._fed)
        pieces, self._pending = self._pending, []
        return pieces

    def _check_header_block(self, offset: int) -> None:
        """Refuse when the header block reaches ``offset`` (in the body) past its limit."""
        if offset - self._block_start > MAX_PART_HEADER_BYTES:
            raise FormLimitError(HEADERS_TOO_LARGE)

    def _offset(self, data: bytes, index: int) -> int:
        """The body offset of ``data[index]``. Data the parser held back at the end of the last
        slice (a possible boundary) comes from its own buffer: it ends where this slice starts."""
        return self._fed + index if data is self._slice else self._fed

    # python-multipart's callbacks ---------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise FormLimitError(TOO_MANY_PARTS)
        self._headers = {}
        self._header_count = 0
        self._last_header_end = None
        self._role = None

    def _on_header_begin(self) -> None:
        self._header_count += 1
        if self._header_count > MAX_PART_HEADERS:
            raise FormLimitError(TOO_MANY_HEADERS)

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_span(data, end)
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_span(data, end)
        self._header_value += data[start:end]

    def _header_span(self, data: bytes, end: int) -> None:
        self._last_header_end = self._offset(data, end)
        self._check_header_block(self._last_header_end)

    def _on_header_end(self) -> None:
        name = bytes(self._header_field).lower()
        if name in (_DISPOSITION, _CONTENT_TYPE) and name not in self._headers:
            self._headers[name] = bytes(self._header_value).strip()
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        if self._last_header_end is not None:
            data_start = self._last_header_end + _END_OF_HEADERS
            self._check_header_block(data_start)
            self._block_start = data_start
        disposition = self._disposition()
        name = disposition.get("name")
        if name == ATTACHMENT and not self._has_attachment:
            self._has_attachment = True
            self._role = ATTACHMENT
            self.filename = _filename(disposition)
            self.content_type = _content_type(self._headers.get(_CONTENT_TYPE), self.filename)
        elif name in KEPT_FIELDS:
            self._role = name
            self._field.clear()

    def _disposition(self) -> dict[str, str]:
        """The part's Content-Disposition parameters, or none (unparsed) when it does not
        contain the name of a part still wanted."""
        raw = self._headers.get(_DISPOSITION, b"")
        wanted = _KEPT_NAMES if self._has_attachment else _WANTED_NAMES
        if not any(name in raw for name in wanted):
            return {}
        return parameters(_text(raw))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._check_header_block(self._offset(data, start))
        self._block_start = self._offset(data, end)
        if self._role == ATTACHMENT:
            self._pending.append(data[start:end])
        elif self._role is not None and len(self._field) <= MAX_FIELD_BYTES:
            self._field += data[start : min(end, start + MAX_FIELD_BYTES + 1)]

    def _on_part_end(self) -> None:
        if self._role not in (None, ATTACHMENT):
            assert self._role is not None
            self.fields[self._role] = self._field.decode("utf-8", "replace")
        self._role = None

    def _on_end(self) -> None:
        self.complete = True


def _text(raw: bytes) -> str:
    """Header bytes as text: browsers send non-ASCII filenames as raw UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _filename(disposition: dict[str, str]) -> str:
    name = filename(disposition)
    # Only the last path segment: some clients send a full local path.
    name = name.replace("\\", "/").rsplit("/", 1)[-1] if name else ""
    return name or "outcome_import.csv"


def _content_type(raw: bytes | None, name: str) -> str:
    if raw:
        return media_type(_text(raw))
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
