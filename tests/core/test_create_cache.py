"""A new file's name enters the cached listings from the create itself, exactly as a fresh read.

Creating a regular file at a free name (``openbin`` with ``"x"`` or ``"w"``)
updates the parent's cached upper listing and merged table from what the
create made (a file, no whiteout, the record and generation the name had)
instead of reading the name back from the upper. These tests compare the
caches after each such create with a fresh reading of the layers
(:func:`~tests.support.cache_checks.check_caches`, plus the generations
and the new entry's node), over a whiteout, in an opaque directory, in a
directory only a lower holds, at a vacated name and beside an identity
record left in the upper, for the marker and the kernel formats.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import typing

import pytest
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS

from unionfs_lib import OverlayFS
from unionfs_lib.host.layer_io import syspaths
from unionfs_lib.layers import lifecycle
from unionfs_lib.model.records import EntryRecord
from unionfs_lib.ops import info_ops
from unionfs_lib.ops.info_ops import overlay_ino
from unionfs_lib.resolve.resolver import UPPER, Resolver
from unionfs_lib.stores.marker_whiteouts import RECORD_PREFIX

from ..support.cache_checks import check_caches, kernel_format_refusal, node_key, warm
from ..support.layers import fill

LOWER: dict[str, bytes | None] = {
    "/d": None,
    "/d/gone": b"lower gone",
    "/d/kept": b"lower kept",
    "/only": None,
    "/only/x": b"lower only x",
    "/only/deep": None,
    "/only/deep/y": b"lower deep y",
    "/opq": None,
    "/opq/f": b"lower opq f",
    "/c": None,
}

#: An identity record the upper holds for a name without an entry (marker format).
ORPHAN_INO = 4242


def check_exact(overlay: OverlayFS, path: str) -> None:
    """Compare every cache with a fresh reading, and ``path``'s node with a fresh lookup."""
    check_caches(overlay)
    resolver = overlay._sb.resolver
    store = overlay._sb.store
    upper = resolver.layers[UPPER]
    assert upper is not None
    for (layer, folder), (listing, _) in list(resolver._listings._items.items()):
        if layer == UPPER:
            expected = store.read_dir(upper, folder, with_info=False)
            assert listing.vacated == expected.vacated, folder
            assert set(listing.links) == set(expected.links), folder
    fresh = Resolver(resolver.layers, store, record_layers=resolver.record_layers)
    cached = resolver.lookup(path)
    assert cached is not None and not cached.is_dir
    assert node_key(cached) == node_key(fresh.lookup(path)), path
    number = _fresh_ino(overlay, fresh, path)
    backing, ino = overlay.which_with_ino(path)
    assert ino == number
    assert overlay.getinfo(path, ["overlay"]).raw["overlay"]["ino"] == number
    located = syspaths(resolver.layers[backing.index], backing.path)
    assert backing.syspath == (None if located is None else located[0]), path


def _fresh_ino(overlay: OverlayFS, fresh: Resolver, path: str) -> int:
    """Return the ``ino`` an overlay with empty caches gives ``path``."""
    node = fresh.lookup(path)
    assert node is not None
    return overlay_ino(overlay._sb, node)  # a pinned number first (kernel format)


def create(overlay: OverlayFS, path: str, mode: str) -> None:
    """Create a new file at ``path`` as the mount (``x``) or ``writetext`` (``w``) does."""
    with overlay.openbin(path, mode + "b") as handle:
        handle.write(b"new " + path.encode())
    check_exact(overlay, path)


#: What the ``opened`` fixture gives: the format, the overlay, the upper's OS directory.
Opened = typing.Tuple[str, OverlayFS, typing.Optional[str]]


class _Layout:
    """Directories of one overlay: lower, upper and work area (kernel format)."""

    def __init__(self, base: str) -> None:
        self.lower, self.upper, self.work = (
            os.path.join(base, name) for name in ("lower", "upper", "work")
        )
        for folder in (self.lower, self.upper, self.work):
            os.mkdir(folder)
        with OSFS(self.lower) as lower:
            fill(lower, LOWER)


