"""The contracts between a Tornado LMS host, lms-outcomes and lms-outcomes' own extensions.

This package depends on pluggy alone. It holds hook specifications and their markers, nothing
that runs. Two pluggy projects live here:

* ``lms``: what a host calls on its plugins (:mod:`hooks.host`), entry-point group ``lms``;
* ``lms_outcomes``: what lms-outcomes calls on its extensions (:mod:`hooks.outcomes`),
  entry-point group ``lms_outcomes``.
"""

import pluggy

LMS_PROJECT = "lms"
OUTCOMES_PROJECT = "lms_outcomes"

#: Marks a function as a specification of an ``lms`` hook (used by :mod:`hooks.host`).
lms_hookspec = pluggy.HookspecMarker(LMS_PROJECT)
#: Marks a function as an implementation of an ``lms`` hook (used by plugins of a host).
lms_hookimpl = pluggy.HookimplMarker(LMS_PROJECT)

#: Marks a function as a specification of an ``lms_outcomes`` hook.
outcomes_hookspec = pluggy.HookspecMarker(OUTCOMES_PROJECT)
#: Marks a function as an implementation of an ``lms_outcomes`` hook (used by extensions).
outcomes_hookimpl = pluggy.HookimplMarker(OUTCOMES_PROJECT)

__all__ = [
    "LMS_PROJECT",
    "OUTCOMES_PROJECT",
    "lms_hookimpl",
    "lms_hookspec",
    "outcomes_hookimpl",
    "outcomes_hookspec",
]
