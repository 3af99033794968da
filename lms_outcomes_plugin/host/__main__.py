"""``python -m lms_outcomes_plugin.host``: the same as the ``lms-outcomes`` command."""

import sys

from .cli import main

sys.exit(main())
