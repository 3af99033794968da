"""tests/fixtures holds other projects' files byte for byte: each one's SHA-256 is the one its
README records, and every file there is recorded."""

from __future__ import annotations

import hashlib
import re

from tests.conftest import FIXTURES

#: A ``## folder/`` heading of the README; the rows of the table below it name its files.
FOLDER = re.compile(r"^## (\S+)/$")
#: A table row: | `name` | `sha256` | ...
ROW = re.compile(r"^\| `([^`/]+)` \| `([0-9a-f]{64})` \|")
#: Not fixtures: the README itself, and the attributes that keep git from converting them.
NOT_FIXTURES = {"README.md", ".gitattributes"}


def recorded_checksums() -> dict[str, str]:
    """``folder/name`` -> SHA-256, as the README's tables give them."""
    checksums: dict[str, str] = {}
    folder = None
    for line in (FIXTURES / "README.md").read_text("utf-8").splitlines():
        if heading := FOLDER.match(line):
            folder = heading.group(1)
        elif (row := ROW.match(line)) and folder is not None:
            checksums[f"{folder}/{row.group(1)}"] = row.group(2)
    return checksums


def test_every_fixture_is_recorded_with_its_checksum() -> None:
    on_disk = {
        path.relative_to(FIXTURES).as_posix()
        for path in FIXTURES.rglob("*")
        if path.is_file() and path.name not in NOT_FIXTURES
    }
    recorded = recorded_checksums()
    assert set(recorded) == on_disk
    actual = {name: hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() for name in on_disk}
    assert actual == recorded
