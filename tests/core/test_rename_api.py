"""``OverlayFS.rename``: one resolution per path, ``noreplace``, and ``exchange`` of any entries.

A directory exchange (``renameat2(RENAME_EXCHANGE)``) keeps overlay semantics
as the kernel overlay does: each name shows the other's merged tree (a
merged directory takes a redirect, an upper directory moved over lower
content becomes opaque), through the Python API, after a reopen, and
through the FUSE mount compared with a real kernel overlay.
"""

from __future__ import annotations

import ctypes
import os
import typing
from pathlib import Path

import fs.errors
import pytest
from fs.base import FS

from unionfs_lib import Backing, KernelWhiteouts, MarkerWhiteouts, OverlayFS
from unionfs_lib.errors import IllegalDestination
from unionfs_lib.mount.daemon import mount_in_thread

from ..support.kernel import KernelMount, compared, kernel_overlay_or_skip
from ..support.kernel import fill_os_dir as fill
from ..support.mounting import fuse_or_skip

LOWER: dict[str, bytes | None] = {
    "/p": None,
    "/p/a": b"lower a",
    "/p/sub": None,
    "/p/sub/deep": b"deep",
    "/q": None,
    "/q/b": b"lower b",
    "/file": b"lower file",
}

STORES: dict[str, typing.Callable[[], typing.Any]] = {
    "marker": MarkerWhiteouts,
    "kernel": KernelWhiteouts,
    "kernel-redirect": lambda: KernelWhiteouts(redirect_dir=True),
}


@pytest.fixture(params=sorted(STORES))
def dirs(request, tmp_path: Path) -> dict[str, typing.Any]:
    lower, upper, work = (str(tmp_path / name) for name in ("lower", "upper", "work"))
    fill(lower, LOWER)
    for path in (upper, work):
        os.mkdir(path)
    return {"lower": lower, "upper": upper, "work": work, "store": STORES[request.param]}


def open_overlay(dirs: dict[str, typing.Any]) -> OverlayFS:
    return OverlayFS.from_dirs([dirs["lower"]], dirs["upper"], dirs["work"],
                               whiteouts=dirs["store"]())


def tree(overlay: FS) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {path: None for path in overlay.walk.dirs()}
    found.update({path: overlay.readbytes(path) for path in overlay.walk.files()})
    return found


def ino(overlay: OverlayFS, path: str) -> int:
    return typing.cast(int, overlay.getinfo(path, ["overlay"]).raw["overlay"]["ino"])


def test_exchange_of_directories_swaps_merged_trees(dirs):
    with open_overlay(dirs) as overlay:
        overlay.writebytes("/p/new", b"upper new")
        overlay.remove("/q/b")
        overlay.writebytes("/q/mine", b"mine")
        overlay.makedir("/n")
        overlay.writebytes("/n/c", b"c")
        before = tree(overlay)
        numbers = {path: ino(overlay, path) for path in ("/p", "/q", "/n", "/p/a", "/n/c")}
        overlay.rename("/p", "/q", exchange=True)
        overlay.rename("/q", "/n", exchange=True)
        expected = {"/p": "/q", "/q": "/n", "/n": "/p"}  # path now -> path before

        def moved(path: str) -> str:
            top, _, rest = path[1:].partition("/")
            old = expected.get("/" + top, "/" + top)
            return old + ("/" + rest if rest else "")

        assert tree(overlay) == {path: before[moved(path)] for path in tree(overlay)}
        assert sorted(map(moved, tree(overlay))) == sorted(before)
        assert {path: ino(overlay, new) for path, new in
                (("/p", "/n"), ("/q", "/p"), ("/n", "/q"), ("/p/a", "/n/a"),
                 ("/n/c", "/q/c"))} == numbers
        shown = tree(overlay)
    with open_overlay(dirs) as reopened:
        assert tree(reopened) == shown


def test_exchange_of_a_directory_and_a_file(dirs):
    with open_overlay(dirs) as overlay:
        overlay.rename("/p", "/file", exchange=True)
        assert overlay.readbytes("/p") == b"lower file"
        assert sorted(overlay.listdir("/file")) == ["a", "sub"]
        assert overlay.readbytes("/file/sub/deep") == b"deep"
        assert not overlay.exists("/p/a")
        shown = tree(overlay)
    with open_overlay(dirs) as reopened:
        assert tree(reopened) == shown


def test_exchange_refuses_a_missing_entry_and_a_directory_with_its_own_child(dirs):
    with open_overlay(dirs) as overlay:
        before = tree(overlay)
        with pytest.raises(fs.errors.ResourceNotFound):
            overlay.rename("/p", "/missing", exchange=True)
        with pytest.raises(IllegalDestination):
            overlay.rename("/p", "/p/sub", exchange=True)
        with pytest.raises(IllegalDestination):
            overlay.rename("/p/sub", "/p", exchange=True)
        overlay.rename("/p", "/p", exchange=True)
        assert tree(overlay) == before


