"""The upload page (``GET /outcomes/import``) in a real headless Chromium, driven by Playwright,
against a real ``lms-outcomes serve --base-url /lms``: what an admin does on it, each step
through the page as a user would (labels, buttons, keyboard), each result read off the page.

One server and one browser for the module; each test has its own page and its own course (a
tree of its own). Every request the page makes must stay on the server's origin, under the base
URL; a script error on the page fails the test.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import page_helpers
from tests.page_helpers import Site, open_context, sign_in, upload
from tests.reliability_helpers import ADMIN_TOKEN, BOGUS_METHOD, BOGUS_METHOD_ERROR

HEADER = "vendor_guid,object_type,title,parent_guids,calculation_method\n"
NewPage = Callable[..., Page]
ENDED = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = page_helpers.find_chromium()
    if executable is None:
        pytest.fail(page_helpers.MISSING_CHROMIUM, pytrace=False)
    with page_helpers.chromium(executable) as browser:
        yield browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with page_helpers.site(tmp_path_factory.mktemp("page")) as running:
        yield running


@dataclass
class Gate:
    """Holds every ``read_all`` import after its first record until opened."""

    site: Site
    #: The context of the test's held import ("accounts/7").
    context: str = ""

    def open(self) -> None:
        self.site.gate.touch()


@pytest.fixture
def gate(site: Site) -> Iterator[Gate]:
    """A held import holds the host's parse worker, and so every other import: once the test
    is over (passed or not), its import is let go and waited for before the gate closes."""
    gate = Gate(site)
    yield gate
    gate.open()
    if gate.context:
        path = f"/api/v1/{gate.context}/outcome_imports/latest"
        deadline = time.monotonic() + page_helpers.TIMEOUT_MS / 1000
        status, body = site.serve.request("GET", path)
        while status == 200 and body["workflow_state"] not in ENDED:  # 404: none was made
            assert time.monotonic() < deadline, f"{gate.context}: the import did not end"
            time.sleep(0.05)
            status, body = site.serve.request("GET", path)
    site.gate.unlink()


@pytest.fixture
def new_page(browser: Browser, site: Site) -> Iterator[NewPage]:
    """Opens pages (in contexts of their own, e.g. a narrow screen); at the end, checks that
    each made requests only to the server under its base URL and raised no script error."""
    contexts, requests, script_errors = [], [], []

    def open_page(**options: object) -> Page:
        context = browser.new_context(accept_downloads=True, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(page_helpers.TIMEOUT_MS)
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    outside = [url for url in requests if not url.startswith((f"{site.serve.url}/", "data:"))]
    assert outside == []
    assert script_errors == []


@pytest.fixture
def page(new_page: NewPage) -> Page:
    return new_page()


@pytest.fixture(autouse=True, scope="module")
def _assertion_timeout() -> None:
    expect.set_options(timeout=page_helpers.TIMEOUT_MS)


def live(page: Page) -> Any:
    """What the page's live region says (what a screen reader announces)."""
    return expect(page.get_by_role("status"))


def test_an_import_is_watched_live_to_100_percent_then_its_tree_shown_and_exported(
    page: Page, site: Site, gate: Gate
) -> None:
    account = site.account("Watched")
    gate.context = f"accounts/{account}"
    sign_in(page, site)
    open_context(page, "Account", account)
    # A format that holds after its first record until the gate opens: the page must show the
    # import running before it shows it ended.
    upload(page, "guids.json", b'["watch-a", "watch-b", "watch-c"]',
           mime_type="application/json", import_type="read_all")

    live(page).to_contain_text(": importing, ")
    expect(page.get_by_role("progressbar", name="Upload")).to_have_attribute("value", "100")
    gate.open()

    live(page).to_contain_text(": succeeded, 100%: 3 rows, 0 with errors")
    progress = page.get_by_role("progressbar", name="Import progress")
    expect(progress).to_have_attribute("value", "100")
    expect(page.locator("#counts tbody tr").first).to_have_text("Groups3000")
    tree = page.locator("#tree")
    for title in ("watch-a", "watch-b", "watch-c"):
        expect(tree.get_by_text(title, exact=True)).to_be_visible()

    with page.expect_download() as downloading:
        page.get_by_role("button", name="Export (CSV)").click()
    download = downloading.value
    assert download.suggested_filename == f"account_{account}_outcomes.csv"
    exported = Path(download.path()).read_bytes()
    assert exported == server_bytes(site, f"/api/v1/accounts/{account}/outcome_export")
    assert b"watch-c" in exported


