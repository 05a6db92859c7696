"""Directory chains deeper than ``PATH_MAX``, made and read name by name through descriptors."""

from __future__ import annotations

import os
import typing


def fd_walk(root: str, names: typing.Sequence[str]) -> int:
    """Return a descriptor of ``root/names...`` opened name by name (close it)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for name in names:
        below = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = below
    return fd


def fd_makedirs(root: str, names: typing.Sequence[str]) -> None:
    """Make ``root/names...`` name by name, relative to descriptors."""
    os.makedirs(root, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            below = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
    finally:
        os.close(fd)


def fd_read(root: str, names: typing.Sequence[str], leaf: str) -> bytes:
    """Return the bytes of the file ``root/names.../leaf``, reached name by name."""
    fd = fd_walk(root, names)
    try:
        with open(os.open(leaf, os.O_RDONLY, dir_fd=fd), "rb") as handle:
            return handle.read()
    finally:
        os.close(fd)


def fd_write(root: str, names: typing.Sequence[str], leaf: str, data: bytes) -> None:
    """Create the file ``root/names.../leaf`` holding ``data``, reached name by name."""
    fd = fd_walk(root, names)
    try:
        out = os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        try:
            os.write(out, data)
        finally:
            os.close(out)
    finally:
        os.close(fd)
