"""The victim oracle itself notices every kind of change."""

from __future__ import annotations

import os

import pytest

from ..support.victim import Victim


def _touch_old(victim: Victim) -> None:
    os.utime(victim.join("keep.txt"), (0, 0))


def _relink(victim: Victim) -> None:
    os.remove(victim.join("alias"))
    os.symlink("/etc", victim.join("alias"))


def _create(victim: Victim) -> None:
    with open(victim.join("new.txt"), "wb"):
        pass


@pytest.mark.parametrize(
    "attack",
    [
        lambda v: os.remove(v.join("sub", "inner.txt")),
        _touch_old,
        _create,
        lambda v: os.chmod(v.join("secret.txt"), 0o644),
        _relink,
    ],
)
def test_victim_notices(tmp_path, attack):
    victim = Victim(str(tmp_path / "v")).populate()
    attack(victim)
    with pytest.raises(AssertionError, match="victim"):
        victim.assert_unchanged()


def test_victim_untouched_passes(victim):
    victim.assert_unchanged()
