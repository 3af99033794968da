"""An import format that takes its time: one group per line, a pause before each, so that tests
can catch imports running (side by side, or at shutdown)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from lms_outcomes_plugin import FormatOptions, GroupRecord, ParsedItem, hookimpl


class SlowFormat:
    name = "slow"

    def __init__(self, pause: float) -> None:
        self.pause = pause

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[ParsedItem]:
        for row, line in enumerate(source, start=1):
            time.sleep(self.pause)
            yield GroupRecord(row=row, vendor_guid=line.decode().strip(), title="G")


class SlowPlugin:
    """Registers ``import_type=slow`` (pass it in the ``extra_plugins`` setting)."""

    def __init__(self, pause: float) -> None:
        self.pause = pause

    @hookimpl
    def lms_outcomes_register_import_formats(self, registry: Any) -> None:
        registry.add(SlowFormat(self.pause))
