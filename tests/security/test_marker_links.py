"""The marker store never writes through a link laid on one of its reserved names.

Whoever can write the upper directory lays a link where the marker store
keeps a record, an opaque flag, a redirect or a whiteout, pointing at a
file of the victim. Writing the marker must replace the link (the name is
reserved, it is not data), never open what it points to.
"""

from __future__ import annotations

import os

import pytest

from ..support.attack_layers import layers
from ..support.victim import Victim


def _plant(path: str, victim: Victim, how: str) -> None:
    """Lay a link at OS path ``path`` to the victim's ``keep.txt`` (or a new name in it)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(victim.join("keep.txt") if how == "file" else victim.join("planted"), path)


@pytest.mark.parametrize("how", ["file", "dangling"])
def test_an_identity_record_link(tmp_path, victim, how):
    found = layers(tmp_path, "markers")
    with open(os.path.join(found.lower, "f"), "wb") as handle:
        handle.write(b"lower f")
    _plant(os.path.join(found.upper, ".wh..wh..rec.f"), victim, how)
    with found.open() as overlay:
        overlay.appendbytes("/f", b"+")  # the copy-up writes f's identity record
        assert overlay.readbytes("/f") == b"lower f+"
    assert not os.path.islink(os.path.join(found.upper, ".wh..wh..rec.f"))


def test_an_opaque_marker_link(tmp_path, victim):
    """A dangling link at ``.wh..wh..opq`` (not opaque yet), then ``copy_up_tree`` opaquifies."""
    found = layers(tmp_path, "markers")
    os.makedirs(os.path.join(found.lower, "d"))
    with open(os.path.join(found.lower, "d", "x"), "wb") as handle:
        handle.write(b"x")
    _plant(os.path.join(found.upper, "d", ".wh..wh..opq"), victim, "dangling")
    with found.open() as overlay:
        overlay.copy_up_tree("/")
        assert overlay.readbytes("/d/x") == b"x"


def test_a_redirect_marker_link(tmp_path, victim):
    """A dangling link at ``.wh..wh..redirect`` of a merged directory, then ``movedir``."""
    found = layers(tmp_path, "markers")
    os.makedirs(os.path.join(found.lower, "d"))
    with open(os.path.join(found.lower, "d", "x"), "wb") as handle:
        handle.write(b"x")
    _plant(os.path.join(found.upper, "d", ".wh..wh..redirect"), victim, "dangling")
    with found.open() as overlay:
        overlay.movedir("/d", "/e", create=True)
        assert overlay.readbytes("/e/x") == b"x"


@pytest.mark.parametrize("how", ["file", "dangling"])
def test_whiteout_and_vacancy_links(tmp_path, victim, how):
    found = layers(tmp_path, "markers")
    os.makedirs(os.path.join(found.lower, "d"))
    with open(os.path.join(found.lower, "d", "x"), "wb") as handle:
        handle.write(b"x")
    with found.open() as overlay:
        overlay.writebytes("/d/up", b"u")
    for name in (".wh..wh..tmp.up", ".wh..wh..tmp.x", ".wh..wh..tmp.moved"):
        _plant(os.path.join(found.upper, "d", name), victim, how)
    with found.open() as overlay:
        overlay.move("/d/up", "/d/moved")
        overlay.move("/d/moved", "/d/again")
        overlay.remove("/d/x")
        overlay.writebytes("/d/x", b"new")
        assert sorted(overlay.listdir("/d")) == ["again", "x"]
