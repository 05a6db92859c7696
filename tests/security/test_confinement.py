"""Attacks through links in layers that sit on local files without being an ``OSFS``.

Confinement is a property of the layer: a ``LazyFS`` over an ``OSFS``, a
``SubFS`` or ``WrapFS`` around one (or around a ``LazyFS``), and fsspec
``file://`` layers (plain, ``dir::`` and ``simplecache::``) follow symbolic
links exactly as an ``OSFS`` does, so they are confined exactly like one.

The attacker lays links in a layer before the overlay is opened (a crafted
lower or upper): ``secret`` and ``rel_secret`` lead to the victim's private
``secret.txt``, ``vdir`` to the victim directory, ``new`` nowhere yet (a
dangling link to ``victim/new``). Then code in the sandbox reads, lists,
copies up and writes through them. Every such call must be refused with
``EscapesLayer`` (a ``PermissionDenied``), the victim must stay unchanged
(the ``victim`` fixture checks it byte for byte) and the secret must reach no
layer. Links that stay inside their layer keep working.
"""

from __future__ import annotations

import datetime
import functools
import os
import typing

import fs.errors
import pytest
from fs.base import FS
from fs.osfs import OSFS
from fs.tempfs import TempFS
from fs.wrapfs import WrapFS

from unionfs_lib import OverlayFS
from unionfs_lib.errors import EscapesLayer
from unionfs_lib.fsspec import OverlayFileSystem
from unionfs_lib.fsspec.layers import open_layer

from ..support.link_attacks import LOWER_KINDS, lay_links
from ..support.victim import Victim


def assert_escapes(call: typing.Callable[[], object]) -> None:
    """Check that ``call`` is refused as leaving its layer."""
    with pytest.raises(fs.errors.PermissionDenied) as caught:
        call()
    assert isinstance(caught.value, EscapesLayer), repr(caught.value)


def assert_no_secret(root: str, victim: Victim) -> None:
    """Check that no file below ``root`` (links not followed) holds the victim's secret."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as handle:
                assert victim.secret not in handle.read(), f"the secret reached {path}"


@pytest.fixture
def layer_dir(tmp_path: typing.Any, victim: Victim) -> str:
    """A layer directory holding the attacker's links (below a directory of its own)."""
    root = str(tmp_path / "layers" / "layer")
    os.makedirs(root)
    lay_links(root, victim)
    return root


@pytest.mark.parametrize("kind", sorted(LOWER_KINDS))
def test_a_lower_on_local_files_is_confined(
    kind: str, layer_dir: str, tmp_path: typing.Any, victim: Victim
) -> None:
    lower = LOWER_KINDS[kind](layer_dir, str(tmp_path / "cache"))
    with TempFS() as upper, OverlayFS(upper, [lower]) as overlay:
        for path in ("/secret", "/rel_secret"):
            assert_escapes(functools.partial(overlay.readbytes, path))
            assert_escapes(functools.partial(overlay.openbin, path, "r"))
            assert_escapes(functools.partial(overlay.appendbytes, path, b"+"))  # copy-up
            assert_escapes(functools.partial(overlay.openbin, path, "r+"))
        assert_escapes(lambda: overlay.listdir("/vdir"))
        assert_escapes(lambda: overlay.readbytes("/vdir/secret.txt"))
        assert_escapes(lambda: overlay.writebytes("/vdir/evil", b"x"))
        assert_escapes(lambda: overlay.makedir("/vdir/evil"))
        # The links themselves are links: shown, read as stored, never followed.
        assert overlay.islink("/secret") and overlay.islink("/vdir") and overlay.islink("/new")
        assert overlay.readlink("/secret") == victim.join("secret.txt")
        # Links inside the layer work as before.
        assert overlay.readbytes("/in_link") == b"inside"
        assert overlay.listdir("/in_dir") == ["inner.txt"]
        assert overlay.readbytes("/in_dir/inner.txt") == b"inner"
        assert overlay.readbytes("/real.txt") == b"inside"
        assert_no_secret(upper.getsyspath("/"), victim)
    assert not os.path.lexists(victim.join("new"))


@pytest.mark.parametrize("kind", ["fsspec-file", "lazy", "subfs-of-lazy"])
def test_copy_up_of_a_tree_stops_at_an_escaping_link(
    kind: str, layer_dir: str, tmp_path: typing.Any, victim: Victim
) -> None:
    """``copy_up_tree`` copies the links as links and never the victim's bytes.

    (A link to an outside directory is left out here: ``copy_up_tree`` walks
    into a link to a directory, and refuses it, on an ``OSFS`` too.)
    """
    os.unlink(os.path.join(layer_dir, "vdir"))
    lower = LOWER_KINDS[kind](layer_dir, str(tmp_path / "cache"))
    with TempFS() as upper, OverlayFS(upper, [lower]) as overlay:
        overlay.copy_up_tree()
        for name in ("secret", "rel_secret", "new", "in_link"):
            assert os.path.islink(upper.getsyspath("/" + name)), name
        assert os.readlink(upper.getsyspath("/secret")) == victim.join("secret.txt")
        assert_no_secret(upper.getsyspath("/"), victim)


def test_the_fsspec_front_end_refuses_a_lower_link_out(
    layer_dir: str, tmp_path: typing.Any, victim: Victim
) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    ofs = OverlayFileSystem(upper="file://" + str(upper), lowers=["file://" + layer_dir])
    with pytest.raises(PermissionError):
        ofs.cat_file("/secret")
    with pytest.raises(PermissionError):
        ofs.cat_file("/secret")  # the read cache keeps no unchecked reader
    with pytest.raises(PermissionError):
        ofs.ls("/vdir")
    with pytest.raises(PermissionError):
        with ofs.open("/secret", "ab") as handle:
            handle.write(b"+")
    assert ofs.cat_file("/in_link") == b"inside"
    assert ofs.cat_file("/in_link") == b"inside"
    assert_no_secret(str(upper), victim)


