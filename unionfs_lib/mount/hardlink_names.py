"""The names the kernel knows for each hard-linked file of the mount.

libfuse's high-level API gives every *path* its own kernel node: two names
of one file are two kernel inodes, each with its own cached attributes (and
pages). When a file with several links changes through one name, the mount
must tell the kernel to forget what it cached for the others; this table
says which those are. A name is noted whenever the mount describes it to the
kernel (``getattr``, a ``readdirplus`` entry, ``link``) while the file has
more than one link; names are keyed by the inode number the mount shows,
which all names of a hard-linked file share
(:func:`~unionfs_lib.mount.identity.linked_ino`). Renames move names, and
unlinks drop them, so the table only holds names of files with several
links.
"""

from __future__ import annotations

import threading

import attrs


@attrs.define
class LinkedNames:
    """Mount paths by shared inode number, for files with more than one link."""

    _names: dict[int, set[str]] = attrs.field(factory=dict)
    _keys: dict[str, int] = attrs.field(factory=dict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def note(self, ino: int, path: str) -> None:
        """Remember that ``path`` names the file numbered ``ino``."""
        with self._lock:
            if self._keys.get(path) == ino:
                return
            self._drop(path)
            self._keys[path] = ino
            self._names.setdefault(ino, set()).add(path)

    def key_of(self, path: str) -> int | None:
        """Return the inode number noted for ``path``, if any."""
        return self._keys.get(path)

    def names_of(self, ino: int) -> list[str]:
        """Return every noted name of the file numbered ``ino``."""
        with self._lock:
            return sorted(self._names.get(ino, ()))

    def forget(self, path: str) -> int | None:
        """Drop ``path`` (unlinked); return the number it had, if noted."""
        with self._lock:
            return self._drop(path)

    def move(self, old: str, new: str) -> None:
        """Follow a rename of ``old`` (a file or a directory) to ``new``."""
        prefix = old.rstrip("/") + "/"
        with self._lock:
            self._drop(new)
            moved = [path for path in self._keys if path == old or path.startswith(prefix)]
            for path in moved:
                ino = self._drop(path)
                assert ino is not None
                renamed = new + path[len(old):]
                self._keys[renamed] = ino
                self._names.setdefault(ino, set()).add(renamed)

    def _drop(self, path: str) -> int | None:
        """Remove ``path`` from both maps (the lock held); return its number."""
        ino = self._keys.pop(path, None)
        if ino is not None:
            names = self._names[ino]
            names.discard(path)
            if not names:
                del self._names[ino]
        return ino
