"""Exceptions of unionfs_lib; each is an ``fs.errors`` exception callers already catch."""

from __future__ import annotations

import fs.errors


class IllegalDestination(fs.errors.OperationFailed):
    """A directory cannot be moved into itself or below itself."""

    default_message = "cannot move '{path}' into itself"


class ReservedName(fs.errors.PermissionDenied):
    """The name belongs to the overlay's whiteout store and cannot be created."""

    default_message = "'{path}' uses a name reserved by the overlay's whiteout store"


class KernelFormatUnsupported(fs.errors.Unsupported):
    """A layer cannot hold the Linux overlayfs on-disk format.

    Raised by :class:`~unionfs_lib.kernel_format.KernelWhiteouts` when a layer
    has no OS path (the format lives in device nodes and extended attributes,
    which only a real directory can hold) or when the filesystem or the
    process's privileges refuse them; the message says which and what to do.
    """

    default_message = "the Linux overlayfs format cannot be used here: {path}"
