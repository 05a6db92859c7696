"""One sandbox of a session: a plain record that opens an overlay where it is used.

A :class:`Fork` holds no open file system, only the specs of the session's
lowers and of its staging area, the session's id and its own name. Making
one does no I/O and it pickles small, so it travels to Dask workers, process
pools and Ray tasks as an argument; :meth:`Fork.open` then builds the
overlay in that process, its upper at ``<staging>/<session id>/<name>/``.
"""

from __future__ import annotations

import re
import typing

import attrs
from fs.base import FS

from ..overlay import OverlayFS
from .specs import LayerSpec, StagingArea, child_spec, open_child, open_spec, portable

#: A fork name: letters, digits, ``_``, ``-`` and ``.``, not starting with ``.``.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid fork or session name, else raise ``ValueError``."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise ValueError(
            f"a fork or session name is 1 to 128 letters, digits, '_', '-' or '.' "
            f"and does not start with '.': {name!r}"
        )
    return name


@attrs.frozen(repr=False)
class Fork:
    """A sandbox of an :class:`~unionfs_lib.session.OverlaySession`, to be opened anywhere.

    Attributes:
        name: the fork's name, unique in its session.
        session_id: the id of the session it belongs to.
        lowers: the session's lower layer specs, top-most first.
        staging: the spec of the session's staging area.

    """

    name: str = attrs.field(validator=lambda _self, _attr, value: check_name(value))
    session_id: str
    lowers: tuple[LayerSpec, ...]
    staging: LayerSpec

    @property
    def upper_spec(self) -> LayerSpec:
        """The spec of this fork's upper: ``<staging>/<session id>/<name>``."""
        return child_spec(self.staging, self.session_id, self.name)

    def open(self) -> OverlayFS:
        """Open the fork as an :class:`~unionfs_lib.overlay.OverlayFS` (its upper made if missing).

        Use it as a context manager; closing it closes the layers it opened
        (never a layer the session was given as an FS object).
        """
        upper = open_child(self.upper_spec, create=True)
        assert upper is not None
        return self._overlay(upper)

    def open_upper(self, area: StagingArea) -> FS | None:
        """Open the fork's upper from the session's staging ``area``, ``None`` if it is missing."""
        return area.open(self.name, create=False)

    def _overlay(self, upper: FS, lowers: typing.Sequence[FS] | None = None) -> OverlayFS:
        """Compose the overlay of ``upper`` over the session's lowers (or ``lowers``, opened).

        Closing it closes the layers it opened, unless the session was given
        a lower as an FS object (which stays the caller's) or ``lowers`` is
        given (which stay the caller's).
        """
        if lowers is not None:
            return OverlayFS(upper, list(lowers), auto_close=False)
        opened = [open_spec(spec, writeable=False) for spec in self.lowers]
        given = any(isinstance(spec, FS) for spec in self.lowers)
        return OverlayFS(upper, opened, auto_close=not given)

    def overlay_over(self, upper: FS, lowers: typing.Sequence[FS]) -> OverlayFS:
        """Compose the overlay of an opened ``upper`` over opened ``lowers`` (the caller's)."""
        return self._overlay(upper, lowers)

    def fsspec(self) -> typing.Any:
        """Return the fork as an fsspec filesystem: an ``OverlayFileSystem`` over :meth:`open`."""
        from ..fsspec.filesystem import OverlayFileSystem

        return OverlayFileSystem(overlay=self.open())

    def __reduce__(self) -> tuple[typing.Any, ...]:
        """Pickle with every spec in a form another process can open (see ``specs.portable``)."""
        return (
            Fork,
            (self.name, self.session_id, tuple(portable(spec) for spec in self.lowers),
             portable(self.staging)),
        )  # fmt: skip

    def __repr__(self) -> str:
        """``Fork('name', session='id')``."""
        return f"Fork({self.name!r}, session={self.session_id!r})"
