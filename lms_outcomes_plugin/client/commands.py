"""The client's commands on the ``lms-outcomes`` command line (the embedded host's ``serve``
and ``admin`` share the parser, nothing else).

Exit status: 0 when the import (or the revert) succeeded, 1 when it failed or was cancelled,
2 for usage, connection and HTTP errors, with a message that names the problem. On a terminal
the upload and the import show as progress bars (rich); elsewhere as plain lines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TransferSpeedColumn,
)

from lms_outcomes_plugin.client.http import ClientError, Context, Server

TOKEN_ENV = "LMS_OUTCOMES_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8080"
#: Seconds between two looks at a running import.
POLL_SECONDS = 0.25
#: States in which an import is over.
ENDED = ("succeeded", "failed", "cancelled")
#: Errors shown at the end (the status shows the first 25; --errors-csv saves them all).
ERRORS_SHOWN = 10


def add_commands(commands: Any) -> None:
    """Add ``import``, ``export``, ``status``, ``cancel`` and ``revert`` to ``commands``."""
    imports = _command(commands, "import", "import an outcomes file into an account or course")
    imports.add_argument("file", metavar="FILE", help="the file to import")
    imports.add_argument("--group", metavar="ID", help="the target group (default: the root)")
    imports.add_argument("--import-type", default="instructure_csv", metavar="T",
                         help="the file's format (default instructure_csv)")
    imports.add_argument("--dry-run", action="store_true",
                         help="run every check, write nothing to the tree")
    imports.add_argument("--encoding", metavar="E",
                         help="utf-8 (default), windows-1252, iso-8859-1, utf-16 or auto")
    imports.add_argument("--errors-csv", metavar="PATH", help="save every error as CSV there")
    imports.add_argument("--no-wait", action="store_true",
                         help="print the import's id once uploaded, do not wait for its end")
    imports.set_defaults(run=_run_import)

    export = _command(commands, "export", "export a context's outcome tree as instructure_csv")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="where to write it (default: standard output; with --json, the "
                        "server's file name)")
    export.add_argument("--json", action="store_true", help="print what was written as JSON")
    export.set_defaults(run=_run_export)

    status = _command(commands, "status", "show an import's state, counts and first errors")
    status.add_argument("id", metavar="ID", help="the import's id, or latest")
    status.add_argument("--json", action="store_true", help="print the import's JSON")
    status.set_defaults(run=_run_status)

    cancel = _command(commands, "cancel", "cancel a queued or running import")
    cancel.add_argument("id", metavar="ID")
    cancel.set_defaults(run=_run_cancel)

    revert = _command(commands, "revert", "undo what an import changed (queued as an import)")
    revert.add_argument("id", metavar="ID")
    revert.add_argument("--no-wait", action="store_true", help="do not wait for its end")
    revert.set_defaults(run=_run_revert)


def _command(commands: Any, name: str, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=help)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--account", metavar="ID")
    where.add_argument("--course", metavar="ID")
    parser.add_argument("--url", default=DEFAULT_URL,
                        help=f"the server (default {DEFAULT_URL})")
    parser.add_argument("--token", help=f"an API token (default: ${TOKEN_ENV})")
    parser.set_defaults(parser=parser)
    return parser


def _connect(args: argparse.Namespace) -> tuple[Server, Context]:
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        args.parser.error(f"no token: pass --token or set {TOKEN_ENV}")
    context = Context("account", args.account) if args.account else Context("course", args.course)
    return Server(args.url, token), context


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """ClientError and unreadable files exit 2 with their message."""

    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except ClientError as error:
            print(f"lms-outcomes: error: {error}", file=sys.stderr)
        except BrokenPipeError:  # e.g. `export | head`: the reader has what it wanted
            return 1
        except OSError as error:
            print(f"lms-outcomes: error: {error.strerror}: {error.filename}", file=sys.stderr)
        return 2

    guarded.__name__ = run.__name__
    return guarded


# -- showing what happens --------------------------------------------------------------------


class Plain:
    """Lines, for logs and pipes: each state and progress once."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._last = ""

    @contextmanager
    def upload(self, size: int) -> Iterator[Callable[[int], None]]:
        yield lambda _: None
        self.line(f"uploaded {size} bytes")

    @contextmanager
    def waiting(self) -> Iterator[Callable[[dict[str, Any]], None]]:
        def show(state: dict[str, Any]) -> None:
            text = f"import {state['id']}: {state['workflow_state']} {state['progress']}%"
            if text != self._last:
                self.line(text)
                self._last = text

        yield show

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)


