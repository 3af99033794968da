"""The upload page: ``GET /outcomes/import`` under the host's base URL, with its script and
stylesheet beside it (``import.js``, ``import.css``).

Three static files, package data served as written: no build step, and nothing loaded from
anywhere else (hosts may run offline), which the Content-Security-Policy header also enforces.
The page holds no secret and reads nothing of the store: it is public, and everything it shows
comes from the plugin's documented API, called from the browser with the token the admin
types in (kept in the tab's sessionStorage). Every URL the page uses is relative to it, so it
works under any base URL.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import tornado.web

#: Served file -> its Content-Type.
FILES = {
    "import.html": "text/html; charset=UTF-8",
    "import.js": "text/javascript; charset=UTF-8",
    "import.css": "text/css; charset=UTF-8",
}
#: Only this origin: the page's own files and the API, no inline script. (``data:`` images
#: for the empty favicon, so that the browser asks for none outside the base URL; the
#: downloads, fetched with the token and handed over as ``blob:`` links, need no directive.)
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


@cache
def read(name: str) -> bytes:
    """A page file's bytes (package data, so it ships in the wheel)."""
    return resources.files(__name__).joinpath(name).read_bytes()


class PageFileHandler(tornado.web.RequestHandler):
    """One of the page's files, public (the data it shows needs a token, the page does not)."""

    def initialize(self, name: str) -> None:
        self.name = name

    def get(self) -> None:
        self.set_header("Content-Type", FILES[self.name])
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        # Revalidated on every load, so that a new version of the plugin is never half cached.
        self.set_header("Cache-Control", "no-cache")
        self.finish(read(self.name))


#: (pattern, handler, the handler's keyword arguments).
ROUTES = [
    (r"/outcomes/import", PageFileHandler, {"name": "import.html"}),
    (r"/outcomes/import\.js", PageFileHandler, {"name": "import.js"}),
    (r"/outcomes/import\.css", PageFileHandler, {"name": "import.css"}),
]
