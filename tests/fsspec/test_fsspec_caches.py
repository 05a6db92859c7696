"""OverlayFileSystem's answers never go stale, whichever API changed the overlay.

The front end may keep what ``cat_file`` and ``ls`` found (where a path's
bytes live, finished listings). Each test here asks every question once
(filling whatever is kept), changes the overlay through another way in (the
PyFilesystem2 face, copy-up from a handle, ``discard``, ``commit``, a change
behind the overlay's back followed by ``invalidate``, the front end itself),
and then compares every answer of the front end with the answer the
``OverlayFS`` gives directly.
"""

from __future__ import annotations

import typing

import fs.errors
import fsspec
import pytest
from fs.base import FS
from fs.memoryfs import MemoryFS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.fsspec import FSSpecFS, OverlayFileSystem
from unionfs_lib.resolve.resolver import Resolver

from ..support.fsspec_layers import fsspec_memory_layer, memory_prefix
from ..support.layers import fill

BASE: dict[str, bytes | None] = {
    "/data": None,
    "/data/a.txt": b"lower a",
    "/data/b.txt": b"lower b, longer",
    "/data/sub": None,
    "/data/sub/c.txt": b"lower c",
    "/only": None,
    "/only/d.txt": b"lower d",
}
FILES = ["/data/a.txt", "/data/b.txt", "/data/sub/c.txt", "/only/d.txt", "/data/new.txt",
         "/data/moved.txt", "/only/sub/c.txt", "/only/new.txt"]
DIRS = ["", "/data", "/data/sub", "/only", "/only/sub", "/only/new"]


class Layers(typing.NamedTuple):
    """An overlay front end, and a writable handle on what its lower reads."""

    front: OverlayFileSystem
    lower_storage: FS


@pytest.fixture(params=["fsspec-memory", "pyfs-memory"])
def layers(request):
    """Upper and lower on fsspec's memory filesystem, or PyFilesystem2 MemoryFS layers."""
    if request.param == "pyfs-memory":
        lower = MemoryFS()
        fill(lower, BASE)
        yield Layers(OverlayFileSystem(upper=MemoryFS(), lowers=[lower]), lower)
        return
    prefix = memory_prefix()
    lower_layer = fsspec_memory_layer(prefix + "/lower", BASE)
    fsspec.filesystem("memory").makedirs(prefix + "/upper", exist_ok=True)
    upper = FSSpecFS(fsspec.filesystem("memory"), prefix + "/upper")
    yield Layers(
        OverlayFileSystem(upper=upper, lowers=[lower_layer]),
        FSSpecFS(fsspec.filesystem("memory"), prefix + "/lower"),
    )
    fsspec.filesystem("memory").rm(prefix, recursive=True)


def _listing_key(entry: dict[str, typing.Any]) -> tuple[typing.Any, ...]:
    return entry["name"], entry["type"], entry["size"], entry["mtime"]


def front_answers(front: OverlayFileSystem) -> dict[str, typing.Any]:
    """Every answer of the front end: bytes, info and listings (errors by type)."""
    found: dict[str, typing.Any] = {}
    for path in FILES:
        try:
            found[f"cat {path}"] = front.cat_file(path)
        except OSError as error:
            found[f"cat {path}"] = type(error)
        try:
            found[f"info {path}"] = _listing_key(front.info(path))
        except OSError as error:
            found[f"info {path}"] = type(error)
    for path in DIRS:
        try:
            found[f"ls {path}"] = [_listing_key(entry) for entry in front.ls(path)]
            found[f"names {path}"] = front.ls(path, detail=False)
        except OSError as error:
            found[f"ls {path}"] = found[f"names {path}"] = type(error)
    return found


