"""What a ``cat`` of a lower file costs the daemon, counted, never timed.

A ``cat`` through the mount is ``OPEN``, ``READ`` and ``RELEASE`` of a file
the kernel already knows from a ``readdirplus`` listing. Counting spies show
that the work of each request is the layer's: where the kernel refused
passthrough (libfuse before 3.17), an open keeps no passthrough book (no
``fstat`` of the new descriptor, no counts by file); the OS path of a
lower file found by the listing is not looked for again by ``open``.
"""

from __future__ import annotations

import collections
import os
import subprocess
import typing

import pytest

from unionfs_lib.layers import lifecycle
from unionfs_lib.mount import passthrough
from unionfs_lib.mount.daemon import ThreadMount

from ..support.mounting import small_mount

COUNT = 20
LOWER: dict[str, bytes | None] = {"/tree": None}
LOWER.update({f"/tree/f{index}": b"z" * 1024 for index in range(COUNT)})


class Mounted(typing.NamedTuple):
    """A mount of a lower of ``COUNT`` files, and its upper."""

    root: str
    thread: ThreadMount
    upper: str


@pytest.fixture
def mounted(tmp_path):
    """Yield a :class:`Mounted`; the lower is checked unchanged."""
    with small_mount(tmp_path, LOWER) as mount:
        yield Mounted(mount.root, mount.thread, mount.upper)


def _counting(monkeypatch, module: typing.Any, name: str) -> collections.Counter[str]:
    """Count the calls of ``module.name`` (replaced for the test)."""
    calls: collections.Counter[str] = collections.Counter()
    original = getattr(module, name)

    def counted(*args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        calls[name] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _cat_all(root: str) -> bytes:
    """``cat`` every file of the tree, as the benchmark does; return the bytes read."""
    return subprocess.run(
        "find tree -type f -print0 | xargs -0 cat", shell=True, cwd=root, check=True,
        stdout=subprocess.PIPE,
    ).stdout


def test_a_refused_passthrough_costs_an_open_nothing(mounted, monkeypatch):
    operations = mounted.thread.operations
    assert operations is not None
    if operations.passthrough.refusal is None:
        pytest.skip("passthrough is on here: every open is booked")
    calls = _counting(monkeypatch, passthrough, "_identity")
    asked = _counting(monkeypatch, passthrough.Passthrough, "attach")
    assert _cat_all(mounted.root) == b"z" * 1024 * COUNT
    assert calls["_identity"] == 0, "an open fstat-ed its descriptor for a refused passthrough"
    assert asked["attach"] == 0, "an open asked a refused passthrough"
    assert not operations.passthrough._served, "opens were booked for a refused passthrough"
    assert not operations.passthrough._handles


@pytest.mark.unguarded  # the mechanism of an OSFS lower itself (a wrapped one is looked up)
def test_a_cat_finds_the_os_path_of_a_lower_file_once(mounted, monkeypatch):
    # The listing (readdirplus) finds each file's OS path; its OPEN reuses it.
    calls = _counting(monkeypatch, lifecycle, "syspaths")
    assert _cat_all(mounted.root) == b"z" * 1024 * COUNT
    assert calls["syspaths"] <= COUNT + 2, calls


def test_a_copy_up_moves_the_os_path_a_cat_opens(mounted):
    path = os.path.join(mounted.root, "tree", "f1")
    assert _cat_all(mounted.root) == b"z" * 1024 * COUNT
    with open(path, "ab") as handle:
        handle.write(b"!")
    with open(path, "rb") as handle:
        assert handle.read() == b"z" * 1024 + b"!"
    os.rename(path, os.path.join(mounted.root, "tree", "g"))
    with open(os.path.join(mounted.root, "tree", "f2"), "rb") as handle:
        assert handle.read() == b"z" * 1024
    with open(os.path.join(mounted.root, "tree", "g"), "rb") as handle:
        assert handle.read() == b"z" * 1024 + b"!"


def test_echo_to_a_new_name_checks_for_no_whiteout_the_listing_rules_out(mounted, monkeypatch):
    # The root's upper listing is cached (the kernel looked the names up):
    # it holds no whiteout at the new names, so create makes each file in place
    # without an lstat for one.
    from unionfs_lib.ops.superblock import overlay_super

    operations = mounted.thread.operations
    assert operations is not None
    store = overlay_super(operations.overlay).store
    calls = _counting(monkeypatch, type(store), "has_whiteout")
    os.listdir(mounted.root)
    subprocess.run(
        "for i in 1 2 3 4 5; do echo x > n$i; done", shell=True, cwd=mounted.root, check=True
    )
    assert calls["has_whiteout"] == 0, calls
    for index in range(1, 6):
        with open(os.path.join(mounted.root, f"n{index}"), "rb") as handle:
            assert handle.read() == b"x\n"
        assert os.path.isfile(os.path.join(mounted.upper, f"n{index}"))


def test_echo_over_a_whiteout_still_replaces_it(mounted):
    path = os.path.join(mounted.root, "tree", "f3")
    os.unlink(path)
    assert not os.path.exists(path)
    with open(path, "wb") as handle:
        handle.write(b"new\n")
    with open(path, "rb") as handle:
        assert handle.read() == b"new\n"
    assert sorted(os.listdir(os.path.join(mounted.root, "tree"))).count("f3") == 1
    upper_file = os.lstat(os.path.join(mounted.upper, "tree", "f3"))
    assert upper_file.st_size == 4


def test_the_getattr_of_a_new_file_finds_its_os_path_once(mounted, monkeypatch):
    # The lookup libfuse sends after each create describes the new upper file:
    # its OS path, found for the lstat, also serves the read of its pinned number.
    from unionfs_lib.ops import info_ops

    os.listdir(mounted.root)
    calls = _counting(monkeypatch, info_ops, "syspaths")
    subprocess.run(
        "for i in 1 2 3 4 5; do echo x > n$i; done", shell=True, cwd=mounted.root, check=True
    )
    assert calls["syspaths"] == 0, calls
    numbers = {os.lstat(os.path.join(mounted.root, f"n{index}")).st_ino for index in range(1, 6)}
    assert len(numbers) == 5
    os.link(os.path.join(mounted.root, "n1"), os.path.join(mounted.root, "h1"))
    assert os.lstat(os.path.join(mounted.root, "h1")).st_ino == os.lstat(
        os.path.join(mounted.root, "n1")
    ).st_ino


def test_a_read_hands_libfuse_its_vector_built_in_place(mounted, monkeypatch):
    # read_buf writes the one-buffer vector straight into the memory libfuse
    # frees: no second ctypes structure copied over with memmove per READ.
    import ctypes

    calls = _counting(monkeypatch, ctypes, "memmove")
    assert _cat_all(mounted.root) == b"z" * 1024 * COUNT
    assert calls["memmove"] == 0, calls
