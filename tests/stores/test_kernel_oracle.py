"""The kernel as our test oracle: random operation sequences, compared step by step.

A real ``mount -t overlay`` (redirect_dir=on) and an ``OverlayFS`` sit over
the same lower directories, each with its own upper. Hypothesis draws a
sequence of operations; each is applied to both (``os`` calls on the mount,
the PyFilesystem2 API on the overlay) and after every step the visible trees
(names, types, contents) and the kind of error must agree. FIFOs are made
with ``mkfifo`` on the mount and ``OverlayFS.mknod`` on the overlay; writes,
appends, truncation and ``removetree`` are not drawn onto a FIFO (they
would block).

With the kernel format the example then checks both directions of on-disk
compatibility: the kernel's upper opened by ``OverlayFS.from_dirs`` shows the
kernel's final tree, and our upper mounted by the kernel shows ours.

Deliberate differences are not generated: ``movedir`` onto an existing path
merges into it (PyFilesystem2 semantics) where ``rename(2)`` replaces an
empty directory, so a directory rename is only drawn onto a free name; a file
``move`` of a directory is refused by PyFilesystem2 before the kernel would
see it, so that case compares the refusal only.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import typing

import fs.errors
import pytest
from fs.enums import ResourceType
from fs.osfs import OSFS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unionfs_lib import MarkerWhiteouts, OverlayFS
from unionfs_lib.errors import IllegalDestination

from ..support.helpers import os_tree
from ..support.kernel import KernelMount, compared, kernel_overlay_or_skip
from ..support.kernel_oracle import (
    BASIC_OPERATIONS,
    Lowers,
    OracleOp,
    anywhere,
    data,
    dst,
    resolve,
    src,
)

operations = st.one_of(
    *BASIC_OPERATIONS,
    st.tuples(st.just("removetree"), src),
    st.tuples(st.just("move"), src, anywhere),
    st.tuples(st.just("movedir"), src, dst),
    st.tuples(st.just("truncate"), src, st.integers(0, 12)),
    st.tuples(st.just("rewrite"), src, data),
    st.tuples(st.just("mkfifo"), dst),
)

#: Operations that open their first path: a FIFO there would block them (on
#: both sides; ``shutil.rmtree`` of Python 3.11 opens its path before it
#: looks), so they are not drawn onto a FIFO.
_OPENING = frozenset({"write", "append", "truncate", "rewrite", "removetree"})




#: errno of the kernel -> the kind of error; fs.errors class -> the same kinds.
ERRNO_KINDS = {
    errno.ENOENT: "notfound",
    errno.ENOTDIR: "notdir",
    errno.EISDIR: "isdir",
    errno.EEXIST: "exists",
    errno.ENOTEMPTY: "notempty",
    errno.EINVAL: "illegal",
}
FS_KINDS: list[tuple[type[Exception], str]] = [
    (IllegalDestination, "illegal"),
    (fs.errors.ResourceNotFound, "notfound"),
    (fs.errors.DirectoryExpected, "notdir"),
    (fs.errors.FileExpected, "isdir"),
    (fs.errors.DirectoryExists, "exists"),
    (fs.errors.FileExists, "exists"),
    (fs.errors.DestinationExists, "exists"),
    (fs.errors.DirectoryNotEmpty, "notempty"),
]


def fs_kind(error: Exception) -> str:
    """Return the kind of a PyFilesystem2 error (or its repr if unexpected)."""
    for cls, kind in FS_KINDS:
        if isinstance(error, cls):
            return kind
    return f"unexpected {error!r}"




def run_os(root: str, op: OracleOp) -> str | None:
    """Apply ``op`` with ``os`` calls on the mount; return the error kind or None."""
    name, *args = op

    def sys(path: str) -> str:
        return root + path

    parents = [os.path.dirname(sys(arg)) for arg in args if isinstance(arg, str)]
    try:
        if name == "write":
            with open(sys(args[0]), "wb") as handle:
                handle.write(args[1])
        elif name == "append":
            with open(sys(args[0]), "ab") as handle:
                handle.write(args[1])
        elif name == "remove":
            os.unlink(sys(args[0]))
        elif name == "makedir":
            os.mkdir(sys(args[0]))
        elif name == "removedir":
            os.rmdir(sys(args[0]))
        elif name == "removetree":
            shutil.rmtree(sys(args[0]))
        elif name == "truncate":
            os.truncate(sys(args[0]), args[1])
        elif name == "rewrite":
            # A reader open across a replacement with O_TRUNC: what it reads after.
            with open(sys(args[0]), "rb", buffering=0) as reader:
                reader.read(1)
                with open(sys(args[0]), "wb") as writer:
                    writer.write(args[1])
                reader.seek(0)
                return f"read {reader.read()!r}"
        elif name == "move":
            source, target = sys(args[0]), sys(args[1])
            if os.path.lexists(source):
                # PyFilesystem2's move checks these before renaming anything.
                if os.path.isdir(source):
                    return "isdir"  # it moves files only
                if args[0] != args[1] and args[0].startswith(args[1] + "/"):
                    return "isdir"  # onto its own ancestor: the VFS says ENOTEMPTY
                if not os.path.isdir(os.path.dirname(target)):
                    return "notfound"
            os.rename(source, target)
        elif name == "mkfifo":
            os.mkfifo(sys(args[0]), 0o640)
        elif name == "movedir":
            if os.path.lexists(sys(args[0])) and not os.path.isdir(sys(args[0])):
                return "notdir"  # PyFilesystem2's movedir takes directories only
            try:
                os.rename(sys(args[0]), sys(args[1]))
            except OSError as error:
                if error.errno != errno.EXDEV:
                    raise
                # redirect_dir off (userxattr): copy, then remove, as mv does.
                shutil.copytree(sys(args[0]), sys(args[1]), symlinks=True,
                                copy_function=_copy_entry)
                shutil.rmtree(sys(args[0]))
    except OSError as error:
        kind = ERRNO_KINDS.get(error.errno or 0, f"errno {error.errno}")
        if kind == "notdir" and not all(os.path.isdir(parent) for parent in parents):
            return "notfound"  # a path through a file: PyFilesystem2 says not found
        return kind
    return None


def run_fs(overlay: OverlayFS, op: OracleOp) -> str | None:
    """Apply ``op`` through the PyFilesystem2 API; return the error kind or None."""
    name, *args = op
    try:
        if name == "write":
            overlay.writebytes(args[0], args[1])
        elif name == "append":
            overlay.appendbytes(args[0], args[1])
        elif name == "remove":
            overlay.remove(args[0])
        elif name == "makedir":
            overlay.makedir(args[0])
        elif name == "removedir":
            overlay.removedir(args[0])
        elif name == "removetree":
            overlay.removetree(args[0])
        elif name == "truncate":
            with overlay.openbin(args[0], "r+") as handle:
                handle.truncate(args[1])
        elif name == "rewrite":
            with overlay.openbin(args[0], "r", buffering=0) as reader:
                reader.read(1)
                overlay.writebytes(args[0], args[1])
                reader.seek(0)
                return f"read {reader.read()!r}"
        elif name == "move":
            overlay.move(args[0], args[1], overwrite=True)
        elif name == "movedir":
            overlay.movedir(args[0], args[1], create=True)
        elif name == "mkfifo":
            overlay.mknod(args[0], stat.S_IFIFO | 0o640)
    except fs.errors.FSError as error:
        return fs_kind(error)
    return None


def generated(root: str, op: OracleOp) -> bool:
    """Tell whether ``op`` is compared (see the module docstring for what is not)."""
    if op[0] == "movedir":
        return not os.path.lexists(root + op[2])
    if op[0] in _OPENING:
        return not _is_fifo(root + op[1])
    return True


def _copy_entry(source: str, target: str) -> None:
    """Copy a file as ``mv`` does across file systems: a FIFO as a new FIFO."""
    if _is_fifo(source):
        os.mkfifo(target, stat.S_IMODE(os.lstat(source).st_mode))
    else:
        shutil.copy2(source, target)


def _is_fifo(path: str) -> bool:
    """Tell whether ``path`` is a FIFO (not following a link to one)."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def tree(layer: typing.Any) -> dict[str, bytes | str | None]:
    """:func:`tests.support.helpers.tree`, with ``"special"`` for a FIFO (as ``os_tree``)."""
    found: dict[str, bytes | str | None] = {}
    for entry, info in layer.walk.info("/", namespaces=["details"]):
        if info.is_dir:
            found[entry] = None
        elif info.type == ResourceType.fifo:
            found[entry] = "special"
        else:
            found[entry] = layer.readbytes(entry)
    return found


