"""Opening an overlay reads nothing that grows with the upper: no scan at open."""

from __future__ import annotations

import collections
import typing

from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from fs.wrap import WrapFS

from unionfs_lib import OverlayFS

ENTRIES = 3_000
_COUNTED = (
    "getinfo", "exists", "isdir", "isfile", "listdir", "scandir", "filterdir", "openbin",
    "readbytes", "writebytes", "makedir", "makedirs", "remove", "removedir", "removetree",
    "getsyspath", "getmeta", "setinfo", "move",
)


class CallCountingFS(WrapFS[FS]):
    """A pass-through wrapper counting every call of the common FS methods by name."""

    def __init__(self, wrapped: FS) -> None:
        super().__init__(wrapped)
        self.calls: collections.Counter[str] = collections.Counter()

    def __getattribute__(self, name: str) -> typing.Any:
        if name in _COUNTED:
            object.__getattribute__(self, "calls")[name] += 1
        return object.__getattribute__(self, name)


def _fill_upper(upper: FS, lower: FS, entries: int = ENTRIES) -> None:
    """Make ``upper`` hold ``entries`` entries, most of them copied up from ``lower``."""
    overlay = OverlayFS(upper, [lower], auto_close=False)
    for index in range(entries):
        if index % 3:
            overlay.appendbytes(f"/big/f{index:05d}", b"+")  # copied up, with a record
        else:
            overlay.writebytes(f"/big/new{index:05d}", b"new")
    overlay.remove("/big/f00000")  # a whiteout too
    overlay.close()


def _lower() -> FS:
    lower = MemoryFS()
    lower.makedir("/big")
    for index in range(ENTRIES):
        lower.writebytes(f"/big/f{index:05d}", b"x")
    return lower


def _calls_at_open(upper: FS, lower: FS) -> tuple[collections.Counter[str], ...]:
    counted_upper, counted_lower = CallCountingFS(upper), CallCountingFS(lower)
    overlay = OverlayFS(counted_upper, [counted_lower], auto_close=False)
    opened = (collections.Counter(counted_upper.calls), collections.Counter(counted_lower.calls))
    overlay.close()
    return opened


def _check_open_costs_the_same(small: FS, full: FS, lower: FS) -> None:
    """Compare opening over an upper used once (a work area, two entries) and a full one."""
    _fill_upper(small, lower, entries=2)
    _fill_upper(full, lower)
    assert len(full.listdir("/big")) >= ENTRIES
    over_empty = _calls_at_open(small, lower)
    over_full = _calls_at_open(full, lower)
    assert over_full == over_empty
    assert over_full[0]["filterdir"] == 0
    # one listing at most: the (empty) work area, cleaned at open (a scandir: it
    # needs each entry's kind, so that a link there is removed, never followed)
    assert over_full[0]["scandir"] + over_full[0]["listdir"] <= 1
    assert sum(over_full[1].values()) == 0  # the lowers are not touched at open


def test_opening_over_a_large_memory_upper_costs_what_a_small_one_does() -> None:
    _check_open_costs_the_same(MemoryFS(), MemoryFS(), _lower())


def test_opening_over_a_large_os_upper_costs_what_a_small_one_does(tmp_path: typing.Any) -> None:
    (tmp_path / "small").mkdir()
    (tmp_path / "full").mkdir()
    _check_open_costs_the_same(
        OSFS(str(tmp_path / "small")), OSFS(str(tmp_path / "full")), _lower()
    )


def test_the_first_lookup_reads_one_directory_of_the_upper() -> None:
    upper, lower = MemoryFS(), _lower()
    _fill_upper(upper, lower)
    counted = CallCountingFS(upper)
    overlay = OverlayFS(counted, [lower], auto_close=False)
    counted.calls.clear()
    assert overlay.readbytes("/big/f00002") == b"x+"
    assert counted.calls["scandir"] <= 2  # the root and /big, nothing below
    overlay.close()
