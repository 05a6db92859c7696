"""Fingerprinting a lower never walks or reads through its links.

An attacker who controls a lower layer puts a link to a directory outside it
(or to ``/``) and a link that loops; recording or verifying the layer's
fingerprint (``OverlayFS(..., fingerprints=...)``, ``describe``) must neither
descend into them nor read the files they lead to.
"""

from __future__ import annotations

import os
import subprocess
import typing

import pytest
from fs.osfs import OSFS
from fs.wrapfs import WrapFS

from unionfs_lib.layers.fingerprints import fingerprint

from ..support.victim import Victim


class _Opens(WrapFS[OSFS]):
    """An OSFS wrapper recording every path opened and listed."""

    def __init__(self, wrapped: OSFS) -> None:
        super().__init__(wrapped)
        self.touched: list[str] = []

    def openbin(
        self, path: str, mode: str = "r", buffering: int = -1, **options: typing.Any
    ) -> typing.Any:
        self.touched.append(path)
        return super().openbin(path, mode, buffering, **options)

    def scandir(
        self, path: str, namespaces: typing.Any = None, page: typing.Any = None
    ) -> typing.Any:
        self.touched.append(path)
        return super().scandir(path, namespaces, page)


@pytest.fixture
def lower_with_links(tmp_path, victim: Victim) -> str:
    lower = tmp_path / "lower"
    (lower / "data").mkdir(parents=True)
    (lower / "data" / "a.txt").write_text("a")
    os.symlink(victim.path, lower / "data" / "outside")
    os.symlink(victim.join("secret.txt"), lower / "data" / "secret")
    os.symlink(".", lower / "data" / "loop")
    return str(lower)


@pytest.mark.parametrize("kind", ["tree", "content"])
def test_fingerprint_never_enters_or_reads_links(lower_with_links: str, kind: str) -> None:
    layer = _Opens(OSFS(lower_with_links))
    found = fingerprint(layer, kind)
    assert found is not None and found.startswith(kind + ":")
    through_links = ("/data/outside", "/data/loop", "/data/secret")
    assert not [path for path in layer.touched if path.startswith(through_links)]
    assert fingerprint(_Opens(OSFS(lower_with_links)), kind) == found


def test_fingerprint_of_a_deep_tree(tmp_path) -> None:
    """1,200 nested directories: deeper than Python's default recursion limit."""
    root = str(tmp_path / "deep")
    subprocess.run(["mkdir", "-p", os.path.join(root, *["d"] * 1200)], check=True)
    try:
        assert fingerprint(OSFS(root), "tree") is not None
    finally:  # pytest's own clean-up of old temporary folders recurses, and would fail
        subprocess.run(["rm", "-rf", root], check=True)