def core_answers(core: OverlayFS) -> dict[str, typing.Any]:
    """The same answers, asked of the ``OverlayFS`` itself (no front-end cache)."""
    found: dict[str, typing.Any] = {}
    for path in FILES:
        if core.isfile(path):
            found[f"cat {path}"] = core.readbytes(path)
            details = core.getinfo(path, ["details"])
            found[f"info {path}"] = (path, "file", details.size, details.raw["details"]["modified"])
        else:
            error = IsADirectoryError if core.isdir(path) else FileNotFoundError
            found[f"cat {path}"] = error
            found[f"info {path}"] = (
                (path, "directory", 0, core.getinfo(path, ["details"]).raw["details"]["modified"])
                if core.isdir(path) else FileNotFoundError
            )
    for path in DIRS:
        if core.isfile(path):  # fsspec lists a file as itself
            details = core.getinfo(path, ["details"])
            found[f"ls {path}"] = [(path, "file", details.size, details.raw["details"]["modified"])]
            found[f"names {path}"] = [path]
            continue
        if not core.isdir(path or "/"):
            found[f"ls {path}"] = found[f"names {path}"] = FileNotFoundError
            continue
        entries = sorted(core.scandir(path or "/", ["details"]), key=lambda info: info.name)
        found[f"ls {path}"] = [
            (f"{path}/{info.name}", "directory" if info.is_dir else "file",
             0 if info.is_dir else info.size, info.raw["details"]["modified"])
            for info in entries
        ]
        found[f"names {path}"] = [f"{path}/{info.name}" for info in entries]
    return found


def assert_answers_current(front: OverlayFileSystem) -> None:
    front_found = front_answers(front)
    core_found = core_answers(front.overlay)
    assert front_found == core_found


def _copy_up_from_a_handle(layers: Layers) -> None:
    with layers.front.overlay.openbin("/data/a.txt", "r+") as handle:
        handle.write(b"X")  # the first write copies the file up


def _commit_into_the_lower_then_discard(layers: Layers) -> None:
    core = layers.front.overlay
    core.commit(layers.lower_storage)
    core.discard()
    core.invalidate()  # the lower changed: the documented step after such a commit


def _change_the_lower_then_invalidate(layers: Layers) -> None:
    layers.lower_storage.writebytes("/data/a.txt", b"changed behind the overlay")
    layers.lower_storage.remove("/data/b.txt")
    layers.front.overlay.invalidate()


def _change_the_lower_then_invalidate_cache(layers: Layers) -> None:
    layers.lower_storage.writebytes("/only/new.txt", b"new in the lower")
    layers.front.invalidate_cache()


def _write_some(layers: Layers) -> None:
    core = layers.front.overlay
    core.writebytes("/data/a.txt", b"upper a")
    core.remove("/data/b.txt")
    core.makedir("/only/new")


