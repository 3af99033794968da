"""Ruby and Rails semantics that Canvas's messages and checks depend on (shared by the format and
the engine, whose messages quote values as Canvas does).

Canvas's row checks use ActiveSupport's ``blank?`` (Unicode whitespace) in some places and Ruby's
``\\s`` / ``String#split`` (ASCII whitespace only) in others; its messages quote values with
``String#inspect`` and print numbers with ``Float#to_s``. Python's ``str.isspace``, ``repr`` and
``str.split`` differ from all four, hence these helpers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from lms_outcomes_plugin.models import MAX_ERROR_LENGTH

#: Unicode White_Space: what ``[[:space:]]`` in ActiveSupport's ``blank?`` matches. Python's
#: ``str.isspace`` also accepts U+001C..U+001F, which Ruby does not count as blank.
WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

#: Ruby's ``\s`` and the separators of ``String#split`` with no argument: ASCII only.
ASCII_SPACE = " \t\n\v\f\r"

_has_ascii_space = re.compile(r"[ \t\n\v\f\r]").search
_words = re.compile(r"[^ \t\n\v\f\r]+").findall
# surrogateescape turns each byte of an invalid UTF-8 sequence into U+DC80..U+DCFF; the other
# encodings' handler (formats.encoding.ESCAPE) any undecodable byte into U+DC00..U+DCFF.
_has_escaped_byte = re.compile("[\udc00-\udcff]").search

_ESCAPES = {
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\f": "\\f",
    "\v": "\\v",
    "\b": "\\b",
    "\a": "\\a",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
}
# Ruby's inspect escapes "#" only where it would start an interpolation.
_INTERPOLATION_STARTS = ("{", "$", "@")
# Onigmo's [[:print:]] excludes controls, surrogates, unassigned and the line/paragraph separators.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cs", "Cn", "Zl", "Zp"})


def is_blank(value: str | None) -> bool:
    """ActiveSupport's ``blank?`` for a cell: ``None``, empty, or Unicode whitespace only."""
    return not value or not value.strip(WHITESPACE)


def has_ascii_space(value: str) -> bool:
    """Whether ``value`` matches Ruby's ``/\\s/`` (vendor_guid's "must have no spaces")."""
    return _has_ascii_space(value) is not None


def split_words(value: str) -> tuple[str, ...]:
    """Ruby's ``strip.split.uniq``: split on ASCII whitespace, first occurrence kept."""
    return tuple(dict.fromkeys(_words(value)))


def has_invalid_utf8(value: str) -> bool:
    """Whether a cell decoded with ``surrogateescape`` held bytes that are not UTF-8 (or, read
    in another encoding, bytes that encoding cannot decode)."""
    return not value.isascii() and _has_escaped_byte(value) is not None


def inspect(value: str, *, limit: int | None = MAX_ERROR_LENGTH) -> str:
    """Ruby's ``String#inspect`` of a UTF-8 string; invalid bytes print as ``\\xFF``.

    Only its first ``limit`` characters (``None``: all of it), rendered from the start of
    ``value`` alone: messages are stored cut to :data:`MAX_ERROR_LENGTH` characters, so a
    message quoting a megabyte cell reads the same as if the whole cell had been rendered.
    """
    if limit is not None and len(value) > limit:
        value = value[:limit]  # each character renders as one character or more
    shown = _inspect(value)
    return shown if limit is None else shown[:limit]


def inspect_list(values: Iterable[str], *, limit: int | None = MAX_ERROR_LENGTH) -> str:
    """Ruby's ``Array#inspect`` of strings, ``["a", "b"]``: its first ``limit`` characters
    (``None``: all of it). ``values`` is consumed only until the text passes the limit."""
    if limit is None:
        return "[" + ", ".join(_inspect(value) for value in values) + "]"
    shown = "["
    if limit <= len(shown):
        return shown[:limit]
    for index, value in enumerate(values):
        if index:
            shown += ", "
        shown += inspect(value, limit=max(limit - len(shown), 0))
        if len(shown) >= limit:
            return shown[:limit]
    return shown + "]"


def clip(value: str, *, limit: int = MAX_ERROR_LENGTH) -> str:
    """A value interpolated into a message as it is (Ruby's ``"#{value}"``), cut to what a
    stored message can show."""
    return value[:limit]


def _inspect(value: str) -> str:
    if value.isascii() and value.isprintable() and not any(c in value for c in '"\\#'):
        return f'"{value}"'
    return '"' + "".join(_inspect_char(value, i) for i in range(len(value))) + '"'


def _inspect_char(value: str, index: int) -> str:
    char = value[index]
    code = ord(char)
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char == "#":
        return "\\#" if value[index + 1 : index + 2] in _INTERPOLATION_STARTS else "#"
    if 0xDC00 <= code <= 0xDCFF:  # an undecodable byte, kept as it was read
        return f"\\x{code - 0xDC00:02X}"
    if unicodedata.category(char) in _UNPRINTABLE_CATEGORIES:
        return f"\\u{code:04X}" if code < 0x10000 else f"\\u{{{code:X}}}"
    return char


def float_to_s(value: float) -> str:
    """Ruby's ``Float#to_s``: ``2.0``, ``1234.5678``, ``1.0e+20``, ``Infinity``.

    Python's ``repr`` switches to exponent notation at the same magnitudes; Ruby always keeps a
    fractional part in the mantissa.
    """
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        return f"{mantissa}.0e{exponent}"
    return text
