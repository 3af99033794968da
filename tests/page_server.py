"""Test-only: ``lms-outcomes serve`` with the gate format of tests/toy_formats.py registered.

``python tests/page_server.py GATE serve ...`` runs the CLI exactly as ``lms-outcomes`` does,
with :class:`~tests.toy_formats.TrapsPlugin` added to the plugin's settings: an import of
``import_type=read_all`` (a JSON list of group guids) holds after its first record until the
file GATE exists, so that a test can act on an import that is certainly still running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from lms_outcomes_plugin.host import cli
from tests.toy_formats import TrapsPlugin

#: Records of a ``read_all`` import before it waits for the gate.
HOLD_AFTER = 1


def main(argv: Sequence[str]) -> int:
    gate, *cli_args = argv
    settings_of = cli._plugin_settings

    def with_traps(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
        settings = settings_of(args)
        settings["lms_outcomes"]["extra_plugins"] = [TrapsPlugin(gate, HOLD_AFTER)]
        return settings

    cli._plugin_settings = with_traps
    return cli.main(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