def test_a_running_import_is_cancelled_from_the_page(page: Page, site: Site, gate: Gate) -> None:
    course = site.course("Cancelled")
    gate.context = f"courses/{course}"
    sign_in(page, site)
    open_context(page, "Course", course)
    upload(page, "guids.json", b'["cancel-a", "cancel-b", "cancel-c"]',
           mime_type="application/json", import_type="read_all")
    live(page).to_contain_text(": importing, ")

    page.get_by_role("button", name="Cancel this import").click()
    # Held at the gate, the import cannot have reached its next batch: it is still running.
    live(page).to_contain_text(": importing (cancel requested), ")
    expect(page.get_by_role("button", name="Cancel this import")).to_be_hidden()
    gate.open()

    live(page).to_contain_text(": cancelled, ")
    expect(page.get_by_role("button", name="Revert this import")).to_be_hidden()
    page.get_by_role("button", name="Reload the tree").click()
    expect(page.locator("#tree")).to_have_text("CancelledEmpty.")


def test_a_finished_import_is_reverted_from_the_page(page: Page, site: Site) -> None:
    course = site.course("Reverted")
    sign_in(page, site)
    open_context(page, "Course", course)
    upload(page, "revert.csv", (HEADER + "rev-1,group,Kept a while,,\n").encode())
    live(page).to_contain_text(": succeeded, 100%: 1 rows, 0 with errors")
    expect(page.locator("#tree").get_by_text("Kept a while", exact=True)).to_be_visible()
    import_id = page.locator("#import-heading").inner_text().split()[-1]

    page.get_by_role("button", name="Revert this import").click()

    expect(page.locator("#import-heading")).to_have_text(
        re.compile(rf"^Revert \d+ of import {import_id}$"))
    live(page).to_contain_text(": succeeded, 100%")
    expect(page.get_by_role("button", name="Revert this import")).to_be_hidden()
    expect(page.locator("#tree")).to_have_text("RevertedEmpty.")
    # Opened again, the page shows the latest import of the course: the revert.
    open_context(page, "Course", course)
    expect(page.locator("#import-heading")).to_have_text(re.compile(r"^Revert \d+ of import"))


def test_a_dry_run_of_a_dropped_file_counts_and_writes_nothing(page: Page, site: Site) -> None:
    course = site.course("Dry")
    sign_in(page, site)
    open_context(page, "Course", course)
    # Windows-1252 bytes: "auto" reads them, and says so in a warning.
    body = (HEADER + "dry-1,group,Fran\u00e7ais,,\ndry-2,group,Histoire,dry-1,\n").encode("cp1252")
    drop_file(page, "dry.csv", body)
    expect(page.locator("#file-chosen")).to_have_text(f"dry.csv ({len(body)} bytes)")
    page_helpers.choose_options(page, import_type="instructure_csv", dry_run=True,
                                encoding="auto")
    page.get_by_role("button", name="Import", exact=True).click()

    live(page).to_contain_text(": succeeded, 100%: 2 rows, 0 with errors")
    expect(page.locator("#import-heading")).to_contain_text("(dry run)")
    expect(page.locator("#counts tbody tr").first).to_have_text("Groups2000")
    expect(page.locator("#warnings")).to_have_text(
        "Row 1: Read as windows-1252: the file is not valid UTF-8")
    expect(page.get_by_role("button", name="Revert this import")).to_be_hidden()
    expect(page.locator("#tree")).to_have_text("DryEmpty.")  # the course's root group alone


