"""Differential test: links, modes and attributes through the overlay against a plain directory.

Hypothesis draws sequences of symlink, hardlink, remove, rename, write,
append, chmod and setxattr. Each step is applied through ``OverlayFS`` (a
TempFS upper over an OSFS lower, or the kernel format) and with ``os`` calls
to a plain copy of the lower. After every step the two trees must agree:
names, types, link targets, contents, modes, user attributes, link counts and
which names are one file (the overlay's ``ino`` against the copy's inode
numbers). A step must fail on both sides or on neither. The lower is checked
unchanged at the end.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import tempfile
import typing
from pathlib import Path

import fs.errors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS

from ..support.link_layouts import ROOT, link_snapshot

NAMES = ["/a/f", "/a/l", "/a/n", "/a/dl", "/b/g", "/b/m", "/b"]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("symlink"), st.sampled_from(NAMES),
                  st.sampled_from(["f", "../b/g", "nowhere", "../b"])),
        st.tuples(st.just("hardlink"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
        st.tuples(st.just("remove"), st.sampled_from(NAMES)),
        st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
        st.tuples(st.just("write"), st.sampled_from(NAMES), st.binary(max_size=8)),
        st.tuples(st.just("append"), st.sampled_from(NAMES), st.binary(min_size=1, max_size=4)),
        st.tuples(st.just("chmod"), st.sampled_from(NAMES), st.sampled_from([0o600, 0o755])),
        st.tuples(st.just("setxattr"), st.sampled_from(NAMES), st.binary(max_size=4)),
    ),
    max_size=10,
)


def make_lower(root: Path) -> None:
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "f").write_bytes(b"f data")
    (root / "b" / "g").write_bytes(b"g data")
    os.setxattr(root / "a" / "f", "user.k", b"v")
    os.symlink("f", root / "a" / "l")
    os.symlink("../b", root / "a" / "dl")


def is_link(path: str) -> bool:
    return os.path.islink(path)


def apply_os(root: str, step: tuple[typing.Any, ...]) -> None:
    """Apply one step with ``os`` calls to the plain directory ``root``."""
    kind, path, *rest = step
    where = root + path
    if kind == "symlink":
        os.symlink(rest[0], where)
    elif kind == "hardlink":
        os.link(where, root + rest[0], follow_symlinks=False)
    elif kind == "remove":
        os.unlink(where)
    elif kind == "rename":
        target = root + rest[0]
        if os.path.isdir(target) and not is_link(target):
            raise IsADirectoryError(target)
        if os.path.isdir(where) and not is_link(where):
            raise IsADirectoryError(where)
        os.rename(where, target)
    elif kind in ("write", "append"):
        with open(where, "wb" if kind == "write" else "ab") as handle:
            handle.write(rest[0])
    elif kind == "chmod":
        os.chmod(where, rest[0])
    elif kind == "setxattr":
        os.setxattr(where, "user.k", rest[0], follow_symlinks=False)


def apply_overlay(overlay: OverlayFS, step: tuple[typing.Any, ...]) -> None:
    """Apply one step through the overlay's Python API."""
    kind, path, *rest = step
    if kind == "symlink":
        overlay.symlink(rest[0], path)
    elif kind == "hardlink":
        overlay.hardlink(path, rest[0])
    elif kind == "remove":
        overlay.remove(path)
    elif kind == "rename":
        overlay.move(path, rest[0], overwrite=True)
    elif kind == "write":
        overlay.writebytes(path, rest[0])
    elif kind == "append":
        overlay.appendbytes(path, rest[0])
    elif kind == "chmod":
        overlay.setinfo(path, {"access": {"permissions": rest[0]}})
    elif kind == "setxattr":
        overlay.setxattr(path, "user.k", rest[0])


def applies(root: str, step: tuple[typing.Any, ...]) -> bool:
    """Leave out steps whose meaning differs on purpose: changes through a link.

    ``os`` follows a link to write, append or chmod its target; the overlay
    resolves nothing through links (the mount leaves that to the kernel).
    """
    kind, path, *_ = step
    return not (kind in ("write", "append", "chmod") and is_link(root + path))


