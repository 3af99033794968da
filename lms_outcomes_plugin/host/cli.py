"""``lms-outcomes``: serve the embedded host, and administer its accounts, courses, users, tokens.

``serve`` needs no set-up: on an empty database it creates root account 1 ("Default Account")
and its admin, and prints the admin's token. ``admin`` commands use the same
:class:`HostDatabase` code and may run while a server uses the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tornado.netutil import bind_sockets

from lms_hooks.host import PERMISSIONS
from lms_outcomes_plugin.client.commands import add_commands as add_client_commands

from .app import EmbeddedHost, make_http_server
from .db import CONTEXT_TYPES, MIN_TOKEN_LENGTH, HostDatabase, HostDataError

DEFAULT_DB = "lms-outcomes.db"
ADMIN_TOKEN_ENV = "LMS_OUTCOMES_ADMIN_TOKEN"
PROG = "lms-outcomes"
#: Seconds a thread may hold the GIL while another waits (Python's default is 0.005).
GIL_SWITCH_INTERVAL = 0.0005
#: Net new container objects between two collections of the youngest generation (Python's
#: default is 700).
GC_YOUNG_THRESHOLD = 10_000

logger = logging.getLogger(__name__)

AdminAction = Callable[[HostDatabase, argparse.Namespace], Awaitable[Any]]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process's exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except HostDataError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except sqlite3.Error as error:
        print(f"{PROG}: error: database {args.db}: {error}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the embedded LMS host; administer its accounts, courses and users; "
        "import, export and follow imports on a running server.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    _add_admin(commands)
    add_client_commands(commands)  # import, export, status, cancel, revert: a server's client
    return parser


# -- serve -----------------------------------------------------------------------------------


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the embedded LMS host with its plugins")
    serve.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB})")
    serve.add_argument(
        "--storage", metavar="URL", help="the plugin's storage URL (default: the --db file)"
    )
    serve.add_argument("--address", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument("--base-url", default="", metavar="PATH", help="e.g. /lms (default /)")
    serve.add_argument(
        "--setting", action="append", default=[], type=_plugin_setting,
        metavar="PLUGIN.KEY=VALUE",
        help="a plugin setting, VALUE read as JSON when it parses "
        "(e.g. lms_outcomes.max_upload_bytes=524288000); repeatable",
    )
    serve.set_defaults(run=_run_serve)


def _plugin_setting(text: str) -> tuple[str, str, Any]:
    name, equals, raw = text.partition("=")
    plugin, dot, key = name.partition(".")
    if not (equals and dot and plugin and key):
        raise argparse.ArgumentTypeError(f"expected PLUGIN.KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return plugin, key, value


def _plugin_settings(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    # By default the plugin stores into the host's own SQLite file.
    settings: dict[str, dict[str, Any]] = {
        "lms_outcomes": {"storage_url": args.storage or f"sqlite:///{args.db}"}
    }
    for plugin, key, value in args.setting:
        settings.setdefault(plugin, {})[key] = value
    return settings


def _run_serve(args: argparse.Namespace) -> int:
    _check_admin_token(os.environ.get(ADMIN_TOKEN_ENV) or None)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(args))
    return 0


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        host = EmbeddedHost(
            args.db,
            base_url=args.base_url,
            settings=_plugin_settings(args),
        )
        try:
            await host.open()
            await _serve_host(host, args, stop)
        finally:
            await host.shutdown()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _serve_host(host: EmbeddedHost, args: argparse.Namespace, stop: asyncio.Event) -> None:
    token = await host.db.bootstrap(os.environ.get(ADMIN_TOKEN_ENV) or None)
    app = host.make_app()
    # Bind before the plugins start (a busy port fails fast); accept only once they have.
    sockets = bind_sockets(args.port, args.address)
    try:
        await host.startup()
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    _tune_interpreter()
    server = make_http_server(app)
    server.add_sockets(sockets)
    try:
        url = f"http://{_url_host(args.address)}:{sockets[0].getsockname()[1]}{host.base_url}"
        if token is not None:
            print(f"Created account 1 (Default Account) and its admin. Admin token: {token}")
            print(f'  curl -H "Authorization: Bearer {token}" {url}/api/v1/users/self')
        print(f"{PROG} serving on {url}/", flush=True)
        await stop.wait()
        logger.info("stopping: no new connections; shutting down plugins")
    finally:
        server.stop()
        await server.close_all_connections()


def _check_admin_token(token: str | None) -> None:
    """Refuse a guessable admin token before anything starts, whether or not this database
    still needs its admin."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise HostDataError(
            f"{ADMIN_TOKEN_ENV} must have at least {MIN_TOKEN_LENGTH} characters"
            f" (it has {len(token)})"
        )


def _tune_interpreter() -> None:
    """Process-wide settings for an IOLoop that shares its process with an import's threads:
    the host's to choose (the plugin never changes them), once everything has started. Both
    shorten status requests during an import (``make bench`` measures them), and the collector
    settings shorten the import too.
    """
    # A status request waits for the GIL at each hop between the IOLoop and a database
    # thread, up to the switch interval each time.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    # What start-up made lives as long as the process: the full collections an import triggers
    # (pauses that stop every thread) no longer walk it.
    gc.freeze()
    # A batch keeps thousands of objects alive briefly: at Python's 700, the young
    # generations were collected again and again during an import, pauses spent on objects
    # still in use or on cycles that later collections free anyway.
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _url_host(address: str) -> str:
    """How a browser reaches ``address``: wildcards become loopback, IPv6 gets brackets."""
    if address in ("", "0.0.0.0"):
        return "127.0.0.1"
    if address == "::":
        return "[::1]"
    with contextlib.suppress(OSError):
        socket.inet_pton(socket.AF_INET6, address)
        return f"[{address}]"
    return address


