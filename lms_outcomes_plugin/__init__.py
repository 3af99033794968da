"""lms-outcomes: Canvas's Outcome Imports API as a plugin for Tornado LMS hosts.

The public API for extension authors: the hook marker, the import-format protocol, the records a
format yields, the progress it may report and the errors it raises (the hooks themselves are in
:mod:`lms_outcomes_plugin.hookspecs`, the checks an extension's tests can run in
:mod:`lms_outcomes_plugin.testing`). A new ``import_type`` is a class with a ``name`` and a
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
    FormatOutput,
    GroupRecord,
    OutcomeRecord,
    ParsedItem,
    Progress,
    Rating,
    RowError,
    RowWarning,
)

__all__ = [
    "DEFAULT_IMPORT_TYPE",
    "DataFormatError",
    "FormatOptions",
    "FormatOutput",
    "GroupRecord",
    "ImportFormat",
    "OutcomeRecord",
    "ParsedItem",
    "Progress",
    "Rating",
    "RowError",
    "RowWarning",
    "hookimpl",
]
