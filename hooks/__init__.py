"""The contracts between a Tornado LMS host and its plugins: pluggy project ``lms``.

Installed as ``lms_hooks`` (this folder is ``hooks/`` in the repository): a host app's own
``hooks`` module, or PyPI's ``hooks`` distribution, cannot shadow it. Import it by that name::

    import lms_hooks.host
    from lms_hooks import lms_hookimpl

This package depends on pluggy alone and holds only what any LMS plugin shares with its host:
the ``lms`` hook specifications (:mod:`lms_hooks.host`), their markers and the
:class:`~lms_hooks.host.LmsHost` protocol. A plugin's own extension hooks live with that plugin
(lms-outcomes': ``lms_outcomes_plugin.hookspecs``).
"""

import pluggy

LMS_PROJECT = "lms"

#: Marks a function as a specification of an ``lms`` hook (used by :mod:`lms_hooks.host`).
lms_hookspec = pluggy.HookspecMarker(LMS_PROJECT)
#: Marks a function as an implementation of an ``lms`` hook (used by plugins of a host).
lms_hookimpl = pluggy.HookimplMarker(LMS_PROJECT)

__all__ = ["LMS_PROJECT", "lms_hookimpl", "lms_hookspec"]
