"""Deliveries wait for a receiver that is down, survive a SIGKILL of the host (a real
``lms-outcomes serve``), and arrive once the receiver is back; the admin reads them with
``lms-outcomes-webhooks``. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tornado.testing import bind_unused_port
from webhook_receivers import IS_GENUINE

from tests.reliability_helpers import Serve

SECRET = "restart-secret"
CSV = b"vendor_guid,object_type,title,parent_guids\ng1,group,Reading,\n"
WEBHOOKS = Path(sys.executable).parent / "lms-outcomes-webhooks"


#: Each request's headers (names compared without case, as HTTP's are) and body.
Got = list[tuple[Message, bytes]]


class Received(BaseHTTPRequestHandler):
    got: Got

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append((self.headers, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def port() -> int:
    """A port no one listens on, yet."""
    sock, number = bind_unused_port()
    sock.close()
    return number


@pytest.fixture
def receiver_back(port: int) -> Iterator[Callable[[], Got]]:
    servers: list[ThreadingHTTPServer] = []

    def start() -> Got:
        got: Got = []
        handler = type("Handler", (Received,), {"got": got})
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return got

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def delivery_log(storage_url: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [WEBHOOKS, "--storage", storage_url, "--json"], capture_output=True, text=True, check=True
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def wait_for(condition: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"not within {seconds}s"
        time.sleep(0.2)
    return found


def test_deliveries_wait_for_the_receiver_through_a_killed_host(
    tmp_path: Path, storage_url: str, port: int, receiver_back: Callable[[], Got]
) -> None:
    url = f"http://127.0.0.1:{port}/hook"
    settings = (
        f"lms_outcomes.webhooks={json.dumps([{'url': url, 'secret': SECRET}])}",
        f"lms_outcomes.webhook_retry_delays={json.dumps([0.2] * 300)}",
        # A delivery claimed when the host is killed is due again after three timeouts.
        "lms_outcomes.webhook_timeout=1",
    )
    db = tmp_path / "lms.db"
    server = Serve(db, tmp_path / "before", *settings, storage=storage_url)
    try:
        ended = server.wait_until_ended("accounts/1", server.post_import("accounts/1", CSV)["id"])
        # The receiver is down: the delivery fails, and waits for its next attempt.
        [failing] = wait_for(lambda: [
            d for d in delivery_log(storage_url) if d["error"] is not None
        ])
    finally:
        server.kill()
    assert (failing["import"], failing["url"], failing["state"]) == (ended["id"], url, "pending")
    assert failing["error"] == "ConnectionRefusedError: [Errno 111] Connection refused"

    got = receiver_back()
    server = Serve(db, tmp_path / "after", *settings, storage=storage_url)
    try:
        wait_for(lambda: got)
        [done] = wait_for(lambda: [d for d in delivery_log(storage_url) if d["state"] == "done"])
    finally:
        server.kill()
    assert len(got) == 1
    headers, body = got[0]
    assert headers["X-LMS-Outcomes-Delivery"] == done["delivery"] == failing["delivery"]
    assert IS_GENUINE(body, headers["X-LMS-Outcomes-Signature"], SECRET)
    assert not IS_GENUINE(body, headers["X-LMS-Outcomes-Signature"], "another secret")
    assert json.loads(body)["import"] == ended
    table = subprocess.run(
        [WEBHOOKS, "--storage", storage_url], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert table[0].split() == [
        "DELIVERY", "IMPORT", "URL", "STATE", "ATTEMPTS", "NEXT_ATTEMPT", "ENDED", "ERROR"
    ]
    assert table[1].split() == [
        done["delivery"], str(ended["id"]), url, "done", str(done["attempts"]), "-",
        done["ended"], "-",
    ]
    assert table[2:] == ["1 of 1 deliveries (from 1)"]


def test_the_delivery_log_needs_the_servers_database(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    done = subprocess.run([WEBHOOKS, "--db", str(missing)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"lms-outcomes-webhooks: error: no database at {missing} (give the --db or --storage "
        "of the server)"
    )
    assert not missing.exists()
