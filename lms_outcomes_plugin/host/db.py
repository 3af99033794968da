"""The embedded host's own database: accounts, courses, users, hashed tokens and grants.

One aiosqlite connection in WAL mode with a busy timeout, so the admin CLI can write to the file
while a server (and the plugin's own connections) use it. The schema is a named, ordered set of
``migrations/*.sql`` files recorded in ``host_migrations``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import string
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, Self

import aiosqlite

from lms_hooks.host import PERMISSIONS, Context, ContextType
from lms_outcomes_plugin.dbutil import AtOnceReader, apply_migrations, read_migrations, use_wal

#: Milliseconds a statement waits for another connection's write lock before failing.
BUSY_TIMEOUT_MS = 10_000
#: The fewest characters of a chosen token (a generated one has 43): shorter ones are guessable.
MIN_TOKEN_LENGTH = 16
#: SQLite's largest INTEGER: bigger ids cannot exist and would overflow the driver.
MAX_ID = 2**63 - 1
CONTEXT_TYPES: tuple[ContextType, ...] = ("account", "course")

_UUID_ALPHABET = string.ascii_letters + string.digits
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")

# The chain of accounts from {start} (an SQL expression) up to its root, with each one's distance
# from the start. Parents are chosen at creation among existing accounts, so there is no cycle.
_CHAIN_CTE = """
WITH RECURSIVE chain(id, depth) AS (
    SELECT {start}, 0
    UNION ALL
    SELECT accounts.parent_account_id, chain.depth + 1
      FROM accounts JOIN chain ON accounts.id = chain.id
     WHERE accounts.parent_account_id IS NOT NULL
)
"""

# Admin of the context's account or of any account above it, teacher of the course, or a grant
# of exactly this permission on exactly this context.
_HAS_PERMISSION = (
    _CHAIN_CTE.format(
        start="CASE :type WHEN 'account' THEN :id"
        " ELSE (SELECT account_id FROM courses WHERE id = :id) END"
    )
    + """
SELECT EXISTS (
           SELECT 1 FROM account_admins
            WHERE user_id = :user AND account_id IN (SELECT id FROM chain))
    OR EXISTS (
           SELECT 1 FROM course_teachers
            WHERE :type = 'course' AND user_id = :user AND course_id = :id)
    OR EXISTS (
           SELECT 1 FROM grants
            WHERE user_id = :user AND permission = :permission
              AND context_type = :type AND context_id = :id)
"""
)

_SUBCONTEXTS = """
WITH RECURSIVE below(id) AS (
    SELECT id FROM accounts WHERE parent_account_id = :account
    UNION
    SELECT accounts.id FROM accounts JOIN below ON accounts.parent_account_id = below.id
)
SELECT 'account' AS type, id, name, root_account_id, NULL AS account_id, 0 AS kind
  FROM accounts WHERE id IN below
UNION ALL
SELECT 'course', id, name, root_account_id, account_id, 1
  FROM courses WHERE account_id = :account OR account_id IN below
ORDER BY kind, id
"""


class HostDataError(ValueError):
    """Bad input to an administrative operation: an unknown id, permission or locale."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    parent_account_id: int | None
    root_account_id: int
    default_locale: str
    uuid: str
    workflow_state: str
    created_at: str

    @property
    def context(self) -> Context:
        return Context("account", self.id, self.name, self.root_account_id)


@dataclass(frozen=True, slots=True)
class Course:
    id: int
    name: str
    course_code: str
    account_id: int
    root_account_id: int
    uuid: str
    workflow_state: str
    created_at: str

    @property
    def context(self) -> Context:
        return Context("course", self.id, self.name, self.root_account_id, self.account_id)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    sortable_name: str
    short_name: str
    created_at: str


def _columns(record: type, table: str) -> str:
    """The SELECT list of a record's columns, qualified by table: "accounts.id, accounts.name"."""
    return ", ".join(f"{table}.{field.name}" for field in fields(record))


_ACCOUNT_COLUMNS = _columns(Account, "accounts")
_COURSE_COLUMNS = _columns(Course, "courses")
_USER_COLUMNS = _columns(User, "users")

