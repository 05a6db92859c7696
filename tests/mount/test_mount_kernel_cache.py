"""The kernel answers warm metadata from its caches, and forgets them when the overlay changes.

Nothing here is timed: the daemon's request counter
(``OverlayOperations.requests``) shows which requests reached the mount.
A second ``ls -lR`` of the same tree sends no ``getattr`` (lookup) and no
``readdir``: entry and attribute timeouts and the kernel's directory
listing cache (``cache_readdir``/``keep_cache`` on ``opendir``) answer it.
A change made through another path is seen at once: another name of a hard
link, a rename from another directory, a ``tar``/``mv`` in a subprocess,
and a change made by a call on the served overlay followed by
``OverlayOperations.forget``.
"""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from unionfs_lib.mount.capabilities import directory_cache_refusal
from unionfs_lib.mount.daemon import mount_in_thread
from unionfs_lib.overlay import OverlayFS

from ..support.mounting import fill_os_dir as fill
from ..support.mounting import fuse_or_skip, small_mount

LOWER = {
    "/a": None,
    "/a/one": b"1",
    "/a/two": b"22",
    "/b": None,
    "/b/three": b"333",
    "/b/deep": None,
    "/b/deep/four": b"4444",
}


@pytest.fixture
def mounted(tmp_path):
    """Yield ``(mount point, ThreadMount)`` over a small lower; the lower is checked unchanged."""
    with small_mount(tmp_path, LOWER) as mount:
        yield mount.root, mount.thread


def ls_lr(root: str) -> dict[str, tuple[int, int, int]]:
    """Return ``{path: (mode, size, ino)}`` of everything under ``root``, as ``ls -lR`` sees it."""
    found = {}
    pending = [root]
    while pending:
        directory = pending.pop()
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = (info.st_mode, info.st_size, info.st_ino)
            if os.path.isdir(path):
                pending.append(path)
    return found


def counts(thread, *names: str) -> dict[str, int]:
    """Return the daemon's request counts for the handlers ``names``."""
    return {name: thread.operations.requests[name] for name in names}


METADATA = ("getattr_fuse_3", "readdir_fuse_3")


def test_a_second_listing_of_the_tree_sends_no_lookup_or_getattr(mounted):
    root, thread = mounted
    first = ls_lr(root)
    ls_lr(root)
    before = thread.operations.requests["getattr_fuse_3"]
    assert ls_lr(root) == first
    os.stat(os.path.join(root, "b", "deep", "four"))
    # Files: none. A directory read from the mount has its atime marked stale
    # by the kernel (fuse_invalidate_atime), so its lstat() asks once.
    directories = 1 + sum(1 for found in first.values() if stat.S_ISDIR(found[0]))
    assert thread.operations.requests["getattr_fuse_3"] - before <= directories


def test_a_second_listing_of_the_tree_sends_no_readdir(mounted):
    reason = directory_cache_refusal()
    if reason is not None:
        pytest.skip(f"kernel directory cache {reason}")
    root, thread = mounted
    first = ls_lr(root)
    assert thread.operations.requests["readdir_fuse_3"] > 0
    ls_lr(root)  # the first full listing after a readdir refreshes each directory's mtime
    before = counts(thread, *METADATA)
    assert ls_lr(root) == first
    os.stat(os.path.join(root, "b", "deep", "four"))
    assert counts(thread, *METADATA) == before


def test_a_listing_is_cached_until_the_mount_changes_it(mounted):
    root, thread = mounted
    directory = os.path.join(root, "a")
    assert sorted(os.listdir(directory)) == ["one", "two"]
    with open(os.path.join(directory, "new"), "w") as handle:
        handle.write("n")
    assert sorted(os.listdir(directory)) == ["new", "one", "two"]
    os.unlink(os.path.join(directory, "one"))
    assert sorted(os.listdir(directory)) == ["new", "two"]


