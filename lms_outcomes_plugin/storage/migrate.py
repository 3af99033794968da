"""Named, ordered SQL migrations shipped as package data and recorded in the store's own table."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str


def load_migrations(dialect: str) -> list[Migration]:
    """The migrations in ``storage/migrations/<dialect>/``, ordered by file name."""
    folder = resources.files("lms_outcomes_plugin.storage") / "migrations" / dialect
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text("utf-8")) for entry in files]
