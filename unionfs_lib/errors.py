"""Exceptions of unionfs_lib; each is an ``fs.errors`` exception callers already catch."""

from __future__ import annotations

import fs.errors


class IllegalDestination(fs.errors.OperationFailed):
    """A directory cannot be moved into itself or below itself."""

    default_message = "cannot move '{path}' into itself"


class ReservedName(fs.errors.PermissionDenied):
    """The name belongs to the overlay's whiteout store and cannot be created."""

    default_message = "'{path}' uses a name reserved by the overlay's whiteout store"


class NoLayerURL(fs.errors.Unsupported):
    """A layer cannot be described by a URL that ``fs.open_fs`` would reopen.

    MemoryFS layers, archives opened from file objects and other FS without a
    durable location raise this from ``OverlayFS.describe``; pass their URLs
    explicitly (``describe(urls={index: url})``) if they have one.
    """

    default_message = "layer {path} has no URL that fs.open_fs could reopen"


class LayerMismatch(fs.errors.CreateFailed):
    """A lower layer's fingerprint differs from the one recorded for it.

    Raised when restoring an overlay over a lower that was swapped or changed
    (overlayfs likewise refuses a wrong lower); opt out with ``verify=False``.
    """

    default_message = "a lower layer does not match its recorded fingerprint"


class LayerInUse(fs.errors.OperationFailed):
    """A lower layer cannot be detached: the visible path ``path`` depends on it."""

    default_message = "cannot detach the layer: '{path}' still depends on it"


class KernelFormatUnsupported(fs.errors.Unsupported):
    """A layer cannot hold the Linux overlayfs on-disk format.

    Raised by :class:`~unionfs_lib.kernel_format.KernelWhiteouts` when a layer
    has no OS path (the format lives in device nodes and extended attributes,
    which only a real directory can hold) or when the filesystem or the
    process's privileges refuse them; the message says which and what to do.
    """

    default_message = "the Linux overlayfs format cannot be used here: {path}"


def literal(message: str) -> str:
    """Escape ``message`` for an ``fs.errors`` ``msg=`` (which is ``str.format``-ed)."""
    return message.replace("{", "{{").replace("}", "}}")


def printable(text: str) -> str:
    r"""Return ``text`` with each character that is not printable escaped as ``repr`` shows it.

    A crafted name or path must not reach a log or a terminal raw: a NUL cuts
    a C string, ``ESC`` sequences drive the terminal, a newline forges a line.

    >>> from unionfs_lib.errors import printable
    >>> printable("a\x00b\x1b[31m\n")
    'a\\x00b\\x1b[31m\\n'
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def make_printable(error: BaseException) -> None:
    """Escape, in place, what is not printable in the message of an ``fs.errors`` exception.

    The exception's attributes (its ``path``) keep what they hold; only the
    text that ``str`` and ``repr`` show changes. Other exceptions are left
    as they are, but ``IllegalBackReference`` (a ``ValueError`` of
    ``fs.errors``).
    """
    if isinstance(error, fs.errors.FSError):
        try:
            text = str(error)
        except (KeyError, IndexError, ValueError, AttributeError):
            return  # a message that does not format: nothing to show
        if not text.isprintable():
            error._msg = literal(printable(text))
    elif isinstance(error, fs.errors.IllegalBackReference) and error.args:
        text = str(error.args[0])
        if not text.isprintable():
            error.args = (printable(text),)


class EscapesLayer(fs.errors.PermissionDenied):
    """A path of a layer resolves (through a symbolic link) outside that layer's root.

    The overlay refuses to read, list, copy up, change or create through such
    a link (see :mod:`unionfs_lib.host.confine`).
    """

    default_message = "'{path}' leads outside its layer (symbolic link); access refused"


class LinkInPath(EscapesLayer):
    """A symbolic link stands where an operation must descend into a real directory.

    Raised by :mod:`unionfs_lib.host.safe_tree` (removing, clearing or moving a
    tree) and by :func:`~unionfs_lib.changesets.commit.commit` (checking its target)
    before anything is changed: the link is never followed, and nothing is
    deleted or written through it.
    """

    default_message = (
        "'{path}' passes through a symbolic link where a directory must be entered; refused"
    )


class NameCollision(fs.errors.DestinationExists):
    """On a case-insensitive upper, the name would merge with a different one.

    See :mod:`unionfs_lib.ops.casefold`.
    """

    default_message = "'{path}' differs only by case from another name on a case-insensitive upper"


class UnregisteredStrategy(fs.errors.Unsupported):
    """A strategy cannot be described: its class is not registered by name.

    Third-party strategies are restored by the name they are registered under
    in the ``unionfs_lib.strategies`` entry-point group, never by import path
    (see :mod:`unionfs_lib.layers.strategy_registry`).
    """

    default_message = "the strategy is not registered in the unionfs_lib.strategies group"


class CommitConflict(fs.errors.OperationFailed):
    """A commit target no longer holds what the lowers showed at ``path``.

    Someone changed the target since the overlay read it; nothing was written.
    """

    default_message = "'{path}' changed in the commit target since the lowers showed it"


class CannotDiscard(fs.errors.OperationFailed):
    """A path cannot be reverted alone: an ancestor hides or replaces the lowers' directory."""

    default_message = "cannot discard '{path}' alone: discard the directory above it"


class NoSuchAttribute(fs.errors.ResourceNotFound):
    """The entry has no extended attribute of that name (``ENODATA``)."""

    default_message = "no such extended attribute on {path}"


class PrivateAttribute(fs.errors.Unsupported):
    """The extended attribute belongs to the overlay: it cannot be read or changed through it."""

    default_message = "extended attribute belongs to the overlay: {path}"


class InvalidOption(ValueError):
    """An option of a strategy, a record or the overlay is out of range or of the wrong type.

    Raised when the object is built, never at its first use; the message names
    the class, the option and what it must be. A description or an
    ``overlay://`` URL with such an option raises ``fs.errors.CreateFailed``
    instead (see :mod:`unionfs_lib.layers.strategy_registry`).
    """
