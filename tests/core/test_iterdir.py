"""``iterdir``: stable cookies, iteration under change, and bounded memory."""

from __future__ import annotations

import gc
import os
import tracemalloc

import fs.errors
import pytest
from fs.memoryfs import MemoryFS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unionfs_lib import DirIterator, OverlayFS

from ..support.generated_fs import GeneratedFS
from ..support.layers import memory_layer


def merged_overlay(batch_size=4096, use_cache=True):
    top = memory_layer({"/d": None, "/d/b.txt": b"top b", "/d/gone": b"x", "/d/sub": None})
    bottom = memory_layer({"/d": None, "/d/a.txt": b"a", "/d/b.txt": b"bottom b",
                           "/d/gone": b"y", "/d/z.txt": b"z", "/d/sub": None})
    overlay = OverlayFS(MemoryFS(), [top, bottom],
                        readdir=DirIterator(batch_size=batch_size, use_cache=use_cache))
    overlay.remove("/d/gone")
    overlay.writetext("/d/c.txt", "upper c")
    return overlay


@pytest.mark.parametrize("use_cache", [True, False])
def test_iterdir_lists_visible_names_sorted_with_cookies(use_cache):
    overlay = merged_overlay(batch_size=4, use_cache=use_cache)
    pairs = list(overlay.iterdir("/d"))
    assert [info.name for _, info in pairs] == ["a.txt", "b.txt", "c.txt", "sub", "z.txt"]
    assert all(isinstance(cookie, str) for cookie, _ in pairs)
    cookie = pairs[1][0]
    assert [info.name for _, info in overlay.iterdir("/d", cookie)] == ["c.txt", "sub", "z.txt"]
    assert list(overlay.iterdir("/d", pairs[-1][0])) == []
    info = dict((i.name, i) for _, i in overlay.iterdir("/d", namespaces=["overlay"]))
    assert info["b.txt"].raw["overlay"]["layer"] == 1


def test_iterdir_cookie_survives_reopen():
    top = memory_layer({"/d": None, **{f"/d/f{i:03d}": b"" for i in range(50)}})
    upper = MemoryFS()
    first = OverlayFS(upper, [top], auto_close=False)
    iterator = first.iterdir("/d")
    cookies = [next(iterator)[0] for _ in range(10)]
    first.close()
    second = OverlayFS(upper, [top], auto_close=False)
    rest = [info.name for _, info in second.iterdir("/d", cookies[-1])]
    assert rest == [f"f{i:03d}" for i in range(10, 50)]


def test_bad_cookie_is_a_clear_error():
    overlay = merged_overlay()
    with pytest.raises(fs.errors.OperationFailed):
        list(overlay.iterdir("/d", "garbage"))
    with pytest.raises(fs.errors.DirectoryExpected):
        list(overlay.iterdir("/d/a.txt"))


change = st.tuples(
    st.sampled_from(["create", "remove", "move"]),
    st.integers(min_value=0, max_value=39),
    st.integers(min_value=0, max_value=39),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(st.integers(1, 6), st.lists(change, max_size=4)), max_size=12),
    use_cache=st.booleans(),
)
def test_iterdir_under_concurrent_change(steps, use_cache):
    lower = memory_layer({"/d": None, **{f"/d/n{i:02d}": b"" for i in range(0, 40, 2)}})
    overlay = OverlayFS(MemoryFS(), [lower],
                        readdir=DirIterator(batch_size=4, use_cache=use_cache))
    initially = set(overlay.listdir("/d"))
    ever_removed: set[str] = set()
    seen: list[str] = []
    cookie = None
    for take, changes in steps:
        taken = 0
        for next_cookie, info in overlay.iterdir("/d", cookie):
            cookie = next_cookie
            seen.append(info.name)
            taken += 1
            if taken == take:
                break
        for op, a, b in changes:
            name_a, name_b = f"/d/n{a:02d}", f"/d/n{b:02d}"
            if op == "create":
                overlay.writetext(name_a, "new")
            elif op == "remove" and overlay.exists(name_a):
                ever_removed.add(name_a[3:])
                overlay.remove(name_a)
            elif op == "move" and overlay.exists(name_a) and name_a != name_b:
                ever_removed.add(name_a[3:])
                ever_removed.add(name_b[3:])
                overlay.move(name_a, name_b, overwrite=True)
    seen.extend(info.name for _, info in overlay.iterdir("/d", cookie))
    assert len(seen) == len(set(seen)), "a name was returned twice"
    assert seen == sorted(seen)
    survivors = initially - ever_removed
    assert survivors <= set(seen), "an entry present throughout was skipped"


def _peak_while_iterating(overlay, path):
    gc.collect()
    tracemalloc.start()
    count = 0
    for _ in overlay.iterdir(path):
        count += 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return count, peak


