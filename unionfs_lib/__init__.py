"""unionfs_lib: a union/overlay filesystem for PyFilesystem2.

``OverlayFS`` composes one writable upper FS over read-only lower FS objects,
with the semantics of Linux overlayfs: whiteouts, opaque directories, copy-up
and redirected directory renames, all persisted in the upper.
"""

from .copy_up import CopyUpEngine
from .kernel_format import KernelWhiteouts
from .overlay import OverlayFS
from .readdir import DirIterator
from .whiteout import DirListing, MarkerWhiteouts, WhiteoutStore

__all__ = [
    "CopyUpEngine",
    "DirIterator",
    "DirListing",
    "KernelWhiteouts",
    "MarkerWhiteouts",
    "OverlayFS",
    "WhiteoutStore",
]

__version__ = "0.1.0"
