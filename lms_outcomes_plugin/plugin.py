"""The host-hook implementations (pluggy project ``lms``): routes, startup, shutdown.

Registered in the ``lms`` entry-point group, so any host that loads that group finds it. One
:class:`~lms_outcomes_plugin.service.OutcomesService` is kept per host object, so one process
may run several hosts (as the tests do). A host is recognized by identity: it need not be
hashable (a ``@dataclass`` is not) nor weak-referenceable (a slotted class is not).
"""

from __future__ import annotations

from collections.abc import Sequence

from lms_hooks import lms_hookimpl
from lms_hooks.host import LmsHost, Rule
from lms_outcomes_plugin.service import OutcomesService

#: By ``id(host)``: each service holds its host, so the id is not reused while it is here.
#: lms_shutdown removes it.
_services: dict[int, OutcomesService] = {}


def service_for(host: LmsHost) -> OutcomesService:
    """The plugin's service for ``host``, built on first use."""
    service = _services.get(id(host))
    if service is None:
        service = _services[id(host)] = OutcomesService(host)
    return service


@lms_hookimpl
def lms_routes(host: LmsHost) -> Sequence[Rule]:
    return service_for(host).routes()


@lms_hookimpl
async def lms_startup(host: LmsHost) -> None:
    await service_for(host).start()


@lms_hookimpl
async def lms_shutdown(host: LmsHost) -> None:
    service = _services.pop(id(host), None)
    if service is not None:
        await service.stop()