# -- a crafted upper -------------------------------------------------------


def _fsspec_upper(root: str) -> FS:
    """An fsspec ``file://`` upper, as the fsspec front end opens it."""
    return open_layer("file://" + root, writeable=True)


def _front_end_upper(root: str) -> FS:
    """The upper the fsspec front end opens for ``upper="file://ROOT"``."""
    upper = OverlayFileSystem(upper="file://" + root, lowers=[]).overlay.upper
    assert upper is not None
    return upper


UPPER_KINDS: dict[str, typing.Callable[[str], FS]] = {
    "fsspec-file": _fsspec_upper,
    "fsspec-file-via-front-end": _front_end_upper,
    "subfs-of-osfs": lambda root: OSFS(os.path.dirname(root)).opendir(os.path.basename(root)),
    "wrapfs-of-osfs": lambda root: WrapFS(OSFS(root)),
}


@pytest.mark.parametrize("kind", sorted(UPPER_KINDS))
def test_writes_through_links_in_a_crafted_upper_are_refused(
    kind: str, layer_dir: str, victim: Victim
) -> None:
    upper = UPPER_KINDS[kind](layer_dir)
    with OverlayFS(upper, []) as overlay:
        for path in ("/secret", "/rel_secret"):
            assert_escapes(functools.partial(overlay.writebytes, path, b"pwned"))
            assert_escapes(functools.partial(overlay.appendbytes, path, b"pwned"))
            assert_escapes(functools.partial(overlay.openbin, path, "r+"))
            assert_escapes(functools.partial(overlay.readbytes, path))
        assert_escapes(lambda: overlay.writebytes("/new", b"created outside"))
        with pytest.raises(fs.errors.FileExists):  # the link takes the name
            overlay.openbin("/new", "x")
        assert_escapes(lambda: overlay.writebytes("/vdir/evil", b"x"))
        assert_escapes(lambda: overlay.makedir("/vdir/evil"))
        assert_escapes(lambda: overlay.listdir("/vdir"))
        assert overlay.islink("/secret") and overlay.readlink("/new") == victim.join("new")
        overlay.writebytes("/in_link", b"changed inside")  # a link that stays inside
        assert overlay.readbytes("/real.txt") == b"changed inside"
        overlay.writebytes("/in_dir/more.txt", b"more")
        assert sorted(overlay.listdir("/sub")) == ["inner.txt", "more.txt"]
    assert not os.path.lexists(victim.join("new"))


@pytest.mark.parametrize("kind", sorted(UPPER_KINDS))
def test_metadata_set_on_an_upper_link_stays_on_the_link(
    kind: str, layer_dir: str, victim: Victim
) -> None:
    """Times, modes and owners set on a link change the link (or nothing), never its target."""
    when = datetime.datetime(2001, 2, 3, tzinfo=datetime.timezone.utc)
    with OverlayFS(UPPER_KINDS[kind](layer_dir), []) as overlay:
        for path in ("/secret", "/vdir"):
            overlay.settimes(path, when, when)
            overlay.setinfo(path, {"details": {"modified": 1000.0, "accessed": 1000.0}})
            overlay.setinfo(path, {"access": {"permissions": ["u_r", "u_w", "o_r", "o_w"]}})
            overlay.setinfo(path, {"access": {"uid": 65534, "gid": 65534}})
        assert overlay.islink("/secret")


def test_the_fsspec_front_end_refuses_writes_through_upper_links(
    layer_dir: str, victim: Victim
) -> None:
    ofs = OverlayFileSystem(upper="file://" + layer_dir, lowers=[])
    for call in (
        lambda: ofs.pipe_file("/secret", b"pwned"),
        lambda: ofs.pipe_file("/new", b"pwned"),
        lambda: ofs.pipe_file("/vdir/evil", b"pwned"),
        lambda: ofs.cat_file("/secret"),
        lambda: ofs.touch("/new"),
    ):
        with pytest.raises(PermissionError):
            call()
    assert not os.path.lexists(victim.join("new"))


def test_fsspec_removetree_never_follows_a_link(tmp_path: typing.Any, victim: Victim) -> None:
    """Removing a tree of an fsspec ``file://`` layer unlinks its links, never their targets."""
    root = tmp_path / "upper"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "e" / "f.txt").write_bytes(b"f")
    os.symlink(victim.path, root / "d" / "vdir")
    os.symlink(victim.path, root / "d" / "e" / "vdir")
    os.symlink(victim.join("secret.txt"), root / "d" / "secret")
    os.symlink(victim.path, root / "top")
    layer = _fsspec_upper(str(root))
    layer.removetree("/d")
    assert not (root / "d").exists()
    layer.removetree("/top")  # a link named as the tree: unlinked itself
    assert not os.path.lexists(root / "top")
    (root / "g").mkdir()
    os.symlink(victim.path, root / "g" / "vdir")
    os.symlink(victim.path, root / "vdir")
    os.symlink(victim.path, root / "out")
    with pytest.raises(EscapesLayer):  # a tree reached through a link that leads out
        layer.removetree("/out/sub")
    layer.removetree("/")
    assert os.listdir(root) == []


def test_overlay_removetree_on_an_fsspec_upper_keeps_the_victim(
    tmp_path: typing.Any, victim: Victim
) -> None:
    root = tmp_path / "upper"
    (root / "d").mkdir(parents=True)
    os.symlink(victim.path, root / "d" / "vdir")
    with OverlayFS(_fsspec_upper(str(root)), []) as overlay:
        overlay.removetree("/d")
        assert not overlay.exists("/d")
