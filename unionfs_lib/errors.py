"""Exceptions of unionfs_lib; each is an ``fs.errors`` exception callers already catch."""

from __future__ import annotations

import fs.errors


class IllegalDestination(fs.errors.OperationFailed):
    """A directory cannot be moved into itself or below itself."""

    default_message = "cannot move '{path}' into itself"


class ReservedName(fs.errors.PermissionDenied):
    """The name belongs to the overlay's whiteout store and cannot be created."""

    default_message = "'{path}' uses a name reserved by the overlay's whiteout store"