# -- admin -----------------------------------------------------------------------------------


def _add_admin(commands: Any) -> None:
    admin = commands.add_parser(
        "admin", help="create accounts, courses, users, grants; create and revoke tokens"
    )
    admin.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB})")
    objects = admin.add_subparsers(dest="object", required=True, metavar="OBJECT")

    account = _create_parser(objects, "account", "create an account; prints its id")
    account.add_argument("name")
    account.add_argument("--parent", type=_id, metavar="ACCOUNT_ID", help="a sub-account of it")
    account.add_argument("--locale", default="en", help="default locale (default en)")
    account.set_defaults(action=_create_account)

    course = _create_parser(objects, "course", "create a course; prints its id")
    course.add_argument("name")
    course.add_argument("--account", type=_id, required=True, metavar="ACCOUNT_ID")
    course.set_defaults(action=_create_course)

    user = _create_parser(objects, "user", "create a user; prints its id")
    user.add_argument("name")
    user.add_argument("--admin", type=_id, metavar="ACCOUNT_ID", help="admin of this account")
    user.add_argument("--teacher", type=_id, metavar="COURSE_ID", help="teacher of this course")
    user.set_defaults(action=_create_user)

    tokens = _verbs(objects, "token", "create or revoke API tokens")
    token = _verb(tokens, "create", "create an API token; prints it (shown once)")
    token.add_argument("user_id", type=_id)
    token.set_defaults(action=_create_token)
    revoke = _verb(tokens, "revoke", "revoke a token, or all of a user's tokens (prints how many)")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "token",
        nargs="?",
        metavar="TOKEN",
        help="the token; - reads it from standard input (kept out of shell history)",
    )
    which.add_argument("--user", type=_id, metavar="USER_ID", help="every token of this user")
    revoke.set_defaults(action=_revoke)

    grant = objects.add_parser("grant", help="give a user one permission on one context")
    grant.add_argument("user_id", type=_id)
    grant.add_argument("permission", choices=PERMISSIONS)
    grant.add_argument("context", type=_context, help="account:ID or course:ID")
    grant.set_defaults(action=_grant, run=_run_admin)


def _create_parser(objects: Any, name: str, help: str) -> argparse.ArgumentParser:
    """``admin NAME create``: the parser of its arguments."""
    return _verb(_verbs(objects, name, help), "create", help)


def _verbs(objects: Any, name: str, help: str) -> Any:
    """``admin NAME``: the subparsers of its verbs."""
    parser = objects.add_parser(name, help=help)
    return parser.add_subparsers(dest="verb", required=True, metavar="VERB")


def _verb(verbs: Any, name: str, help: str) -> argparse.ArgumentParser:
    """``admin OBJECT NAME``: the parser of its arguments."""
    parser: argparse.ArgumentParser = verbs.add_parser(name, help=help)
    parser.set_defaults(run=_run_admin)
    return parser


def _run_admin(args: argparse.Namespace) -> int:
    result = asyncio.run(_admin(args.action, args))
    if result is not None:
        print(result)
    return 0


async def _admin(action: AdminAction, args: argparse.Namespace) -> Any:
    async with HostDatabase(args.db) as db:
        return await action(db, args)


async def _create_account(db: HostDatabase, args: argparse.Namespace) -> int:
    return await db.create_account(args.name, args.parent, args.locale)


async def _create_course(db: HostDatabase, args: argparse.Namespace) -> int:
    return await db.create_course(args.name, args.account)


async def _create_user(db: HostDatabase, args: argparse.Namespace) -> int:
    return await db.create_user(args.name, admin_of=args.admin, teacher_of=args.teacher)


async def _create_token(db: HostDatabase, args: argparse.Namespace) -> str:
    return await db.create_token(args.user_id)


async def _revoke(db: HostDatabase, args: argparse.Namespace) -> int:
    if args.user is not None:
        return await db.revoke_user_tokens(args.user)
    await db.revoke_token(_token_argument(args.token))
    return 1


def _token_argument(value: str) -> str:
    """The token itself, or for ``-`` the first line of standard input."""
    if value != "-":
        return value
    lines = sys.stdin.read().splitlines()
    if not lines or not lines[0]:
        raise HostDataError("no token on standard input")
    return lines[0]


async def _grant(db: HostDatabase, args: argparse.Namespace) -> None:
    context_type, context_id = args.context
    await db.grant(args.user_id, args.permission, context_type, context_id)


def _id(value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) == 0:
        raise argparse.ArgumentTypeError(f"not an id: {value!r} (expected a positive integer)")
    return int(value)


def _context(value: str) -> tuple[str, int]:
    context_type, _, raw_id = value.partition(":")
    if context_type not in CONTEXT_TYPES or not raw_id:
        raise argparse.ArgumentTypeError(
            f"not a context: {value!r} (expected account:ID or course:ID)"
        )
    return context_type, _id(raw_id)
