"""The per-call paths of reads and listings: what they ask of the layers."""

from __future__ import annotations

import os
import typing

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from hypothesis import given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.errors import EscapesLayer

from ..support.helpers import CountingFS


def _os_layers(tmp_path: typing.Any) -> tuple[OSFS, OSFS]:
    (tmp_path / "upper").mkdir()
    lower_root = tmp_path / "lower"
    (lower_root / "d").mkdir(parents=True)
    (lower_root / "d" / "plain.txt").write_bytes(b"plain")
    (lower_root / "d" / "empty.txt").write_bytes(b"")
    os.symlink("plain.txt", lower_root / "d" / "inside-link")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    os.symlink(tmp_path / "outside.txt", lower_root / "d" / "escaping-link")
    return OSFS(str(tmp_path / "upper")), OSFS(str(lower_root))


def test_os_layer_reads_give_the_layers_bytes_and_refuse_escaping_links(
    tmp_path: typing.Any,
) -> None:
    upper, lower = _os_layers(tmp_path)
    overlay = OverlayFS(upper, [lower])
    assert overlay.readbytes("/d/plain.txt") == b"plain"
    assert overlay.readbytes("/d/empty.txt") == b""
    assert overlay.readbytes("/d/inside-link") == b"plain"  # a link inside: read through
    with pytest.raises(EscapesLayer):
        overlay.readbytes("/d/escaping-link")
    overlay.writebytes("/d/new.txt", b"upper bytes")
    assert overlay.readbytes("/d/new.txt") == b"upper bytes"
    overlay.close()


def test_a_file_gone_behind_the_overlays_back_is_not_found(tmp_path: typing.Any) -> None:
    upper, lower = _os_layers(tmp_path)
    overlay = OverlayFS(upper, [lower])
    overlay.writebytes("/d/new.txt", b"x")
    os.remove(upper.getsyspath("/d/new.txt"))
    with pytest.raises(fs.errors.ResourceNotFound):
        overlay.readbytes("/d/new.txt")
    overlay.close()


def test_a_directory_read_as_a_file_is_refused(tmp_path: typing.Any) -> None:
    upper, lower = _os_layers(tmp_path)
    overlay = OverlayFS(upper, [lower])
    with pytest.raises(fs.errors.FileExpected):
        overlay.readbytes("/d")
    overlay.close()


def test_upper_getinfo_is_the_uppers_answer() -> None:
    upper = MemoryFS()
    upper.makedir("/d")
    upper.writebytes("/d/f.txt", b"abc")
    overlay = OverlayFS(upper, [MemoryFS()])
    for namespaces in (None, ["details"], ["basic", "details"]):
        assert overlay.getinfo("/d/f.txt", namespaces).raw == upper.getinfo(
            "/d/f.txt", namespaces
        ).raw
    assert overlay.getinfo("/d/f.txt", ["overlay"]).get("overlay", "layer") == 0
    overlay.close()


def _counted_small_directory() -> tuple[MemoryFS, CountingFS, OverlayFS]:
    """A lower holding ``/d`` with 50 files, its counting wrapper, and an overlay on it."""
    lower = MemoryFS()
    lower.makedir("/d")
    for index in range(50):
        lower.writebytes(f"/d/f{index:02d}", b"x")
    counted = CountingFS(lower)
    return lower, counted, OverlayFS(MemoryFS(), [counted])


def test_a_small_directory_is_iterated_from_the_cache_after_the_first_time() -> None:
    lower, counted, overlay = _counted_small_directory()
    first = [info.name for _, info in overlay.iterdir("/d")]
    counted.calls.clear()
    again = [(info.name, info.is_dir) for _, info in overlay.iterdir("/d")]
    assert first == sorted(lower.listdir("/d"))
    assert again == [(name, False) for name in first]
    assert counted.calls["scandir"] == counted.calls["getinfo"] == 0
    overlay.close()


def test_iterating_a_small_directory_asks_no_info_per_entry() -> None:
    lower, counted, overlay = _counted_small_directory()
    sizes = {info.name: info.size for _, info in overlay.iterdir("/d", namespaces=["details"])}
    assert sizes == {name: 1 for name in lower.listdir("/d")}
    assert counted.calls["getinfo"] == 0  # details came with the listing
    overlay.close()


# -- MemoryFS layers are read from their entries ---------------------------------


def _memory_layers() -> tuple[MemoryFS, MemoryFS]:
    upper, lower = MemoryFS(), MemoryFS()
    for layer in (upper, lower):
        layer.makedir("/d")
    lower.writebytes("/d/lower.bin", bytes(range(256)) * 40)
    lower.writebytes("/d/empty.bin", b"")
    upper.writebytes("/d/upper.bin", b"upper bytes")
    return upper, lower


def _refuse_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: typing.Any, **kwargs: typing.Any) -> typing.NoReturn:
        raise AssertionError("a MemoryFS file was opened to read it whole")

    monkeypatch.setattr(MemoryFS, "openbin", refused)


@pytest.mark.unguarded  # it checks that the plain MemoryFS lower itself is read
def test_a_memory_layer_file_is_read_from_its_entry_without_opening_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upper, lower = _memory_layers()
    expected = {path: lower.readbytes(path) for path in ("/d/lower.bin", "/d/empty.bin")}
    expected["/d/upper.bin"] = upper.readbytes("/d/upper.bin")
    overlay = OverlayFS(upper, [lower])
    _refuse_opens(monkeypatch)
    assert {path: overlay.readbytes(path) for path in expected} == expected
    overlay.close()


