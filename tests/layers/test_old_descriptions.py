"""Descriptions and ``overlay://`` URLs written by an earlier release still reopen.

The fixtures in ``tests/data/old_descriptions/`` were written by the release
before the package was reorganised into folders (issue #23), by
``generate.py`` there: for each whiteout store (``marker`` and the kernel
format) an overlay with a whiteout and a redirect, its description and URL,
and its layers as data. A description names the built-in strategies by frozen
names (``unionfs_lib.whiteout.MarkerWhiteouts`` ...), so moving a module must
change neither what an old description reopens to nor what a new one says.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import typing
import urllib.parse
from pathlib import Path

import fs
import pytest

from unionfs_lib import OverlayFS

#: ``tests/data/old_descriptions``, found from wherever this module sits below ``tests/``.
DATA = (
    next(p for p in Path(__file__).resolve().parents if p.name == "tests")
    / "data"
    / "old_descriptions"
)
STORES = ("marker", "kernel")


def _encodings(text: str) -> list[str]:
    """``text`` URL-quoted twice, once, and raw (the order to replace them in)."""
    once = urllib.parse.quote(text, safe="")
    return [urllib.parse.quote(once, safe=""), once, text]


def moved(text: str, old_root: str, new_root: str) -> str:
    """Replace the layers' old directory by ``new_root`` in ``text``, at every quoting level."""
    for old, new in zip(_encodings(old_root), _encodings(new_root)):
        text = text.replace(old, new)
    return text


def rebuild(root: str, entries: dict[str, dict[str, typing.Any]], mtime: int | None) -> None:
    """Create the dumped ``entries`` below ``root`` (timed ``mtime`` when given)."""
    os.makedirs(root)
    for path, entry in entries.items():
        full = root + path
        kind = entry["type"]
        if kind == "dir":
            os.mkdir(full)
        elif kind == "file":
            Path(full).write_bytes(base64.b64decode(entry["data"]))
        elif kind == "chr":
            os.mknod(full, stat.S_IFCHR | 0o000, os.makedev(*entry["rdev"]))
        else:
            os.symlink(entry["target"], full)
        for key, value in entry.get("xattrs", {}).items():
            os.setxattr(full, key, base64.b64decode(value), follow_symlinks=False)
    if mtime is not None:
        for path in sorted(entries, key=len, reverse=True):
            os.utime(root + path, (mtime, mtime), follow_symlinks=False)
        os.utime(root, (mtime, mtime))


def merged_view(overlay: OverlayFS) -> dict[str, str | None]:
    """The overlay's tree: path -> data (base64) or ``None`` for a directory."""
    view: dict[str, str | None] = {}
    for path, info in overlay.walk.info("/"):
        data = None if info.is_dir else base64.b64encode(overlay.readbytes(path)).decode()
        view[path] = data
    return dict(sorted(view.items()))


@pytest.fixture(params=STORES)
def old(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, typing.Any]:
    """One store's fixtures, its layers rebuilt under ``tmp_path``, paths rewritten to there."""
    store = request.param
    if store == "kernel" and os.geteuid() != 0:
        pytest.skip("the kernel format's trusted.overlay.* attributes need root (not root here)")
    trees = json.loads((DATA / f"{store}.tree.json").read_text())
    base = tmp_path / store
    rebuild(str(base / "lower"), trees["lower"], trees["mtime"])
    rebuild(str(base / "upper"), trees["upper"], None)
    (base / "work").mkdir()
    text = moved((DATA / f"{store}.json").read_text(), f"{trees['root']}/{store}", str(base))
    return {**json.loads(text), "view": trees["view"]}


def test_an_old_description_reopens_to_the_same_tree(old: dict[str, typing.Any]) -> None:
    with OverlayFS.from_description(old["description"]) as overlay:
        assert merged_view(overlay) == old["view"]


def test_an_old_url_reopens_to_the_same_tree(old: dict[str, typing.Any]) -> None:
    with fs.open_fs(old["url"]) as overlay:
        assert isinstance(overlay, OverlayFS)
        assert merged_view(overlay) == old["view"]


def test_a_reopened_overlay_describes_itself_as_the_old_release_did(
    old: dict[str, typing.Any],
) -> None:
    with OverlayFS.from_description(old["description"]) as overlay:
        assert overlay.describe() == old["description"]
        assert overlay.fs_url == old["url"]


def test_the_frozen_strategy_names_are_the_old_qualified_names() -> None:
    from unionfs_lib import CopyUpEngine, DirIterator, KernelWhiteouts, MarkerWhiteouts
    from unionfs_lib.layers.strategy_registry import BUILTIN

    assert BUILTIN == {
        "unionfs_lib.whiteout.MarkerWhiteouts": MarkerWhiteouts,
        "unionfs_lib.kernel_format.KernelWhiteouts": KernelWhiteouts,
        "unionfs_lib.copy_up.CopyUpEngine": CopyUpEngine,
        "unionfs_lib.readdir.DirIterator": DirIterator,
    }


def test_a_strategy_keeps_its_name_when_its_module_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    from unionfs_lib import MarkerWhiteouts
    from unionfs_lib.layers.strategy_registry import build_strategy, describe_strategy

    monkeypatch.setattr(MarkerWhiteouts, "__module__", "unionfs_lib.somewhere.else_")
    described = describe_strategy(MarkerWhiteouts())
    assert described == {"class": "unionfs_lib.whiteout.MarkerWhiteouts", "options": {}}
    assert type(build_strategy(described)) is MarkerWhiteouts
