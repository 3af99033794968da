"""Numbers as Canvas reads them: the locale's delimiter and separator, then Ruby's ``Float()``.

Canvas's ``normalize_i18n`` removes every occurrence of the locale's thousands delimiter, turns
its decimal separator into ``.`` and hands the result to ``Kernel#Float``. ``Float()`` is stricter
than Python's ``float()`` in some ways (``1.``, ``nan``, ``inf`` and non-ASCII digits are
rejected) and looser in others (hexadecimal ``0x1A``).

Where Ruby reads a number out of range as ``Infinity`` (``1e400``, ``0x1p99999``), Canvas would
store it and serve JSON no client can read: here such a number is invalid, as ``abc`` is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import get_decimal_symbol, get_group_symbol

_SPACE = "[ \t\n\v\f\r]*"
_DIGITS = "[0-9]+(?:_[0-9]+)*"
_DECIMAL = re.compile(
    rf"{_SPACE}([+-]?(?:{_DIGITS}(?:\.{_DIGITS})?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?){_SPACE}"
)
_HEX = re.compile(rf"{_SPACE}([+-]?0[xX][0-9a-fA-F]+(?:[pP][+-]?[0-9]+)?){_SPACE}")
_WHOLE = re.compile(rf"{_SPACE}([+-]?[0-9]+){_SPACE}")

# CLDR writes the thousands group of fr (U+202F), ru, nb, fr_CA... (U+00A0) as a no-break space,
# while the Rails locale data Canvas uses has a plain space there: Canvas's French spec parses
# " 123 456,5678 " as 123456.5678. For those locales a plain space is a delimiter too.
_NO_BREAK_SPACES = frozenset({"\u00a0", "\u202f"})
# Successful parses are memoised per import: rating points repeat ("4", "3", "2"...) row after row.
# Only short texts are kept, so that the memo holds kilobytes however long the cells are.
_CACHE_SIZE = 4096
_CACHED_LENGTH = 64


def ruby_float(text: str) -> float | None:
    """Ruby's ``Float(text)``, or ``None`` where Ruby raises ``ArgumentError``."""
    match = _DECIMAL.fullmatch(text)
    if match:
        return float(match.group(1).replace("_", ""))
    match = _HEX.fullmatch(text)
    if match:
        literal = match.group(1)
        try:
            return float.fromhex(literal)
        except OverflowError:  # Ruby warns "out of range" and returns Infinity
            return float("-inf") if literal.startswith("-") else float("inf")
    return None


def parse_whole_number(text: str) -> int | None:
    """An integer written in ASCII digits (optional sign, surrounding whitespace), else None;
    None too for one with more digits than Python converts (``sys.get_int_max_str_digits``,
    4,300 by default; Ruby has no such limit, but no such number is a valid value anywhere)."""
    match = _WHOLE.fullmatch(text)
    if match is None:
        return None
    literal = match.group(1)
    sign = "-" if literal.startswith("-") else ""
    try:
        return int(sign + (literal.lstrip("+-").lstrip("0") or "0"))  # leading zeros do not count
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class NumberSymbols:
    """A locale's decimal separator and the thousands delimiters removed before parsing."""

    separator: str
    delimiters: tuple[str, ...]


@lru_cache(maxsize=64)
def number_symbols(locale: str) -> NumberSymbols:
    """The symbols of ``locale`` ("fr", "en-GB", "pt_BR"...) from Babel's CLDR data."""
    babel_locale = _babel_locale(locale)
    group = get_group_symbol(babel_locale)
    delimiters = (group, " ") if group in _NO_BREAK_SPACES else (group,)
    return NumberSymbols(get_decimal_symbol(babel_locale), tuple(d for d in delimiters if d))


def _babel_locale(code: str) -> Locale:
    language = code.replace("-", "_").split("_")[0]
    for candidate in (code.replace("-", "_"), language):
        try:
            return Locale.parse(candidate)
        except (ValueError, TypeError, UnknownLocaleError):
            continue
    return Locale.parse("en")  # what Rails' I18n falls back to


class LocaleNumbers:
    """Canvas's ``strict_parse_float`` for one import's locale."""

    def __init__(self, locale: str) -> None:
        symbols = number_symbols(locale or "en")
        self._separator = symbols.separator
        self._delimiters = symbols.delimiters
        self._cache: dict[str, float] = {}

    def parse(self, raw: str) -> float | None:
        """The number in a non-blank cell, or None when Canvas would reject it or Ruby would
        read it as infinite."""
        cached = self._cache.get(raw)
        if cached is not None:
            return cached
        value = ruby_float(self._normalize(raw))
        if value is None or not math.isfinite(value):
            return None
        if len(raw) <= _CACHED_LENGTH and len(self._cache) < _CACHE_SIZE:
            self._cache[raw] = value
        return value

    def _normalize(self, raw: str) -> str:
        text = raw
        for delimiter in self._delimiters:
            text = text.replace(delimiter, "")
        if self._separator != ".":
            text = text.replace(self._separator, ".")
        return text
