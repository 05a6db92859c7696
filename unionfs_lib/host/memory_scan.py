"""Listing a directory of a ``MemoryFS`` layer from its entries, without ``Info`` objects.

A cold listing of a lower directory reads every entry's ``details`` and packs
them into columns (see :mod:`.columns`). Through ``MemoryFS.scandir`` each
entry becomes an ``Info`` the listing only reads the raw namespaces of:
about half of the cost of the listing. :func:`memory_dir_details` builds the
same raw namespaces (``basic`` and ``details``, the keys in the order
``MemoryFS`` gives them) straight from the layer's entries, under the layer's
lock, as ``MemoryFS.scandir`` does.

As in :mod:`.memory_read`, this reads ``MemoryFS``'s own entries (``_lock``,
``_get_dir_entry``, ``_dir``, ``resource_type``, ``size`` and the ``*_time``
attributes of PyFilesystem2 2.4), so only a layer whose type is exactly
``MemoryFS`` is listed this way; anything unexpected (a closed layer, no
directory at the path, entries laid out otherwise) gives ``None``, and the
caller lists through the layer, which reports any error in its own words.
"""

from __future__ import annotations

import typing

from fs.memoryfs import MemoryFS

#: The ``_write`` list of ``MemoryFS`` details: the fields ``setinfo`` accepts.
_WRITABLE = ("accessed", "modified")

RawInfo = typing.Dict[str, typing.Dict[str, typing.Any]]


def memory_dir_details(layer: object, path: str) -> list[RawInfo] | None:
    """Return the raw ``basic`` and ``details`` of each entry of directory ``path``.

    The entries come in the order ``MemoryFS.scandir`` gives them; ``None``
    when ``layer`` is not exactly a ``MemoryFS``, is closed, or has no
    directory at ``path`` (canonical).
    """
    if type(layer) is not MemoryFS or layer.isclosed():
        return None
    try:
        with layer._lock:
            directory = layer._get_dir_entry(path)
            if directory is None or not directory.is_dir:
                return None
            return [_raw(name, entry) for name, entry in directory._dir.items()]
    except AttributeError:  # entries laid out otherwise: list through the layer
        return None


def _raw(name: str, entry: typing.Any) -> RawInfo:
    """Return what ``entry.to_info(["details"]).raw`` holds, without the ``Info``."""
    return {
        "basic": {"name": name, "is_dir": entry.is_dir},
        "details": {
            "_write": list(_WRITABLE),
            "type": int(entry.resource_type),
            "size": entry.size,
            "accessed": entry.accessed_time,
            "modified": entry.modified_time,
            "created": entry.created_time,
        },
    }


__all__ = ["memory_dir_details"]
