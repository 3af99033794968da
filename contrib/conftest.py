"""The contrib distributions' tests run in this repository's harness: the same embedded host,
store fixtures (SQLite and PostgreSQL) and HTTP client as tests/ (tests/conftest.py)."""

from tests.conftest import (
    api,
    app,
    db_path,
    host_base_url,
    host_settings,
    io_loop,
    lms,
    plugin_settings,
    postgres_server,
    storage_backend,
    storage_url,
    world,
)

__all__ = [
    "api",
    "app",
    "db_path",
    "host_base_url",
    "host_settings",
    "io_loop",
    "lms",
    "plugin_settings",
    "postgres_server",
    "storage_backend",
    "storage_url",
    "world",
]
