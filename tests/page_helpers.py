"""What the upload page's browser tests (tests/test_upload_page.py) and ``make screenshot``
share: Debian's Chromium driven by Playwright, a real ``lms-outcomes serve`` under a base URL,
and the steps an admin takes on the page."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from lms_hooks.host import PERMISSIONS
from lms_outcomes_plugin.host.db import HostDatabase
from tests.reliability_helpers import ADMIN_TOKEN, Serve

ROOT = Path(__file__).resolve().parents[1]
PAGE_SERVER = Path(__file__).resolve().parent / "page_server.py"
#: The page must work under a base URL: every test serves under this one.
BASE_URL = "/lms"
#: Small, so that a test can pass it with a small file (the page shows the 413).
MAX_UPLOAD_BYTES = 65536
CHROMIUM_ENV = "LMS_OUTCOMES_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
MISSING_CHROMIUM = (
    "The upload page's tests need a Chromium binary and found none: install Debian's "
    "`chromium` package (apt-get install chromium; .ci/run does it when it is missing), or "
    f"set {CHROMIUM_ENV} to the path of a Chromium or Chrome binary."
)
#: The admin that ``serve`` creates on an empty database, whose token is ADMIN_TOKEN.
ADMIN_USER_ID = 1
#: Generous: a step waits for an import on a 2-core machine shared with other tests.
TIMEOUT_MS = 30_000


def find_chromium() -> str | None:
    """The browser to drive: ``$LMS_OUTCOMES_CHROMIUM``, else Debian's ``chromium`` on PATH."""
    chosen = os.environ.get(CHROMIUM_ENV)
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    return None


@contextmanager
def chromium(executable: str) -> Iterator[Browser]:
    """A headless Chromium (the installed binary: Playwright downloads no browser here)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Site:
    """A running ``lms-outcomes serve --base-url /lms`` with the gate format registered."""

    serve: Serve
    db: Path
    gate: Path

    @property
    def page_url(self) -> str:
        return f"{self.serve.url}/outcomes/import"

    def course(self, name: str) -> int:
        """A new course, in a root account of its own: a tree and an import queue of its own
        for each test (an import a failed test leaves held blocks no other test's)."""
        return self._host_db(self._new_course, name)

    def account(self, name: str) -> int:
        """A new root account of its own, which the token's user administers."""
        return self._host_db(self._new_account, name)

    @staticmethod
    async def _new_account(db: HostDatabase, name: str) -> int:
        account = await db.create_account(name)
        await _grant_all(db, "account", account)
        return account

    @staticmethod
    async def _new_course(db: HostDatabase, name: str) -> int:
        course = await db.create_course(name, account_id=await db.create_account(name))
        await _grant_all(db, "course", course)
        return course

    def _host_db(self, action: Callable[[HostDatabase, str], Awaitable[int]], name: str) -> int:
        """``action`` on the server's host database, with the code `lms-outcomes admin` runs
        (without an interpreter's start), in a thread: Playwright's loop holds this one."""

        async def run() -> int:
            db = HostDatabase(self.db)
            await db.open()
            try:
                return await action(db, name)
            finally:
                await db.close()

        with ThreadPoolExecutor(1) as thread:
            return thread.submit(asyncio.run, run()).result()


async def _grant_all(db: HostDatabase, context_type: str, context_id: int) -> None:
    """The token's user gets every outcome permission there (a grant holds where it is
    given: on the account, or on the course)."""
    for permission in PERMISSIONS:
        await db.grant(ADMIN_USER_ID, permission, context_type, context_id)


@contextmanager
def site(folder: Path) -> Iterator[Site]:
    gate = folder / "gate"
    db = folder / "lms.db"
    serve = Serve(
        db, folder / "logs", f"lms_outcomes.max_upload_bytes={MAX_UPLOAD_BYTES}",
        env={"PYTHONPATH": str(ROOT)},  # the parse worker imports tests.toy_formats
        command=(sys.executable, PAGE_SERVER, gate),
        base_url=BASE_URL,
    )
    try:
        yield Site(serve, db, gate)
    finally:
        serve.terminate()


# -- an admin's steps ----------------------------------------------------------------------------


def sign_in(page: Page, site: Site, token: str = ADMIN_TOKEN) -> None:
    page.goto(site.page_url)
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def open_context(page: Page, kind: str, context_id: int) -> None:
    page.get_by_label("Kind").select_option(label=kind)
    page.get_by_label("Id", exact=True).fill(str(context_id))
    page.get_by_role("button", name="Open").click()


def upload(
    page: Page,
    name: str,
    body: bytes,
    *,
    mime_type: str = "text/csv",
    import_type: str = "instructure_csv",
    dry_run: bool = False,
    encoding: str | None = None,
) -> None:
    page.get_by_label("Outcomes file").set_input_files(
        {"name": name, "mimeType": mime_type, "buffer": body}
    )
    choose_options(page, import_type=import_type, dry_run=dry_run, encoding=encoding)
    page.get_by_role("button", name="Import", exact=True).click()


def choose_options(
    page: Page, *, import_type: str, dry_run: bool, encoding: str | None
) -> None:
    page.get_by_label("Import type").fill(import_type)
    if encoding is not None:
        page.get_by_label("Encoding").select_option(encoding)
    page.get_by_label("Dry run").set_checked(dry_run)