def test_a_memory_read_sees_what_an_open_handle_wrote_and_stamps_the_access_time() -> None:
    upper, lower = _memory_layers()
    overlay = OverlayFS(upper, [lower])
    with overlay.openbin("/d/upper.bin", "r+b") as handle:
        handle.write(b"UPPER")
        assert overlay.readbytes("/d/upper.bin") == b"UPPER bytes"
    upper.setinfo("/d/upper.bin", {"details": {"accessed": 0}})
    assert overlay.readbytes("/d/upper.bin") == b"UPPER bytes"
    accessed = upper.getinfo("/d/upper.bin", ["details"]).accessed
    assert accessed is not None and accessed.timestamp() > 0
    overlay.close()


class _ReadCountingMemoryFS(MemoryFS):
    """A MemoryFS subclass with its own ``readbytes``: it must be asked."""

    reads = 0

    def readbytes(self, path: str) -> bytes:
        type(self).reads += 1
        return super().readbytes(path)


def test_a_memory_subclass_is_read_through_its_own_readbytes() -> None:
    lower = _ReadCountingMemoryFS()
    lower.writebytes("/f", b"from the subclass")
    overlay = OverlayFS(MemoryFS(), [lower])
    assert overlay.readbytes("/f") == b"from the subclass"
    assert _ReadCountingMemoryFS.reads == 1
    overlay.close()


def test_a_memory_layer_closed_or_changed_behind_the_overlays_back_reports_its_own_error() -> None:
    upper, lower = _memory_layers()
    overlay = OverlayFS(upper, [lower], auto_close=False)
    assert overlay.readbytes("/d/upper.bin") == b"upper bytes"  # cached
    upper.remove("/d/upper.bin")
    with pytest.raises(fs.errors.ResourceNotFound):
        overlay.readbytes("/d/upper.bin")
    upper.writebytes("/d/upper.bin", b"x")
    upper.remove("/d/upper.bin")
    upper.makedir("/d/upper.bin")  # now a directory, still a file in the cache
    with pytest.raises(fs.errors.FileExpected):
        overlay.readbytes("/d/upper.bin")
    assert overlay.readbytes("/d/lower.bin") == lower.readbytes("/d/lower.bin")
    lower.close()
    with pytest.raises(fs.errors.FilesystemClosed):
        overlay.readbytes("/d/lower.bin")
    overlay.close()


# -- basic info comes from the merged table, whatever the layer ------------------


def test_basic_info_of_an_upper_entry_asks_the_upper_nothing() -> None:
    upper, lower = _memory_layers()
    counted = CountingFS(upper)
    overlay = OverlayFS(counted, [lower])
    assert overlay.exists("/d/upper.bin")  # fills the caches
    counted.calls.clear()
    found = {path: overlay.getinfo(path).raw for path in ("/d", "/d/upper.bin")}
    assert found == {path: upper.getinfo(path).raw for path in found}
    assert [info.name for info in overlay.scandir("/d")] == ["empty.bin", "lower.bin", "upper.bin"]
    assert counted.calls["getinfo"] == 0
    assert overlay.getinfo("/d/upper.bin", ["details"]).size == len(b"upper bytes")
    assert counted.calls["getinfo"] == 1
    overlay.close()


def test_an_upper_link_to_a_directory_is_a_file_in_getinfo_as_in_isdir(
    tmp_path: typing.Any,
) -> None:
    # The kernel format never follows a link: it is a file in the merged view.
    for name in ("lower", "upper", "work"):
        (tmp_path / name).mkdir()
    (tmp_path / "upper" / "target").mkdir()
    os.symlink("target", tmp_path / "upper" / "link")
    overlay = OverlayFS.from_dirs(
        [str(tmp_path / "lower")], str(tmp_path / "upper"), str(tmp_path / "work")
    )
    assert not overlay.isdir("/link")
    for namespaces in (None, ["details"], ["details", "overlay"]):
        assert overlay.getinfo("/link", namespaces).is_dir is False
    assert [(info.name, info.is_dir) for info in overlay.scandir("/", ["details"])] == [
        ("link", False),
        ("target", True),
    ]
    overlay.close()


# -- differential: the overlay's answers against the layer that holds the entry --

_NAMES = st.sampled_from(["a", "b", "c"])
_FILES = st.dictionaries(
    st.lists(_NAMES, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts)),
    st.binary(max_size=64),
    max_size=8,
)


def _fill(layer: MemoryFS, files: dict[str, bytes]) -> None:
    """Write ``files`` into ``layer``, skipping any that collide with a file already there."""
    for path, data in sorted(files.items()):
        parent = path.rpartition("/")[0] or "/"
        try:
            layer.makedirs(parent, recreate=True)
            layer.writebytes(path, data)
        except (fs.errors.DirectoryExpected, fs.errors.FileExpected, fs.errors.ResourceNotFound):
            continue


def _holder(path: str, layers: list[MemoryFS]) -> MemoryFS | None:
    """The top-most of ``layers`` that holds ``path`` (a visible path's entry)."""
    return next((layer for layer in layers if layer.exists(path)), None)


@settings(max_examples=60, deadline=None)
@given(upper_files=_FILES, lower_files=_FILES)
def test_reads_and_basic_info_are_those_of_the_layer_holding_the_entry(
    upper_files: dict[str, bytes], lower_files: dict[str, bytes]
) -> None:
    upper, lower = MemoryFS(), MemoryFS()
    _fill(upper, upper_files)
    _fill(lower, lower_files)
    overlay = OverlayFS(upper, [lower])
    for path, _ in overlay.walk.info("/"):
        holder = _holder(path, [upper, lower])
        assert holder is not None
        expected = holder.getinfo(path)
        found = overlay.getinfo(path)
        assert found.raw == expected.raw
        assert found.is_dir == overlay.isdir(path)
        if not found.is_dir:
            assert overlay.readbytes(path) == holder.readbytes(path)
    overlay.close()