class Terminal(Plain):
    """Progress bars (rich), for a person at a terminal."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.console = Console(file=out)

    @contextmanager
    def upload(self, size: int) -> Iterator[Callable[[int], None]]:
        with Progress(TextColumn("upload"), BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), console=self.console) as bars:
            task = bars.add_task("upload", total=size)
            yield lambda sent: bars.advance(task, sent)

    @contextmanager
    def waiting(self) -> Iterator[Callable[[dict[str, Any]], None]]:
        with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                      console=self.console) as bars:
            task = bars.add_task("import", total=100)

            def show(state: dict[str, Any]) -> None:
                bars.update(task, completed=state["progress"],
                            description=f"import {state['id']} {state['workflow_state']}")

            yield show

    def line(self, text: str = "") -> None:
        self.console.print(text, highlight=False, markup=False)


def _display() -> Plain:
    return Terminal(sys.stdout) if sys.stdout.isatty() else Plain(sys.stdout)


def _summary(view: Plain, state: dict[str, Any]) -> None:
    """The import's end (or present state): counts, then the first errors and warnings."""
    dry = " (dry run: nothing was written)" if state.get("dry_run") else ""
    view.line(f"import {state['id']}: {state['workflow_state']}{dry}")
    counts = state.get("counts")
    if counts:
        view.line(f"rows: {counts['rows']} ({counts['rows_with_errors']} with errors)")
        for kind in ("groups", "outcomes"):
            done = counts[kind]
            view.line(f"{kind}: " + ", ".join(f"{done[k]} {k}" for k in
                                              ("created", "updated", "unchanged", "deleted")))
        view.line(f"links: {counts['links']['created']} created, "
                  f"{counts['links']['deleted']} deleted")
    errors = state.get("processing_errors") or []
    failed_rows = counts["rows_with_errors"] if counts else len(errors)
    if errors:
        shown = errors[:ERRORS_SHOWN]
        view.line(f"errors (the first {len(shown)} of {max(failed_rows, len(errors))}):")
        for row, message in shown:
            view.line(f"  row {row}: {message}")
    for row, message in state.get("warnings") or []:
        view.line(f"warning: row {row}: {message}")


def _wait(server: Server, context: Context, import_id: int, view: Plain) -> dict[str, Any]:
    path = f"{context.path}/outcome_imports/{import_id}"
    with view.waiting() as show:
        while True:
            state = server.json("GET", path, context)
            show(state)
            if state["workflow_state"] in ENDED:
                return state  # type: ignore[no-any-return]
            time.sleep(POLL_SECONDS)


def _exit_status(state: dict[str, Any]) -> int:
    return 1 if state["workflow_state"] in ("failed", "cancelled") else 0


# -- the commands ----------------------------------------------------------------------------


@_guarded
def _run_import(args: argparse.Namespace) -> int:
    server, context = _connect(args)
    path = f"{context.path}/outcome_imports" + (f"/group/{args.group}" if args.group else "")
    params = {"import_type": args.import_type}
    if args.dry_run:
        params["dry_run"] = "true"
    if args.encoding:
        params["encoding"] = args.encoding
    view = _display()
    size = os.path.getsize(args.file)
    what = f"group {args.group}" if args.group else ""
    with open(args.file, "rb") as source, view.upload(size) as sent:
        created = server.create_import(context, path, source, size, params, sent, what=what)
    if args.no_wait:
        view.line(f"import {created['id']}: {created['workflow_state']}")
        return 0
    ended = _wait(server, context, created["id"], view)
    _summary(view, ended)
    if args.errors_csv:
        _save_errors(server, context, ended["id"], args.errors_csv, view)
    return _exit_status(ended)


def _save_errors(server: Server, context: Context, import_id: int, path: str,
                 view: Plain) -> None:
    _, body = server.stream(f"{context.path}/outcome_imports/{import_id}/errors.csv", context)
    with open(path, "wb") as out:
        for block in body:
            out.write(block)
    view.line(f"every error: {path}")


@_guarded
def _run_export(args: argparse.Namespace) -> int:
    server, context = _connect(args)
    filename, body = server.stream(f"{context.path}/outcome_export", context)
    target = args.output or (filename if args.json else None)
    written = 0
    with _output(target) as out:
        for block in body:
            out.write(block)
            written += len(block)
    if args.json:
        print(json.dumps({"context_type": context.kind, "context_id": int(context.id),
                          "file": target, "bytes": written}))
    return 0


def _output(target: str | None) -> AbstractContextManager[Any]:
    if target is None:
        return _stdout()
    return open(target, "wb")


@contextmanager
def _stdout() -> Iterator[Any]:
    yield sys.stdout.buffer
    sys.stdout.buffer.flush()


@_guarded
def _run_status(args: argparse.Namespace) -> int:
    server, context = _connect(args)
    state = server.json("GET", f"{context.path}/outcome_imports/{args.id}", context)
    if args.json:
        print(json.dumps(state))
    else:
        view = _display()
        if state["workflow_state"] not in ENDED:
            view.line(f"import {state['id']}: {state['workflow_state']} {state['progress']}%")
        else:
            _summary(view, state)
    return _exit_status(state)


@_guarded
def _run_cancel(args: argparse.Namespace) -> int:
    server, context = _connect(args)
    state = server.json("DELETE", f"{context.path}/outcome_imports/{args.id}", context)
    asked = " (cancel requested)" if state.get("cancel_requested") else ""
    _display().line(f"import {state['id']}: {state['workflow_state']}{asked}")
    return 0


@_guarded
def _run_revert(args: argparse.Namespace) -> int:
    server, context = _connect(args)
    revert = server.json("POST", f"{context.path}/outcome_imports/{args.id}/revert", context)
    view = _display()
    view.line(f"import {args.id}: reverted by import {revert['id']} ({revert['workflow_state']})")
    if args.no_wait:
        return 0
    ended = _wait(server, context, revert["id"], view)
    _summary(view, ended)
    return _exit_status(ended)