#: name -> (what to do before the answers are kept, the change after).
Change = typing.Callable[[Layers], object]
CHANGES: dict[str, tuple[Change | None, Change]] = {
    "writebytes copies up": (None, lambda ls: ls.front.overlay.writebytes("/data/a.txt", b"new")),
    "remove": (None, lambda ls: ls.front.overlay.remove("/data/b.txt")),
    "move": (None, lambda ls: ls.front.overlay.move("/data/a.txt", "/data/moved.txt")),
    "movedir": (None, lambda ls: ls.front.overlay.movedir("/data/sub", "/only/sub", create=True)),
    "removetree": (None, lambda ls: ls.front.overlay.removetree("/data/sub")),
    "makedir": (None, lambda ls: ls.front.overlay.makedir("/only/new")),
    "create a file": (None, lambda ls: ls.front.overlay.writebytes("/only/new.txt", b"n")),
    "copy-up from a handle": (None, _copy_up_from_a_handle),
    "copy_up_tree": (None, lambda ls: ls.front.overlay.copy_up_tree("/data")),
    "discard all": (_write_some, lambda ls: ls.front.overlay.discard()),
    "discard one path": (_write_some, lambda ls: ls.front.overlay.discard(["/data/a.txt"])),
    "commit into the lower, discard": (_write_some, _commit_into_the_lower_then_discard),
    "lower changed, invalidate": (None, _change_the_lower_then_invalidate),
    "lower changed, invalidate_cache": (None, _change_the_lower_then_invalidate_cache),
    "front rm": (None, lambda ls: ls.front.rm("/data/a.txt")),
    "front rm recursive": (None, lambda ls: ls.front.rm("/data/sub", recursive=True)),
    "front mv dir": (None, lambda ls: ls.front.mv("/data/sub", "/only/sub")),
    "front pipe_file": (None, lambda ls: ls.front.pipe_file("/data/b.txt", b"piped")),
    "front rewrite upper": (_write_some, lambda ls: ls.front.pipe_file("/data/a.txt", b"again")),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_answers_follow_a_change_made_after_they_were_kept(layers, change):
    before, after = CHANGES[change]
    if before is not None:
        before(layers)
    assert_answers_current(layers.front)  # asks everything once: fills what is kept
    after(layers)
    assert_answers_current(layers.front)


def test_listing_follows_an_upper_file_written_through_an_open_handle(layers):
    front = layers.front
    front.pipe_file("/data/new.txt", b"1")
    assert_answers_current(front)
    with front.open("/data/new.txt", "ab") as handle:  # no change to any directory
        handle.write(b"2345")
    sizes = {entry["name"]: entry["size"] for entry in front.ls("/data")}
    assert sizes["/data/new.txt"] == 5
    assert front.cat_file("/data/new.txt") == b"12345"
    assert front.info("/data/new.txt")["size"] == 5
    assert_answers_current(front)


def test_listing_follows_times_set_on_upper_entries():
    front = OverlayFileSystem(upper=MemoryFS(), lowers=[_base_layer()])
    front.overlay.writebytes("/data/new.txt", b"n")
    front.overlay.setinfo("/data/a.txt", {"details": {"modified": 1000}})  # metadata-only
    assert_answers_current(front)
    front.overlay.setinfo("/data/new.txt", {"details": {"modified": 2000}})
    front.overlay.setinfo("/data/a.txt", {"details": {"modified": 3000}})
    times = {entry["name"]: entry["mtime"] for entry in front.ls("/data")}
    assert times["/data/new.txt"] == 2000 and times["/data/a.txt"] == 3000
    assert front.info("/data/new.txt")["mtime"] == 2000
    assert front.info("/data/a.txt")["mtime"] == 3000
    assert_answers_current(front)


def _base_layer() -> MemoryFS:
    lower = MemoryFS()
    fill(lower, BASE)
    return lower


def test_returned_listings_and_bytes_are_the_callers_own(layers):
    front = layers.front
    front.pipe_file("/data/new.txt", b"n")
    for path in ("/data", "/data/sub"):  # upper-held, lower-only
        front.info(path)["type"] = "junk"
        assert front.info(path)["type"] == "directory"
        first = front.ls(path)
        first[0]["size"] = -1
        first.append({"name": "junk"})
        names = front.ls(path, detail=False)
        names.append("junk")
        assert front.ls(path)[0]["size"] != -1
        assert "junk" not in front.ls(path, detail=False)
        assert all(entry["name"] != "junk" for entry in front.ls(path))


def test_a_closed_overlay_answers_no_kept_question(layers):
    front = layers.front
    assert front.cat_file("/data/a.txt") == b"lower a"
    front.ls("/data")
    front.overlay.close()
    with pytest.raises(OSError):
        front.cat_file("/data/a.txt")
    with pytest.raises(OSError):
        front.ls("/data")


def test_detaching_a_lower_starts_a_new_generation():
    front = OverlayFileSystem(upper=MemoryFS(), lowers=[_base_layer(), MemoryFS()])
    assert_answers_current(front)
    front.overlay.detach_lower(2)  # the empty bottom lower
    assert_answers_current(front)
    front.pipe_file("/data/a.txt", b"after detach")
    assert_answers_current(front)


def test_kept_answers_ask_the_overlay_nothing(layers, monkeypatch):
    """Warm ``cat_file``, ``info`` and ``ls`` (of a directory the upper holds too) resolve nothing.

    They ask no lookup of the overlay and no ``scandir``: lower entries are
    answered as kept, upper entries by the upper alone.
    """
    front = layers.front
    front.pipe_file("/data/new.txt", b"n")
    assert_answers_current(front)
    front.info("/data")
    calls: list[str] = []
    lookup, scandir = Resolver.lookup, OverlayFS.scandir

    def counting_lookup(self, *args, **kwargs):
        calls.append("lookup")
        return lookup(self, *args, **kwargs)

    def counting_scandir(self, *args, **kwargs):
        calls.append("scandir")
        return scandir(self, *args, **kwargs)

    monkeypatch.setattr(Resolver, "lookup", counting_lookup)
    monkeypatch.setattr(OverlayFS, "scandir", counting_scandir)
    for _ in range(3):
        assert front.cat_file("/data/a.txt") == b"lower a"
        assert front.cat_file("/data/new.txt") == b"n"
        front.ls("/data")
        front.ls("/data", detail=False)
        front.ls("/data/sub")
        assert front.info("/data/a.txt")["size"] == 7
        assert front.info("/data/new.txt")["size"] == 1
        assert front.info("/data")["type"] == "directory"
    assert calls == []


def test_kept_reads_and_listings_are_bounded(layers):
    from unionfs_lib.fsspec import infos, listings, reads

    front = layers.front
    front._reads._max = front._infos._max = front._listings._max = 5
    for index in range(12):
        front.pipe_file(f"/only/many/f{index}.txt", b"f")
        assert front.cat_file(f"/only/many/f{index}.txt") == b"f"
        front.info(f"/only/many/f{index}.txt")
        front.ls(f"/only/many/f{index}.txt")
    for index in range(12):  # the same generation from here on
        front.cat_file(f"/only/many/f{index}.txt")
        front.info(f"/only/many/f{index}.txt")
        front.ls(f"/only/many/f{index}.txt")
        front.ls("/only/many")
    assert 0 < len(front._reads) <= 5 and 0 < len(front._infos) <= 5
    assert 0 < len(front._listings) <= 5
    assert min(reads.MAX_PATHS, infos.MAX_PATHS, listings.MAX_DIRECTORIES) >= 1024


# -- a differential test: random changes through both APIs -------------------

NAMES = ["/data/a.txt", "/data/b.txt", "/data/new.txt", "/only/d.txt", "/only/new.txt"]
DIRECTORIES = ["/data/sub", "/only/sub", "/only/new"]

operations = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.binary(max_size=8)),
    st.tuples(st.just("append"), st.sampled_from(NAMES), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("remove"), st.sampled_from(NAMES + DIRECTORIES), st.just(b"")),
    st.tuples(st.just("makedir"), st.sampled_from(DIRECTORIES), st.just(b"")),
    st.tuples(st.just("move"), st.sampled_from(NAMES + DIRECTORIES), st.sampled_from(NAMES)),
    st.tuples(st.just("front pipe"), st.sampled_from(NAMES), st.binary(max_size=8)),
    st.tuples(st.just("front mv"), st.sampled_from(NAMES + DIRECTORIES), st.sampled_from(
        NAMES + DIRECTORIES)),
    st.tuples(st.just("discard"), st.sampled_from(NAMES + DIRECTORIES), st.just(b"")),
    st.tuples(st.just("discard all"), st.just(""), st.just(b"")),
)


