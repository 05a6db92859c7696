"""unionfs_lib: a union/overlay filesystem for PyFilesystem2.

``OverlayFS`` composes one writable upper FS over read-only lower FS objects,
with the semantics of Linux overlayfs: whiteouts, opaque directories, copy-up
and redirected directory renames, all persisted in the upper.

Front ends (the FUSE mount, fsspec, sessions, the CLI, a third party's) use
``OverlayFS``, :mod:`unionfs_lib.errors` and the documented names of
:mod:`unionfs_lib.frontend_api`.
"""

from . import frontend_api
from .layers.lifecycle import Backing
from .model.records import DirListing
from .ops.copy_up_engine import CopyUpEngine
from .ops.dir_iterator import DirIterator, cookie_name, make_cookie
from .ops.strategies import CopyUpStrategy, DirIteratorStrategy
from .overlay import OverlayFS
from .stores.kernel_whiteouts import KernelWhiteouts
from .stores.marker_whiteouts import MarkerWhiteouts
from .stores.whiteout_store import WhiteoutStore

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
    "frontend_api",
    "make_cookie",
]

#: The version of the distribution, in this one place: pyproject.toml reads it
#: (``[tool.setuptools.dynamic]``), and so do docs/conf.py and ``--version``.
__version__ = "0.1.0"

# Old module paths import with a DeprecationWarning (see _moved.py).
from . import _moved  # noqa: E402

_moved.install()
