"""Old module paths of the package, kept importable for one release with a warning.

The package was reorganised into folders by layer (0.2.0): ``unionfs_lib.whiteout``
is now :mod:`unionfs_lib.stores.marker_whiteouts`, ``unionfs_lib.copy_up``
:mod:`unionfs_lib.ops.copy_up_engine`, and so on (:data:`MOVED`). Importing an old
path still works: it warns with a ``DeprecationWarning`` that names the new
path, and gives the new module itself (the same object), so ``isinstance``
checks and monkeypatching see one module. :func:`install` puts the finder on
``sys.meta_path``; ``unionfs_lib/__init__.py`` calls it. The old paths go in
the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import typing
import warnings

# BEGIN MOVED (written by relayout.py from its mapping.txt: do not edit)
MOVED: dict[str, str] = {
    "unionfs_lib.access": "unionfs_lib.host.access",
    "unionfs_lib.cache": "unionfs_lib.resolve.caches",
    "unionfs_lib.casefold": "unionfs_lib.ops.casefold",
    "unionfs_lib.changes": "unionfs_lib.changesets.changes",
    "unionfs_lib.columns": "unionfs_lib.model.listing_columns",
    "unionfs_lib.commit": "unionfs_lib.changesets.commit",
    "unionfs_lib.confine": "unionfs_lib.host.confine",
    "unionfs_lib.copy_up": "unionfs_lib.ops.copy_up_engine",
    "unionfs_lib.datacopy": "unionfs_lib.host.datacopy",
    "unionfs_lib.describe": "unionfs_lib.checkpoint",
    "unionfs_lib.description": "unionfs_lib.layers.description",
    "unionfs_lib.dir_ops": "unionfs_lib.ops.dir_ops",
    "unionfs_lib.entry": "unionfs_lib.model.records",
    "unionfs_lib.export": "unionfs_lib.changesets.export",
    "unionfs_lib.file": "unionfs_lib.ops.file_ops",
    "unionfs_lib.fingerprint": "unionfs_lib.layers.fingerprints",
    "unionfs_lib.info": "unionfs_lib.ops.info_ops",
    "unionfs_lib.inode": "unionfs_lib.resolve.inode_numbers",
    "unionfs_lib.kernel_format": "unionfs_lib.stores.kernel_whiteouts",
    "unionfs_lib.kernel_mount": "unionfs_lib.layers.kernel_mount",
    "unionfs_lib.layer_url": "unionfs_lib.layers.layer_urls",
    "unionfs_lib.lazy": "unionfs_lib.layers.lazy_fs",
    "unionfs_lib.lifecycle": "unionfs_lib.layers.lifecycle",
    "unionfs_lib.link_types": "unionfs_lib.resolve.link_index",
    "unionfs_lib.links": "unionfs_lib.ops.link_ops",
    "unionfs_lib.localpath": "unionfs_lib.host.local_syspaths",
    "unionfs_lib.long_paths": "unionfs_lib.host.long_paths",
    "unionfs_lib.lookup": "unionfs_lib.resolve.resolver",
    "unionfs_lib.lower_record": "unionfs_lib.layers.recorded_fingerprints",
    "unionfs_lib.memory_read": "unionfs_lib.host.memory_read",
    "unionfs_lib.memory_scan": "unionfs_lib.host.memory_scan",
    "unionfs_lib.mount.linked_names": "unionfs_lib.mount.hardlink_names",
    "unionfs_lib.mount.links": "unionfs_lib.mount.symlinks",
    "unionfs_lib.packed_info": "unionfs_lib.model.packed_info",
    "unionfs_lib.params": "unionfs_lib.layers.nested_overlays",
    "unionfs_lib.patch": "unionfs_lib.changesets.patch",
    "unionfs_lib.posix": "unionfs_lib.host.posix",
    "unionfs_lib.probe": "unionfs_lib.resolve.name_probe",
    "unionfs_lib.progress": "unionfs_lib.model.progress",
    "unionfs_lib.readdir": "unionfs_lib.ops.dir_iterator",
    "unionfs_lib.registry": "unionfs_lib.layers.strategy_registry",
    "unionfs_lib.safe_tree": "unionfs_lib.host.safe_tree",
    "unionfs_lib.special": "unionfs_lib.ops.special_files",
    "unionfs_lib.store": "unionfs_lib.stores.whiteout_store",
    "unionfs_lib.strategies": "unionfs_lib.ops.strategies",
    "unionfs_lib.superblock": "unionfs_lib.ops.superblock",
    "unionfs_lib.syscalls": "unionfs_lib.host.syscalls",
    "unionfs_lib.table": "unionfs_lib.resolve.merged_table",
    "unionfs_lib.tar_index": "unionfs_lib.host.tar_index",
    "unionfs_lib.upper_format": "unionfs_lib.stores.upper_format",
    "unionfs_lib.util": "unionfs_lib.host.util",
    "unionfs_lib.validators": "unionfs_lib.model.validators",
    "unionfs_lib.whiteout": "unionfs_lib.stores.marker_whiteouts",
    "unionfs_lib.workdir": "unionfs_lib.host.workdir",
    "unionfs_lib.xattrs": "unionfs_lib.ops.xattr_ops",
}
# END MOVED

class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Find an old module path of :data:`MOVED` and load it as the module's new path."""

    def find_spec(
        self,
        fullname: str,
        path: typing.Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """Return a spec for an old path (loaded by this finder), or ``None`` for any other."""
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        """Warn, and return the module at its new path (imported if need be)."""
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; import it from there "
            "(the old path goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        _SPECS[spec.name] = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Give the module back its own spec (the import system set the old path's)."""
        given = module.__spec__
        if given is not None and given.name in _SPECS:
            module.__spec__ = _SPECS.pop(given.name)


#: The new module's own spec, by old path, while the import system loads the old path.
_SPECS: dict[str, importlib.machinery.ModuleSpec | None] = {}
#: The one finder :func:`install` puts on ``sys.meta_path``.
FINDER = MovedModuleFinder()


def install() -> None:
    """Put :data:`FINDER` first on ``sys.meta_path`` (once).

    First, so that an old path is always the new module, even where a stale
    file or an editable install's finder could still find an old file.
    """
    if FINDER not in sys.meta_path:
        sys.meta_path.insert(0, FINDER)


__all__ = ["FINDER", "MOVED", "MovedModuleFinder", "install"]