def test_iterdir_memory_is_bounded_by_the_batch_not_the_directory():
    iterator = DirIterator(batch_size=128, use_cache=False)
    small = OverlayFS(None, [GeneratedFS(750, step=2), GeneratedFS(750, step=3)],
                      readdir=iterator)
    large = OverlayFS(None, [GeneratedFS(3_000, step=2), GeneratedFS(3_000, step=3)],
                      readdir=iterator)
    # Keep the lookup caches out of the way: this measures the iterator alone.
    small._sb.resolver.listing_budget = large._sb.resolver.listing_budget = 0
    small_count, small_peak = _peak_while_iterating(small, "/big")
    large_count, large_peak = _peak_while_iterating(large, "/big")
    assert small_count == 1_250 and large_count == 5_000
    # Four times the entries, the same memory: nothing scales with the directory.
    assert large_peak < small_peak * 1.3 + 32 * 1024, (small_peak, large_peak)
    gc.collect()
    tracemalloc.start()
    listing = list(GeneratedFS(3_000, step=2).scandir("/big"))
    materialised = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del listing
    assert large_peak < materialised / 2, (large_peak, materialised)


def test_large_cacheable_directory_is_merged_once():
    iterator = DirIterator(batch_size=64)
    overlay = OverlayFS(None, [GeneratedFS(3_000, step=2), GeneratedFS(3_000, step=3)],
                        readdir=iterator)
    names = [info.name for _, info in overlay.iterdir("/big")]
    assert len(names) == 5_000 and names == sorted(names)
    node = overlay._sb.resolver.lookup("/big")
    assert node is not None
    assert overlay._sb.resolver.cached_names(node) is not None


def test_create_remove_seek_loop_does_not_grow_memory():
    lower = memory_layer({"/d": None, **{f"/d/f{i:03d}": b"" for i in range(100)}})
    overlay = OverlayFS(MemoryFS(), [lower], readdir=DirIterator(batch_size=8))
    cookie = next(overlay.iterdir("/d"))[0]

    def churn(rounds):
        for index in range(rounds):
            overlay.writetext(f"/d/tmp{index % 7}", "x")
            next(overlay.iterdir("/d", cookie), None)
            overlay.remove(f"/d/tmp{index % 7}")

    churn(100)
    gc.collect()
    tracemalloc.start()
    churn(50)
    gc.collect()
    first = tracemalloc.get_traced_memory()[0]
    churn(400)
    gc.collect()
    second = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert second - first < 64 * 1024, (first, second)


def test_streamed_iterdir_honours_a_nested_overlays_metadata_only_copy_up():
    lower = memory_layer({"/d": None, **{f"/d/f{i}": b"data" * (i + 1) for i in range(8)}})
    inner = OverlayFS(MemoryFS(), [lower])
    inner.setinfo("/d/f3", {"details": {"modified": 100.0}})
    outer = OverlayFS(MemoryFS(), [inner], readdir=DirIterator(batch_size=4, use_cache=False))
    sizes = {info.name: info.size for _, info in outer.iterdir("/d", namespaces=["details"])}
    assert sizes == {f"f{i}": 4 * (i + 1) for i in range(8)}
    assert outer.readbytes("/d/f3") == b"data" * 4


def _numbers_of(overlay, path, cookie=None):
    return list(overlay.iterdir_numbers(path, cookie))


def _overlay_view(overlay, path, cookie=None):
    return [(found, info.name, info.is_dir, info.raw["overlay"]["ino"])
            for found, info in overlay.iterdir(path, cookie, ["overlay"])]


def _kernel_overlay(tmp_path):
    lower, upper, work = (tmp_path / name for name in ("lower", "upper", "work"))
    for folder in (lower / "d" / "sub", upper, work):
        folder.mkdir(parents=True)
    for name in ("a", "b", "c", "moved"):
        (lower / "d" / name).write_bytes(name.encode())
    return OverlayFS.from_dirs([str(lower)], str(upper), str(work))


@pytest.mark.parametrize("batch_size", [4, 4096])
@pytest.mark.parametrize("use_cache", [True, False])
def test_iterdir_numbers_tell_what_iterdir_overlay_tells(batch_size, use_cache):
    overlay = merged_overlay(batch_size, use_cache)
    assert _numbers_of(overlay, "/d") == _overlay_view(overlay, "/d")
    cookie = _numbers_of(overlay, "/d")[1][0]
    assert _numbers_of(overlay, "/d", cookie) == _overlay_view(overlay, "/d", cookie)


