"""Reading a whole file of a ``MemoryFS`` layer from its entry, without opening it.

``FS.readbytes`` on a ``MemoryFS`` opens a file object to read it once: it
parses the mode twice, validates and normalises the path, walks the tree from
the root, builds a ``_MemoryFile``, registers it as an open file, reads it
under two locks and closes it again (about 10 us, against 1 us for the
rest of an overlay read). The overlay reads a file whose path it has already
resolved and made canonical, so it walks the layer's tree of entries itself
(under the layer's lock, as ``MemoryFS`` does) and copies the entry's bytes
under the entry's lock, which is what ``_MemoryFile.read`` does; the access
time is stamped as a read through the layer would.

This reads ``MemoryFS``'s own entries (``root``, ``_dir``, ``bytes_file``,
``lock``, ``accessed_time`` of PyFilesystem2 2.4), so only a layer whose type
is exactly ``MemoryFS`` is read this way: a subclass may change how its files
are read, and a wrapper (``WrapFS``) is not a ``MemoryFS`` at all. Anything
unexpected (a closed layer, a missing entry, a directory, entries laid out
otherwise) gives ``None``, and the caller reads through the layer, which
reports any error in its own words.
"""

from __future__ import annotations

import time

from fs.memoryfs import MemoryFS


def read_memory_file(layer: object, path: str) -> bytes | None:
    """Return the bytes of file ``path`` (canonical) of a plain ``MemoryFS`` ``layer``.

    Returns ``None`` when ``layer`` is not exactly a ``MemoryFS``, is closed,
    or holds no file at ``path``: the caller then reads through the layer.
    """
    if type(layer) is not MemoryFS or layer.isclosed():
        return None
    try:
        with layer._lock:
            entry = layer.root
            for name in path.split("/")[1:]:
                # A file's table of children is empty: a path through it finds nothing.
                found = entry._dir.get(name)
                if found is None:
                    return None
                entry = found
            data = entry.bytes_file
        if data is None:  # a directory
            return None
        with entry.lock:
            entry.accessed_time = time.time()
            return data.getvalue()
    except AttributeError:  # entries laid out otherwise: read through the layer
        return None


__all__ = ["read_memory_file"]
