"""fixtures/ holds other projects' files byte for byte: each one's SHA-256 is the one its README
records, and every file there is recorded."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROW = re.compile(r"^\| `([^`/]+)` \| `([0-9a-f]{64})` \|", flags=re.MULTILINE)


def test_every_fixture_is_recorded_with_its_checksum() -> None:
    recorded = dict(ROW.findall((FIXTURES / "README.md").read_text("utf-8")))
    on_disk = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
               for path in FIXTURES.iterdir()
               if path.name not in {"README.md", ".gitattributes"}}
    assert on_disk == recorded
