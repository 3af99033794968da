"""lms-outcomes-moodle: Moodle competency frameworks (``tool_lpimportcsv``'s CSV export) as an
lms-outcomes import type (``moodle_competency_csv``).

Registered through the ``lms_outcomes`` entry-point group (see this distribution's
pyproject.toml), with nothing but lms-outcomes' public extension API.
"""

from typing import Any

from lms_outcomes_moodle.format import MoodleCompetencyCsv
from lms_outcomes_plugin import hookimpl

__all__ = ["MoodleCompetencyCsv", "lms_outcomes_register_import_formats"]


@hookimpl
def lms_outcomes_register_import_formats(registry: Any) -> None:
    registry.add(MoodleCompetencyCsv())
