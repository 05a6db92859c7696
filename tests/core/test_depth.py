"""Depth costs linear work: deep trees are walked, copied up and extended without blow-up.

A chain ``/a/a/a/...`` thousands of levels deep once cost seconds per
operation: every directory listing resolved its whole path again (one
``lstat`` per component), cold lookups walked the lookup cache from the root
for every ancestor, and a ``TarFS`` lower scanned every member of the archive
for each listing and for each marker it was asked about.

These tests count work, never wall-clock time: the ``stat`` calls made
through Python's ``os`` module, the lookup cache reads, the calls reaching a
layer (:class:`tests.support.helpers.CountingFS`) and full scans of a tar's members.
Each operation is measured at depth ``d`` and ``2 d``: a whole walk (or a
copy-up of every ancestor) may cost twice as much at twice the depth, a single
step at the bottom (one ``mkdir``) no more at all, plus a constant.
"""

from __future__ import annotations

import collections
import errno
import io
import os
import stat
import tarfile
import typing

import fs.errors
import pytest
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.tarfs import TarFS

from unionfs_lib import OverlayFS
from unionfs_lib.mount.operations import OverlayOperations
from unionfs_lib.resolve import caches as lookup_cache

from ..support.deep_paths import fd_makedirs, fd_read, fd_walk, fd_write
from ..support.helpers import CountingFS

DEPTH = 64
#: Each measure is taken at these two depths.
DEPTHS = (DEPTH, 2 * DEPTH)
#: Work any operation may do on top of its share that grows with depth.
SLACK = 24

Work = typing.Dict[str, int]


