"""How a text format decodes an upload: the ``encoding`` a client may ask for, byte-order marks,
and ``auto``'s choice between UTF-8 and windows-1252.

Canvas reads UTF-8 only. lms-outcomes also reads what spreadsheets write elsewhere:

- A byte-order mark decides first, whatever ``encoding`` says: a file that starts with UTF-16's
  (little- or big-endian) is UTF-16, as Excel's "Unicode Text" export writes it, with a
  warning; one that starts with UTF-8's is UTF-8, the mark skipped (as Canvas does), with a
  warning only when the client asked for another encoding.
- Otherwise ``encoding`` decides: ``utf-8`` (the default, Canvas's behaviour), ``windows-1252``,
  ``iso-8859-1``, ``utf-16`` (little-endian, as Windows writes it, when no mark says which), or
  ``auto``: UTF-8 when the whole file is valid UTF-8, else windows-1252, with a warning.

Bytes the encoding cannot decode are kept as one character each, U+DC00 + the byte (what
Python's ``surrogateescape`` does for UTF-8, extended to bytes below 0x80, which a broken UTF-16
pair may hold), so that a format can report the row they are on and quote them
(``ruby.inspect`` shows them as ``\\xFF``).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import BinaryIO

from lms_outcomes_plugin.models import DEFAULT_ENCODING
from lms_outcomes_plugin.records import DataFormatError

#: What a client may send as ``encoding`` (the API refuses anything else).
ENCODINGS = ("utf-8", "windows-1252", "iso-8859-1", "utf-16", "auto")
UTF8_BOM = codecs.BOM_UTF8
UTF16_WARNING = "Read as UTF-16 (byte-order mark): tab-separated columns are accepted"
AUTO_WARNING = "Read as windows-1252: the file is not valid UTF-8"
UTF8_BOM_WARNING = "Read as UTF-8 (byte-order mark), not as {}"
#: The error handler that keeps an undecodable byte as U+DC00 + the byte (both ways).
ESCAPE = "lms_outcomes.escape"
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Decoding:
    """How to read one file's text."""

    #: The encoding as messages name it: one of ENCODINGS but ``auto``.
    name: str
    #: Python's codec for it.
    codec: str
    #: Where the text starts: past a byte-order mark.
    start: int = 0
    #: What the user should be told (a warning on row 1), if anything.
    warning: str | None = None

    @property
    def errors(self) -> str:
        """The error handler for reading: Python's own (fast in C) for UTF-8, whose invalid
        bytes are all 0x80 and above; ours for the others."""
        return "surrogateescape" if self.codec == "utf-8" else ESCAPE


UTF8 = Decoding("utf-8", "utf-8")
_ASKED = {
    "utf-8": UTF8,
    "windows-1252": Decoding("windows-1252", "cp1252"),
    "iso-8859-1": Decoding("iso-8859-1", "latin-1"),
    "utf-16": Decoding("utf-16", "utf-16-le"),
}
_UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}


def decoding_for(source: BinaryIO, encoding: str = DEFAULT_ENCODING) -> Decoding:
    """How to read ``source`` (a seekable binary file; its position is left anywhere) when the
    client asked for ``encoding``. ``auto`` reads the file once (see :func:`is_utf8`)."""
    if encoding not in ENCODINGS:
        raise DataFormatError(f"Unknown encoding: {encoding}")
    source.seek(0)
    head = source.read(len(UTF8_BOM))
    for bom, codec in _UTF16_BOMS.items():
        if head.startswith(bom):
            return Decoding("utf-16", codec, len(bom), UTF16_WARNING)
    if head == UTF8_BOM:
        asked_otherwise = encoding not in ("utf-8", "auto")
        warning = UTF8_BOM_WARNING.format(encoding) if asked_otherwise else None
        return Decoding("utf-8", "utf-8", len(UTF8_BOM), warning)
    if encoding == "auto":
        if is_utf8(source):
            return UTF8
        return Decoding("windows-1252", "cp1252", 0, AUTO_WARNING)
    return _ASKED[encoding]


def is_utf8(source: BinaryIO) -> bool:
    """Whether the whole file is valid UTF-8: read once, a chunk at a time, through an
    incremental decoder (a character may span two chunks), so memory holds one chunk."""
    source.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := source.read(_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _escape(error: UnicodeError) -> tuple[str | bytes, int]:
    """ESCAPE: undecodable bytes -> U+DC00 + byte; and back, for measuring a cell in bytes."""
    if isinstance(error, UnicodeDecodeError):
        bad = error.object[error.start : error.end]
        return "".join(chr(0xDC00 + byte) for byte in bad), error.end
    if isinstance(error, UnicodeEncodeError):
        text = error.object[error.start : error.end]
        if all(0xDC00 <= ord(char) <= 0xDCFF for char in text):
            return bytes(ord(char) - 0xDC00 for char in text), error.end
    raise error


codecs.register_error(ESCAPE, _escape)
