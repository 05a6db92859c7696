"""Listing a directory of an ``OSFS`` layer with ``details``, without ``Info`` objects.

A cold listing of a lower directory reads every entry's ``details`` and packs
them into columns (see :mod:`unionfs_lib.model.listing_columns`). Through
``OSFS.scandir`` each entry becomes an ``Info`` (and its path is validated
and encoded again) that the listing only reads the raw namespaces of.
:func:`os_dir_details` builds the same raw namespaces (``basic`` and
``details``, the keys in the order ``OSFS`` gives them, the values of the
same ``stat``, which follows a symbolic link as ``OSFS.scandir`` does)
straight from ``os.scandir``. :func:`os_dir_entries`, what the overlay's
cold listings use, reads no details at all: an entry's kind comes from the
directory itself (``d_type``, as a direct walk takes it), only a symbolic
link is ``stat``-ed (its kind is its target's), and :func:`read_details`
reads one entry's details (one ``stat``) when they are asked for.

Only a layer whose class lists as ``OSFS`` does (``OSFS`` itself, ``TempFS``:
the same ``scandir``, ``_scandir``, ``getsyspath`` and ``validatepath``) on
POSIX is listed this way. Anything unexpected (a closed layer, an OS error
on the directory or on any entry, such as a dangling link) gives ``None``,
and the caller lists through the layer, which reports any error in its own
words.
"""

from __future__ import annotations

import inspect
import os
import stat
import typing

import fs.error_tools
import fs.errors
from fs.osfs import OSFS

#: The ``_write`` list of ``OSFS`` details: the fields ``setinfo`` accepts.
_WRITABLE = ("accessed", "modified")
#: ``OSFS``'s resource type number of each ``stat`` file type.
_TYPES = {kind: int(value) for kind, value in OSFS.STAT_TO_RESOURCE_TYPE.items()}
#: ``OSFS``'s number for a file type it does not know.
_UNKNOWN = 0
#: The methods a layer must share with ``OSFS`` to be listed here.
_SAME = (
    "scandir",
    "_scandir",
    "getsyspath",
    "validatepath",
    "_to_sys_path",
    "_make_details_from_stat",
)
#: ``OSFS``'s own definitions of them (static: the details maker is a classmethod).
_OSFS_METHODS = {name: inspect.getattr_static(OSFS, name) for name in _SAME}


def lists_as_osfs(layer: object) -> bool:
    """Tell whether ``layer`` lists a directory exactly as ``OSFS`` does (POSIX only)."""
    if os.name != "posix" or not isinstance(layer, OSFS):
        return False
    cls = type(layer)
    return all(inspect.getattr_static(cls, name) is _OSFS_METHODS[name] for name in _SAME)


#: The keys of ``OSFS``'s ``details``, in its order.
DETAILS_KEYS = ("_write", "accessed", "modified", "size", "type", "created", "metadata_changed")
#: The ``_write`` value given to every entry (shared: readers copy it before handing it out).
_WRITE_LIST = list(_WRITABLE)

Entry = typing.Tuple[str, bool, typing.Tuple[object, ...]]


def os_dir_details(layer: object, path: str) -> list[Entry] | None:
    """Return ``(name, is_dir, values)`` for each entry of directory ``path``.

    ``values`` are those of the entry's ``details`` in ``OSFS.scandir(path,
    ["details"])``, for the keys :data:`DETAILS_KEYS` (``_write`` is one
    list shared by all entries: copy it before handing it out). ``path`` is
    canonical. The entries come in the order ``OSFS.scandir`` gives them;
    ``None`` when ``layer`` does not list as ``OSFS``, is closed, or any OS
    error occurs (the caller then lists through the layer).
    """
    scanned = _scan(layer, path, _entry)
    return None if scanned is None else scanned[1]


#: An entry whose details are read later: ``(name, is_dir, None)``.
LazyEntry = typing.Tuple[str, bool, typing.Optional[typing.Tuple[object, ...]]]


def os_dir_entries(layer: object, path: str) -> tuple[str, list[LazyEntry]] | None:
    """Return the OS path of directory ``path`` and ``(name, is_dir, values)`` of its entries.

    What :func:`os_dir_details` gives, except that an entry that is no
    symbolic link comes with ``None`` for its values, without a ``stat``:
    its kind is the one the directory records (``d_type``), and its details
    are read when asked for (:func:`read_details`). A link is ``stat``-ed at
    once, as :func:`os_dir_details` does: its kind is that of its target,
    and a link that cannot be followed makes the whole listing ``None``
    (the caller lists through the layer, which reports it in its own words).
    """
    return _scan(layer, path, _lazy_entry)


_Scanned = typing.TypeVar("_Scanned")


def _scan(
    layer: object, path: str, convert: typing.Callable[[os.DirEntry[str]], _Scanned]
) -> tuple[str, list[_Scanned]] | None:
    """Return the OS path of directory ``path`` and its entries, each through ``convert``.

    ``None`` when ``layer`` does not list as ``OSFS``, is closed, or any OS
    error occurs (the caller then lists through the layer).
    """
    if not lists_as_osfs(layer):
        return None
    assert isinstance(layer, OSFS)
    if layer.isclosed():
        return None
    try:
        sys_path = layer.getsyspath(path)
        with os.scandir(sys_path) as scan:
            return sys_path, [convert(entry) for entry in scan]
    except (OSError, ValueError, fs.errors.FSError):  # the layer reports it in its own words
        return None


def _lazy_entry(entry: os.DirEntry[str]) -> LazyEntry:
    """Return ``(name, is_dir, None)`` for an entry that is no link, else what ``_entry`` gives."""
    if entry.is_symlink():
        return _entry(entry)
    return entry.name, entry.is_dir(follow_symlinks=False), None


def read_details(directory: str, name: str) -> dict[str, object]:
    """Return the ``details`` of entry ``name`` of OS directory ``directory`` as ``OSFS`` does.

    The ``stat`` follows a link, as ``OSFS.scandir`` does; an entry that is
    gone raises ``fs.errors.ResourceNotFound`` (any other OS error its
    ``fs.errors`` counterpart).
    """
    sys_path = os.path.join(directory, name)
    with fs.error_tools.convert_os_errors("getinfo", sys_path):
        result = os.stat(sys_path)
    values = _values(result)
    return {
        key: list(_WRITE_LIST) if key == "_write" else value
        for key, value in zip(DETAILS_KEYS, values)
    }


def _entry(entry: os.DirEntry[str]) -> Entry:
    """Return what ``OSFS.scandir(path, ["details"])`` gives for ``entry``, as values."""
    is_dir = entry.is_dir()
    return entry.name, is_dir, _values(entry.stat())


def _values(result: os.stat_result) -> tuple[object, ...]:
    """Return the ``details`` values of ``result`` for the keys :data:`DETAILS_KEYS`."""
    return (
        _WRITE_LIST,
        result.st_atime,
        result.st_mtime,
        result.st_size,
        _TYPES.get(stat.S_IFMT(result.st_mode), _UNKNOWN),
        getattr(result, "st_birthtime", None),
        result.st_ctime,
    )


__all__ = [
    "DETAILS_KEYS",
    "lists_as_osfs",
    "os_dir_details",
    "os_dir_entries",
    "read_details",
]
