"""lms-outcomes: Canvas's Outcome Imports API as a plugin for Tornado LMS hosts.

The public API for extension authors: the hook marker, the import-format protocol, the records a
format yields and the errors it raises (the hooks themselves are in
:mod:`lms_outcomes_plugin.hookspecs`). A new ``import_type`` is a class with a ``name`` and a
``parse`` method, registered from a module listed in the ``lms_outcomes`` entry-point group::

    from lms_outcomes_plugin import hookimpl

    @hookimpl
    def lms_outcomes_register_import_formats(registry):
        registry.add(MyFormat())
"""

from lms_outcomes_plugin.formats import DEFAULT_IMPORT_TYPE, FormatOptions, ImportFormat
from lms_outcomes_plugin.hookspecs import hookimpl
from lms_outcomes_plugin.records import (
    DataFormatError,
    GroupRecord,
    OutcomeRecord,
    ParsedItem,
    Rating,
    RowError,
)

__all__ = [
    "DEFAULT_IMPORT_TYPE",
    "DataFormatError",
    "FormatOptions",
    "GroupRecord",
    "ImportFormat",
    "OutcomeRecord",
    "ParsedItem",
    "Rating",
    "RowError",
    "hookimpl",
]
