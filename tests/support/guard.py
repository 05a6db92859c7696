"""A read-only guard for lower layers that fails the test on any write call.

:class:`LowerGuard` wraps a lower FS. Every call that could change the layer
(``openbin``/``open`` in a writing mode, ``makedir``, ``remove``,
``setinfo``, ``move`` ...) is *recorded* in :data:`VIOLATIONS` and then
refused with :class:`LowerWriteError`. The library might swallow the
exception, so the recording is what fails the test: ``tests/conftest.py``
checks :data:`VIOLATIONS` after every test when the guard is on.

Guard mode (``UNIONFS_GUARD_LOWERS=1``) wraps every lower passed to
``OverlayFS.__init__`` in a :class:`LowerGuard` (see :func:`install`), so the
whole suite can run with the guarantee "lower layers are never written"
checked on every call.
"""

from __future__ import annotations

import os
import threading
import traceback
import typing

import fs.errors
from fs.base import FS
from fs.mode import Mode
from fs.wrapfs import WrapFS

ENV_VAR = "UNIONFS_GUARD_LOWERS"

#: Write calls seen on a guarded lower, as ``"method(args) at file:line"`` strings.
VIOLATIONS: list[str] = []
_VIOLATIONS_LOCK = threading.Lock()

#: Methods of the FS interface that change a layer.
WRITE_METHODS = (
    "appendbytes", "appendtext", "copy", "copydir", "create", "makedir", "makedirs",
    "move", "movedir", "remove", "removedir", "removetree", "setinfo", "settimes",
    "touch", "upload", "writebytes", "writefile", "writetext",
)


class LowerWriteError(fs.errors.ResourceReadOnly):
    """A write call reached a lower layer."""

    default_message = "write to a guarded lower layer at '{path}'"


def guard_enabled() -> bool:
    """Tell whether guard mode is on (``UNIONFS_GUARD_LOWERS=1``)."""
    return os.environ.get(ENV_VAR, "") not in ("", "0")


def record(method: str, args: tuple[typing.Any, ...]) -> None:
    """Record one write call with the caller's location."""
    frames = traceback.extract_stack(limit=8)[:-3]
    where = ", ".join(f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" for frame in frames)
    with _VIOLATIONS_LOCK:
        VIOLATIONS.append(f"{method}{args!r} via {where}")


def take_violations() -> list[str]:
    """Return and forget the violations recorded so far."""
    with _VIOLATIONS_LOCK:
        found = list(VIOLATIONS)
        VIOLATIONS.clear()
    return found


def _refuse(method: str) -> typing.Callable[..., typing.Any]:
    def refused(self: LowerGuard, *args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        record(method, args)
        raise LowerWriteError(str(args[0]) if args else "/")

    refused.__name__ = method
    refused.__doc__ = f"Refuse ``{method}``: lower layers are read-only."
    return refused


class LowerGuard(WrapFS[FS]):
    """Wrap a lower layer; reads pass through, every write is recorded and refused."""

    wrap_name = "guard"

    def openbin(
        self, path: str, mode: str = "r", buffering: int = -1, **options: typing.Any
    ) -> typing.BinaryIO:
        """Open for reading only; a writing mode is a violation."""
        if Mode(mode).writing:
            record("openbin", (path, mode))
            raise LowerWriteError(path)
        return super().openbin(path, mode, buffering, **options)

    def open(self, path: str, mode: str = "r", *args: typing.Any, **kwargs: typing.Any):  # type: ignore[override]
        """Open for reading only; a writing mode is a violation."""
        if Mode(mode).writing:
            record("open", (path, mode))
            raise LowerWriteError(path)
        return super().open(path, mode, *args, **kwargs)

    def close(self) -> None:
        """Close the guard and the layer it wraps (an overlay's ``auto_close``)."""
        if not self.isclosed():
            self._wrap_fs.close()
        super().close()

    def __del__(self) -> None:
        """Collected, not closed: leave the wrapped layer open."""
        FS.close(self)

    def getmeta(self, namespace: str = "standard") -> typing.Mapping[str, object]:
        """The wrapped layer's meta, marked read-only."""
        meta = dict(super().getmeta(namespace))
        if namespace == "standard":
            meta["read_only"] = True
        return meta


for _name in WRITE_METHODS:
    setattr(LowerGuard, _name, _refuse(_name))


def unwrap(layer: FS) -> FS:
    """Return the layer a guard wraps (or ``layer`` itself)."""
    return layer._wrap_fs if isinstance(layer, LowerGuard) else layer  # type: ignore[attr-defined]


def install(monkeypatch: typing.Any) -> None:
    """Make ``OverlayFS.__init__`` wrap every lower in a :class:`LowerGuard`.

    A lower that is itself an ``OverlayFS`` is left as it is (it is flattened
    into the outer overlay, and the identity of the given layers is part of
    that contract); its own lowers were guarded when it was built. Only its
    upper, a lower of the outer overlay, is then unguarded.
    """
    from unionfs_lib.overlay import OverlayFS

    original = OverlayFS.__init__

    def guarded_init(self: OverlayFS, upper: typing.Any, lowers: typing.Any = (), **kw: typing.Any):
        wrapped = [
            layer
            if isinstance(layer, (LowerGuard, OverlayFS)) or not isinstance(layer, FS)
            else LowerGuard(layer)
            for layer in lowers
        ]
        original(self, upper, wrapped, **kw)

    monkeypatch.setattr(OverlayFS, "__init__", guarded_init)