class WorkCounter:
    """Counts ``os.stat``/``os.lstat`` calls and lookup cache reads while active."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        for name in ("stat", "lstat"):
            monkeypatch.setattr(os, name, self._counted(name, getattr(os, name)))
        original_get = lookup_cache.LRUCache.get
        counts = self.counts

        def get(cache: typing.Any, key: typing.Any) -> typing.Any:
            counts["lookup cache reads"] += 1
            return original_get(cache, key)

        monkeypatch.setattr(lookup_cache.LRUCache, "get", get)
        self.layers: list[CountingFS] = []

    def _counted(self, name: str, call: typing.Callable[..., typing.Any]) -> typing.Any:
        counts = self.counts

        def counted(*args: typing.Any, **kwargs: typing.Any) -> typing.Any:
            counts["os stat calls"] += 1
            return call(*args, **kwargs)

        return counted

    def measure(self, action: typing.Callable[[], object]) -> Work:
        """Return the work ``action`` does."""
        self.counts.clear()
        for layer in self.layers:
            layer.calls.clear()
        action()
        found = dict(self.counts)
        found["layer calls"] = sum(layer.total() for layer in self.layers)
        return found


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> WorkCounter:
    return WorkCounter(monkeypatch)


def assert_linear(found: typing.Sequence[Work], what: str) -> None:
    """The work at twice the depth is at most twice the work at the depth, plus a constant."""
    _assert_within(found[0], found[1], 2, what)


def assert_bounded(found: typing.Sequence[Work], what: str) -> None:
    """The work at twice the depth is at most the work at the depth, plus a constant."""
    _assert_within(found[0], found[1], 1, what)


def _assert_within(small: Work, large: Work, factor: int, what: str) -> None:
    """Each count of ``large`` is at most ``factor`` times that of ``small`` plus :data:`SLACK`."""
    over = {
        key: (small.get(key, 0), large.get(key, 0))
        for key in set(small) | set(large)
        if large.get(key, 0) > factor * small.get(key, 0) + SLACK
    }
    assert not over, f"{what} at depth {DEPTH} -> {2 * DEPTH}: {over}"


def chain(depth: int) -> str:
    """Return ``/a/a/.../a`` with ``depth`` components."""
    return "/a" * depth


def os_chain(root: str, depth: int) -> None:
    """Make ``root/a/a/.../a/f`` (``depth`` directories) relative to descriptors."""
    fd_makedirs(root, ["a"] * depth)
    fd_write(root, ["a"] * depth, "f", b"deep")


def open_overlay(kind: str, depth: int, root: str, work: WorkCounter) -> OverlayFS:
    """Return an overlay whose lower holds a ``depth``-deep chain ending in file ``f``."""
    if kind == "kernel":
        os_chain(os.path.join(root, "lower"), depth)
        for name in ("upper", "work"):
            os.mkdir(os.path.join(root, name))
        return OverlayFS.from_dirs(
            [os.path.join(root, "lower")], os.path.join(root, "upper"), os.path.join(root, "work")
        )
    lower = MemoryFS()
    lower.makedirs(chain(depth))
    lower.writebytes(chain(depth) + "/f", b"deep")
    counted_upper, counted_lower = CountingFS(MemoryFS()), CountingFS(lower)
    work.layers[:] = [counted_upper, counted_lower]
    return OverlayFS(counted_upper, [counted_lower])


def walk_every_level(overlay: FS, depth: int) -> None:
    """Stat and list every directory of the chain, then read the file at the bottom."""
    path = ""
    for level in range(1, depth + 1):
        path += "/a"
        assert overlay.getinfo(path).is_dir
        assert overlay.listdir(path) == (["f"] if level == depth else ["a"])
    assert overlay.readbytes(path + "/f") == b"deep"


KINDS = ["kernel", "memory"]


def measure_walk(kind: str, depth: int, root: str, work: WorkCounter) -> Work:
    """Return the work of walking every level of a ``depth``-deep chain."""
    with open_overlay(kind, depth, root, work) as overlay:
        return work.measure(lambda: walk_every_level(overlay, depth))


@pytest.mark.parametrize("kind", KINDS)
def test_walking_a_deep_chain_costs_linear_work(kind, work, tmp_path):
    found = [measure_walk(kind, depth, str(tmp_path / str(depth)), work) for depth in DEPTHS]
    assert_linear(found, "walk")


def measure_append(kind: str, depth: int, root: str, work: WorkCounter) -> Work:
    """Return the work of appending to the file at the bottom (copying up every ancestor)."""
    with open_overlay(kind, depth, root, work) as overlay:
        deep = chain(depth) + "/f"
        found = work.measure(lambda: overlay.appendbytes(deep, b"!"))
        assert overlay.readbytes(deep) == b"deep!"
        assert overlay.upper is not None and overlay.upper.isdir(chain(depth))
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_append_at_the_bottom_copies_up_ancestors_in_linear_work(kind, work, tmp_path):
    found = [measure_append(kind, depth, str(tmp_path / str(depth)), work) for depth in DEPTHS]
    assert_linear(found, "append")


def steps_at_the_bottom(overlay: FS, deep: str) -> None:
    """Make, stat, fill, list and remove a directory below ``deep``."""
    overlay.makedir(deep + "/b/c")
    overlay.getinfo(deep + "/b/c")
    overlay.writebytes(deep + "/b/c/g", b"g")
    assert overlay.listdir(deep + "/b/c") == ["g"]
    overlay.remove(deep + "/b/c/g")
    overlay.removedir(deep + "/b/c")


def measure_steps(kind: str, depth: int, root: str, work: WorkCounter) -> Work:
    """Return the work of :func:`steps_at_the_bottom` once the chain is in the upper."""
    with open_overlay(kind, depth, root, work) as overlay:
        deep = chain(depth)
        overlay.appendbytes(deep + "/f", b"!")  # the chain is in the upper now
        overlay.makedir(deep + "/b")
        return work.measure(lambda: steps_at_the_bottom(overlay, deep))


@pytest.mark.parametrize("kind", KINDS)
def test_one_step_at_the_bottom_costs_the_same_at_any_depth(kind, work, tmp_path):
    found = [measure_steps(kind, depth, str(tmp_path / str(depth)), work) for depth in DEPTHS]
    assert_bounded(found, "one step")


def mkdir_step(operations: OverlayOperations, path: str) -> None:
    """Make directory ``path`` as the kernel asks the daemon: a failed lookup, mkdir, lookup."""
    with pytest.raises(OSError):
        operations.getattr(path)
    operations.mkdir(path, 0o755)
    assert operations.getattr(path)["st_nlink"] >= 1


def measure_mkdir_step(depth: int, root: str, work: WorkCounter) -> Work:
    """Return the work of one :func:`mkdir_step` below a ``depth``-deep chain made so."""
    for name in ("lower", "upper", "work"):
        os.makedirs(os.path.join(root, name))
    layers = [os.path.join(root, name) for name in ("lower", "upper", "work")]
    with OverlayFS.from_dirs([layers[0]], layers[1], layers[2]) as overlay:
        operations = OverlayOperations(overlay)
        for level in range(1, depth + 1):
            mkdir_step(operations, chain(level))
        return work.measure(lambda: mkdir_step(operations, chain(depth + 1)))


def test_a_mkdir_chain_through_the_mount_operations_costs_the_same_per_step(work, tmp_path):
    """What the daemon does per ``mkdir`` is bounded (it grew with the depth)."""
    found = [measure_mkdir_step(depth, str(tmp_path / str(depth)), work) for depth in DEPTHS]
    assert_bounded(found, "mkdir through the operations")


# -- a TarFS lower -------------------------------------------------------------


class _CountedMembers(collections.OrderedDict):  # type: ignore[type-arg]
    """A tar's member table that counts the scans over all its members."""

    scans = 0

    def __iter__(self) -> typing.Iterator[typing.Any]:
        _CountedMembers.scans += 1
        return super().__iter__()

    def items(self) -> typing.Any:
        _CountedMembers.scans += 1
        return super().items()