def test_a_rename_from_another_directory_shows_in_both_listings(mounted):
    root, _thread = mounted
    source, destination = os.path.join(root, "b"), os.path.join(root, "a")
    assert sorted(os.listdir(destination)) == ["one", "two"]
    assert sorted(os.listdir(source)) == ["deep", "three"]
    os.rename(os.path.join(source, "three"), os.path.join(destination, "three"))
    assert sorted(os.listdir(destination)) == ["one", "three", "two"]
    assert sorted(os.listdir(source)) == ["deep"]
    os.rename(os.path.join(source, "deep"), os.path.join(destination, "deep"))
    assert sorted(os.listdir(os.path.join(destination, "deep"))) == ["four"]
    assert sorted(os.listdir(source)) == []


def test_a_change_by_another_process_is_seen_at_once(mounted):
    root, _thread = mounted
    before = ls_lr(root)
    subprocess.run(["mv", os.path.join(root, "b", "deep"), os.path.join(root, "a", "moved")],
                   check=True)
    subprocess.run(["sh", "-c", "echo x >> one; echo y > fresh"], cwd=os.path.join(root, "a"),
                   check=True)
    after = ls_lr(root)
    assert "a/moved/four" in after and "b/deep" not in after and "a/fresh" in after
    assert after["a/one"][1] == 3 and before["a/one"][1] == 1


def test_a_change_through_another_hard_link_name_is_seen_at_once(mounted):
    root, _thread = mounted
    first, second = os.path.join(root, "a", "one"), os.path.join(root, "b", "alias")
    os.link(first, second)
    assert os.stat(second).st_size == 1 and os.stat(first).st_nlink == 2
    with open(first, "a") as handle:
        handle.write("more")
    assert os.stat(second).st_size == 5
    with open(second, "rb") as handle:
        assert handle.read() == b"1more"
    os.unlink(first)
    assert os.stat(second).st_nlink == 1
    assert sorted(os.listdir(os.path.join(root, "a"))) == ["two"]


def test_a_change_through_the_served_overlay_is_seen_after_forget(mounted):
    root, thread = mounted
    directory = os.path.join(root, "a")
    for _ in range(2):  # the second listing validates the first (see above)
        assert sorted(os.listdir(directory)) == ["one", "two"]
    size = os.stat(os.path.join(directory, "two")).st_size
    overlay = thread.operations.overlay
    overlay.writebytes("/a/api", b"from the API")
    overlay.writebytes("/a/two", b"longer than before")
    # The kernel answers from its caches: the size (and listing) are the old ones.
    if directory_cache_refusal() is None:
        assert sorted(os.listdir(directory)) == ["one", "two"]
    assert os.stat(os.path.join(directory, "two")).st_size == size
    thread.operations.forget(["/a", "/a/two"])
    assert sorted(os.listdir(directory)) == ["api", "one", "two"]
    assert os.stat(os.path.join(directory, "two")).st_size == len(b"longer than before")
    with open(os.path.join(directory, "api"), "rb") as handle:
        assert handle.read() == b"from the API"


def test_without_timeouts_nothing_is_cached(tmp_path):
    fuse_or_skip()
    lower, target = tmp_path / "lower", tmp_path / "m"
    lower.mkdir()
    target.mkdir()
    fill(str(lower), LOWER)
    thread = mount_in_thread(OverlayFS.from_dirs([str(lower)]), str(target), timeout=0)
    try:
        assert thread.operations is not None and not thread.operations.cache_dirs
        ls_lr(str(target))
        before = counts(thread, *METADATA)
        ls_lr(str(target))
        after = counts(thread, *METADATA)
        assert all(after[name] > before[name] for name in METADATA)
    finally:
        thread.unmount()