def apply(front: OverlayFileSystem, operation: tuple[str, str, typing.Any]) -> None:
    """Apply one random change; refusals (missing, exists ...) are fine."""
    kind, path, argument = operation
    core = front.overlay
    try:
        if kind == "write":
            core.writebytes(path, argument)
        elif kind == "append":
            with core.openbin(path, "a") as handle:
                handle.write(argument)
        elif kind == "remove":
            core.removetree(path) if core.isdir(path) else core.remove(path)
        elif kind == "makedir":
            core.makedir(path)
        elif kind == "move":
            core.movedir(path, argument, create=True) if core.isdir(path) else core.move(
                path, argument, overwrite=True)
        elif kind == "front pipe":
            front.pipe_file(path, argument)
        elif kind == "front mv":
            front.mv(path, argument)
        elif kind == "discard":
            core.discard([path])
        else:
            core.discard()
    except (fs.errors.FSError, OSError):
        pass


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(operations, max_size=12))
def test_random_changes_never_leave_a_stale_answer(layers, steps):
    layers.front.overlay.discard()
    front = OverlayFileSystem(overlay=layers.front.overlay)  # fresh front-end caches
    assert_answers_current(front)
    for step in steps:
        apply(front, step)
        assert_answers_current(front)


def test_readers_racing_changes_see_a_whole_state_and_then_the_last(layers):
    """Readers of kept answers, while another thread copies up, rewrites and discards."""
    import threading

    front = layers.front
    written = [b"lower a"] + [b"version %d" % index for index in range(40)]
    # A rewrite in progress shows the emptied file, to OverlayFS.readbytes as
    # well: writebytes holds the overlay's lock only while it opens the file.
    seen_possible = [b"", *written]
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                assert front.cat_file("/data/a.txt") in seen_possible
                names = front.ls("/data", detail=False)
                assert "/data/a.txt" in names and "/data/sub" in names
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for index, content in enumerate(written[1:]):
            front.overlay.writebytes("/data/a.txt", content)
            if index % 5 == 4:
                front.overlay.discard(["/data/a.txt"])
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert errors == []
    assert_answers_current(front)
