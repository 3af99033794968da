"""The import formats tests register, in a module of their own: the parse worker unpickles a
host's formats, and so imports the module that defines them. Defined in a test module, each
would cost every worker the import of that module, its conftest and their dependencies (about a
second), and every test that uploads a file would wait for it."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from lms_outcomes_plugin import (
    FormatOptions,
    FormatOutput,
    GroupRecord,
    OutcomeRecord,
    ParsedItem,
    Progress,
    RowError,
    RowWarning,
    hookimpl,
)


class SlowFormat:
    """One group per line, a pause before each, so that tests can catch imports running (side
    by side, or at shutdown)."""

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


class EmptyFormat:
    """A second import_type, to tell which of the query and the form was used."""

    name = "empty"

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[ParsedItem]:
        return iter(())


class EmptyFormatPlugin:
    @hookimpl
    def lms_outcomes_register_import_formats(self, registry: Any) -> None:
        registry.add(EmptyFormat())


class ExplodingFormat:
    """Raises something other than DataFormatError (a bug in a format)."""

    name = "exploding"

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[ParsedItem]:
        yield from ()
        raise RuntimeError("kaboom")


class ExplodingPlugin:
    @hookimpl
    def lms_outcomes_register_import_formats(self, registry: Any) -> None:
        registry.add(ExplodingFormat())


class LinesFormat:
    """A toy import_type: one line per object, ``group <guid> <title>`` or
    ``outcome <guid> <parent> <title>``."""

    name = "lines"

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[ParsedItem]:
        for row, raw in enumerate(source, start=1):
            kind, guid, *rest = raw.decode().split()
            if kind == "group":
                yield GroupRecord(row=row, vendor_guid=guid, title=" ".join(rest))
            elif kind == "outcome":
                # A list where the record says tuple: the engine takes either.
                parents: Any = [rest[0]]
                yield OutcomeRecord(
                    row=row, vendor_guid=guid, parent_guids=parents, title=" ".join(rest[1:])
                )
            else:
                yield RowError(row, f"unknown kind {kind}")


class HangingFormat:
    """Yields one group, then never returns (a format with a bug), in the parse worker."""

    name = "hanging"

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[ParsedItem]:
        yield GroupRecord(row=1, vendor_guid="before-the-hang", title="G")
        while True:
            time.sleep(0.1)


class HangingPlugin:
    @hookimpl
    def lms_outcomes_register_import_formats(self, registry: Any) -> None:
        registry.add(HangingFormat())


class TextLinesFormat:
    """One group per non-blank line, read through ``io.TextIOWrapper``: the wrapper closes the
    source when the generator ends and it is collected."""

    name = "text_lines"

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[ParsedItem]:
        text = io.TextIOWrapper(source, encoding="utf-8", newline="")
        for row, line in enumerate(text, start=1):
            if guid := line.strip():
                yield GroupRecord(row=row, vendor_guid=guid, title=guid.upper())


class ReadAllFormat:
    """A JSON list of group guids, read at once, with progress reported as it yields. Records
    after the ``hold_after``-th wait until the file ``gate`` exists (so a test can look at an
    import half done)."""

    name = "read_all"

    def __init__(self, gate: str, hold_after: int) -> None:
        self.gate = gate
        self.hold_after = hold_after

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[FormatOutput]:
        guids = json.loads(source.read())
        yield Progress(0, len(guids))
        for done, guid in enumerate(guids, start=1):
            while done > self.hold_after and not os.path.exists(self.gate):
                time.sleep(0.01)
            yield GroupRecord(row=done, vendor_guid=guid, title=guid)
            yield Progress(done, len(guids))


class TrapsPlugin:
    """Registers ``text_lines`` and ``read_all``."""

    def __init__(self, gate: str, hold_after: int) -> None:
        self.gate = gate
        self.hold_after = hold_after

    @hookimpl
    def lms_outcomes_register_import_formats(self, registry: Any) -> None:
        registry.add(TextLinesFormat())
        registry.add(ReadAllFormat(self.gate, self.hold_after))


class NoticingFormat:
    """One group per line (its guid); a line ``warn <message>`` is a warning on its row, a line
    ``error <message>`` a row error: each kind of item as any format may yield it."""

    name = "noticing"

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[ParsedItem]:
        for row, raw in enumerate(source, start=1):
            kind, _, message = raw.decode().strip().partition(" ")
            if kind == "warn":
                yield RowWarning(row, message)
            elif kind == "error":
                yield RowError(row, message)
            elif kind:
                yield GroupRecord(row=row, vendor_guid=kind, title=kind.upper())


class NoticingPlugin:
    @hookimpl
    def lms_outcomes_register_import_formats(self, registry: Any) -> None:
        registry.add(NoticingFormat())


class TreeLinesFormat:
    """``import_type=tree_lines``: one object a line, ``KIND GUID [PARENT ...]`` with the guid as
    its title; KIND ``group``, ``outcome``, or ``whole`` (a group whose record says ``prune``)."""

    name = "tree_lines"

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[ParsedItem]:
        for row, line in enumerate(source, start=1):
            kind, guid, *parents = line.decode().split()
            if kind == "outcome":
                yield OutcomeRecord(row=row, vendor_guid=guid, title=guid,
                                    parent_guids=tuple(parents))
            else:
                yield GroupRecord(row=row, vendor_guid=guid, title=guid,
                                  parent_guids=tuple(parents), prune=kind == "whole")


class TreeLinesPlugin:
    @hookimpl
    def lms_outcomes_register_import_formats(self, registry: Any) -> None:
        registry.add(TreeLinesFormat())