def tar_chain(path: str, depth: int) -> None:
    """Write a tar holding a ``depth``-deep chain of directories and the file ``f``."""
    with tarfile.open(path, "w") as archive:
        name = ""
        for _ in range(depth):
            name = f"{name}/a" if name else "a"
            member = tarfile.TarInfo(name)
            member.type, member.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(member)
        member = tarfile.TarInfo(name + "/f")
        member.size = 4
        archive.addfile(member, io.BytesIO(b"deep"))


def open_tar_overlay(path: str) -> OverlayFS:
    """Return an overlay over the tar at ``path`` whose member scans are counted."""
    lower = TarFS(path)
    lower._directory_cache = _CountedMembers(lower._directory_entries)  # type: ignore[attr-defined]
    return OverlayFS(MemoryFS(), [lower])


def tar_scans(depth: int, path: str) -> Work:
    """Return the scans of a ``depth``-deep tar's members to walk it, copy up and look for more."""
    tar_chain(path, depth)
    with open_tar_overlay(path) as overlay:
        _CountedMembers.scans = 0
        walk_every_level(overlay, depth)
        overlay.appendbytes(chain(depth) + "/f", b"!")
        assert overlay.readbytes(chain(depth) + "/f") == b"deep!"
        assert overlay.exists(chain(depth) + "/nothing") is False
        return {"tar scans": _CountedMembers.scans}


@pytest.mark.unguarded  # the index is read from the TarFS itself, not through a wrapper
def test_a_tar_lower_is_scanned_a_bounded_number_of_times(tmp_path):
    found = [tar_scans(depth, str(tmp_path / f"{depth}.tar")) for depth in DEPTHS]
    assert_bounded(found, "tar")
    assert found[1]["tar scans"] <= 4


# -- OS paths past PATH_MAX ------------------------------------------------------------


LONG = ["d" * 200] * 25  # 5,025 bytes of directories


@pytest.fixture
def aliases(tmp_path) -> typing.Any:
    from unionfs_lib.host.long_paths import PathAliases  # imported here: the rest runs without it

    (tmp_path / "aliases").mkdir()
    return PathAliases(str(tmp_path / "aliases"))


