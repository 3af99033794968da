"""Import formats: the :class:`ImportFormat` protocol and the registry of the formats in use.

A format owns bytes -> records and knows nothing of storage or HTTP. Formats are registered
through the ``lms_outcomes_register_import_formats`` hook, the built-in ``instructure_csv`` too.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

from lms_outcomes_plugin.models import DEFAULT_ENCODING
from lms_outcomes_plugin.records import FormatOutput
from lms_outcomes_plugin.settings import DEFAULT_MAX_CELL_BYTES, DEFAULT_MAX_PARENTS_PER_ROW

DEFAULT_IMPORT_TYPE = "instructure_csv"


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """What a format may know about the import beyond its bytes."""

    #: The importing context's locale, for numbers ("en", "fr", ...).
    locale: str = "en"
    #: The ``max_cell_bytes`` setting: a cell whose value is longer than this in UTF-8 bytes
    #: should be a row error naming its column, found before the cell is used or copied.
    max_cell_bytes: int = DEFAULT_MAX_CELL_BYTES
    #: The ``max_parents_per_row`` setting: a row naming more parents than this should be a
    #: row error.
    max_parents_per_row: int = DEFAULT_MAX_PARENTS_PER_ROW
    #: The client's ``encoding``: one of ``formats.encoding.ENCODINGS`` (``auto`` included). A
    #: format that reads text applies it with ``formats.encoding.decoding_for(source,
    #: encoding)`` (byte-order marks, ``auto``) and yields the decoding's warning, if any.
    encoding: str = DEFAULT_ENCODING


@runtime_checkable
class ImportFormat(Protocol):
    """An ``import_type``: turns an uploaded file into records.

    ``parse`` is called in the plugin's parse worker, a child process by default (a thread when
    the ``parse_in_subprocess`` setting is off), with the stored upload opened as a seekable
    binary file (``io.BufferedReader``). The format object is pickled to get there: define its
    class at module level and keep no locks, open files or connections on it (the registry
    refuses a format that does not pickle). ``parse`` must check the whole file's structure
    before it yields the first item, raising
    :class:`~lms_outcomes_plugin.records.DataFormatError` for a file-level problem, so that a bad
    file writes nothing. It then yields records and row errors in row order, lazily: memory must
    not grow with the file.

    Progress is measured by how far it has read ``source``, unless it yields
    :class:`~lms_outcomes_plugin.records.Progress` values. It may wrap ``source`` (e.g. in
    ``io.TextIOWrapper``) and let the wrapper close it: closing ``source`` leaves the worker's
    file open. ``lms_outcomes_plugin.testing.check_format`` checks all of this.
    """

    #: The ``import_type`` value clients send.
    name: str

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[FormatOutput]: ...


class DuplicateImportFormat(ValueError):
    """Two plugins registered an import format under the same name."""


class UnpicklableImportFormat(TypeError):
    """A format cannot be sent to the parse worker (it would fail every import)."""


class ImportFormatRegistry:
    """The import formats in use, by ``import_type`` name."""

    def __init__(self) -> None:
        self._formats: dict[str, ImportFormat] = {}

    def add(self, import_format: ImportFormat) -> None:
        """Register ``import_format`` under its ``name``: refused when the name is taken or
        the format does not survive the pickling that takes it to the parse worker."""
        name = import_format.name
        if name in self._formats:
            raise DuplicateImportFormat(
                f"import_type {name!r} is registered twice: by {self._formats[name]!r} "
                f"and by {import_format!r}"
            )
        _check_picklable(name, import_format)
        self._formats[name] = import_format

    def get(self, name: str) -> ImportFormat | None:
        return self._formats.get(name)

    def names(self) -> list[str]:
        return sorted(self._formats)

    def __contains__(self, name: object) -> bool:
        return name in self._formats


def _check_picklable(name: str, import_format: ImportFormat) -> None:
    try:
        pickle.loads(pickle.dumps(import_format))
    except Exception as error:
        raise UnpicklableImportFormat(
            f"import_type {name!r} cannot be sent to the parse worker: pickling "
            f"{import_format!r} failed ({type(error).__name__}: {error}). Define the format's "
            "class at module level and keep no locks, open files or connections on it"
        ) from error
