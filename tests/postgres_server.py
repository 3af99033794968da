"""A throwaway PostgreSQL server for the tests, from the installed server binaries.

``initdb`` and ``pg_ctl`` run in a temporary directory, on a free loopback port, with trust
authentication and durability off (a test server loses nothing worth keeping). PostgreSQL
refuses to run as root: when the tests do, the server runs as ``nobody``.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")
SUPERUSER = "postgres"
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
    "-c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB"
)


def find_binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: on the PATH, or Debian's versioned folder."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError(
            "the PostgreSQL server binaries are not installed (Debian: apt-get install "
            "postgresql); the tests start their own server from them"
        )
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end on a loop of its own, in a thread: callable from sync code
    and from inside a running loop alike."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


@dataclass
class PostgresServer:
    root: Path
    port: int
    bin: Path
    user: str | None

    @classmethod
    def start(cls, options: str = "") -> PostgresServer:
        """``options``: more ``-c name=value`` server settings (they win over SERVER_OPTIONS)."""
        user = "nobody" if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="lms-outcomes-pg-"))
        server = cls(root, free_port(), find_binaries(), user)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        server._run("initdb", "-D", str(server.data), "-U", SUPERUSER, "--auth=trust",
                    "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        server._run("pg_ctl", "-D", str(server.data), "-l", str(root / "server.log"), "-w",
                    "-o", f"-p {server.port} -k {root} {SERVER_OPTIONS} {options}", "start")
        return server

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (copied from ``template`` when given); returns its URL."""
        copy = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
        self.admin(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def admin(self, statement: str) -> None:
        async def run() -> None:
            connection = await asyncpg.connect(self.url())
            try:
                await connection.execute(statement)
            finally:
                await connection.close()

        run_sync(run())

    def _run(self, program: str, *args: str) -> None:
        completed = subprocess.run(
            [str(self.bin / program), *args], user=self.user, cwd=self.root,
            capture_output=True, text=True, check=False,
        )
        if completed.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(
                f"{program} failed ({completed.returncode}): {completed.stderr}"
                + (log.read_text() if log.exists() else "")
            )
