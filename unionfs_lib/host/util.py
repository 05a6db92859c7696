"""The old ``unionfs_lib.util`` (deprecated): path helpers and layer I/O in one module.

Kept only as the target of the deprecated path ``unionfs_lib.util`` (see
:mod:`unionfs_lib._moved`), which goes in the next release; nothing in the
package imports it. Its names now live in :mod:`unionfs_lib.model.paths`
(pure path helpers) and :mod:`unionfs_lib.host.layer_io` (layer I/O).
"""

from __future__ import annotations

from ..model.paths import canonical, components, is_same_or_below, join_path, split_path
from .layer_io import (
    OVERLAY_XATTR_PREFIXES,
    copy_times,
    drop_overlay_xattrs,
    folds_case,
    syspaths,
)

__all__ = [
    "OVERLAY_XATTR_PREFIXES",
    "canonical",
    "components",
    "copy_times",
    "drop_overlay_xattrs",
    "folds_case",
    "is_same_or_below",
    "join_path",
    "split_path",
    "syspaths",
]
