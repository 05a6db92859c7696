"""Lower layers of every kind laid with links that point out of the layer, at a victim."""

from __future__ import annotations

import os
import typing

import fsspec
from fs.base import FS
from fs.osfs import OSFS
from fs.wrap import WrapReadOnly
from fs.wrapfs import WrapFS
from fsspec.implementations.dirfs import DirFileSystem

from unionfs_lib.fsspec.layers import open_layer
from unionfs_lib.fsspec.pyfs import FSSpecFS
from unionfs_lib.layers.lazy_fs import LazyFS

from .victim import Victim

#: Builds a layer over directory ``root`` (``scratch`` is free space for caches).
Maker = typing.Callable[[str, str], FS]


def _subfs_of_osfs(root: str, scratch: str) -> FS:
    return OSFS(os.path.dirname(root)).opendir(os.path.basename(root))


def _subfs_of_lazy(root: str, scratch: str) -> FS:
    return LazyFS(OSFS(os.path.dirname(root))).opendir(os.path.basename(root))


def _simplecache(root: str, scratch: str) -> FS:
    cached = fsspec.filesystem(
        "simplecache", target_protocol="file", cache_storage=scratch, skip_instance_cache=True
    )
    return FSSpecFS(cached, root, read_only=True)


LOWER_KINDS: dict[str, Maker] = {
    "lazy": lambda root, scratch: LazyFS(OSFS(root)),
    "subfs-of-osfs": _subfs_of_osfs,
    "wrapfs-of-osfs": lambda root, scratch: WrapFS(OSFS(root)),
    "subfs-of-lazy": _subfs_of_lazy,
    "readonly-wrap-of-lazy": lambda root, scratch: WrapReadOnly(LazyFS(OSFS(root))),
    "fsspec-file": lambda root, scratch: open_layer("file://" + root, writeable=False),
    "fsspec-dir": lambda root, scratch: FSSpecFS(
        DirFileSystem(root, fsspec.filesystem("file")), read_only=True
    ),
    "fsspec-simplecache": _simplecache,
    "readonly-wrap-of-fsspec-file": lambda root, scratch: WrapReadOnly(
        open_layer("file://" + root, writeable=False)
    ),
}


def lay_links(root: str, victim: Victim) -> None:
    """Fill layer directory ``root``: files, links inside, and links out to ``victim``."""
    os.makedirs(os.path.join(root, "sub"), exist_ok=True)
    with open(os.path.join(root, "real.txt"), "wb") as handle:
        handle.write(b"inside")
    with open(os.path.join(root, "sub", "inner.txt"), "wb") as handle:
        handle.write(b"inner")
    os.chmod(root, 0o755)
    links = {
        "in_link": "real.txt",
        "in_dir": "sub",
        "secret": victim.join("secret.txt"),
        "rel_secret": os.path.relpath(victim.join("secret.txt"), root),
        "vdir": victim.path,
        "new": victim.join("new"),
    }
    for name, target in links.items():
        os.symlink(target, os.path.join(root, name))
