"""Overlay sessions: one sandbox per worker over shared data, merged and committed once.

:class:`OverlaySession` forks cheap, picklable :class:`Fork` records that
Dask, Ray or a process pool carry to their workers; each fork opens as an
:class:`~unionfs_lib.overlay.OverlayFS` whose upper lives in a shared
staging area. :meth:`OverlaySession.merge` joins the forks' changes
(:class:`MergeConflict` when two changed one path) and
:meth:`OverlaySession.commit` writes them into the target once, resumably.
See ``docs/sessions.rst``.
"""

from .fork import Fork
from .merge import MergeConflict
from .session import OverlaySession

__all__ = ["Fork", "MergeConflict", "OverlaySession"]
