"""The kernel oracle's lowers and hypothesis strategies (the overlay against the kernel)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import typing

from hypothesis import strategies as st

from .kernel import KernelMount, fill_os_dir

LOWER_TOP: dict[str, bytes | None] = {
    "/a": b"top a",
    "/d": None,
    "/d/x": b"top x",
    "/d/e": None,
    "/d/e/y": b"top y",
    "/g": None,
    "/g/w": b"top w",
    "/f": b"top f",
}


LOWER_BOTTOM: dict[str, bytes | None] = {
    "/a": None,
    "/a/q": b"bottom q",
    "/d": None,
    "/d/z": b"bottom z",
    "/d/e": None,
    "/d/e/k": b"bottom k",
    "/g": None,
    "/g/v": b"bottom v",
    "/h": b"bottom h",
    "/m": None,
    "/m/p": b"bottom p",
}


LOWER_PATHS = sorted(set(LOWER_TOP) | set(LOWER_BOTTOM))


NAMES = ["a", "b", "d", "e", "g", "h", "k", "m", "n", "q", "x", "y", "z"]


OracleOp = tuple[typing.Any, ...]


#: A path argument, resolved against the visible tree when the step runs:
#: ``("src", i, name)`` mostly picks an existing entry, ``("dst", i, name)``
#: mostly a name inside an existing directory (free or not); both sometimes
#: pick a path of the lower layers, visible or hidden by now.
slot = st.tuples(st.integers(0, 1 << 16), st.sampled_from(NAMES))


src = slot.map(lambda value: ("src", *value))


dst = slot.map(lambda value: ("dst", *value))


anywhere = st.one_of(src, dst)


data = st.sampled_from([b"", b"1", b"new data", b"0123456789"])


def resolve(op: OracleOp, tree: dict, gone: list[str]) -> OracleOp:
    """Turn the path slots of a drawn operation into paths of the visible ``tree``.

    ``gone`` lists paths removed or renamed away so far: reusing them is where
    whiteouts, opaque directories and redirects matter.
    """
    existing = sorted(tree)
    dirs = ["/"] + [path for path in existing if tree[path] is None]

    def pick(value: typing.Any) -> typing.Any:
        if not (isinstance(value, tuple) and value and value[0] in ("src", "dst")):
            return value
        role, index, name = value
        choice, index = index % 8, index // 8
        if role == "dst" and choice < 3 and gone:
            return gone[index % len(gone)]
        if choice < 3 if role == "dst" else choice == 0:
            return LOWER_PATHS[index % len(LOWER_PATHS)]
        if role == "src" and choice == 1 and gone:
            return gone[index % len(gone)]
        if existing and (choice > 1 if role == "src" else choice == 4):
            return existing[index % len(existing)]
        parent = dirs[index % len(dirs)]
        return parent.rstrip("/") + "/" + name

    return tuple(pick(value) for value in op)


class Lowers:
    """The lower directories, built once per test run (they are never written).

    ``stacked`` puts a third layer on top: an upper the kernel wrote over the
    two others (a whiteout, an opaque directory, an absolute and a relative
    redirect), so lower-layer markers are compared too.
    """

    _dirs: list[str] | None = None
    _middle: str | None = None

    @classmethod
    def get(cls, stacked: bool = False) -> list[str]:
        if cls._dirs is None:
            base = tempfile.mkdtemp(prefix="oracle-lowers-")
            atexit.register(shutil.rmtree, base, ignore_errors=True)
            top, bottom = os.path.join(base, "top"), os.path.join(base, "bottom")
            os.mkdir(top)
            os.mkdir(bottom)
            fill_os_dir(top, LOWER_TOP)
            fill_os_dir(bottom, LOWER_BOTTOM)
            cls._dirs = [top, bottom]
        if not stacked:
            return cls._dirs
        if cls._middle is None:
            cls._middle = cls._kernel_written(cls._dirs)
        return [cls._middle, *cls._dirs]

    @staticmethod
    def _kernel_written(lowers: list[str]) -> str:
        base = tempfile.mkdtemp(prefix="oracle-middle-")
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        middle, work = os.path.join(base, "middle"), os.path.join(base, "work")
        os.mkdir(middle)
        os.mkdir(work)
        with KernelMount(lowers, middle, work, os.path.join(base, "merged")) as root:
            os.unlink(root + "/h")
            os.unlink(root + "/a")
            os.mkdir(root + "/a")  # opaque over bottom's a/
            with open(root + "/a/new", "wb") as handle:
                handle.write(b"middle new")
            os.rename(root + "/d", root + "/g/d")  # absolute redirect
            os.rename(root + "/m", root + "/m2")  # relative redirect
            os.rename(root + "/g/d/e", root + "/g/d/e2")  # relative, under a redirect
        return middle


#: The operations both oracles draw (through the API and through the mount):
#: write, append, remove, makedir and removedir.
BASIC_OPERATIONS = (
    st.tuples(st.just("write"), anywhere, data),
    st.tuples(st.just("append"), anywhere, data),
    st.tuples(st.just("remove"), src),
    st.tuples(st.just("makedir"), dst),
    st.tuples(st.just("removedir"), src),
)