def describe(steps: list[OracleOp], kernel: dict, ours: dict) -> str:
    diff = [
        f"  {path}: kernel={kernel.get(path, '<absent>')!r} ours={ours.get(path, '<absent>')!r}"
        for path in sorted(set(kernel) | set(ours))
        if kernel.get(path, "<absent>") != ours.get(path, "<absent>")
    ]
    return "after " + repr(steps) + "\n" + "\n".join(diff)


def make_ours(store: str, base: str, lowers: list[str]) -> tuple[OverlayFS, str, str]:
    upper, work = os.path.join(base, "our-upper"), os.path.join(base, "our-work")
    os.mkdir(upper)
    os.mkdir(work)
    if store in ("kernel", "stacked", "userxattr"):
        overlay = OverlayFS.from_dirs(lowers, upper, work, userxattr=store == "userxattr")
        return overlay, upper, work
    layers = [OSFS(path) for path in lowers]
    return OverlayFS(OSFS(upper), layers, whiteouts=MarkerWhiteouts()), upper, work


def check_sequence(store: str, ops: list[OracleOp]) -> None:
    """Run ``ops`` on the kernel and on the library and compare after each step."""
    lowers = Lowers.get(stacked=store == "stacked")
    base = tempfile.mkdtemp(prefix="oracle-")
    try:
        kupper, kwork = os.path.join(base, "k-upper"), os.path.join(base, "k-work")
        os.mkdir(kupper)
        os.mkdir(kwork)
        overlay, upper, work = make_ours(store, base, lowers)
        steps: list[OracleOp] = []
        gone: list[str] = []
        userxattr = store == "userxattr"
        merged = os.path.join(base, "k-merged")
        with KernelMount(lowers, kupper, kwork, merged, userxattr) as root:
            kernel_tree, our_tree = os_tree(root), tree(overlay)
            compared()
            assert kernel_tree == our_tree, describe(steps, kernel_tree, our_tree)
            for op in ops:
                op = resolve(op, kernel_tree, gone)
                if not generated(root, op):
                    continue
                steps.append(op)
                expected = run_os(root, op)
                got = run_fs(overlay, op)
                assert got == expected, f"{op}: kernel {expected}, ours {got}; steps {steps}"
                kernel_tree, our_tree = os_tree(root), tree(overlay)
                compared()
                assert kernel_tree == our_tree, describe(steps, kernel_tree, our_tree)
                if op[0] in ("remove", "removedir", "removetree", "move", "movedir"):
                    gone.append(op[1])
        overlay.close()
        if store == "marker":
            return
        # The kernel's upper, read by us.
        with OverlayFS.from_dirs(lowers, kupper, kwork, userxattr=userxattr) as reread:
            compared()
            assert tree(reread) == kernel_tree, describe(steps, kernel_tree, tree(reread))
        # Our upper, mounted by the kernel.
        with KernelMount(lowers, upper, work, os.path.join(base, "our-merged"), userxattr) as root:
            mounted = os_tree(root)
        compared()
        assert mounted == our_tree, describe(steps, mounted, our_tree)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("store", ["kernel", "stacked", "userxattr", "marker"])
