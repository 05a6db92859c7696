"""What one copy-up of a small lower file costs in OS calls, counted without timing.

Issue 25 ("append to 500 lower files through the mount"): every append is a
copy-up, so each call cut here is cut 500 times. The counts are of calls
made through Python's ``os``/``fcntl``/``builtins`` functions, patched with
counters for the duration of one copy-up.
"""

from __future__ import annotations

import builtins
import collections
import fcntl
import os
import typing
import uuid
from pathlib import Path

import pytest
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.host import datacopy
from unionfs_lib.host.datacopy import copy_data

Counts = collections.Counter[str]


def _count(monkeypatch: pytest.MonkeyPatch, module: typing.Any, names: typing.Iterable[str],
           counts: Counts, prefix: str = "") -> None:
    """Replace ``module.<name>`` by a wrapper counting its calls into ``counts``."""
    for name in names:
        original = getattr(module, name)

        def counted(*args: typing.Any, _o: typing.Any = original, _n: str = prefix + name,
                    **kwargs: typing.Any) -> typing.Any:
            counts[_n] += 1
            return _o(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)


@pytest.fixture
def os_layers(tmp_path: Path) -> tuple[OSFS, OSFS]:
    (tmp_path / "lower").mkdir()
    (tmp_path / "upper").mkdir()
    lower = OSFS(str(tmp_path / "lower"))
    for index in range(3):
        lower.writebytes(f"/f{index}", b"a" * 100)
    return lower, OSFS(str(tmp_path / "upper"))


def test_a_kernel_copy_uses_descriptors_and_one_fstat(
    os_layers: tuple[OSFS, OSFS], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Python file objects (each ``open()`` ``fstat``-s its file again)."""
    lower, upper = os_layers
    counts: Counts = collections.Counter()
    _count(monkeypatch, builtins, ["open"], counts, "builtins.")
    _count(monkeypatch, os, ["fstat", "open"], counts, "os.")
    how = copy_data(lower, "/f0", upper, "/g0", None, chunk_size=7)
    assert upper.readbytes("/g0") == b"a" * 100
    if how == "clone":
        pytest.skip("this filesystem reflinks")
    assert counts == {"os.open": 2, "os.fstat": 1}


def test_a_refused_reflink_is_not_tried_again(
    os_layers: tuple[OSFS, OSFS], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second copy-up between the same two filesystems goes straight to copy_file_range."""
    lower, upper = os_layers
    monkeypatch.setattr(datacopy, "_NO_CLONE", set(), raising=False)
    counts: Counts = collections.Counter()
    _count(monkeypatch, fcntl, ["ioctl"], counts)
    if copy_data(lower, "/f0", upper, "/g0", None, chunk_size=7) == "clone":
        pytest.skip("this filesystem reflinks")
    assert counts["ioctl"] == 1
    for index in (1, 2):
        assert copy_data(lower, f"/f{index}", upper, f"/g{index}", None, 7) == "copy_file_range"
        assert upper.readbytes(f"/g{index}") == b"a" * 100
    assert counts["ioctl"] == 1


def test_the_copy_never_writes_through_a_link_at_its_name(
    os_layers: tuple[OSFS, OSFS], tmp_path: Path
) -> None:
    """The copy is a new file: a link planted at its name is refused, not followed."""
    lower, upper = os_layers
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    os.symlink(victim, tmp_path / "upper" / "g0")
    with pytest.raises(OSError):
        copy_data(lower, "/f0", upper, "/g0", None, chunk_size=7)
    assert victim.read_bytes() == b"keep"


def test_an_overlay_copy_up_still_copies_the_bytes(tmp_path: Path) -> None:
    for name in ("lower", "upper", "work"):
        (tmp_path / name).mkdir()
    (tmp_path / "lower" / "f").write_bytes(b"a" * 100)
    overlay = OverlayFS.from_dirs([str(tmp_path / "lower")], str(tmp_path / "upper"),
                                  str(tmp_path / "work"))
    with overlay:
        overlay.appendbytes("/f", b"y")
        assert overlay.readbytes("/f") == b"a" * 100 + b"y"
    assert (tmp_path / "upper" / "f").read_bytes() == b"a" * 100 + b"y"
    assert (tmp_path / "lower" / "f").read_bytes() == b"a" * 100


def _overlay(tmp_path: Path, layout: str) -> OverlayFS:
    """An overlay over a lower ``/d`` of three small files, ``/d`` already copied up."""
    for name in ("lower/d", "upper", "work"):
        (tmp_path / name).mkdir(parents=True)
    for index in range(3):
        (tmp_path / "lower" / "d" / f"f{index}").write_bytes(b"a" * 100)
    if layout == "kernel":
        overlay = OverlayFS.from_dirs([str(tmp_path / "lower")], str(tmp_path / "upper"),
                                      str(tmp_path / "work"))
    else:
        overlay = OverlayFS(OSFS(str(tmp_path / "upper")), [OSFS(str(tmp_path / "lower"))])
    overlay.appendbytes("/d/f0", b"y")
    return overlay


@pytest.mark.parametrize("layout", ["kernel", "markers"])
def test_a_copy_up_renames_once_and_stats_nothing_through_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """The copy goes into place with one ``rename(2)`` (``FS.move`` ``stat``-ed it first),
    and the parent's times are read with one ``lstat`` and put back with one ``utime``
    (``getinfo``/``setinfo`` ``stat``-ed the parent twice, following a link)."""
    overlay = _overlay(tmp_path, layout)
    parent = tmp_path / "upper" / "d"
    before = parent.stat()
    counts: Counts = collections.Counter()
    _count(monkeypatch, os, ["stat", "lstat", "rename", "replace", "utime"], counts)
    overlay.appendbytes("/d/f1", b"y")
    monkeypatch.undo()
    assert counts["stat"] == 0
    assert (counts["rename"], counts["replace"]) == (0, 1)
    assert counts["utime"] == 2  # the copy's times, then the parent's put back
    after = parent.stat()
    assert (after.st_mtime_ns, after.st_atime_ns) == (before.st_mtime_ns, before.st_atime_ns)
    assert overlay.readbytes("/d/f1") == b"a" * 100 + b"y"
    overlay.close()


def test_temp_names_draw_no_randomness_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A work-area name costs no ``getrandom`` (``uuid4``) of its own; names stay distinct."""
    overlay = _overlay(tmp_path, "kernel")
    counts: Counts = collections.Counter()
    _count(monkeypatch, uuid, ["uuid4"], counts)
    names = {overlay._sb.work.temp_path() for _ in range(100)}
    monkeypatch.undo()
    assert counts["uuid4"] == 0
    assert len(names) == 100
    assert all(len(name.rsplit("/", 1)[1]) == 32 for name in names)
    overlay.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_draws_names_of_its_own(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, "kernel")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next name, then out without cleanup
        os.write(write_end, overlay._sb.work.temp_path().encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    theirs = os.read(read_end, 4096).decode()
    os.close(read_end)
    mine = overlay._sb.work.temp_path()
    assert theirs and theirs != mine
    assert theirs.rsplit("/", 1)[1][:20] != mine.rsplit("/", 1)[1][:20]
    overlay.close()
