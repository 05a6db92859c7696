"""Reading a whole file of a ``MemoryFS`` layer from its entry, without opening it.

``FS.readbytes`` on a ``MemoryFS`` opens a file object to read it once: it
parses the mode twice, validates and normalises the path, walks the tree from
the root, builds a ``_MemoryFile``, registers it as an open file, reads it
under two locks and closes it again. The overlay reads a file whose path it
has already resolved and made canonical, so it takes the file's entry
straight from the layer's tree (under the layer's lock) and copies its bytes
under the entry's lock, which is what ``_MemoryFile.read`` does. The
access time is stamped as a read through the layer would.

Only a layer whose type is exactly ``MemoryFS`` is read this way: a subclass
may change how its files are read (a wrapper such as ``WrapFS`` is not a
``MemoryFS`` at all). Anything unexpected (a closed layer, a missing entry, a
directory) gives ``None``, and the caller reads through the layer, which
reports the error in its own words.
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
    with layer._lock:
        entry = layer.root
        for name in path.split("/")[1:]:
            if not entry.is_dir:
                return None
            found = entry.get_entry(name)
            if found is None:
                return None
            entry = found
        data = entry.bytes_file
    if data is None:  # a directory
        return None
    with entry.lock:
        entry.accessed_time = time.time()
        return data.getvalue()


__all__ = ["read_memory_file"]
