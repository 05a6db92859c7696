"""Random sequences of overlay operations, links to a victim among them, never reach it.

Each example opens a fresh overlay (marker store or kernel layout) over a
lower directory, then runs random steps: writes, directories, links to the
victim (absolute, relative from where the link is made, and relative with
one ``../`` more, which lands on the victim once the link's directory has been
renamed into the work area), links laid straight into the upper directory
(a user of the mount), some on names the marker store reserves, removals,
renames, discards, copy-ups, a reopen, and the operations that write whole
trees elsewhere: ``commit`` into a copy of the lower (which may hold a link
to the victim where a directory was, or where commit keeps its work area),
``squash`` and ``export_layer``. After every step the victim and the lower
must be exactly as they were. A step may fail with an ``fs.errors``
exception (a conflict, a link refused): that is allowed, touching the victim
is not.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import typing

import fs.errors
from fs.osfs import OSFS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..support.attack_layers import KINDS, Layers
from ..support.victim import Victim, snapshot

PATHS = ("/a", "/a/b", "/a/b/c", "/d", "/d/e", "/l", "/a/l", "/a/b/l")
Step = typing.Tuple[typing.Any, ...]

#: Names the marker store reserves, where someone with access to the upper may lay a link.
RESERVED = ("/.wh..wh..work", "/.wh..wh..rec.a", "/a/.wh..wh..opq", "/a/.wh..wh..redirect",
            "/a/.wh.g", "/.wh..wh..tmp.l")

paths = st.sampled_from(PATHS)
link_styles = st.sampled_from(["absolute", "relative", "relative-deeper", "file", "dangling"])

steps: st.SearchStrategy[Step] = st.one_of(
    st.tuples(st.just("write"), paths, st.binary(max_size=8)),
    st.tuples(st.just("makedirs"), paths),
    st.tuples(st.just("symlink"), paths, link_styles),
    st.tuples(st.just("plant"), st.sampled_from(PATHS + RESERVED), link_styles),
    st.tuples(st.just("remove"), paths),
    st.tuples(st.just("removetree"), paths),
    st.tuples(st.just("removetree"), st.just("/")),
    st.tuples(st.just("movedir"), paths, paths),
    st.tuples(st.just("move"), paths, paths),
    st.tuples(st.just("discard"), paths),
    st.tuples(st.just("discard_all")),
    st.tuples(st.just("copy_up_tree"), st.sampled_from(("/", *PATHS))),
    st.tuples(st.just("reopen")),
    st.tuples(st.just("commit"), st.sampled_from(["plain", "dir-link", "area-link"])),
    st.tuples(st.just("squash")),
    st.tuples(st.just("export")),
)


def _fill_lower(lower: str) -> None:
    """Lower content the steps can remove, rename and copy up."""
    for rel, data in {"a/b/f": b"lower f", "a/g": b"lower g", "d/h": b"lower h"}.items():
        path = os.path.join(lower, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    os.symlink("b", os.path.join(lower, "a", "inside"))  # a link that stays in the layer


class Run:
    """One example: the layers, the victim, the overlay, and the checks after each step."""

    def __init__(self, base: str, kind: str) -> None:
        self.base = base
        self.victim = Victim(os.path.join(base, "victim")).populate()
        self.layers = Layers(os.path.join(base, "layers"), kind)
        _fill_lower(self.layers.lower)
        self.lower_before = snapshot(self.layers.lower)
        self.overlay = self.layers.open()
        self.count = 0

    def link_text(self, path: str, style: str) -> str:
        """A link target reaching the victim from upper path ``path``."""
        where = os.path.dirname(os.path.join(self.layers.upper, path.lstrip("/")))
        if style == "absolute":
            return self.victim.path
        if style == "relative":
            return os.path.relpath(self.victim.path, where)
        if style == "relative-deeper":
            return os.path.relpath(self.victim.path, os.path.join(where, "x"))
        if style == "file":
            return self.victim.join("keep.txt")
        return self.victim.join("planted")

    def fresh_dir(self, name: str) -> str:
        """A new directory beside the layers."""
        self.count += 1
        path = os.path.join(self.base, f"{name}{self.count}")
        os.makedirs(path)
        return path

    def run(self, step: Step) -> None:
        """Run one step; an ``fs.errors`` refusal is fine."""
        try:
            self._run(step)
        except fs.errors.FSError:
            pass
        self.victim.assert_unchanged()
        assert snapshot(self.layers.lower) == self.lower_before, f"lower changed by {step}"

    def _run(self, step: Step) -> None:
        name, *args = step
        overlay = self.overlay
        if name == "write":
            overlay.writebytes(args[0], args[1])
        elif name == "makedirs":
            overlay.makedirs(args[0], recreate=True)
        elif name == "symlink":
            overlay.symlink(self.link_text(args[0], args[1]), args[0])
        elif name == "plant":
            self._plant(args[0], args[1])
        elif name == "remove":
            overlay.remove(args[0])
        elif name == "removetree":
            overlay.removetree(args[0])
        elif name == "movedir":
            overlay.movedir(args[0], args[1], create=True)
        elif name == "move":
            overlay.move(args[0], args[1], overwrite=True)
        elif name == "discard":
            overlay.discard([args[0]])
        elif name == "discard_all":
            overlay.discard()
        elif name == "copy_up_tree":
            overlay.copy_up_tree(args[0])
        elif name == "reopen":
            overlay.close()
            self.overlay = self.layers.open()
        else:
            self._write_elsewhere(name, args)

    def _plant(self, path: str, style: str) -> None:
        """Lay a link straight into the upper directory, as a user of the mount would."""
        sys_path = os.path.join(self.layers.upper, path.lstrip("/"))
        if os.path.isdir(os.path.dirname(sys_path)) and not os.path.lexists(sys_path):
            os.symlink(self.link_text(path, style), sys_path)
        self.overlay.invalidate()

    def _write_elsewhere(self, name: str, args: list[typing.Any]) -> None:
        """Commit into a copy of the lower, squash, or export."""
        if name == "commit":
            target = self.fresh_dir("target")
            os.rmdir(target)
            shutil.copytree(self.layers.lower, target, symlinks=True)
            if args[0] == "dir-link":  # the target's owner made a directory a link to the victim
                shutil.rmtree(os.path.join(target, "a"))
                os.symlink(self.victim.path, os.path.join(target, "a"))
            elif args[0] == "area-link":  # a link named like commit's work area
                os.symlink(self.victim.path, os.path.join(target, ".unionfs-commit"))
            with OSFS(target) as opened:
                self.overlay.commit(opened)
        elif name == "squash":
            with OSFS(self.fresh_dir("squash")) as opened:
                self.overlay.squash(opened)
        else:
            self.overlay.export_layer(os.path.join(self.fresh_dir("export"), "layer.tar"))

    def close(self) -> None:
        """Close the overlay."""
        self.overlay.close()


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(kind=st.sampled_from(KINDS), sequence=st.lists(steps, min_size=1, max_size=14))
def test_random_operations_never_touch_the_victim(kind: str, sequence: list[Step]) -> None:
    base = tempfile.mkdtemp(prefix="attack-")
    try:
        run = Run(base, kind)
        try:
            for step in sequence:
                run.run(step)
        finally:
            run.close()
        run.victim.assert_unchanged()
    finally:
        shutil.rmtree(base, ignore_errors=True)
