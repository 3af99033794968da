"""``make screenshot``: docs/upload-page.png, the README's picture of the upload page.

Starts ``lms-outcomes serve --base-url /lms`` in a temporary folder, imports Canvas's
``scoring.csv`` fixture through the page in the headless Chromium the tests drive, opens the
tree, and photographs the page. ``python -m tests.page_screenshot [PATH]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect

from tests import page_helpers
from tests.page_helpers import ROOT, open_context, sign_in, upload

FIXTURE = ROOT / "tests" / "fixtures" / "canvas" / "scoring.csv"
DEFAULT_PATH = ROOT / "docs" / "upload-page.png"
#: A laptop's width; the height is the page's own (a full-page picture).
VIEWPORT = {"width": 900, "height": 700}


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    executable = page_helpers.find_chromium()
    if executable is None:
        print(page_helpers.MISSING_CHROMIUM, file=sys.stderr)
        return 1
    with (
        tempfile.TemporaryDirectory() as folder,
        page_helpers.site(Path(folder)) as site,
        page_helpers.chromium(executable) as browser,
    ):
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(page_helpers.TIMEOUT_MS)
        course = site.course("Biology 101")
        sign_in(page, site)
        open_context(page, "Course", course)
        upload(page, FIXTURE.name, FIXTURE.read_bytes())
        expect(page.locator("#live")).to_contain_text(": succeeded, 100%",
                                                      timeout=page_helpers.TIMEOUT_MS)
        tree = page.locator("#tree")
        for title in ("A", "B"):
            tree.get_by_text(title, exact=True).click()
        expect(tree.get_by_text("G", exact=True)).to_be_visible()
        page.locator("body").click(position={"x": 1, "y": 1})  # no focus ring in the picture
        page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