@pytest.fixture(params=["marker", "kernel", "memory"])
def opened(request: pytest.FixtureRequest) -> typing.Iterator[Opened]:
    """An overlay over :data:`LOWER`: ``(format, overlay, upper OS directory or None)``.

    The marker format's upper holds an identity record for ``/c/orphan``,
    which has no entry.
    """
    kind = request.param
    if kind == "kernel":
        refusal = kernel_format_refusal()
        if refusal is not None:
            pytest.skip(refusal)
    base = tempfile.mkdtemp()
    try:
        layout = _Layout(base)
        if kind == "kernel":
            with OverlayFS.from_dirs([layout.lower], layout.upper, layout.work) as overlay:
                yield kind, overlay, layout.upper
        elif kind == "marker":
            os.mkdir(os.path.join(layout.upper, "c"))
            with open(os.path.join(layout.upper, "c", RECORD_PREFIX + "orphan"), "wb") as laid:
                laid.write(EntryRecord(ORPHAN_INO).dump())
            with OverlayFS(OSFS(layout.upper), [OSFS(layout.lower)]) as overlay:
                yield kind, overlay, layout.upper
        else:
            with OverlayFS(MemoryFS(), [OSFS(layout.lower)]) as overlay:
                yield kind, overlay, None
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("mode", ["x", "w"])
def test_a_new_name_in_a_merged_directory(opened: Opened, mode: str) -> None:
    """The first create copies the parent up; later ones find it in the upper."""
    _, overlay, _ = opened
    warm(overlay)
    create(overlay, "/d/new", mode)
    create(overlay, "/d/new2", mode)
    assert overlay.listdir("/d") == ["gone", "kept", "new", "new2"]


@pytest.mark.parametrize("mode", ["x", "w"])
def test_a_directory_only_a_lower_holds(opened: Opened, mode: str) -> None:
    """A create two levels down in lower-only directories (both copied up)."""
    _, overlay, _ = opened
    warm(overlay)
    create(overlay, "/only/deep/new", mode)
    create(overlay, "/only/new", mode)
    assert overlay.listdir("/only/deep") == ["new", "y"]


def test_a_directory_only_a_lower_holds_with_cold_caches(
    opened: Opened
) -> None:
    """Nothing listed first: only what the create itself read is cached."""
    _, overlay, _ = opened
    create(overlay, "/only/deep/new", "x")
    warm(overlay)
    create(overlay, "/only/deep/new2", "x")


@pytest.mark.parametrize("mode", ["x", "w"])
def test_over_a_whiteout(opened: Opened, mode: str) -> None:
    """A removed lower file's name is created again: its whiteout goes."""
    kind, overlay, upper = opened
    warm(overlay)
    overlay.remove("/d/gone")
    overlay.listdir("/d")
    create(overlay, "/d/gone", mode)
    assert overlay.readbytes("/d/gone") == b"new /d/gone"
    if kind == "kernel" and upper is not None:
        assert os.path.isfile(os.path.join(upper, "d", "gone"))


@pytest.mark.parametrize("mode", ["x", "w"])
def test_in_an_opaque_directory(opened: Opened, mode: str) -> None:
    """A directory made again over a removed one hides the lower's names."""
    _, overlay, _ = opened
    warm(overlay)
    overlay.removetree("/opq")
    overlay.makedir("/opq")
    overlay.listdir("/opq")
    create(overlay, "/opq/f", mode)
    create(overlay, "/opq/g", mode)
    assert overlay.listdir("/opq") == ["f", "g"]


def test_in_an_upper_directory(opened: Opened) -> None:
    """A directory only the upper holds."""
    _, overlay, _ = opened
    overlay.makedir("/u")
    warm(overlay)
    create(overlay, "/u/a", "x")
    create(overlay, "/u/b", "w")


def test_at_a_vacated_name(opened: Opened) -> None:
    """A name an entry left with its number: the new file takes a number of its own."""
    _, overlay, _ = opened
    warm(overlay)
    create(overlay, "/d/v", "x")
    moved = overlay.getinfo("/d/v", ["overlay"]).raw["overlay"]["ino"]
    overlay.move("/d/v", "/d/w")
    overlay.listdir("/d")
    create(overlay, "/d/v", "x")
    assert overlay.getinfo("/d/w", ["overlay"]).raw["overlay"]["ino"] == moved
    assert overlay.getinfo("/d/v", ["overlay"]).raw["overlay"]["ino"] != moved


