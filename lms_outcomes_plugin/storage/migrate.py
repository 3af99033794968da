"""Named, ordered SQL migrations shipped as package data and recorded in the store's own table."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from lms_outcomes_plugin.dbutil import read_migrations


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str


def load_migrations(dialect: str) -> list[Migration]:
    """The migrations in ``storage/migrations/<dialect>/``, ordered by file name."""
    folder = resources.files("lms_outcomes_plugin.storage") / "migrations" / dialect
    return [Migration(name, sql) for name, sql in read_migrations(folder)]