def test_listings_never_call_a_link_or_a_fifo_a_regular_file(tmp_path):
    """Regression: plain ``readdir`` answers (batches after the first, warm listings)
    gave every non-directory the type ``DT_REG``: ``find -type l`` missed links."""
    fuse_or_skip()
    lower, target = tmp_path / "lower", tmp_path / "m"
    (lower / "d" / "sub").mkdir(parents=True)
    target.mkdir()
    expected = {}
    for index in range(150):  # more than one readdirplus reply
        name = f"e{index:03}"
        if index % 3 == 0:
            os.symlink(f"target{index}", lower / "d" / name)
            expected[name] = "link"
        elif index % 3 == 1:
            os.mkfifo(lower / "d" / name)
            expected[name] = "fifo"
        else:
            (lower / "d" / name).write_bytes(b"f")
            expected[name] = "file"
    expected["sub"] = "dir"
    thread = mount_in_thread(OverlayFS.from_dirs([str(lower)]), str(target))
    try:
        for _ in range(3):  # cold, then warm listings
            found = {}
            for entry in os.scandir(target / "d"):
                found[entry.name] = (
                    "link" if entry.is_symlink() else "dir" if entry.is_dir(follow_symlinks=False)
                    else "file" if entry.is_file(follow_symlinks=False) else "fifo"
                )
            assert found == expected
    finally:
        thread.unmount()


def record_paths(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Patch ``unionfs_lib.mount.attributes.<name>`` to record the path of every call in order."""
    from unionfs_lib.mount import attributes

    looked_up: list[str] = []
    original = getattr(attributes, name)

    def counted(overlay, path, *args, **kwargs):
        looked_up.append(path)
        return original(overlay, path, *args, **kwargs)

    monkeypatch.setattr(attributes, name, counted)
    return looked_up


def test_a_warm_listing_describes_no_entry_again(mounted, monkeypatch):
    """Within the entry timeout a ``readdirplus`` of a listed directory carries no records:
    the kernel holds them (the daemon looks no entry up)."""
    root, thread = mounted
    looked_up = record_paths(monkeypatch, "fast_stat")
    first = ls_lr(root)
    assert any(path.startswith("/a/") for path in looked_up)  # the cold listing described them
    looked_up.clear()
    assert ls_lr(root) == first
    files = {"/" + path for path, found in first.items() if not stat.S_ISDIR(found[0])}
    assert files & set(looked_up) == set()  # directories: their atime (see above)
    thread.operations.described_for = 0.0  # records again once the kernel may have dropped them
    thread.operations.forget(["/a"])  # and its cached listing (libfuse >= 3.16)
    ls_lr(root)
    assert any(path.startswith("/a/") for path in looked_up)


def test_getattr_answers_an_upper_entry_from_one_lstat_until_names_change(mounted, monkeypatch):
    """``getattr`` keeps, per name of a single-link upper entry, where its record lies;
    any request that adds, removes or moves names through the mount drops that."""
    root, thread = mounted
    operations = thread.operations
    looked_up = record_paths(monkeypatch, "fast_stat_reusable")
    with open(os.path.join(root, "a", "x"), "w") as handle:
        handle.write("x")
    with open(os.path.join(root, "a", "y"), "w") as handle:
        handle.write("yyyy")
    first = operations.getattr("/a/x")
    looked_up.clear()
    assert operations.getattr("/a/x") == first and looked_up == []
    with open(os.path.join(root, "a", "x"), "a") as handle:
        handle.write("more")  # data: the one lstat sees it
    assert operations.getattr("/a/x")["st_size"] == 5 and looked_up == []
    y_ino = operations.getattr("/a/y")["st_ino"]
    os.rename(os.path.join(root, "a", "y"), os.path.join(root, "a", "x"))  # y replaces x
    moved = operations.getattr("/a/x")
    assert (moved["st_size"], moved["st_ino"]) == (4, y_ino)
    os.link(os.path.join(root, "a", "x"), os.path.join(root, "b", "x2"))
    assert operations.getattr("/a/x")["st_nlink"] == 2
    os.unlink(os.path.join(root, "a", "x"))
    os.unlink(os.path.join(root, "b", "x2"))
    os.mkdir(os.path.join(root, "a", "x"))
    assert stat.S_ISDIR(operations.getattr("/a/x")["st_mode"])
    with pytest.raises(OSError):
        operations.getattr("/a/y")
