"""Where a layer's paths lie on the local disk, whatever wraps the layer.

A layer can sit on local files without answering ``getsyspath`` itself: a
:class:`~unionfs_lib.layers.lazy_fs.LazyFS` over an ``OSFS`` serves its source's files
from a private cache (its own ``getsyspath`` raises ``NoSysPath``), and a
``WrapFS`` or ``SubFS`` around such a layer delegates to it. The overlay must
treat every one of them as what it is, a view of local files that follows
symbolic links, so :mod:`unionfs_lib.host.confine` keeps it inside its root and
:mod:`unionfs_lib.host.posix` shows its links as links. :func:`local_syspath`
answers for any layer:

- a class that keeps ``FS.getsyspath`` (``MemoryFS``, a read archive, S3)
  has no local files: one type check, no call;
- an ``OSFS`` (``TempFS``, the kernel format's upper) answers itself;
- a layer that serves another's files path for path (a ``LazyFS``: its
  ``served_from()`` is its source) answers with that layer's path (the check
  is made against the file the data comes from, before it is fetched);
- a ``WrapFS`` (``SubFS``, ``WrapReadOnly``, a test guard) that keeps
  ``WrapFS.getsyspath`` answers with its delegate's path of
  ``delegate_path(path)``;
- any other class (``FSSpecFS`` over fsspec's local filesystem, ``MountFS``)
  answers through its own ``getsyspath``; one that has no OS path for its
  root is taken to have none at all.

What kind of layer an object is gets decided once per object (a
``WeakKeyDictionary``) and once per class, so an answer costs a dictionary
lookup or two beyond the layer's own ``getsyspath``.
"""

from __future__ import annotations

import typing
import weakref

import fs.errors
from fs.base import FS
from fs.mountfs import MountFS
from fs.multifs import MultiFS
from fs.osfs import OSFS
from fs.wrapfs import WrapFS

#: No local files.
_NONE = 0
#: The layer's own ``getsyspath`` answers.
_DIRECT = 1
#: A layer with ``served_from()`` (a ``LazyFS``): that layer answers, for the same path.
_LAZY = 2
#: A ``WrapFS``: its delegate answers, for the delegated path.
_WRAPPED = 3
#: Decided per object (see :func:`_object_kind`).
_PER_OBJECT = 4

_CLASS_KIND: dict[type, int] = {}
_OBJECT_KIND: weakref.WeakKeyDictionary[typing.Any, int] = weakref.WeakKeyDictionary()


def _class_kind(cls: type) -> int:
    """Return what class ``cls`` tells of its objects' local files (cached per class)."""
    found = _CLASS_KIND.get(cls)
    if found is None:
        method = getattr(cls, "getsyspath", None)
        if method is None or method is FS.getsyspath:
            found = _NONE
        elif issubclass(cls, OSFS):
            found = _DIRECT
        else:
            found = _PER_OBJECT
        _CLASS_KIND[cls] = found
    return found


def _kind(layer: typing.Any) -> int:
    """Return the kind of ``layer``: ``_NONE``, ``_DIRECT``, ``_LAZY`` or ``_WRAPPED``."""
    kind = _class_kind(type(layer))
    if kind != _PER_OBJECT:
        return kind
    try:
        return _OBJECT_KIND[layer]
    except KeyError:
        pass
    except TypeError:  # not weakly referenceable: decided every time
        return _object_kind(layer)
    found = _object_kind(layer)
    _OBJECT_KIND[layer] = found
    return found


def _object_kind(layer: typing.Any) -> int:
    """Decide the kind of a layer whose class overrides ``getsyspath`` (not an ``OSFS``)."""
    served_from = getattr(layer, "served_from", None)
    if callable(served_from):
        return _NONE if _kind(served_from()) == _NONE else _LAZY
    if isinstance(layer, WrapFS) and type(layer).getsyspath is WrapFS.getsyspath:
        return _NONE if _kind(layer.delegate_fs()) == _NONE else _WRAPPED
    if isinstance(layer, (MountFS, MultiFS)):
        return _DIRECT  # composites: each path answers for the layer it lands in
    try:
        layer.getsyspath("/")
    except fs.errors.NoSysPath:
        return _NONE
    except Exception:  # noqa: BLE001 - a closed layer: let each call raise its own error
        return _DIRECT
    return _DIRECT


def has_local_files(layer: typing.Any) -> bool:
    """Tell whether ``layer`` can resolve paths to local files (no call for ``MemoryFS``)."""
    return _kind(layer) != _NONE


def local_syspath(layer: typing.Any, path: str) -> str:
    """Return the OS path of the local file that ``path`` of ``layer`` is.

    Wrappers and lazy layers are seen through (see the module docstring).

    Raises:
        fs.errors.NoSysPath: ``layer`` (or what it wraps) has no local files.

    """
    if _CLASS_KIND.get(type(layer)) == _DIRECT:  # an OSFS: the hot path, one lookup
        found: str = layer.getsyspath(path)
        return found
    return _unwrapped_syspath(layer, path)


def _unwrapped_syspath(layer: typing.Any, path: str) -> str:
    """Return :func:`local_syspath` of a layer that may wrap another."""
    current, current_path = layer, path
    while True:
        kind = _kind(current)
        if kind == _DIRECT:
            found: str = current.getsyspath(current_path)
            return found
        if kind == _LAZY:
            current = current.served_from()
        elif kind == _WRAPPED:
            current, current_path = current.delegate_path(current_path)
        else:
            raise fs.errors.NoSysPath(path=path)


__all__ = ["has_local_files", "local_syspath"]
