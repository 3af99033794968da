"""The host-hook implementations (pluggy project ``lms``): routes, startup, shutdown.

Registered in the ``lms`` entry-point group, so any host that loads that group finds it. One
:class:`~lms_outcomes_plugin.service.OutcomesService` is kept per host object, so one process
may run several hosts (as the tests do).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from lms_hooks import lms_hookimpl
from lms_hooks.host import LmsHost, Rule
from lms_outcomes_plugin.service import OutcomesService

_services: weakref.WeakKeyDictionary[LmsHost, OutcomesService] = weakref.WeakKeyDictionary()


def service_for(host: LmsHost) -> OutcomesService:
    """The plugin's service for ``host``, built on first use."""
    service = _services.get(host)
    if service is None:
        service = _services[host] = OutcomesService(host)
    return service


@lms_hookimpl
def lms_routes(host: LmsHost) -> Sequence[Rule]:
    return service_for(host).routes()


@lms_hookimpl
async def lms_startup(host: LmsHost) -> None:
    await service_for(host).start()


@lms_hookimpl
async def lms_shutdown(host: LmsHost) -> None:
    service = _services.pop(host, None)
    if service is not None:
        await service.stop()
