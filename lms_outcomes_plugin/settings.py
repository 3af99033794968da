"""The plugin's settings, read from the host (``host.plugin_settings("lms_outcomes")``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PLUGIN_NAME = "lms_outcomes"
MiB = 1024 * 1024
DEFAULT_MAX_CELL_BYTES = 64 * 1024
DEFAULT_MAX_PARENTS_PER_ROW = 1000


class SettingsError(ValueError):
    """A setting is missing or has a value of the wrong kind."""


@dataclass(frozen=True, slots=True)
class PluginSettings:
    #: Picks the storage backend by scheme: ``sqlite:///path.db``, ``postgresql://...``.
    storage_url: str
    #: Uploads larger than this are refused with 413 and nothing is stored (our decision 9).
    max_upload_bytes: int = 100 * MiB
    #: Create requests whose headers (names and values) total more than this are refused with
    #: 400 before their body is read or their headers parsed.
    max_header_bytes: int = 8 * 1024
    #: Canvas's ``outcomes_new_decaying_average_calculation`` feature flag (our decision 12).
    new_decaying_average: bool = False
    #: Records applied per transaction (Canvas uses 1000).
    batch_size: int = 1000
    #: A CSV cell whose value is longer than this in UTF-8 bytes is a row error naming its
    #: column.
    max_cell_bytes: int = DEFAULT_MAX_CELL_BYTES
    #: A row naming more parent guids than this is a row error.
    max_parents_per_row: int = DEFAULT_MAX_PARENTS_PER_ROW
    #: Parse uploads in a child process (the second core; the IOLoop keeps its GIL), or in a
    #: thread of the host process for hosts that cannot start processes.
    parse_in_subprocess: bool = True
    #: Seconds an import's runner may go without renewing its lease before another process
    #: (or this one, after a crash) takes the import over and starts it again.
    import_lease: float = 30.0
    #: How often the runner looks for imports that another process queued, in seconds.
    poll_interval: float = 1.0
    #: Seconds an import may go without applying a batch before it fails (a heartbeat does
    #: not count: only progress), so its root account's queue moves on.
    import_stall_seconds: float = 600.0
    #: Days an upload is kept once its import has ended (the import's record stays).
    keep_uploads_days: float = 30.0
    #: Days an ended import's change journal is kept, so that it can be reverted; 0 turns
    #: journaling off (nothing can then be reverted, and imports cost no journal writes).
    journal_days: float = 30.0
    #: Imports a root account may have waiting; past it, a create is refused (429).
    max_queued_imports: int = 100
    #: Seconds shutdown waits for running imports to reach a batch boundary before it cancels
    #: them (and as long again for the cancellations): shutdown always ends.
    shutdown_timeout: float = 10.0
    #: Extension plugins (objects or modules) to register besides the entry points.
    extra_plugins: tuple[Any, ...] = ()
    #: Whether to load the ``lms_outcomes`` entry points (off in some tests).
    load_entry_points: bool = True
    #: Everything else, passed on to the storage backend (e.g. ``attachments_dir``).
    backend: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> PluginSettings:
        if not raw.get("storage_url"):
            raise SettingsError(
                f"the {PLUGIN_NAME!r} plugin needs a 'storage_url' setting, "
                "e.g. 'sqlite:///lms-outcomes.db'"
            )
        known = set(cls.__dataclass_fields__) - {"backend"}
        values = {key: raw[key] for key in known if key in raw}
        values["extra_plugins"] = tuple(values.get("extra_plugins", ()))
        positive = ("max_upload_bytes", "max_header_bytes", "batch_size", "max_cell_bytes",
                    "max_parents_per_row", "max_queued_imports")
        for key in positive:
            if key in values and (not isinstance(values[key], int) or values[key] < 1):
                raise SettingsError(f"setting {key!r} must be a positive integer")
        journal_days = values.get("journal_days", 0)
        if isinstance(journal_days, bool) or not isinstance(journal_days, int | float) or (
            journal_days < 0
        ):
            raise SettingsError("setting 'journal_days' must be a number of days, 0 or more")
        backend = {key: value for key, value in raw.items() if key not in known}
        return cls(**values, backend=backend)
