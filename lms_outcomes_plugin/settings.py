"""The plugin's settings, read from the host (``host.plugin_settings("lms_outcomes")``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PLUGIN_NAME = "lms_outcomes"
MiB = 1024 * 1024


class SettingsError(ValueError):
    """A setting is missing or has a value of the wrong kind."""


@dataclass(frozen=True, slots=True)
class PluginSettings:
    #: Picks the storage backend by scheme: ``sqlite:///path.db``, ``postgresql://...``.
    storage_url: str
    #: Uploads larger than this are refused with 413 and nothing is stored (SPEC decision 9).
    max_upload_bytes: int = 100 * MiB
    #: Create requests whose headers (names and values) total more than this are refused with
    #: 400 before their body is read or their headers parsed.
    max_header_bytes: int = 8 * 1024
    #: Canvas's ``outcomes_new_decaying_average_calculation`` feature flag (SPEC decision 12).
    new_decaying_average: bool = False
    #: Records applied per transaction (Canvas uses 1000).
    batch_size: int = 1000
    #: Parse uploads in a child process (the second core; the IOLoop keeps its GIL), or in a
    #: thread of the host process for hosts that cannot start processes.
    parse_in_subprocess: bool = True
    #: Seconds an import's runner may go without renewing its lease before another process
    #: (or this one, after a crash) takes the import over and starts it again.
    import_lease: float = 30.0
    #: How often the runner looks for imports that another process queued, in seconds.
    poll_interval: float = 1.0
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
        for key in ("max_upload_bytes", "max_header_bytes", "batch_size"):
            if key in values and (not isinstance(values[key], int) or values[key] < 1):
                raise SettingsError(f"setting {key!r} must be a positive integer")
        backend = {key: value for key, value in raw.items() if key not in known}
        return cls(**values, backend=backend)