# A request's whole authorization in one query (EmbeddedHost.authorize): the token's user, the
# account's or course's row (NULLs where there is none) and whether the user holds any of the
# permissions (a JSON list) on it, by _HAS_PERMISSION's rules. No row: no user has the token.
_AUTHORIZE = (
    _CHAIN_CTE.format(
        start="CASE :type WHEN 'account' THEN :id"
        " ELSE (SELECT account_id FROM courses WHERE id = :id) END"
    )
    + f"""
SELECT access_tokens.token_hash, {_USER_COLUMNS}, {_ACCOUNT_COLUMNS}, {_COURSE_COLUMNS},
    :any_permission AND (
        EXISTS (SELECT 1 FROM account_admins
                 WHERE user_id = users.id AND account_id IN (SELECT id FROM chain))
        OR EXISTS (SELECT 1 FROM course_teachers
                    WHERE :type = 'course' AND user_id = users.id AND course_id = :id)
        OR EXISTS (SELECT 1 FROM grants
                    WHERE user_id = users.id
                      AND permission IN (SELECT value FROM json_each(:permissions))
                      AND context_type = :type AND context_id = :id))
FROM access_tokens JOIN users ON users.id = access_tokens.user_id
LEFT JOIN accounts ON :type = 'account' AND accounts.id = :id
LEFT JOIN courses ON :type = 'course' AND courses.id = :id
WHERE access_tokens.token_hash = :digest
"""
)
_RECORD_WIDTHS = (len(fields(User)), len(fields(Account)), len(fields(Course)))


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def sortable_name(name: str) -> str:
    """Canvas's "Last, First" form of a name: "Ada King Lovelace" -> "Lovelace, Ada King"."""
    parts = name.split()
    if len(parts) < 2:
        return name.strip()
    return f"{parts[-1]}, {' '.join(parts[:-1])}"


def _new_uuid() -> str:
    # Canvas's uuids are 40 random alphanumerics (CanvasSlug.generate_securish_uuid).
    return "".join(secrets.choice(_UUID_ALPHABET) for _ in range(40))


def _name(value: str, what: str) -> str:
    if not value.strip():
        raise HostDataError(f"a {what} needs a name")
    return value.strip()