def os_view(root: str) -> tuple[dict[str, typing.Any], set[frozenset[str]]]:
    """Describe the plain directory, and the sets of names that are one file."""
    found: dict[str, typing.Any] = {}
    files: dict[int, set[str]] = {}
    for directory in ("/a", "/b"):
        if not os.path.isdir(root + directory) or is_link(root + directory):
            continue
        for name in sorted(os.listdir(root + directory)):
            path = f"{directory}/{name}"
            where = root + path
            st_ = os.lstat(where)
            if stat.S_ISLNK(st_.st_mode):
                found[path] = ("link", os.readlink(where))
            elif stat.S_ISDIR(st_.st_mode):
                found[path] = ("dir",)
            else:
                attrs = {key: os.getxattr(where, key) for key in os.listxattr(where)}
                data = Path(where).read_bytes()
                found[path] = ("file", data, stat.S_IMODE(st_.st_mode), attrs, st_.st_nlink)
                files.setdefault(st_.st_ino, set()).add(path)
    return found, {frozenset(names) for names in files.values()}


def overlay_view(overlay: OverlayFS) -> tuple[dict[str, typing.Any], set[frozenset[str]]]:
    """Describe the overlay the same way, through its Python API only."""
    found: dict[str, typing.Any] = {}
    files: dict[int, set[str]] = {}
    for directory in ("/a", "/b"):
        if not overlay.isdir(directory) or overlay.islink(directory):
            continue
        for name in sorted(overlay.listdir(directory)):
            path = f"{directory}/{name}"
            if overlay.islink(path):
                found[path] = ("link", overlay.readlink(path))
            elif overlay.isdir(path):
                found[path] = ("dir",)
            else:
                info = overlay.getinfo(path, ["access", "stat", "overlay"])
                assert info.permissions is not None
                attrs = {key: overlay.getxattr(path, key) for key in overlay.listxattr(path)}
                nlink = info.raw["stat"]["st_nlink"]
                data = overlay.readbytes(path)
                found[path] = ("file", data, info.permissions.mode, attrs, nlink)
                ino = info.raw["overlay"]["ino"]
                assert isinstance(ino, int)
                files.setdefault(ino, set()).add(path)
    return found, {frozenset(names) for names in files.values()}


def fails(call: typing.Callable[[], None], errors: type[Exception]) -> bool:
    """Tell whether ``call`` raised one of ``errors``."""
    try:
        call()
    except errors:
        return True
    return False


def run(kind: str, sequence: list[tuple[typing.Any, ...]]) -> None:
    """Apply ``sequence`` to both sides, comparing after every step."""
    base = Path(tempfile.mkdtemp())
    try:
        lower, plain = base / "lower", str(base / "plain")
        make_lower(lower)
        shutil.copytree(lower, plain, symlinks=True)
        before = link_snapshot(lower)
        for part in ("upper", "work"):
            (base / part).mkdir()
        if kind == "kernel":
            overlay = OverlayFS.from_dirs([str(lower)], str(base / "upper"), str(base / "work"))
        else:
            from fs.osfs import OSFS

            overlay = OverlayFS(OSFS(str(base / "upper")), [OSFS(str(lower))])
        with overlay:
            for step in sequence:
                if not applies(plain, step):
                    continue
                failed_os = fails(functools.partial(apply_os, plain, step), OSError)
                failed_overlay = fails(
                    functools.partial(apply_overlay, overlay, step), fs.errors.FSError
                )
                assert failed_os == failed_overlay, step
                found, groups = overlay_view(overlay)
                expected, expected_groups = os_view(plain)
                assert found == expected, step
                assert groups == expected_groups, step
        assert link_snapshot(lower) == before
    finally:
        shutil.rmtree(base, ignore_errors=True)


MODEL = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@MODEL
@given(sequence=steps)
def test_marker_store_over_os_layers_agrees_with_a_plain_directory(
    sequence: list[tuple[typing.Any, ...]],
) -> None:
    run("osfs", sequence)


@pytest.mark.skipif(not ROOT, reason="the kernel format's trusted.overlay.* attributes need root")
@MODEL
@given(sequence=steps)
def test_kernel_format_agrees_with_a_plain_directory(
    sequence: list[tuple[typing.Any, ...]],
) -> None:
    run("kernel", sequence)
