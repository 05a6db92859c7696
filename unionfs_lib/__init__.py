"""unionfs_lib: a union/overlay filesystem for PyFilesystem2.

``OverlayFS`` composes one writable upper FS over read-only lower FS objects,
with the semantics of Linux overlayfs: whiteouts, opaque directories, copy-up
and redirected directory renames, all persisted in the upper.
"""

from .copy_up import CopyUpEngine
from .entry import DirListing
from .kernel_format import KernelWhiteouts
from .lifecycle import Backing
from .overlay import OverlayFS
from .readdir import DirIterator, cookie_name, make_cookie
from .store import WhiteoutStore
from .strategies import CopyUpStrategy, DirIteratorStrategy
from .whiteout import MarkerWhiteouts

__all__ = [
    "Backing",
    "CopyUpEngine",
    "CopyUpStrategy",
    "DirIterator",
    "DirIteratorStrategy",
    "DirListing",
    "KernelWhiteouts",
    "MarkerWhiteouts",
    "OverlayFS",
    "WhiteoutStore",
    "cookie_name",
    "make_cookie",
]

#: The version of the distribution, in this one place: pyproject.toml reads it
#: (``[tool.setuptools.dynamic]``), and so do docs/conf.py and ``--version``.
__version__ = "0.1.0"
