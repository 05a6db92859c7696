"""The work area is never followed: a link at it, or inside a leftover in it, stays a link.

The attacker has write access to the upper (or workdir) directory and lays a
link before the overlay is opened: at the work area itself
(``UPPER/.wh..wh..work`` for the marker store, ``WORKDIR/work`` for the
kernel layout), or inside what looks like the half-trashed directory an
interrupted removal left there. Opening the overlay cleans the work area; the
kernel removes whatever stands at ``work`` without following it and makes a
fresh directory, and so must this library.
"""

from __future__ import annotations

import os

import pytest

from ..support.attack_layers import KINDS, layers


@pytest.mark.parametrize("kind", KINDS)
def test_the_work_area_is_a_link_to_the_victim(tmp_path, victim, kind):
    found = layers(tmp_path, kind)
    os.symlink(victim.path, found.work_area)
    with found.open() as overlay:
        overlay.makedir("/d")
        overlay.writebytes("/d/f", b"new")
        overlay.removetree("/d")  # a directory removal goes through the work area
        with open(os.path.join(found.lower, "lower.txt"), "wb") as handle:
            handle.write(b"lower")
        overlay.invalidate()
        overlay.appendbytes("/lower.txt", b"+")  # a copy-up is built in the work area
        assert overlay.readbytes("/lower.txt") == b"lower+"
    assert not os.path.islink(found.work_area)


@pytest.mark.parametrize("kind", KINDS)
def test_the_work_area_is_a_dangling_link(tmp_path, victim, kind):
    found = layers(tmp_path, kind)
    planted = victim.join("planted")  # would be created inside the victim if followed
    os.symlink(planted, found.work_area)
    with found.open() as overlay:
        overlay.makedir("/d")
        overlay.removetree("/d")
    assert not os.path.lexists(planted)


@pytest.mark.parametrize("kind", KINDS)
def test_a_leftover_in_the_work_area_holds_a_link(tmp_path, victim, kind):
    found = layers(tmp_path, kind)
    leftover = os.path.join(found.work_area, "0123456789abcdef", "sub")
    os.makedirs(leftover)
    os.symlink(victim.path, os.path.join(leftover, "l"))
    os.symlink(victim.path, os.path.join(found.work_area, "top-link"))
    with found.open() as overlay:
        overlay.writebytes("/f", b"x")
    assert os.listdir(found.work_area) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_removal_interrupted_then_reopened(tmp_path, victim, kind, monkeypatch):
    """A removal of a directory holding a link stops at its first unlink; reopening ends it."""
    found = layers(tmp_path, kind)
    with found.open() as overlay:
        overlay.makedirs("/d/e")
        overlay.symlink(victim.path, "/d/e/l")
        overlay.writebytes("/d/f", b"f")

        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(os, "unlink", interrupted)
            patch.setattr(os, "remove", interrupted)
            with pytest.raises(KeyboardInterrupt):
                overlay.removetree("/d")
        assert os.listdir(found.work_area) != []  # the renamed directory waits there
    with found.open() as overlay:
        assert not overlay.exists("/d")
    assert os.listdir(found.work_area) == []
