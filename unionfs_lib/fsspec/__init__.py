"""fsspec both ways: an overlay as an fsspec filesystem, an fsspec filesystem as a layer.

:class:`~unionfs_lib.fsspec.filesystem.OverlayFileSystem` is an
``fsspec.AbstractFileSystem`` with protocol ``"overlay"`` (so pandas, dask,
zarr and pyarrow read and write through an overlay), and
:class:`~unionfs_lib.fsspec.pyfs.FSSpecFS` a PyFilesystem2 FS over any fsspec
filesystem (so S3, GCS, Azure, HTTP or fsspec's zip and memory filesystems can
be layers of an :class:`~unionfs_lib.overlay.OverlayFS`). Needs the
``fsspec`` extra (``pip install unionfs-lib[fsspec]``).
"""

from __future__ import annotations

try:
    import fsspec as _fsspec  # the real fsspec: imports are absolute
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "unionfs_lib.fsspec needs fsspec: pip install 'unionfs-lib[fsspec]'"
    ) from error

from .filesystem import OverlayFileSystem
from .pyfs import FSSpecFS

__all__ = ["FSSpecFS", "OverlayFileSystem"]

del _fsspec
