"""Checks a third party's extension can run in its own tests (they need pytest).

* :class:`StoreConformance`: the storage-backend conformance suite; subclass it and override
  its ``store`` fixture (see :mod:`lms_outcomes_plugin.testing.store`).
* :func:`check_format`: runs an import format on bytes as an import does and checks the rules
  it must keep (see :mod:`lms_outcomes_plugin.testing.formats`).
"""

from lms_outcomes_plugin.testing.formats import check_format
from lms_outcomes_plugin.testing.store import StoreConformance

__all__ = ["StoreConformance", "check_format"]