def test_every_error_is_paged_and_downloads_as_csv_on_a_narrow_screen(
    new_page: NewPage, site: Site
) -> None:
    page = new_page(viewport={"width": 360, "height": 740})
    course = site.course("Errors")
    sign_in(page, site)
    open_context(page, "Course", course)
    rows = "".join(f"err-{n},outcome,Outcome {n},,{BOGUS_METHOD}\n" for n in range(30))
    upload(page, "errors.csv", (HEADER + rows).encode())

    live(page).to_contain_text(": succeeded, 100%: 30 rows, 30 with errors")
    errors = page.locator("#errors tbody tr")
    expect(page.locator("#errors-page")).to_have_text("Page 1 of 2")
    expect(errors).to_have_count(25)
    expect(errors.first).to_have_text(f"2{BOGUS_METHOD_ERROR}")
    expect(page.get_by_role("button", name="Previous errors")).to_be_disabled()
    page.get_by_role("button", name="Next errors").click()
    expect(page.locator("#errors-page")).to_have_text("Page 2 of 2")
    expect(errors).to_have_count(5)
    expect(errors.last).to_have_text(f"31{BOGUS_METHOD_ERROR}")
    expect(page.get_by_role("button", name="Next errors")).to_be_disabled()
    page.get_by_role("button", name="Previous errors").click()
    expect(page.locator("#errors-page")).to_have_text("Page 1 of 2")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download every error (CSV)").click()
    download = downloading.value
    import_id = page.locator("#import-heading").inner_text().split()[-1]
    assert download.suggested_filename == f"outcome_import_{import_id}_errors.csv"
    csv_route = f"/api/v1/courses/{course}/outcome_imports/{import_id}/errors.csv"
    assert Path(download.path()).read_bytes() == server_bytes(site, csv_route)
    # Nothing wider than the screen: no sideways scrolling of the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_a_refused_token_signs_out_and_says_why(page: Page, site: Site) -> None:
    sign_in(page, site, token="not-a-token-of-anyone")
    open_context(page, "Account", 1)

    expect(page.get_by_role("alert")).to_have_text(
        "Your token was refused: Invalid access token. Sign in again.")
    expect(page.get_by_label("Access token")).to_be_focused()
    expect(page.get_by_role("heading", name="Upload a file")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_file_over_the_upload_limit_is_refused_with_the_servers_message(
    page: Page, site: Site
) -> None:
    course = site.course("Large")
    sign_in(page, site)
    open_context(page, "Course", course)
    filler = f"big-0,group,{'x' * page_helpers.MAX_UPLOAD_BYTES},,\n"
    upload(page, "large.csv", (HEADER + filler).encode())

    expect(page.get_by_role("alert")).to_have_text(
        f"The upload is larger than the limit of {page_helpers.MAX_UPLOAD_BYTES} bytes")
    expect(page.locator("#upload-text")).to_have_text("Not uploaded")
    expect(page.locator("#import-section")).to_be_hidden()


def test_the_page_is_usable_by_keyboard_alone(page: Page, site: Site) -> None:
    course = site.course("Keyboard")
    # Listening from the start makes the browser hand file choosers to the test (rather than
    # open a dialog) well before the key that opens one is pressed.
    page.on("filechooser", lambda chooser: None)
    page.goto(site.page_url)
    every_control_has_a_label(page)
    keyboard = page.keyboard
    keyboard.press("Tab")
    expect(page.get_by_label("Access token")).to_be_focused()
    keyboard.type(ADMIN_TOKEN)
    keyboard.press("Enter")
    expect(page.get_by_label("Id", exact=True)).to_be_focused()
    keyboard.press("Shift+Tab")
    expect(page.get_by_label("Kind")).to_be_focused()
    keyboard.press("ArrowDown")
    expect(page.get_by_label("Kind")).to_have_value("courses")
    keyboard.press("Tab")
    keyboard.type(str(course))
    keyboard.press("Enter")
    expect(page.get_by_label("Outcomes file")).to_be_focused()
    body = (HEADER + "kb-1,group,Reading,,\nkb-2,group,Phonics,kb-1,\n"
            "kb-3,outcome,Letters,kb-2,highest\n").encode()
    with page.expect_file_chooser() as choosing:
        keyboard.press("Space")
    choosing.value.set_files({"name": "tree.csv", "mimeType": "text/csv", "buffer": body})
    for label in ("Import type", "Encoding", "Dry run"):
        keyboard.press("Tab")
        expect(page.get_by_label(label)).to_be_focused()
    keyboard.press("Tab")
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_focused()
    keyboard.press("Enter")
    expect(page.locator("#import-heading")).to_be_focused()

    live(page).to_contain_text(": succeeded, 100%: 3 rows, 0 with errors")
    tree = page.locator("#tree")
    tree.get_by_text("Reading", exact=True).focus()
    keyboard.press("Enter")
    tree.get_by_text("Phonics", exact=True).focus()
    keyboard.press("Enter")
    expect(tree.get_by_text("Letters", exact=True)).to_be_visible()


# -- helpers -------------------------------------------------------------------------------------


def drop_file(page: Page, name: str, body: bytes) -> None:
    """Drop a file on the page's drop zone, as a file dragged from the desktop is dropped."""
    transfer = page.evaluate_handle(
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: "text/csv"}));
            return transfer;
        }""",
        [name, list(body)],
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})


def every_control_has_a_label(page: Page) -> None:
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select, progress, button")]
            .filter((control) => control.tagName === "BUTTON" ? !control.textContent.trim()
                                                              : control.labels.length === 0)
            .map((control) => control.id)"""
    )
    assert unlabelled == []
    expect(page.locator("#live")).to_have_attribute("role", "status")
    expect(page.locator("#live")).to_have_attribute("aria-live", "polite")


def server_bytes(site: Site, path: str) -> bytes:
    request = urllib.request.Request(
        site.serve.url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()
