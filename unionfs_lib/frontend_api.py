"""The names front ends build on beneath :class:`~unionfs_lib.overlay.OverlayFS`.

A front end (the FUSE mount, the fsspec file system, sessions, the CLI, or
a third party's) uses the overlay through :class:`OverlayFS`, the errors of
:mod:`unionfs_lib.errors`, and the documented names gathered here: each is
defined in the core module named beside it, and is public with the same
contract as there. A front end imports nothing else beneath the façade
(``tests/project/test_layering.py`` checks it).

Layer URLs (:mod:`unionfs_lib.layers.layer_urls`)
    :func:`layer_url`, :func:`open_layer`, :func:`error_text`,
    :func:`encode_query`, :func:`parse_query`, :func:`shown`.
Progress (:mod:`unionfs_lib.model.progress`)
    :class:`ProgressBar`.
Confinement (:mod:`unionfs_lib.host.confine`, :mod:`unionfs_lib.host.local_syspaths`)
    :func:`check_inside`, :func:`read_inside`, :func:`has_local_files`.
The upper's OS files (:mod:`unionfs_lib.host.posix`)
    :func:`os_path`, :func:`read_pin` (the inode number pinned on a
    hard-linked upper file), :data:`PRIVATE_XATTR_PREFIXES`.
Mount options (:mod:`unionfs_lib.layers.kernel_mount`, :mod:`unionfs_lib.model.validators`)
    :func:`split_lowerdirs`, :func:`number`, :func:`whole_number`.
Changesets (:mod:`unionfs_lib.changesets.changes`, :mod:`unionfs_lib.changesets.merged_commit`)
    :class:`Change`, :data:`ADDED`, :data:`DELETED`, :func:`sort_key`;
    :func:`commit_merged` (the journaled, resumable commit of a merged
    changeset), :data:`ForkChange`, :func:`is_object_store`.
Trees and paths (:mod:`unionfs_lib.host.safe_tree`, :mod:`unionfs_lib.model.paths`)
    :func:`remove_tree` (never follows a link), :func:`split_path`.
"""

from __future__ import annotations

from .changesets.changes import ADDED, DELETED, Change, sort_key
from .changesets.merged_commit import ForkChange, commit_merged, is_object_store
from .host.confine import check_inside, read_inside
from .host.local_syspaths import has_local_files
from .host.posix import PRIVATE_XATTR_PREFIXES, os_path, read_pin
from .host.safe_tree import remove_tree
from .layers.kernel_mount import split_lowerdirs
from .layers.layer_urls import encode_query, error_text, layer_url, open_layer, parse_query, shown
from .model.paths import split_path
from .model.progress import ProgressBar
from .model.validators import number, whole_number

__all__ = [
    "ADDED",
    "DELETED",
    "PRIVATE_XATTR_PREFIXES",
    "Change",
    "ForkChange",
    "ProgressBar",
    "check_inside",
    "commit_merged",
    "encode_query",
    "error_text",
    "has_local_files",
    "is_object_store",
    "layer_url",
    "number",
    "open_layer",
    "os_path",
    "parse_query",
    "read_inside",
    "read_pin",
    "remove_tree",
    "shown",
    "sort_key",
    "split_lowerdirs",
    "split_path",
    "whole_number",
]
