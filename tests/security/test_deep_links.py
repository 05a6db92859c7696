"""Links deeper than ``PATH_MAX`` stay confined.

The layers ``from_dirs`` opens (those of the mount) reach entries whose OS
path is longer than the kernel takes in one call, through short aliases
(:mod:`unionfs_lib.host.long_paths`). Deciding where a link leads by resolving its
OS path name by name then meets components past ``PATH_MAX``; a resolution
that gave up there (as ``os.path.realpath`` does) would take such a link for
a plain name and let it lead outside. Code in the sandbox makes a deep chain
and a link at its bottom to the victim, then reads, lists and writes through
it; a crafted lower holds the same link. Nothing outside is read or changed.
"""

from __future__ import annotations

import os

import fs.errors
import pytest

from unionfs_lib import KernelWhiteouts, MarkerWhiteouts, OverlayFS

from ..support.victim import Victim

#: Twenty-two 200-byte names: 4,422 bytes below a layer root.
DEEP = ["d" * 200] * 22


def layers(base: str) -> tuple[str, str, str]:
    """Make empty ``lower``, ``upper`` and ``work`` directories under ``base``."""
    found = tuple(os.path.join(base, name) for name in ("lower", "upper", "work"))
    for path in found:
        os.makedirs(path)
    return found  # type: ignore[return-value]


def os_makedirs(root: str, names: list[str]) -> int:
    """Make ``root/names...`` relative to descriptors; return a descriptor of the last."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for name in names:
        os.mkdir(name, dir_fd=fd)
        below = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = below
    return fd


def attempts(overlay: OverlayFS, link: str) -> list[str]:
    """Try to reach the victim through ``link``; return what was not refused."""
    reached = []
    for name, call in [
        ("read", lambda: overlay.readbytes(link + "/secret.txt")),
        ("list", lambda: overlay.listdir(link)),
        ("write", lambda: overlay.writebytes(link + "/planted.txt", b"x")),
        ("append", lambda: overlay.appendbytes(link + "/keep.txt", b"x")),
        ("makedir", lambda: overlay.makedir(link + "/made")),
    ]:
        try:
            call()
        except (fs.errors.FSError, OSError):
            continue
        reached.append(name)
    return reached


#: Both stores: the kernel's shows a link as a link, the marker store follows one that stays inside.
STORES = {"kernel": KernelWhiteouts, "markers": MarkerWhiteouts}


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_deep_link_made_in_the_sandbox_leads_nowhere(victim: Victim, tmp_path, store):
    lower, upper, work = layers(str(tmp_path))
    deep = "/" + "/".join(DEEP)
    with OverlayFS.from_dirs([lower], upper, work, whiteouts=STORES[store]()) as overlay:
        overlay.makedirs(deep)
        overlay.symlink(victim.path, deep + "/escape")
        assert attempts(overlay, deep + "/escape") == []


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("layer", ["lower", "upper"])
def test_a_deep_link_in_a_crafted_layer_leads_nowhere(victim: Victim, tmp_path, layer, store):
    lower, upper, work = layers(str(tmp_path))
    fd = os_makedirs(lower if layer == "lower" else upper, DEEP)
    os.symlink(victim.path, "escape", dir_fd=fd)
    os.close(fd)
    with OverlayFS.from_dirs([lower], upper, work, whiteouts=STORES[store]()) as overlay:
        assert attempts(overlay, "/" + "/".join(DEEP) + "/escape") == []
