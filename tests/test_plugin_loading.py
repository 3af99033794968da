"""The host finds lms-outcomes the way any host would: through the ``lms`` entry points."""

from __future__ import annotations

import importlib.metadata

import lms_outcomes_plugin.plugin
from lms_outcomes_plugin.host.app import EmbeddedHost


def test_the_plugin_is_published_in_the_lms_group() -> None:
    [entry] = [ep for ep in importlib.metadata.entry_points(group="lms")
               if ep.name == "lms_outcomes"]
    assert entry.value == "lms_outcomes_plugin.plugin"
    assert entry.dist is not None
    assert entry.dist.name == "lms-outcomes"


def test_the_embedded_host_loads_it_from_the_entry_point(lms: EmbeddedHost) -> None:
    loaded = {plugin: dist.project_name
              for plugin, dist in lms.plugin_manager.list_plugin_distinfo()}
    assert loaded == {lms_outcomes_plugin.plugin: "lms-outcomes"}
    hooks = {impl.plugin for impl in lms.plugin_manager.hook.lms_routes.get_hookimpls()}
    assert hooks == {lms_outcomes_plugin.plugin}
