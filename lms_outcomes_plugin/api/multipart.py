"""A streaming reader of Canvas's multipart upload style (``attachment`` plus form fields).

It wraps python-multipart's push parser: the handler feeds it each chunk Tornado delivers and
gets back the pieces of the ``attachment`` part's bytes found in that chunk, to write to storage
at once. Nothing but the small form fields it keeps is ever held in memory.
"""

from __future__ import annotations

import mimetypes
from email.message import Message

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser

__all__ = ["ATTACHMENT", "FormParserError", "MultipartUpload"]

#: Canvas's file field.
ATTACHMENT = "attachment"
#: The form fields kept besides the file (Canvas reads ``import_type`` from the form too).
KEPT_FIELDS = frozenset({"import_type"})
#: A kept field longer than this is cut here: no valid value comes near it, and memory stays
#: bounded whatever a client sends.
MAX_FIELD_BYTES = 1024


class MultipartUpload:
    """One ``multipart/form-data`` request body, parsed as it streams in.

    Rules: the first ``attachment`` part is the file (later ones are ignored); its filename is
    the part's (``outcome_import.csv`` when it has none) and its content type the part's media
    type without parameters (guessed from the filename when the part has none). Fields in
    :data:`KEPT_FIELDS` are kept; every other part is skipped.
    """

    def __init__(self, boundary: str) -> None:
        self.filename: str | None = None
        self.content_type: str | None = None
        self.fields: dict[str, str] = {}
        self.complete = False
        self._has_attachment = False
        self._pending: list[bytes] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._role: str | None = None  # "attachment", a kept field's name, or None (skip)
        self._field = bytearray()
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    @property
    def has_attachment(self) -> bool:
        return self._has_attachment

    def feed(self, chunk: bytes) -> list[bytes]:
        """Parse ``chunk``; return the attachment's bytes found in it, in order.

        Raises :class:`FormParserError` when the body is not valid multipart.
        """
        self._parser.write(chunk)
        pieces, self._pending = self._pending, []
        return pieces

    # python-multipart's callbacks ---------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._headers = []
        self._role = None

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((bytes(self._header_field), bytes(self._header_value)))
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        headers = _part_headers(self._headers)
        name = headers.get_param("name", header="content-disposition")
        if name == ATTACHMENT and not self._has_attachment:
            self._has_attachment = True
            self._role = ATTACHMENT
            self.filename = _filename(headers)
            self.content_type = _content_type(headers, self.filename)
        elif isinstance(name, str) and name in KEPT_FIELDS:
            self._role = name
            self._field.clear()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
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


def _part_headers(raw: list[tuple[bytes, bytes]]) -> Message:
    """A part's headers, parsed by the standard library (parameters, quoting, RFC 2231).

    Browsers send non-ASCII filenames as raw UTF-8, so header bytes are read as UTF-8 first.
    """
    message = Message()
    for field, value in raw:
        message[_text(field).strip()] = _text(value).strip()
    return message


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _filename(headers: Message) -> str:
    filename = headers.get_filename()
    # Only the last path segment: some clients send a full local path.
    name = filename.replace("\\", "/").rsplit("/", 1)[-1] if filename else ""
    return name or "outcome_import.csv"


def _content_type(headers: Message, filename: str) -> str:
    if headers.get("Content-Type"):
        return headers.get_content_type()
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