class HostDatabase:
    """The host's tables in one SQLite file. ``await open()`` before use, ``await close()`` after
    (or ``async with``): an unclosed aiosqlite connection keeps the process alive."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._conn: aiosqlite.Connection | None = None
        self._at_once: AtOnceReader | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, set the pragmas and apply pending migrations."""
        # isolation_level=None: no implicit transactions; writes say BEGIN IMMEDIATE themselves.
        conn = await aiosqlite.connect(
            self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await use_wal(conn)
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            self._conn = conn
            await self._migrate()
            self._at_once = await AtOnceReader.open(self.path, row_factory=sqlite3.Row)
        except BaseException:
            self._conn = None
            await conn.close()
            raise

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
        at_once, self._at_once = self._at_once, None
        if at_once is not None:
            await at_once.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("HostDatabase is not open: await open() first")
        return self._conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction. IMMEDIATE takes the write lock up front, so a concurrent
        writer waits (busy_timeout) instead of failing when it upgrades a read."""
        conn = self.conn
        await conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # SQLite rolls back by itself on some errors
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")

    async def _migrate(self) -> None:
        # Read and apply inside one transaction, so two processes opening a new file at once
        # cannot both apply the same migration.
        async with self._write() as conn:
            migrations = read_migrations(resources.files(__package__).joinpath("migrations"))
            unknown = await apply_migrations(
                conn.execute_fetchall, conn.execute, "host_migrations", migrations
            )
            if unknown:  # raised inside the transaction: what it applied is rolled back
                raise RuntimeError(
                    f"{self.path} has host migrations this version does not know: "
                    f"{', '.join(sorted(unknown))}"
                )

    async def applied_migrations(self) -> list[str]:
        """Names of the applied migrations, in the order they were applied."""
        rows = await self.conn.execute_fetchall("SELECT name FROM host_migrations ORDER BY rowid")
        return [row[0] for row in rows]

    # -- reads ---------------------------------------------------------------------------------

    async def _one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        # Every request authenticates and looks its context up here: read on the IOLoop (see
        # AtOnceReader), else in one thread hop, not three (execute, fetchone, close).
        rows = self._at_once.read(sql, params) if self._at_once is not None else None
        if rows is None:
            rows = await self.conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def account(self, account_id: int) -> Account | None:
        if not _storable(account_id):
            return None
        row = await self._one(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,)
        )
        return Account(**dict(row)) if row else None

    async def course(self, course_id: int) -> Course | None:
        if not _storable(course_id):
            return None
        row = await self._one(f"SELECT {_COURSE_COLUMNS} FROM courses WHERE id = ?", (course_id,))
        return Course(**dict(row)) if row else None

    async def user(self, user_id: int) -> User | None:
        if not _storable(user_id):
            return None
        row = await self._one(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return User(**dict(row)) if row else None

    async def user_for_token(self, token: str) -> User | None:
        """The owner of ``token``, or ``None`` when no stored hash matches it."""
        digest = hash_token(token)
        row = await self._one(
            f"SELECT token_hash, {_USER_COLUMNS}"
            " FROM access_tokens JOIN users ON users.id = access_tokens.user_id"
            " WHERE token_hash = ?",
            (digest,),
        )
        # The index lookup already matched; compare_digest keeps the final check constant-time.
        if row is None or not hmac.compare_digest(row["token_hash"], digest):
            return None
        fields = dict(row)
        del fields["token_hash"]
        return User(**fields)

    async def authorize(
        self,
        token: str,
        context_type: ContextType,
        context_id: int | None,
        permissions: Sequence[str],
    ) -> tuple[User, Account | Course | None, bool] | None:
        """The owner of ``token`` (``None`` when no stored hash matches it), the account or
        course (``None`` when there is none), and whether the owner holds any of
        ``permissions`` on it: :meth:`user_for_token`, :meth:`account` or :meth:`course` and
        :meth:`has_permission` in one query."""
        digest = hash_token(token)
        asked = [p for p in permissions if p in PERMISSIONS]
        stored = context_id if context_id is not None and _storable(context_id) else None
        row = await self._one(_AUTHORIZE, {
            "digest": digest, "type": context_type, "id": stored,
            "permissions": json.dumps(asked), "any_permission": bool(asked),
        })
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        users, accounts, courses = _RECORD_WIDTHS
        values = tuple(row)[1:]
        user = User(*values[:users])
        account = values[users:users + accounts]
        course = values[users + accounts:users + accounts + courses]
        record: Account | Course | None = None
        if account[0] is not None:
            record = Account(*account)
        elif course[0] is not None:
            record = Course(*course)
        return user, record, bool(values[-1]) and record is not None

    async def account_chain(self, account_id: int) -> list[Account]:
        """The account and every account above it, nearest first, ending with the root."""
        if not _storable(account_id):
            return []
        rows = await self.conn.execute_fetchall(
            _CHAIN_CTE.format(start=":start")
            + f"SELECT {_ACCOUNT_COLUMNS} FROM chain JOIN accounts USING (id) ORDER BY depth",
            {"start": account_id},
        )
        return [Account(**dict(row)) for row in rows]

    async def subcontexts(self, account_id: int) -> list[Context]:
        """Every sub-account below the account, at any depth, then every course in the account
        or in any of them; each group in id order."""
        if not _storable(account_id):
            return []
        rows = await self.conn.execute_fetchall(_SUBCONTEXTS, {"account": account_id})
        return [
            Context(row["type"], row["id"], row["name"], row["root_account_id"], row["account_id"])
            for row in rows
        ]

    async def locale(self, context_type: ContextType, context_id: int) -> str | None:
        """The account's default locale, or the default locale of the course's account."""
        if not _storable(context_id):
            return None
        if context_type == "account":
            sql = "SELECT default_locale FROM accounts WHERE id = ?"
        else:
            sql = (
                "SELECT accounts.default_locale FROM courses"
                " JOIN accounts ON accounts.id = courses.account_id WHERE courses.id = ?"
            )
        row = await self._one(sql, (context_id,))
        return row[0] if row else None

    async def has_permission(
        self, user_id: int, context_type: ContextType, context_id: int, permission: str
    ) -> bool:
        """Whether the user holds ``permission`` on the account or course (see module SQL)."""
        if permission not in PERMISSIONS or context_type not in CONTEXT_TYPES:
            return False
        if not (_storable(user_id) and _storable(context_id)):
            return False
        row = await self._one(
            _HAS_PERMISSION,
            {
                "user": user_id,
                "type": context_type,
                "id": context_id,
                "permission": permission,
            },
        )
        return bool(row and row[0])

    async def is_empty(self) -> bool:
        """Whether the database has no account and no user yet."""
        row = await self._one(
            "SELECT NOT EXISTS (SELECT 1 FROM accounts) AND NOT EXISTS (SELECT 1 FROM users)"
        )
        return bool(row and row[0])

    # -- writes --------------------------------------------------------------------------------

    async def create_account(
        self, name: str, parent_id: int | None = None, locale: str = "en"
    ) -> int:
        """A new account (a root account when ``parent_id`` is None); returns its id."""
        async with self._write() as conn:
            return await self._insert_account(conn, name, parent_id, locale)

    async def create_course(self, name: str, account_id: int) -> int:
        """A new course in the account; its course_code is its name. Returns its id."""
        async with self._write() as conn:
            account = await self._require(conn, "account", account_id)
            cursor = await conn.execute(
                "INSERT INTO courses (name, course_code, account_id, root_account_id, uuid)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    _name(name, "course"),
                    name.strip(),
                    account_id,
                    account["root_account_id"],
                    _new_uuid(),
                ),
            )
            return _lastrowid(cursor)

    async def create_user(
        self, name: str, admin_of: int | None = None, teacher_of: int | None = None
    ) -> int:
        """A new user, optionally admin of an account and/or teacher of a course. Returns its id."""
        async with self._write() as conn:
            return await self._insert_user(conn, name, admin_of, teacher_of)

    async def create_token(self, user_id: int, token: str | None = None) -> str:
        """A new API token for the user, returned in plain text this once (only its hash is
        stored). ``token`` chooses the token instead of a random one (MIN_TOKEN_LENGTH at
        least)."""
        async with self._write() as conn:
            return await self._insert_token(conn, user_id, token)

    async def revoke_token(self, token: str) -> None:
        """Revoke one token: from now on it authenticates no request."""
        async with self._write() as conn:
            cursor = await conn.execute(
                "DELETE FROM access_tokens WHERE token_hash = ?", (hash_token(token),)
            )
            if cursor.rowcount == 0:
                raise HostDataError("no such token (or it was revoked already)")

    async def revoke_user_tokens(self, user_id: int) -> int:
        """Revoke every token of the user; returns how many there were."""
        async with self._write() as conn:
            await self._require(conn, "user", user_id)
            cursor = await conn.execute("DELETE FROM access_tokens WHERE user_id = ?", (user_id,))
            return cursor.rowcount

    async def grant(
        self, user_id: int, permission: str, context_type: str, context_id: int
    ) -> None:
        """Give the user one permission on one account or course (granting twice is a no-op)."""
        if permission not in PERMISSIONS:
            raise HostDataError(
                f"unknown permission {permission!r}: expected one of {', '.join(PERMISSIONS)}"
            )
        if context_type not in CONTEXT_TYPES:
            raise HostDataError(
                f"unknown context type {context_type!r}: expected account or course"
            )
        async with self._write() as conn:
            await self._require(conn, "user", user_id)
            await self._require(conn, context_type, context_id)
            await conn.execute(
                "INSERT OR IGNORE INTO grants (user_id, permission, context_type, context_id)"
                " VALUES (?, ?, ?, ?)",
                (user_id, permission, context_type, context_id),
            )

    async def bootstrap(self, admin_token: str | None = None) -> str | None:
        """On an empty database, create root account "Default Account", its admin "Admin" and
        a token for that admin, and return the token; on any other, change nothing and return
        None. One transaction, so two processes starting on a new file create one admin."""
        async with self._write() as conn:
            async with conn.execute("SELECT EXISTS (SELECT 1 FROM accounts)") as cursor:
                row = await cursor.fetchone()
            if row and row[0]:
                return None
            account_id = await self._insert_account(conn, "Default Account", None, "en")
            user_id = await self._insert_user(conn, "Admin", account_id, None)
            return await self._insert_token(conn, user_id, admin_token)

    # -- write helpers: each runs inside the caller's transaction ------------------------------

    @staticmethod
    async def _require(conn: aiosqlite.Connection, table: str, row_id: int) -> Mapping[str, Any]:
        tables = {"account": "accounts", "course": "courses", "user": "users"}
        row = None
        if _storable(row_id):
            async with conn.execute(f"SELECT * FROM {tables[table]} WHERE id = ?", (row_id,)) as c:
                row = await c.fetchone()
        if row is None:
            raise HostDataError(f"{table} {row_id} does not exist")
        return row

    async def _insert_account(
        self, conn: aiosqlite.Connection, name: str, parent_id: int | None, locale: str
    ) -> int:
        if not _LOCALE.fullmatch(locale):
            raise HostDataError(f"invalid locale {locale!r} (expected e.g. en, fr, en-GB)")
        name = _name(name, "account")
        uuid = _new_uuid()
        if parent_id is None:
            # A root account is its own root: insert, then point root_account_id at the new id
            # (the foreign key is deferred to the commit).
            cursor = await conn.execute(
                "INSERT INTO accounts (name, root_account_id, default_locale, uuid)"
                " VALUES (?, 0, ?, ?)",
                (name, locale, uuid),
            )
            account_id = _lastrowid(cursor)
            await conn.execute(
                "UPDATE accounts SET root_account_id = id WHERE id = ?", (account_id,)
            )
            return account_id
        parent = await self._require(conn, "account", parent_id)
        cursor = await conn.execute(
            "INSERT INTO accounts (name, parent_account_id, root_account_id, default_locale, uuid)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, parent_id, parent["root_account_id"], locale, uuid),
        )
        return _lastrowid(cursor)

    async def _insert_user(
        self,
        conn: aiosqlite.Connection,
        name: str,
        admin_of: int | None,
        teacher_of: int | None,
    ) -> int:
        name = _name(name, "user")
        if admin_of is not None:
            await self._require(conn, "account", admin_of)
        if teacher_of is not None:
            await self._require(conn, "course", teacher_of)
        cursor = await conn.execute(
            "INSERT INTO users (name, sortable_name, short_name) VALUES (?, ?, ?)",
            (name, sortable_name(name), name),
        )
        user_id = _lastrowid(cursor)
        if admin_of is not None:
            await conn.execute(
                "INSERT INTO account_admins (user_id, account_id) VALUES (?, ?)",
                (user_id, admin_of),
            )
        if teacher_of is not None:
            await conn.execute(
                "INSERT INTO course_teachers (user_id, course_id) VALUES (?, ?)",
                (user_id, teacher_of),
            )
        return user_id

    async def _insert_token(
        self, conn: aiosqlite.Connection, user_id: int, token: str | None
    ) -> str:
        await self._require(conn, "user", user_id)
        if token is None:
            token = new_token()
        elif not token.strip():
            raise HostDataError("a token cannot be empty")
        elif len(token) < MIN_TOKEN_LENGTH:
            raise HostDataError(f"a token needs at least {MIN_TOKEN_LENGTH} characters")
        try:
            await conn.execute(
                "INSERT INTO access_tokens (user_id, token_hash) VALUES (?, ?)",
                (user_id, hash_token(token)),
            )
        except sqlite3.IntegrityError:
            raise HostDataError("that token is already in use") from None
        return token


def new_token() -> str:
    """A random token (256 bits, URL-safe) that never starts with ``-``: one in 64 of
    ``secrets.token_urlsafe`` does, and ``lms-outcomes admin token revoke TOKEN`` read such a
    token as an option."""
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


def _storable(row_id: int) -> bool:
    """Whether an id can name a row: positive and within SQLite's INTEGER range."""
    return 0 < row_id <= MAX_ID


def _lastrowid(cursor: aiosqlite.Cursor) -> int:
    row_id = cursor.lastrowid
    assert row_id is not None  # an INSERT always sets it
    return row_id
