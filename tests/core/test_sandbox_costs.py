"""The sandbox job's costs, pinned by counting calls (no timing).

A copy-up reads its source's ``lstat`` once and threads it through its
checks and the metadata copy; a whiteout of a marker store over an OS upper
is a new name of an earlier empty whiteout (one ``link``, no new inode)
wherever it can be.
"""

from __future__ import annotations

import collections
import os
import pathlib
import typing

import pytest
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.ops.copy_up_engine import CopyUpEngine


def _layers(tmp_path: pathlib.Path, names: typing.Iterable[str]) -> tuple[str, str]:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "d").mkdir(parents=True)
    upper.mkdir()
    for name in names:
        (lower / "d" / name).write_bytes(b"lower " + name.encode())
    os.chmod(lower / "d", 0o755)
    return str(lower), str(upper)


class _StatCounter:
    """Counts ``os.stat``/``os.lstat`` calls per path while ``on``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.on = False
        self.calls: collections.Counter[str] = collections.Counter()
        for name in ("stat", "lstat"):
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._wrap(real))

    def _wrap(self, real: typing.Callable[..., os.stat_result]) -> typing.Callable[..., typing.Any]:
        def counted(path: typing.Any, *args: typing.Any, **kwargs: typing.Any) -> os.stat_result:
            if self.on and isinstance(path, (str, bytes)):
                self.calls[os.fsdecode(path)] += 1
            return real(path, *args, **kwargs)

        return counted


def test_a_copy_up_stats_its_source_once(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lower, upper = _layers(tmp_path, ["f"])
    os.utime(os.path.join(lower, "d", "f"), ns=(1_000_000_000, 2_000_000_000))
    os.chmod(os.path.join(lower, "d", "f"), 0o640)
    counter = _StatCounter(monkeypatch)
    real_copy_up = CopyUpEngine.copy_up

    def counted_copy_up(self: CopyUpEngine, *args: typing.Any, **kwargs: typing.Any) -> None:
        counter.on = True
        try:
            real_copy_up(self, *args, **kwargs)
        finally:
            counter.on = False

    monkeypatch.setattr(CopyUpEngine, "copy_up", counted_copy_up)
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        overlay.makedir("/e")  # the root is in the upper already: only the file's parent is new
        overlay.appendbytes("/d/f", b"+")
        assert counter.calls[os.path.join(lower, "d", "f")] == 1, counter.calls
        # the times of the lstat before the copy read the lower file (as the kernel's copy-up)
        copied = os.lstat(os.path.join(upper, "d", "f"))
        assert (copied.st_mode & 0o7777, copied.st_atime_ns) == (0o640, 1_000_000_000)
        assert overlay.readbytes("/d/f") == b"lower f+"


def test_a_copy_up_of_a_link_still_copies_the_link(tmp_path: pathlib.Path) -> None:
    lower, upper = _layers(tmp_path, ["f"])
    os.symlink("f", os.path.join(lower, "d", "link"))
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        overlay.setinfo("/d/link", {"details": {"modified": 5.0}})
    assert os.readlink(os.path.join(upper, "d", "link")) == "f"


def test_whiteouts_are_links_of_one_empty_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"f{index}" for index in range(4)]
    lower, upper = _layers(tmp_path, names)
    creating: list[str] = []
    real_open = os.open

    def counted_open(path: typing.Any, flags: int, *args: typing.Any, **kwargs: typing.Any) -> int:
        if flags & os.O_CREAT and ".wh." in os.fsdecode(path):
            creating.append(os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        overlay.remove("/d/f0")
        monkeypatch.setattr(os, "open", counted_open)
        for name in names[1:]:
            overlay.remove(f"/d/{name}")
        monkeypatch.undo()
        assert overlay.listdir("/d") == []
    assert creating == []  # no new file: each whiteout is a link
    found = [os.lstat(os.path.join(upper, "d", f".wh.{name}")) for name in names]
    assert len({(item.st_dev, item.st_ino) for item in found}) == 1
    assert all(item.st_size == 0 and item.st_nlink == len(names) for item in found)
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as reopened:
        assert reopened.listdir("/d") == []


def test_a_whiteout_whose_first_is_gone_or_changed_is_written_anew(
    tmp_path: pathlib.Path,
) -> None:
    lower, upper = _layers(tmp_path, ["a", "b", "c", "d"])
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        overlay.remove("/d/a")
        overlay.writebytes("/d/a", b"new")  # its whiteout goes
        overlay.remove("/d/b")  # the first whiteout is gone: a new file
        first = os.path.join(upper, "d", ".wh.b")
        assert os.lstat(first).st_nlink == 1
        with open(first, "wb") as planted:  # no longer empty: never linked again
            planted.write(b"x")
        overlay.remove("/d/c")
        overlay.remove("/d/d")
        assert overlay.listdir("/d") == ["a"]
    made = [os.lstat(os.path.join(upper, "d", f".wh.{name}")) for name in "cd"]
    assert made[0].st_ino == made[1].st_ino != os.lstat(first).st_ino
    assert all(item.st_size == 0 for item in made)


class _CountingEntry:
    """A ``DirEntry`` that counts its ``stat`` calls."""

    def __init__(self, entry: os.DirEntry[str], calls: collections.Counter[str]) -> None:
        self._entry, self._calls = entry, calls
        self.name, self.path = entry.name, entry.path

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return self._entry.is_dir(follow_symlinks=follow_symlinks)

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return self._entry.is_file(follow_symlinks=follow_symlinks)

    def is_symlink(self) -> bool:
        return self._entry.is_symlink()

    def inode(self) -> int:
        return self._entry.inode()

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        self._calls[self.path] += 1
        return self._entry.stat(follow_symlinks=follow_symlinks)


class _CountingScan:
    """``os.scandir`` whose entries count their ``stat`` calls."""

    def __init__(self, scan: typing.Any, calls: collections.Counter[str]) -> None:
        self._scan, self._calls = scan, calls

    def __enter__(self) -> _CountingScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self._scan.close()

    def close(self) -> None:
        self._scan.close()

    def __iter__(self) -> typing.Iterator[_CountingEntry]:
        return (_CountingEntry(entry, self._calls) for entry in self._scan)


@pytest.mark.unguarded  # the mechanism of an OSFS lower itself (a wrapped one lists through it)
def test_a_cold_listing_of_a_lower_stats_no_file_until_details_are_asked(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"f{index:03d}" for index in range(50)]
    lower, upper = _layers(tmp_path, names)
    os.mkdir(os.path.join(lower, "d", "sub"))
    os.symlink("f001", os.path.join(lower, "d", "link"))
    counter = _StatCounter(monkeypatch)
    real_scandir = os.scandir
    monkeypatch.setattr(
        os, "scandir", lambda path=".": _CountingScan(real_scandir(path), counter.calls)
    )
    files = [os.path.join(lower, "d", name) for name in names]
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        counter.on = True
        assert overlay.listdir("/d") == sorted([*names, "sub", "link"])
        assert sorted(overlay.walk.files("/d")) == sorted(f"/d/{name}" for name in [*names, "link"])
        assert [info.is_dir for info in overlay.scandir("/d") if info.name == "sub"] == [True]
        assert overlay.readbytes("/d/f007") == b"lower f007"
        assert overlay.isfile("/d/link") and overlay.isdir("/d/sub")
        assert sum(counter.calls[path] for path in files) == 0, counter.calls
        # details when a namespace asks for them (one stat): what the layer itself says
        mine = {path: overlay.getinfo(path, ["details"]) for path in ("/d/f003", "/d/link")}
        assert counter.calls[files[3]] == 1
        counter.on = False
        with OSFS(lower) as direct:
            for path, info in mine.items():
                theirs = direct.getinfo(path, ["details"])
                assert info.raw["details"] == theirs.raw["details"], path
                assert (info.size, info.modified, info.is_dir) == (
                    theirs.size, theirs.modified, theirs.is_dir
                )
            assert overlay.getinfo("/d/sub", ["details"]).is_dir


@pytest.mark.unguarded  # the mechanism of an OSFS lower itself (a wrapped one lists through it)
def test_a_listing_asking_only_for_the_overlay_namespace_stats_no_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mount's plain ``readdir`` needs each entry's name, type and inode number: an
    ``overlay`` listing of a cold lower read every entry's details (an ``lstat`` each)."""
    names = [f"f{index:03d}" for index in range(50)]
    lower, upper = _layers(tmp_path, names)
    os.mkdir(os.path.join(lower, "d", "sub"))
    counter = _StatCounter(monkeypatch)
    files = [os.path.join(lower, "d", name) for name in names]
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        counter.on = True
        listed = list(overlay.iterdir("/d", None, ["overlay"]))
        scanned = list(overlay.scandir("/d", ["overlay"]))
        assert sum(counter.calls[path] for path in files) == 0, counter.calls
        counter.on = False
        for infos in ([info for _cookie, info in listed], scanned):
            assert sorted(info.name for info in infos) == sorted([*names, "sub"])
            assert [info.is_dir for info in infos if info.name == "sub"] == [True]
            for info in infos:  # the same inode numbers as a full description gives
                full = overlay.getinfo(f"/d/{info.name}", ["overlay", "details"])
                assert info.raw["overlay"] == full.raw["overlay"], info.name
                assert set(info.namespaces) == {"basic", "overlay"}


@pytest.mark.parametrize("size", [0, 1, 1024, 70_000, 300_000])
def test_a_lower_file_is_read_whole_whatever_its_size(tmp_path: pathlib.Path, size: int) -> None:
    lower, upper = _layers(tmp_path, [])
    data = os.urandom(size)
    (pathlib.Path(lower) / "d" / "f").write_bytes(data)
    os.mkfifo(os.path.join(lower, "d", "fifo"))
    with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
        assert overlay.readbytes("/d/f") == data
        assert overlay.getinfo("/d/f", ["details"]).size == size
