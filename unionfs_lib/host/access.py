"""Permissions and ownership of overlay entries: ``setinfo``'s ``access`` namespace.

PyFilesystem2 describes an entry's mode and owner in the ``access`` info
namespace (``permissions``, ``uid``, ``gid``, ``user``, ``group``), and OSFS
reports it from ``stat``, but no layer's ``setinfo`` changes it. The overlay
does, as ``chmod``/``chown`` on its upper: the entry is copied up first (see
:func:`unionfs_lib.ops.info_ops.set_info`), then the upper's own file is changed
through its OS path, never following a link. Reading it back is the layer's
own ``getinfo(path, ["access"])``, from the layer that holds the entry.

An upper without OS paths cannot hold an owner: ``uid``, ``gid``, ``user``
and ``group`` raise ``fs.errors.Unsupported`` there, while ``permissions``
are handed to the upper's ``setinfo`` as before (a layer keeps what it can,
as PyFilesystem2's ``setinfo`` does).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import typing

import fs.errors
from fs.base import FS
from fs.permissions import Permissions

from ..errors import literal
from .layer_io import syspaths

#: The names a ``permissions`` list may hold (``"u_r"``, ``"setuid"``, ...).
_PERMISSION_NAMES = frozenset(name for name, _ in Permissions._LINUX_PERMS)

#: ``access`` keys that set the owner or the group.
OWNER_KEYS = ("uid", "gid", "user", "group")


def set_access(upper: FS, path: str, access: typing.Mapping[str, typing.Any]) -> bool:
    """Apply an ``access`` namespace to upper entry ``path``.

    Returns ``False`` if the upper has no OS paths and only ``permissions``
    were asked for: the caller hands them to the upper's own ``setinfo``.
    """
    found = syspaths(upper, path)
    if found is None:
        asked = [key for key in OWNER_KEYS if access.get(key) is not None]
        if asked:
            message = f"an upper without OS paths cannot hold {', '.join(asked)}: {upper!r}"
            raise fs.errors.Unsupported(path, msg=literal(message))
        return False
    syspath = found[0]
    uid, gid = owner_ids(path, access)
    try:
        if (uid, gid) != (-1, -1):
            os.chown(syspath, uid, gid, follow_symlinks=False)  # first: it clears set-id bits
        if access.get("permissions") is not None:
            _chmod(syspath, permission_bits(path, access["permissions"]))
    except PermissionError as error:
        raise fs.errors.PermissionDenied(path, exc=error) from error
    except OSError as error:
        raise fs.errors.OperationFailed(path, exc=error) from error
    return True


def _chmod(syspath: str, mode: int) -> None:
    """Set the mode of ``syspath``; a link has none of its own (Linux ignores it)."""
    if stat.S_ISLNK(os.lstat(syspath).st_mode):
        return
    os.chmod(syspath, mode)


def permission_bits(path: str, value: typing.Any) -> int:
    """Return the mode bits of a ``permissions`` value.

    Accepted: a ``Permissions`` object, its ``dump()`` (a list of names such as
    ``"u_r"``) or an ``int`` mode. Anything else is ``OperationFailed``.
    """
    if isinstance(value, Permissions):
        return int(value.mode)
    if isinstance(value, int) and not isinstance(value, bool):
        return stat.S_IMODE(value)
    if isinstance(value, (list, tuple)) and set(value) <= _PERMISSION_NAMES:
        return int(Permissions.load(list(value)).mode)
    raise fs.errors.OperationFailed(path, msg=literal(f"bad permissions {value!r}"))


def owner_ids(path: str, access: typing.Mapping[str, typing.Any]) -> tuple[int, int]:
    """Return the ``(uid, gid)`` an ``access`` namespace asks for (``-1``: unchanged).

    ``uid``/``gid`` win over ``user``/``group`` names, which are looked up
    in the system's databases; an unknown name is ``OperationFailed``.
    """
    uid = _id_of(path, access.get("uid"), access.get("user"), _uid_of_name)
    gid = _id_of(path, access.get("gid"), access.get("group"), _gid_of_name)
    return uid, gid


def _id_of(
    path: str, number: typing.Any, name: typing.Any, by_name: typing.Callable[[str], int]
) -> int:
    """Return an id from a number or, failing that, a name (``-1`` if neither is given)."""
    if number is not None:
        if not isinstance(number, int) or isinstance(number, bool) or number < -1:
            raise fs.errors.OperationFailed(path, msg=literal(f"bad owner id {number!r}"))
        return number
    if name is None:
        return -1
    try:
        return by_name(str(name))
    except KeyError as error:
        raise fs.errors.OperationFailed(path, msg=literal(f"unknown owner {name!r}")) from error


def _uid_of_name(name: str) -> int:
    """Return the uid of user ``name``."""
    return int(pwd.getpwnam(name).pw_uid)


def _gid_of_name(name: str) -> int:
    """Return the gid of group ``name``."""
    return int(grp.getgrnam(name).gr_gid)


__all__ = ["OWNER_KEYS", "owner_ids", "permission_bits", "set_access"]