def test_an_alias_reaches_a_path_past_path_max_by_name(aliases, tmp_path):
    root = str(tmp_path / "tree")
    fd_makedirs(root, LONG)
    long = os.fsencode(root + "/" + "/".join(LONG) + "/f")
    with pytest.raises(OSError) as refused:
        os.stat(long)
    assert refused.value.errno == errno.ENAMETOOLONG
    alias = aliases.short(long)
    assert len(alias) < 3072 and alias.endswith(b"/f")
    with open(alias, "wb") as handle:
        handle.write(b"first")
    # The directories move and others take their place: the alias follows the names.
    os.rename(os.path.join(root, LONG[0]), os.path.join(root, "moved"))
    fd_makedirs(root, LONG)
    assert aliases.short(long) == alias
    with open(alias, "xb") as handle:
        handle.write(b"second")
    assert fd_read(root, ["moved", *LONG[1:]], "f") == b"first"


def test_an_alias_never_stands_for_the_last_component(aliases, tmp_path):
    root = str(tmp_path / "tree")
    fd_makedirs(root, LONG)
    fd = fd_walk(root, LONG)
    os.symlink("elsewhere", "link", dir_fd=fd)
    os.close(fd)
    for tail in ("link", "link/", ""):
        path = os.fsencode(root + "/" + "/".join(LONG) + ("/" + tail if tail else ""))
        alias = aliases.short(path)
        assert alias != path
        if tail == "link":
            assert stat.S_ISLNK(os.lstat(alias).st_mode)
            assert os.readlink(alias) == b"elsewhere"
        elif tail == "":
            assert stat.S_ISDIR(os.lstat(alias).st_mode)


def test_long_directories_are_reached_through_nested_links(aliases, tmp_path):
    root = str(tmp_path / "tree")
    names = LONG * 4  # about 20 KB
    fd_makedirs(root, names)
    alias = aliases.short(os.fsencode(root + "/" + "/".join(names) + "/f"))
    with open(alias, "wb") as handle:
        handle.write(b"deep")
    assert fd_read(root, names, "f") == b"deep"


def test_no_link_stands_for_a_directory_that_is_not_there(aliases, tmp_path):
    root = str(tmp_path / "tree")
    fd_makedirs(root, LONG[:5])
    missing = os.fsencode(root + "/" + "/".join(LONG) + "/f")
    for _ in range(3):
        with pytest.raises(FileNotFoundError):
            os.stat(aliases.short(missing))
        with pytest.raises(FileNotFoundError):
            os.mkdir(aliases.short(missing))
    made = [os.path.join(dirpath, name) for dirpath, _, names in os.walk(tmp_path / "aliases")
            for name in names]
    assert made == []
    fd_makedirs(root + "/" + "/".join(LONG[:5]), LONG[5:])  # there now: reached
    with open(aliases.short(missing), "wb"):
        pass
    fd = fd_walk(root, LONG)
    try:
        assert os.listdir(fd) == ["f"]
    finally:
        os.close(fd)


def test_past_the_reach_of_aliases_the_kernel_answers(aliases, tmp_path):
    """Forty links at most per call: a 200 KB path fails, never reaching another entry."""
    path = os.fsencode(str(tmp_path) + "/nowhere" + "/x" * 100_000)
    with pytest.raises(OSError) as refused:
        os.stat(aliases.short(path))
    assert refused.value.errno in (errno.ELOOP, errno.ENAMETOOLONG, errno.ENOENT)


