"""A crafted upper: every record, marker and attribute the overlay reads, laid by an attacker.

The attacker lays files and extended attributes in the upper (or the kernel
layout's workdir) before the overlay is opened: identity records
(``.wh..wh..rec.<name>``), generations (``.wh..wh..vac.<name>``, the kernel
store's ``trusted.unionfs.vacated``), redirects (the marker file and
``trusted.overlay.redirect``), opaque and whiteout attributes, pinned inode
numbers (``trusted.unionfs.ino``) and the fingerprint record. Each holds
random bytes, random JSON (deeply nested, huge numbers, wrong types), or is
no regular file at all (a FIFO that would block a reader, a link to a file
outside every layer, a directory). Opening the overlay and walking it
(listing, ``getinfo`` with every namespace, reading, appending, renaming and
removing) must raise nothing but ``fs.errors`` exceptions, every inode
number shown must fit 63 bits (what the overlay derives, and what FUSE's
``st_ino`` holds), and nothing outside the layers changes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
import typing

import fs.errors
import fs.path
import pytest
from fs.base import FS
from fs.memoryfs import MemoryFS
from fs.osfs import OSFS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unionfs_lib import OverlayFS
from unionfs_lib.host.posix import read_pin
from unionfs_lib.model.records import MAX_INO, EntryRecord

from ..support.victim import Victim

#: A payload: bytes to write, or the name of something that is no regular file.
Payload = typing.Union[bytes, str]
SPECIAL = ("fifo", "link-out", "link-dangling", "directory", "deep-json", "huge")

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats()
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["ino", "origin", "data", "lowers", "f", "x"]), children,
                      max_size=4),
    max_leaves=8,
)


def _json_bytes(value: typing.Any) -> bytes:
    return json.dumps(value).encode()


RECORD_LIKE = st.fixed_dictionaries(
    {"ino": st.integers(min_value=-(2**70), max_value=2**300) | JSON},
    optional={
        "origin": st.integers(min_value=-5, max_value=2**70) | JSON,
        "data": st.tuples(st.integers(-3, 2**65) | JSON, st.text(max_size=12) | JSON).map(list)
        | JSON,
    },
)
PAYLOADS: st.SearchStrategy[Payload] = st.one_of(
    st.binary(max_size=64),
    JSON.map(_json_bytes),
    RECORD_LIKE.map(_json_bytes),
    st.sampled_from(SPECIAL),
    st.sampled_from(["/", "/d", "/d/sub", "/../..", "//d", "/d/", "sub", ".", "/d\0x", "/nope"])
    .map(str.encode),
)


def _lay(path: str, payload: Payload, victim: Victim) -> None:
    """Put ``payload`` at OS path ``path`` as the attacker would."""
    if payload == "fifo":
        os.mkfifo(path)
    elif payload == "link-out":
        os.symlink(victim.join("secret.txt"), path)
    elif payload == "link-dangling":
        os.symlink("/nonexistent/x", path)
    elif payload == "directory":
        os.makedirs(os.path.join(path, "inner"))
    else:
        data = {"deep-json": b"[" * 100_000, "huge": b"9" * (1 << 21)}.get(str(payload), payload)
        with open(path, "wb") as handle:
            handle.write(typing.cast(bytes, data))


def _build(root: str) -> tuple[str, str]:
    """A lower with a directory ``/d`` (files ``f``, ``g``, a subdirectory), an upper over it."""
    lower, upper = os.path.join(root, "lower"), os.path.join(root, "upper")
    os.makedirs(os.path.join(lower, "d", "sub"))
    os.makedirs(os.path.join(upper, "d"))
    for rel, data in {"d/f": b"lower f", "d/g": b"lower g", "d/sub/x": b"x", "top": b"t"}.items():
        with open(os.path.join(lower, rel), "wb") as handle:
            handle.write(data)
    with open(os.path.join(upper, "d", "f"), "wb") as handle:
        handle.write(b"upper f")
    with open(os.path.join(upper, "d", "h"), "wb") as handle:
        handle.write(b"upper h")
    return upper, lower


def _in_memory(upper_dir: str) -> MemoryFS:
    """Copy an OS upper (regular files and directories only) into a ``MemoryFS``."""
    memory = MemoryFS()
    for base, dirs, files in os.walk(upper_dir):
        rel = "/" + os.path.relpath(base, upper_dir).replace(os.sep, "/").lstrip(".")
        for name in dirs:
            memory.makedirs(fs.path.join(rel, name), recreate=True)
        for name in files:
            full = os.path.join(base, name)
            if stat.S_ISREG(os.lstat(full).st_mode):
                with open(full, "rb") as handle:
                    memory.writebytes(fs.path.join(rel, name), handle.read())
    return memory


class Walk:
    """Walks an overlay, tolerating ``fs.errors`` and recording anything else."""

    def __init__(self, overlay: FS) -> None:
        self.overlay = overlay
        self.problems: list[str] = []
        self.steps = 0

    def attempt(
        self, what: str, action: typing.Callable[..., typing.Any], *args: typing.Any
    ) -> typing.Any:
        """Run ``action(*args)``; an ``fs.errors`` exception is an answer, anything else not."""
        self.steps += 1
        try:
            return action(*args)
        except fs.errors.FSError as error:
            str(error)  # the message itself must format
            return None
        except Exception as error:  # noqa: BLE001 - the finding
            self.problems.append(f"{what}: {type(error).__name__}: {error!s:.200}")
            return None

    def check_ino(self, path: str, info: typing.Any) -> None:
        """Every inode number shown must be a positive 63-bit number."""
        numbers = [
            info.raw.get("overlay", {}).get("ino"),
            info.raw.get("stat", {}).get("st_ino"),
        ]
        for number in numbers:
            if number is not None and not (isinstance(number, int) and 0 < number <= MAX_INO):
                self.problems.append(f"{path}: inode number {number!r} out of range")

    def tree(self, path: str = "/", depth: int = 0) -> None:
        """List, stat and read everything under ``path`` (bounded depth: redirects may loop)."""
        overlay = self.overlay
        names = self.attempt(f"listdir {path}", lambda: overlay.listdir(path)) or []
        self.attempt(f"scandir {path}", lambda: list(overlay.scandir(path, ["details"])))
        for name in names:
            child = fs.path.join(path, name)
            info = self.attempt(
                f"getinfo {child}", overlay.getinfo, child, ["details", "overlay", "stat", "access"]
            )
            if info is not None:
                self.check_ino(child, info)
            if self.attempt(f"isdir {child}", overlay.isdir, child):
                if depth < 4:
                    self.tree(child, depth + 1)
            else:
                self.attempt(f"readbytes {child}", overlay.readbytes, child)

    def writes(self) -> None:
        """Change what the crafted entries describe: copy-up, rename, remove."""
        overlay = self.overlay
        for path in ("/d/f", "/d/g", "/d/h"):
            self.attempt(f"append {path}", overlay.appendbytes, path, b"!")
            info = self.attempt(f"getinfo {path}", overlay.getinfo, path, ["overlay"])
            if info is not None:
                self.check_ino(path, info)
        self.attempt("move /d/f", lambda: overlay.move("/d/f", "/d/f2"))
        self.attempt("movedir /d/sub", lambda: overlay.movedir("/d/sub", "/moved", create=True))
        self.attempt("makedir /d/new", lambda: overlay.makedir("/d/new"))
        self.attempt("remove /d/g", lambda: overlay.remove("/d/g"))
        self.attempt("removetree /d", lambda: overlay.removetree("/d"))
        self.tree()


def _open_and_walk(make: typing.Callable[[], FS]) -> list[str]:
    """Open with ``make``, walk, write, walk again; return the problems found."""
    problems: list[str] = []
    try:
        overlay = make()
    except fs.errors.FSError as error:
        str(error)
        return problems
    except Exception as error:  # noqa: BLE001 - the finding
        return [f"open: {type(error).__name__}: {error!s:.200}"]
    with contextlib.closing(overlay):
        walk = Walk(overlay)
        walk.tree()
        walk.writes()
        problems.extend(walk.problems)
    return problems


# -- the default store: marker files ----------------------------------------------------

MARKER_TARGETS = {
    "record of an upper file": "d/.wh..wh..rec.f",
    "record of a lower file": "d/.wh..wh..rec.g",
    "record of an upper directory": ".wh..wh..rec.d",
    "generation": "d/.wh..wh..vac.f",
    "generation of a directory": ".wh..wh..vac.d",
    "redirect": "d/.wh..wh..redirect",
    "fingerprint record": ".wh..wh..layers.json",
}


def _marker_case(
    victim: Victim, target: str, payload: Payload, memory: bool
) -> list[str]:
    with tempfile.TemporaryDirectory() as root:
        upper, lower = _build(root)
        _lay(os.path.join(upper, target), payload, victim)
        upper_fs: FS = _in_memory(upper) if memory else OSFS(upper)
        verify = "error" if target.endswith("layers.json") else "off"
        return _open_and_walk(lambda: OverlayFS(upper_fs, [OSFS(lower)], verify_lowers=verify))


@pytest.mark.parametrize("memory", [False, True], ids=["osfs-upper", "memory-upper"])
@pytest.mark.parametrize("target", sorted(MARKER_TARGETS))
@pytest.mark.parametrize("payload", SPECIAL)
def test_special_markers_raise_only_fs_errors(
    victim: Victim, target: str, payload: str, memory: bool
) -> None:
    assert _marker_case(victim, MARKER_TARGETS[target], payload, memory) == []


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(sorted(MARKER_TARGETS)),
    payload=PAYLOADS,
    memory=st.booleans(),
)
def test_random_markers_raise_only_fs_errors(
    victim: Victim, target: str, payload: Payload, memory: bool
) -> None:
    assert _marker_case(victim, MARKER_TARGETS[target], payload, memory) == []


@pytest.mark.parametrize(
    "record",
    [
        {"ino": 2**200},
        {"ino": 2**63},
        {"ino": 2**64 - 1},
        {"ino": -5},
        {"ino": 0},
        {"ino": True},
        {"ino": 7, "origin": 2**200},
        {"ino": 7, "data": [99, "/d/g"]},
        {"ino": 7, "data": [1, "/../../../etc/passwd"]},
        {"ino": 7, "data": [1, "/d/\u0000"]},
        {"ino": 7, "data": [1, "relative"]},
        {"ino": 7, "data": [0, "/d/g"]},
        [1],
        "ino",
    ],
)
def test_each_malformed_record_is_ignored(victim: Victim, record: typing.Any) -> None:
    payload = json.dumps(record).encode()
    for memory in (False, True):
        assert _marker_case(victim, "d/.wh..wh..rec.f", payload, memory) == []


def test_a_record_out_of_range_gives_the_entry_its_derived_number(victim: Victim) -> None:
    with tempfile.TemporaryDirectory() as root:
        upper, lower = _build(root)
        with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
            derived = overlay.getinfo("/d/f", ["overlay"]).raw["overlay"]["ino"]
        _lay(os.path.join(upper, "d", ".wh..wh..rec.f"), b'{"ino": %d}' % 2**200, victim)
        with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
            assert overlay.getinfo("/d/f", ["overlay"]).raw["overlay"]["ino"] == derived


def test_a_record_that_is_a_fifo_does_not_block(victim: Victim) -> None:
    # Before: opening the FIFO to read the record blocked the overlay forever.
    with tempfile.TemporaryDirectory() as root:
        upper, lower = _build(root)
        os.mkfifo(os.path.join(upper, "d", ".wh..wh..rec.f"))
        with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
            assert overlay.readbytes("/d/f") == b"upper f"


def test_a_record_linked_outside_is_not_read(victim: Victim) -> None:
    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as outside:
        planted = os.path.join(outside, "record")
        with open(planted, "wb") as handle:
            handle.write(b'{"ino": 424242}')
        upper, lower = _build(root)
        os.symlink(planted, os.path.join(upper, "d", ".wh..wh..rec.f"))
        with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
            assert overlay.getinfo("/d/f", ["overlay"]).raw["overlay"]["ino"] != 424242


def test_entry_record_load_bounds() -> None:
    assert EntryRecord.load(b'{"ino": %d}' % MAX_INO) == EntryRecord(MAX_INO)
    for raw in (b'{"ino": %d}' % (MAX_INO + 1), b"[" * 100_000, b"[1]", b'{"ino": 1, "data": 5}'):
        assert EntryRecord.load(raw) is None


# -- the kernel's format: extended attributes ------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="trusted.* attributes need root")

XATTR_TARGETS = {
    "redirect": ("d", "trusted.overlay.redirect"),
    "opaque": ("d", "trusted.overlay.opaque"),
    "root opaque": (".", "trusted.overlay.opaque"),
    "whiteout": ("d/h", "trusted.overlay.whiteout"),
    "origin": ("d/f", "trusted.overlay.origin"),
    "metacopy": ("d/f", "trusted.overlay.metacopy"),
    "generations": ("d", "trusted.unionfs.vacated"),
    "root generations": (".", "trusted.unionfs.vacated"),
    "pinned number": ("d/f", "trusted.unionfs.ino"),
    "user pinned number": ("d/h", "user.unionfs.ino"),
}


def _xattr_case(victim: Victim, target: str, value: bytes) -> list[str]:
    where, name = XATTR_TARGETS[target]
    with tempfile.TemporaryDirectory() as root:
        upper, lower = _build(root)
        work = os.path.join(root, "work")
        os.mkdir(work)
        if name.endswith("whiteout"):  # an xwhiteout: an empty file, its parent marked "x"
            open(os.path.join(upper, "d", "h"), "wb").close()
            os.setxattr(os.path.join(upper, "d"), "trusted.overlay.opaque", b"x")
        try:
            os.setxattr(os.path.join(upper, where), name, value[:60000] or b"\0")
        except OSError as error:
            if error.errno in (errno.E2BIG, errno.ENOSPC, errno.ERANGE):
                return []
            raise
        return _open_and_walk(lambda: OverlayFS.from_dirs([lower], upper, work))


@needs_root
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(sorted(XATTR_TARGETS)),
    value=st.one_of(
        st.binary(max_size=64),
        JSON.map(_json_bytes),
        st.dictionaries(st.text(max_size=4), st.integers(-(2**300), 2**300) | JSON).map(
            _json_bytes
        ),
        st.sampled_from([b"[" * 60000, b"y", b"x", b"/", b"/d", b"/d/sub", b"..", b"/../x",
                         b"%d" % 2**200, b"-1", b"0", b"%d" % (MAX_INO + 1), b" 12 ", b"1_0"]),
    ),
)
def test_random_attributes_raise_only_fs_errors(
    victim: Victim, target: str, value: bytes
) -> None:
    assert _xattr_case(victim, target, value) == []


@needs_root
@pytest.mark.parametrize(
    ("target", "value"),
    [
        ("generations", b"[" * 60000),
        ("generations", b'{"d": ' + b"[" * 30000 + b"}"),
        ("root generations", b'{"d": %d}' % 2**200),
        ("pinned number", b"%d" % 2**200),
        ("pinned number", b"-1"),
        ("pinned number", b"%d" % (MAX_INO + 1)),
        ("user pinned number", b"%d" % 2**64),
        ("redirect", b"/d/sub"),
        ("redirect", b"/"),
    ],
)
def test_each_malformed_attribute_is_ignored(victim: Victim, target: str, value: bytes) -> None:
    assert _xattr_case(victim, target, value) == []


@pytest.mark.parametrize(
    "value", [b"%d" % 2**200, b"-1", b"0", b"%d" % (MAX_INO + 1), b"x", b" ", b"1" * 5000]
)
def test_a_pinned_number_out_of_range_is_no_pin(tmp_path: typing.Any, value: bytes) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    try:
        os.setxattr(path, "user.unionfs.ino", value)
    except OSError:
        pytest.skip("no user.* attributes here")
    assert read_pin(str(path)) is None


@pytest.mark.parametrize("payload", [*SPECIAL, b"[" * 100_000, b'{"lowers": [1]}',
                                     b'{"lowers": ["x"]}', b'{"lowers": [[]]}', b"[]", b"7"])
def test_a_crafted_fingerprint_record_in_the_workdir_is_create_failed(
    victim: Victim, payload: Payload
) -> None:
    with tempfile.TemporaryDirectory() as root:
        upper, lower = _build(root)
        work = os.path.join(root, "work")
        os.mkdir(work)
        _lay(os.path.join(work, "unionfs-layers.json"), payload, victim)

        def make() -> FS:
            return OverlayFS.from_dirs([lower], upper, work, verify_lowers="error")

        assert _open_and_walk(make) == []


# -- markers written over what the attacker laid ---------------------------------------


@pytest.mark.parametrize(
    ("planted", "action"),
    [
        ("d/.wh..wh..rec.g", lambda o: o.appendbytes("/d/g", b"!")),  # copy-up writes a record
        ("d/.wh.f", lambda o: o.remove("/d/f")),  # a whiteout beside the upper f
        ("d/.wh..wh..tmp.f", lambda o: o.move("/d/f", "/d/f2")),  # a new generation of f
        ("d/.wh..wh..redirect", lambda o: o.movedir("/d", "/e", create=True)),  # a redirect
        (".wh..wh..layers.json", lambda o: None),  # the fingerprint record, at open
    ],
)
@pytest.mark.parametrize("kind", ["link-out", "link-into-victim", "fifo"])
def test_markers_are_never_written_through_what_was_laid_there(
    victim: Victim, planted: str, action: typing.Callable[[FS], None], kind: str
) -> None:
    with tempfile.TemporaryDirectory() as root:
        upper, lower = _build(root)
        where = os.path.join(upper, planted)
        if kind == "link-into-victim":  # dangling: a write through it creates a victim file
            os.symlink(victim.join("planted"), where)
        else:
            _lay(where, kind, victim)
        verify = "error" if planted.endswith("layers.json") else "off"
        try:
            overlay = OverlayFS(OSFS(upper), [OSFS(lower)], verify_lowers=verify)
        except fs.errors.CreateFailed:  # a record that is no regular file: unreadable
            assert verify == "error" and kind != "link-into-victim"
            return
        with overlay:
            action(overlay)
            assert sorted(overlay.listdir("/")) in (["d", "top"], ["e", "top"])


# -- the side-car store of the test suite (a store written against the protocols) ------


@settings(max_examples=60, deadline=None)
@given(payload=st.one_of(
    st.binary(max_size=64),
    JSON.map(_json_bytes),
    st.fixed_dictionaries({"version": st.just(1)}, optional={
        "whiteouts": JSON, "opaque": JSON, "redirect": JSON, "records": JSON, "vacated": JSON,
    }).map(_json_bytes),
    st.just(b"[" * 100_000),
))
def test_a_crafted_sidecar_raises_only_fs_errors(payload: bytes) -> None:
    from tests.strategies.sidecar import SIDECAR_NAME, SidecarWhiteouts

    lower = MemoryFS()
    lower.makedirs("/d/sub")
    lower.writebytes("/d/f", b"f")
    upper = MemoryFS()
    upper.makedirs("/d")
    upper.writebytes("/d/" + SIDECAR_NAME, payload)
    upper.writebytes("/" + SIDECAR_NAME, payload)
    store = SidecarWhiteouts()
    assert _open_and_walk(lambda: OverlayFS(upper, [lower], whiteouts=store)) == []


def test_a_crafted_record_shows_a_valid_inode_number_through_the_mount(
    victim: Victim, overlay_mount: typing.Any
) -> None:
    from tests.support.mounting import fuse_or_skip

    fuse_or_skip()
    with tempfile.TemporaryDirectory() as root:
        upper, lower = _build(root)
        with OverlayFS(OSFS(upper), [OSFS(lower)]) as overlay:
            derived = overlay.getinfo("/d/f", ["overlay"]).raw["overlay"]["ino"]
        _lay(os.path.join(upper, "d", ".wh..wh..rec.f"), b'{"ino": %d}' % (2**200 + 5), victim)
        merged = overlay_mount(lower, upper=OSFS(upper))
        assert os.stat(os.path.join(merged, "d", "f")).st_ino == derived
        names = {entry.name: entry.inode() for entry in os.scandir(os.path.join(merged, "d"))}
        assert names["f"] == derived
