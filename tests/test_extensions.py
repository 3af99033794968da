"""Extensions: import formats and events registered through the lms_outcomes hooks, called
through pluggy (its order, its wrappers), with the host and so their own settings."""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import pluggy
import pytest

from lms_hooks.host import LmsHost
from lms_outcomes_plugin import hookimpl
from lms_outcomes_plugin.extensions import Extensions, make_plugin_manager
from lms_outcomes_plugin.formats import DuplicateImportFormat
from lms_outcomes_plugin.models import OutcomeImport
from tests.conftest import Api, World, until
from tests.toy_formats import LinesFormat

#: What the event plugins below saw, in the order they saw it.
CALLS: list[Any] = []


class LinesPlugin:
    """A format and an event that reads its own settings through the host."""

    @hookimpl
    def lms_outcomes_register_import_formats(self, registry: Any) -> None:
        registry.add(LinesFormat())

    @hookimpl
    async def lms_outcomes_import_finished(
        self, outcome_import: OutcomeImport, host: LmsHost
    ) -> None:
        channel = host.plugin_settings("lines_events")["channel"]
        CALLS.append((channel, outcome_import.as_json()))


class FirstPlugin:
    """Takes none of the hook's arguments (pluggy passes the subset it names)."""

    @hookimpl(tryfirst=True)
    def lms_outcomes_import_finished(self) -> None:
        CALLS.append("first")


class WrapperPlugin:
    @hookimpl(wrapper=True)
    def lms_outcomes_import_finished(
        self, outcome_import: OutcomeImport
    ) -> Generator[None, list[Any], list[Any]]:
        CALLS.append("wrapper before")
        results = yield
        CALLS.append(f"wrapper after {len(results)} result(s)")
        return results


class FailingPlugin:
    @hookimpl
    async def lms_outcomes_import_finished(self, outcome_import: OutcomeImport) -> None:
        raise RuntimeError("the webhook is down")


@pytest.fixture
def plugin_settings(plugin_settings: dict) -> dict:
    CALLS.clear()
    plugins = [FailingPlugin(), LinesPlugin(), FirstPlugin(), WrapperPlugin()]
    # Only these: the installed distributions (contrib/*) have hooks and formats of their own.
    return {**plugin_settings, "extra_plugins": plugins, "load_entry_points": False}


@pytest.fixture
def host_settings(host_settings: dict) -> dict:
    return {**host_settings, "lines_events": {"channel": "#outcomes"}}


@pytest.mark.gen_test(timeout=30)
async def test_a_plugin_import_type_is_used_by_post_and_its_events_called_through_pluggy(
    api: Api, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    body = b"group g1 Reading\noutcome o1 g1 Decode words\nbogus x\n"

    created = await api.post(
        f"{imports}?import_type=lines", body=body, headers={"Content-Type": "text/plain"}
    )
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")
    await until(lambda: len(CALLS) == 4)

    assert created.body["data"] == {"import_type": "lines"}
    assert done.body["workflow_state"] == "succeeded"
    assert done.body["processing_errors"] == [[3, "unknown kind bogus"]]
    # pluggy's order: the wrapper around everything, tryfirst first, then the latest
    # registered; the coroutines run once the call has returned them.
    assert CALLS[:3] == ["wrapper before", "first", "wrapper after 2 result(s)"]
    channel, event = CALLS[3]
    assert (channel, event["id"], event["workflow_state"]) == (
        "#outcomes", created.body["id"], "succeeded"
    )
    failures = [r for r in caplog.records if r.name == "lms_outcomes_plugin.extensions"]
    assert [(r.levelno, r.getMessage()) for r in failures] == [
        (logging.ERROR, f"lms_outcomes_import_finished failed for import {created.body['id']}")
    ]
    assert failures[0].exc_info is not None
    assert str(failures[0].exc_info[1]) == "the webhook is down"


@pytest.mark.gen_test
async def test_unknown_import_type_is_400_naming_the_valid_ones(api: Api, world: World) -> None:
    response = await api.post(
        f"/api/v1/accounts/{world.account_id}/outcome_imports?import_type=foo", body=b"x"
    )
    assert response.status == 400
    assert response.body == {
        "error": "Invalid import_type 'foo'; valid import types: instructure_csv, lines"
    }


def test_a_duplicate_import_type_is_a_clear_error_at_startup() -> None:
    class Twice:
        @hookimpl
        def lms_outcomes_register_import_formats(self, registry: Any) -> None:
            registry.add(LinesFormat())

    pm = make_plugin_manager([Twice(), LinesPlugin()], load_entry_points=False)
    with pytest.raises(DuplicateImportFormat, match="import_type 'lines' is registered twice"):
        Extensions.collect(pm, host=None)  # type: ignore[arg-type]


class Misspelled:
    @hookimpl
    def lms_outcomes_import_finishd(self, outcome_import: Any) -> None:
        """One letter short: without check_pending, never called and never noticed."""

    def __repr__(self) -> str:
        return "Misspelled()"


def test_a_misspelled_hook_is_an_error_at_startup() -> None:
    with pytest.raises(pluggy.PluginValidationError) as raised:
        make_plugin_manager([Misspelled()], load_entry_points=False)
    assert str(raised.value) == (
        "unknown hook 'lms_outcomes_import_finishd' in plugin Misspelled(); the lms_outcomes "
        "hooks are: lms_outcomes_background_tasks, lms_outcomes_import_finished, "
        "lms_outcomes_register_import_formats, "
        "lms_outcomes_register_storage_backends"
    )