def test_iterdir_numbers_follow_copy_up_rename_whiteout_and_links(tmp_path):
    """Each change made through the overlay shows at the next listing, never a stale number."""
    overlay = _kernel_overlay(tmp_path)
    before = {name: ino for _, name, _, ino in _numbers_of(overlay, "/d")}
    overlay.appendbytes("/d/a", b"+")  # copy-up keeps the number
    overlay.move("/d/moved", "/d/renamed")
    overlay.remove("/d/b")
    overlay.hardlink("/d/c", "/d/c2")
    overlay.writebytes("/d/new", b"n")
    after = _numbers_of(overlay, "/d")
    assert after == _overlay_view(overlay, "/d")
    numbers = {name: ino for _, name, _, ino in after}
    assert set(numbers) == {"a", "c", "c2", "new", "renamed", "sub"}
    assert numbers["a"] == before["a"] and numbers["renamed"] == before["moved"]
    linked = overlay.getinfo("/d/c2", ["overlay"]).raw["overlay"]["ino"]
    assert numbers["c2"] == numbers["c"] == linked


def test_iterdir_numbers_build_no_info(monkeypatch):
    """The mechanism: no ``Info`` is built per entry (``node_info`` is never called)."""
    from unionfs_lib.ops import info_ops

    overlay = merged_overlay()
    calls: list[tuple] = []
    monkeypatch.setattr(info_ops, "node_info", counted(info_ops.node_info, calls))
    assert len(_numbers_of(overlay, "/d")) == 5
    assert calls == []


def test_iterdir_numbers_of_a_missing_or_file_path_raise():
    overlay = merged_overlay()
    with pytest.raises(fs.errors.ResourceNotFound):
        list(overlay.iterdir_numbers("/nothing"))
    with pytest.raises(fs.errors.DirectoryExpected):
        list(overlay.iterdir_numbers("/d/c.txt"))


def test_derived_numbers_are_hashed_once_per_layer_path(monkeypatch):
    """Listing twice hashes each entry's layer path once (``derived_ino`` remembers)."""
    import hashlib

    from unionfs_lib.resolve import inode_numbers

    overlay = merged_overlay()
    hashed = []
    real = hashlib.blake2b

    def counting(data, **options):
        hashed.append(data)
        return real(data, **options)

    inode_numbers.derived_ino.cache_clear()
    monkeypatch.setattr(inode_numbers.hashlib, "blake2b", counting)
    first = _numbers_of(overlay, "/d")
    hashed_once = len(hashed)
    assert _numbers_of(overlay, "/d") == first
    assert len(hashed) == hashed_once <= len(first)
    monkeypatch.undo()
    inode_numbers.derived_ino.cache_clear()
    assert _numbers_of(overlay, "/d") == first  # the same numbers, hashed anew


def test_listed_entries_backings_take_no_getsyspath_chain(tmp_path, monkeypatch):
    """A listed lower entry's backing joins the layer root's OS path and its path (counted calls).

    Only layers that are exactly ``OSFS`` or ``LongPathOSFS``: the upper (an
    ``UpperDirFS``, which maps its work area elsewhere) and wrapped lowers
    (``UNIONFS_GUARD_LOWERS=1``) are asked.
    """
    from fs.osfs import OSFS

    from unionfs_lib.host.long_paths import LongPathOSFS
    from unionfs_lib.layers import lifecycle

    overlay = _kernel_overlay(tmp_path)
    overlay.writebytes("/d/upper", b"u")
    calls: list[tuple] = []
    monkeypatch.setattr(lifecycle, "syspaths", counted(lifecycle.syspaths, calls))
    asked = set()
    for name in overlay.listdir("/d"):
        backing = overlay.which(f"/d/{name}")
        assert backing.syspath == backing.layer.getsyspath(backing.path), name
        if type(backing.layer) not in (OSFS, LongPathOSFS):
            asked.add(f"/d/{name}")
    assert {args[1] for args in calls} == asked
    assert "/d/upper" in asked
    assert len(asked) == 1 or os.environ.get("UNIONFS_GUARD_LOWERS") == "1"


@pytest.mark.parametrize("root", ["/", "ROOT", "ROOT/"])
def test_joined_os_paths_are_the_layers_own(tmp_path, root):
    from fs.osfs import OSFS

    from unionfs_lib.host.long_paths import LongPathOSFS
    from unionfs_lib.layers.lifecycle import _os_path

    root = root.replace("ROOT", str(tmp_path))
    for kind in (OSFS, LongPathOSFS):
        layer = kind(root)
        for path in ("/", "/a", "/a/b c", "/é/x", "a"):
            assert _os_path(layer, path) == layer.getsyspath(path), (kind, root, path)


def counted(function, calls: list[tuple]):
    """Return ``function``, noting the arguments of each call in ``calls``."""

    def noted(*args):
        calls.append(args)
        return function(*args)

    return noted
