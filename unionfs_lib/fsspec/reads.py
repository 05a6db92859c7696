"""Where the bytes of each file read through ``OverlayFileSystem.cat_file`` live.

A whole-file ``cat_file`` through the overlay takes the overlay's lock, checks
the path and resolves it to the layer entry holding the bytes, then reads
that entry. On a fast layer (fsspec's memory filesystem reads a file in under
a microsecond) the first three cost several times the read. So the answer of
the resolution is kept per path: the layer's own read call and the path to
pass it (for an :class:`~unionfs_lib.fsspec.pyfs.FSSpecFS` layer, the fsspec
filesystem's ``cat_file`` and the fsspec path), tagged with the overlay's
:attr:`~unionfs_lib.overlay.OverlayFS.generation`, in the front end's one
cache (:mod:`.kept`). Every change that can move a
file to another layer or path (a copy-up, a create, a remove, a rename, a
``discard``, an ``invalidate``) gives the overlay a new generation, and a kept
answer of another generation is never used. A kept read is then one dict
lookup, one comparison and the layer's own call (``cat_file`` makes them
itself, without a call into this module).

The bytes themselves are never kept: each call reads the layer, so a file of
the upper rewritten through an open handle reads as it is now.
"""

from __future__ import annotations

import typing

from fs.base import FS

from ..frontend_api import has_local_files, read_inside
from .kept import KeptAnswers, KeptView
from .pyfs import FSSpecFS

if typing.TYPE_CHECKING:
    from .. import Backing
    from ..overlay import OverlayFS

#: How many paths' locations are kept before the cache starts over.
MAX_PATHS = 65536

#: A layer's read call: takes the layer-side path, returns the whole file.
Reader = typing.Callable[[str], bytes]


class ReadCache(KeptView):
    """The layer read call and layer path of files, valid for one overlay generation.

    Arguments:
        overlay: the overlay whose files are read.
        kept: the front end's one cache, where the locations are kept.
        max_paths: how many paths to keep before starting over.

    """

    def __init__(
        self, overlay: OverlayFS, kept: KeptAnswers | None = None, max_paths: int = MAX_PATHS
    ) -> None:
        """Start empty; see the class docstring."""
        super().__init__(overlay, kept, max_paths)
        #: path as the caller spelled it -> (generation, read call, layer path).
        #: Read straight by ``OverlayFileSystem.cat_file`` (its hot path): an
        #: entry is used only while its generation is the overlay's. The
        #: dict is filled and emptied in place, never replaced.
        self.locations: dict[str, tuple[int, Reader, str]] = self._kept.reads

    def __len__(self) -> int:
        """Return how many paths are kept (some possibly of an older generation)."""
        return len(self.locations)

    def load(self, key: str, path: str) -> bytes:
        """Read ``path`` through the overlay, and keep where it was found under ``key``.

        ``key`` is the path as the caller spelled it (what :meth:`read` is
        asked with); ``path`` the same path with the protocol stripped.

        Raises:
            fs.errors.FSError: as ``OverlayFS.readbytes`` does.

        """
        overlay = self._overlay
        generation = overlay.generation
        data = bytes(overlay.readbytes(path))
        backing = overlay.which(path)
        if overlay.generation == generation:  # nothing changed while it was read
            reader, location = self._reader(backing)
            kept = (generation, reader, location)
            self._kept.keep(self.locations, key, generation, kept, self._max)
        return data

    def _reader(self, backing: Backing) -> tuple[Reader, str]:
        """Return the read call and layer path for the bytes of the file ``backing`` describes.

        The same read as ``OverlayFS.readbytes`` makes (see
        :func:`unionfs_lib.ops.file_ops.read_bytes`): an fsspec layer is read with
        its filesystem's ``cat_file``, any other layer, and an fsspec layer
        over local files (whose links must stay inside it), through the
        confinement check of :func:`~unionfs_lib.host.confine.read_inside`.
        """
        overlay = self._overlay
        index = backing.data_index
        layer = overlay.upper if index == 0 else overlay.lowers[index - 1]
        assert layer is not None  # the layer holding a file's bytes
        if type(layer) is FSSpecFS and not has_local_files(layer):
            return layer.filesystem.cat_file, layer._full(backing.data_path)
        own = (backing.data_index, backing.data_path) == (backing.index, backing.path)
        return _checked_reader(layer, own), backing.data_path

    def clear(self) -> None:
        """Forget every kept location (of every kind: the front end keeps one cache)."""
        self._kept.clear()


def _checked_reader(layer: FS, listed: bool) -> Reader:
    """Return a read call for ``layer`` checked as the overlay's own reads are."""

    def read(path: str) -> bytes:
        return read_inside(layer, path, listed)

    return read
