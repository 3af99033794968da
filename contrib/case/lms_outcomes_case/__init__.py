"""lms-outcomes-case: CASE 1.0/1.1 packages as an lms-outcomes import type (``case``).

Registered through the ``lms_outcomes`` entry-point group (see this distribution's
pyproject.toml), with nothing but lms-outcomes' public extension API.
"""

from typing import Any

from lms_outcomes_case.format import CaseFormat
from lms_outcomes_plugin import hookimpl

__all__ = ["CaseFormat", "lms_outcomes_register_import_formats"]


@hookimpl
def lms_outcomes_register_import_formats(registry: Any) -> None:
    registry.add(CaseFormat())