def test_beside_a_record_the_upper_holds(opened: Opened) -> None:
    """A record laid in the upper for a name without an entry stays in the cache, as read."""
    kind, overlay, _ = opened
    if kind != "marker":
        pytest.skip("identity records are files of the marker format")
    warm(overlay)
    assert "orphan" in overlay._sb.resolver.listing(
        overlay._sb.resolver.dir_node("/c").refs[0]  # type: ignore[union-attr]
    ).records
    create(overlay, "/c/orphan", "x")
    assert overlay.getinfo("/c/orphan", ["overlay"]).raw["overlay"]["ino"] == ORPHAN_INO


def test_truncating_a_lower_file(opened: Opened) -> None:
    """``"w"`` over a lower file replaces it (a copy-up keeping its number): read back."""
    _, overlay, _ = opened
    warm(overlay)
    number = overlay.getinfo("/d/kept", ["overlay"]).raw["overlay"]["ino"]
    create(overlay, "/d/kept", "w")
    assert overlay.getinfo("/d/kept", ["overlay"]).raw["overlay"]["ino"] == number


def test_the_create_reads_no_name_back(
    opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the parent's listing cached, no ``read_name`` follows the create of a new file.

    (The first create in ``/d`` copies ``/d`` up, which reads that name.)
    """
    _, overlay, _ = opened
    overlay.makedir("/u")
    create(overlay, "/u/first", "x")
    warm(overlay)
    store = type(overlay._sb.store)
    read: list[tuple[str, str]] = []
    original = store.read_name

    def counting(
        self: typing.Any, layer: typing.Any, path: str, name: str, *args: typing.Any
    ) -> typing.Any:
        read.append((path, name))
        return original(self, layer, path, name, *args)

    monkeypatch.setattr(store, "read_name", counting)
    create(overlay, "/u/second", "x")
    create(overlay, "/d/new", "x")
    assert [name for _, name in read if name in ("second", "new")] == []


def test_a_new_file_s_number_needs_no_pin_read(
    opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after a create nothing is pinned on the new file: its number is not read back.

    Once something changed (here: a second name, which pins the number
    the file shows), the pin is read again, and gives the same number.
    """
    kind, overlay, _ = opened
    if kind != "kernel":
        pytest.skip("numbers are pinned on files in the kernel format only")
    pins: list[str] = []
    original = info_ops.read_pin

    def counting(syspath: str) -> int | None:
        pins.append(syspath)
        return original(syspath)

    monkeypatch.setattr(info_ops, "read_pin", counting)
    warm(overlay)
    create(overlay, "/d/p", "x")
    number = overlay.getinfo("/d/p", ["overlay"]).raw["overlay"]["ino"]
    assert pins == []
    overlay.hardlink("/d/p", "/d/q")
    assert overlay.getinfo("/d/p", ["overlay"]).raw["overlay"]["ino"] == number
    assert overlay.getinfo("/d/q", ["overlay"]).raw["overlay"]["ino"] == number
    assert pins != []


def test_a_file_moved_over_the_new_one_shows_its_own_number(
    opened: Opened
) -> None:
    """A copied-up file (its number pinned) renamed over the file just made keeps its number."""
    _, overlay, _ = opened
    warm(overlay)
    number = overlay.getinfo("/d/kept", ["overlay"]).raw["overlay"]["ino"]
    overlay.appendbytes("/d/kept", b"+")  # copied up: its lower number is kept
    create(overlay, "/d/p", "x")
    overlay.move("/d/kept", "/d/p", overwrite=True)
    assert overlay.getinfo("/d/p", ["overlay"]).raw["overlay"]["ino"] == number
    check_exact(overlay, "/d/p")


def test_the_getattr_after_a_create_finds_the_os_path_made(
    opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OS path the create made the file at serves the next lookup; not after a change."""
    kind, overlay, _ = opened
    if kind == "memory":
        pytest.skip("a MemoryFS upper has no OS paths")
    warm(overlay)
    create(overlay, "/d/first", "x")  # copies /d up
    asked: list[str] = []
    original = lifecycle._os_path

    def counting(layer: typing.Any, path: str) -> str | None:
        asked.append(path)
        return original(layer, path)

    monkeypatch.setattr(lifecycle, "_os_path", counting)
    with overlay.openbin("/d/fresh", "x+b") as handle:
        handle.write(b"x")
    backing, _ = overlay.which_with_ino("/d/fresh")
    assert asked == [] and backing.syspath is not None
    overlay.remove("/d/first")  # a change: the path is worked out again
    overlay.move("/d/fresh", "/d/moved")
    assert overlay.which("/d/moved").syspath is not None
    assert asked == ["/d/moved"]
    check_exact(overlay, "/d/moved")