def test_kernel_oracle(store: str) -> None:
    kernel_overlay_or_skip()

    @settings(
        max_examples=int(os.environ.get("ORACLE_EXAMPLES", "60")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(st.lists(operations, min_size=1, max_size=int(os.environ.get("ORACLE_STEPS", "12"))))
    def run(ops: list[OracleOp]) -> None:
        check_sequence(store, ops)

    run()


#: Sequences worth keeping: each once disagreed (harness or library) or pins a
#: case the random search reaches only rarely.
REGRESSIONS: list[list[OracleOp]] = [
    # A file moved onto its own parent directory: the VFS says ENOTEMPTY, we say
    # FileExpected; both are "a directory is in the way" (harness mapping).
    [("move", "/g/w", "/g")],
    # A path through a file: ENOTDIR from the kernel, ResourceNotFound from us.
    [("move", "/b", "/a/q")],
    [("move", "/a/q", "/a")],
    # Rename onto itself is a no-op on both sides.
    [("move", "/a", "/a")],
    # Recreating a removed merged directory must be opaque.
    [("removetree", "/d"), ("makedir", "/d"), ("write", "/d/x", b"1")],
    # Renames of merged directories, chained, and the old names reused.
    [("movedir", "/d", "/g/d"), ("movedir", "/g", "/n"), ("makedir", "/d"), ("makedir", "/g")],
    [("movedir", "/d/e", "/e"), ("movedir", "/d", "/e/d"), ("removetree", "/e/d/x")],
    [("movedir", "/d", "/n"), ("movedir", "/n", "/d")],
    # A directory into itself.
    [("movedir", "/d", "/d/e/inner")],
    # Files over whiteouts and whiteouts over copied-up files.
    [("remove", "/h"), ("write", "/h", b"new"), ("remove", "/h"), ("append", "/h", b"x")],
    [("truncate", "/d/x", 3), ("move", "/d/x", "/g/w"), ("remove", "/g/w")],
    # A reader of a lower file sees it replaced through the overlay (O_TRUNC is
    # a copy-up: the same inode), and of an upper one; a stale read once.
    [("rewrite", "/d/e/y", b"new data"), ("rewrite", "/d/e/y", b"1")],
    [("rewrite", "/d/z", b""), ("rewrite", "/d", b"1")],
    # FIFOs made with OverlayFS.mknod: over a whiteout, moved, over a lower file,
    # in a directory renamed and removed.
    [("remove", "/h"), ("mkfifo", "/h"), ("move", "/h", "/d/x"), ("mkfifo", "/a")],
    [("mkfifo", "/d/e/n"), ("movedir", "/d", "/n"), ("move", "/n/e/n", "/g/w"),
     ("removetree", "/n"), ("mkfifo", "/d")],
]


@pytest.mark.parametrize("store", ["kernel", "userxattr", "marker"])
@pytest.mark.parametrize("steps", REGRESSIONS, ids=lambda steps: str(steps[0]))
def test_kernel_oracle_regressions(store: str, steps: list[OracleOp]) -> None:
    kernel_overlay_or_skip()
    check_sequence(store, steps)