def test_an_overlay_of_directories_works_past_path_max(tmp_path):
    """Through the API too: read, copy up, list, remove, 8 KB below the layer roots."""
    lower, upper, work = (str(tmp_path / name) for name in ("lower", "upper", "work"))
    names = LONG + LONG[:15]  # 8,040 bytes
    os_chain(lower, 0)
    fd_makedirs(lower, names)
    fd = fd_walk(lower, names)
    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)
    for path in (upper, work):
        os.mkdir(path)
    deep = "/" + "/".join(names)
    with OverlayFS.from_dirs([lower], upper, work) as overlay:
        assert overlay.listdir(deep) == ["f"]
        overlay.appendbytes(deep + "/f", b"up")
        overlay.makedir(deep + "/new")
        overlay.writebytes(deep + "/new/g", b"g")
        assert sorted(overlay.listdir(deep)) == ["f", "new"]
        assert overlay.readbytes(deep + "/f") == b"up"
        overlay.removetree(deep + "/new")
        assert overlay.listdir(deep) == ["f"]
    fd = fd_walk(upper, names)
    try:
        assert sorted(os.listdir(fd)) == ["f"]
        with open(os.open("f", os.O_RDONLY, dir_fd=fd), "rb") as handle:
            assert handle.read() == b"up"
    finally:
        os.close(fd)


# -- the tar index answers as the tar does ----------------------------------------------

#: Odd archives: implied directories, ``./`` and absolute names, a file with
#: members below it, a name given twice, back references.
ARCHIVES = [
    [("x/y/z", "f"), ("x/w", "f"), ("q", "d")],
    [("./a/", "d"), ("./a/b", "f"), ("a/c/d", "f"), ("/abs/e", "f")],
    [("f", "f"), ("f/g", "f"), ("d", "d"), ("d", "f"), ("l", "l"), ("dd/", "d"), ("dd/x", "f")],
    [("a/../b", "f"), ("../evil", "f"), ("c//d", "f"), ("e/.wh.x", "f")],
]
PROBES = [
    "/", "", "x", "/x", "/x/y", "/x/y/z", "/x/w", "/q", "/a", "/a/b", "/a/c", "/a/c/d", "/abs",
    "/abs/e", "/f", "/f/g", "/d", "/l", "/dd", "/dd/x", "/b", "/c", "/c/d", "/e", "/e/.wh.x",
    "/nope", "/x/nope", "x/./y", "/x/../q", "/x/",
]


def archive(entries: list[tuple[str, str]]) -> io.BytesIO:
    """Return a tar of ``(name, kind)`` members: ``d`` directory, ``l`` link, else a file."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, kind in entries:
            member = tarfile.TarInfo(name)
            if kind == "d":
                member.type = tarfile.DIRTYPE
                tar.addfile(member)
            elif kind == "l":
                member.type, member.linkname = tarfile.SYMTYPE, "x"
                tar.addfile(member)
            else:
                member.size = 2
                tar.addfile(member, io.BytesIO(b"xy"))
    data.seek(0)
    return data


#: What is asked of both, by name: ``(layer, path) -> answer``.
QUESTIONS: dict[str, typing.Callable[[FS, str], typing.Any]] = {
    "getinfo": lambda layer, path: layer.getinfo(path),
    "details": lambda layer, path: layer.getinfo(path, ["details"]),
    "access": lambda layer, path: layer.getinfo(path, ["details", "access"]),
    "isdir": lambda layer, path: layer.isdir(path),
    "isfile": lambda layer, path: layer.isfile(path),
    "exists": lambda layer, path: layer.exists(path),
    "listdir": lambda layer, path: layer.listdir(path),
    "scandir": lambda layer, path: list(layer.scandir(path, ["details"])),
}


def answer(question: str, layer: FS, path: str) -> typing.Any:
    """Return what ``layer`` answers (``Info`` as its raw dict), or the name of its error."""
    try:
        found = QUESTIONS[question](layer, path)
    except fs.errors.FSError as error:
        return type(error).__name__
    if isinstance(found, list):
        return [item.raw if hasattr(item, "raw") else item for item in found]
    return found.raw if hasattr(found, "raw") else found


@pytest.mark.parametrize("entries", ARCHIVES)
def test_the_tar_index_answers_as_the_tar(entries):
    from unionfs_lib.host.tar_index import indexed

    tar, view = TarFS(archive(entries)), indexed(TarFS(archive(entries)))
    assert type(view).__name__ == "TarIndex"
    for path in PROBES:
        for question in QUESTIONS:
            assert answer(question, view, path) == answer(question, tar, path), (question, path)