def test_rename_follows_rename_2(dirs):
    with open_overlay(dirs) as overlay:
        overlay.makedir("/empty")
        with pytest.raises(fs.errors.DestinationExists):
            overlay.rename("/file", "/p/a", noreplace=True)
        with pytest.raises(fs.errors.DirectoryNotEmpty):
            overlay.rename("/q", "/p")
        with pytest.raises(fs.errors.DirectoryExpected):
            overlay.rename("/q", "/file")
        with pytest.raises(fs.errors.FileExpected):
            overlay.rename("/file", "/q")
        with pytest.raises(IllegalDestination):
            overlay.rename("/p", "/p/sub/inside")
        with pytest.raises(ValueError):
            overlay.rename("/p", "/q", noreplace=True, exchange=True)
        number = ino(overlay, "/q")
        overlay.rename("/q", "/empty")
        assert overlay.listdir("/empty") == ["b"] and not overlay.exists("/q")
        assert ino(overlay, "/empty") == number
        overlay.rename("/file", "/p/a")
        assert overlay.readbytes("/p/a") == b"lower file" and not overlay.exists("/file")


def test_generation_changes_with_the_tree_and_which_is_typed(dirs):
    with open_overlay(dirs) as overlay:
        first = overlay.generation
        assert overlay.generation == first
        overlay.writebytes("/p/new", b"x")
        assert overlay.generation != first
        backing = overlay.which("/p/a")
        assert isinstance(backing, Backing) and backing.index == 1
        assert overlay.which_with_ino("/p/a") == (backing, ino(overlay, "/p/a"))


# -- through the mount, against the kernel ---------------------------------------


def exchange(first: str, second: str) -> int:
    """Call ``renameat2(RENAME_EXCHANGE)``; return 0 or the errno."""
    function = ctypes.CDLL(None, use_errno=True).renameat2
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint)
    done = function(-100, os.fsencode(first), -100, os.fsencode(second), 2)
    return 0 if done == 0 else ctypes.get_errno()


def os_tree(root: str) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for folder, names, files in os.walk(root):
        for name in names:
            found[os.path.relpath(os.path.join(folder, name), root)] = None
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                found[os.path.relpath(os.path.join(folder, name), root)] = handle.read()
    return found


def directory_exchange_scenario(root: str) -> list[object]:
    """Exchange merged, upper and lower directories and a file; what each step shows."""
    def join(name: str) -> str:
        return os.path.join(root, name)

    with open(join("p/new"), "wb") as handle:
        handle.write(b"upper new")
    os.remove(join("q/b"))
    os.mkdir(join("n"))
    with open(join("n/c"), "wb") as handle:
        handle.write(b"c")
    numbers = {name: os.lstat(join(name)).st_ino for name in ("p", "q", "n", "p/a")}
    seen: list[object] = [
        exchange(join("p"), join("q")),
        exchange(join("q"), join("n")),
        exchange(join("n"), join("file")),
        exchange(join("file"), join("file/a")),
        os_tree(root),
        [os.lstat(join(now)).st_ino == numbers[was]
         for now, was in (("p", "q"), ("q", "n"), ("file", "p"), ("file/a", "p/a"))],
    ]
    return seen


@pytest.mark.parametrize("store", ["marker", "kernel"])
def test_directory_exchange_through_the_mount_as_the_kernel_does(tmp_path, store):
    fuse_or_skip()
    kernel_overlay_or_skip()
    base = tmp_path / "kernel"
    fill(str(base / "lower"), LOWER)
    for name in ("upper", "work"):
        (base / name).mkdir()
    with KernelMount([str(base / "lower")], str(base / "upper"), str(base / "work"),
                     str(base / "merged")) as root:
        theirs = directory_exchange_scenario(root)
    lower, upper, work, merged = (str(tmp_path / name) for name in ("l", "u", "w", "m"))
    fill(lower, LOWER)
    for path in (upper, work, merged):
        os.mkdir(path)
    whiteouts = MarkerWhiteouts() if store == "marker" else KernelWhiteouts(redirect_dir=True)
    mounted = mount_in_thread(OverlayFS.from_dirs([lower], upper, work, whiteouts=whiteouts),
                              merged)
    try:
        ours = directory_exchange_scenario(merged)
    finally:
        mounted.unmount()
    compared()
    assert ours == theirs
    assert ours[:4] == [0, 0, 0, 22]
    with OverlayFS.from_dirs([lower], upper, work, whiteouts=whiteouts) as reopened:
        assert {path.lstrip("/"): data for path, data in tree(reopened).items()} == ours[4]
