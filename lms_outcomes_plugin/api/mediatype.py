"""The parameters of ``Content-Type`` and ``Content-Disposition`` values, read in one pass.

Request and part headers come from any authenticated client and are read on the IOLoop, so
their cost must be linear in their length. No library fits:

- the standard library's ``email.message`` parser (``get_param``, ``get_boundary``,
  ``get_filename``) rescans the rest of the value at every ``;`` while a quote is open:
  quadratic, so a header of ``;`` after an unclosed quote, well within the header size cap,
  stalls the IOLoop;
- python-multipart's ``parse_options_header`` is linear but drops RFC 2231 ``filename*``
  (which Canvas's Rack parser and the standard library read) and lets a repeated parameter
  replace the first.

This module splits and unquotes as the standard library does (``;`` outside double quotes
separates parameters; a quote preceded by a backslash does not count), with one pass of a
regular expression that never backtracks over the value.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

#: One parameter and the ``;`` after it. A ``;`` inside double quotes does not separate; a
#: quote preceded by a backslash does not count; an unclosed quote runs to the end. Possessive
#: quantifiers never backtrack, so a failing match costs no more than the text it consumed.
_SEGMENT = re.compile(r'((?:[^;"]++|(?<=\\)"|"(?:[^"]++|(?<=\\)")*+(?:"|\Z))*+)(?:;|\Z)')
#: The charsets RFC 5987 (section 3.2.1) requires of an extended value.
_EXTENDED_CHARSETS = frozenset({"utf-8", "iso-8859-1"})


def media_type(value: str) -> str:
    """The value's media type, lowercased: the text before the first ``;``, or ``text/plain``
    when that is not ``type/subtype`` (the standard library's ``get_content_type``)."""
    found = value.partition(";")[0].strip().lower()
    return found if found.count("/") == 1 else "text/plain"


def parameters(value: str) -> dict[str, str]:
    """The value's parameters: names lowercased, values stripped and unquoted; when a name
    repeats, its first value. RFC 2231 extended parameters keep their ``*`` name, undecoded
    (see :func:`filename`)."""
    found: dict[str, str] = {}
    for segment in _SEGMENT.findall(value):
        if not segment:  # e.g. a run of ";": no parameter, and the cheapest case to skip
            continue
        name, _, raw = segment.partition("=")
        found.setdefault(name.strip().lower(), _unquote(raw.strip()))
    return found


def filename(params: dict[str, str]) -> str | None:
    """A Content-Disposition's filename, stripped: RFC 2231 ``filename*`` when it decodes
    (UTF-8 or ISO-8859-1; RFC 6266 prefers it, and Rack reads it), else ``filename``."""
    extended = params.get("filename*")
    if extended is not None:
        charset, _, rest = extended.partition("'")
        _language, quote, encoded = rest.partition("'")
        if quote and charset.lower() in _EXTENDED_CHARSETS:
            return unquote_to_bytes(encoded).decode(charset, "replace").strip()
    plain = params.get("filename")
    return plain.strip() if plain is not None else None


def _unquote(value: str) -> str:
    """The standard library's unquoting of a quoted-string (``email.utils.unquote``)."""
    if len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
    return value
