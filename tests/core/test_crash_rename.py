"""Crash safety of renaming a lower entry: a SIGKILL at any step shows the old tree or the new.

A lower file renamed to a new name needs a copy-up and a whiteout at its old
name. Done as two visible steps (the copy at the new name, then the
whiteout), a crash between them shows the file at both names; done the other
way round, at neither. Each case here runs one rename in a forked child over
real directories (tests/support/crash.py), SIGKILLs it before each of its
state-changing system calls in turn, reopens the layers and requires the
visible tree, entry for entry (kind, mode, times, content or link target),
to be the tree before the rename or the tree after it. Both stores run: OCI
markers in an OSFS upper, and the kernel format opened with
``OverlayFS.from_dirs``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import typing
from contextlib import closing
from pathlib import Path

import pytest
from fs.enums import ResourceType

from unionfs_lib import OverlayFS

from ..support import summary
from ..support.crash import (
    CrashOp,
    copy_upper,
    describe_crash_diff,
    new_upper_root,
    open_crash_overlay,
    reopened_view,
    run_child,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

Snapshot = typing.Dict[str, typing.Tuple[typing.Any, ...]]


def make_lower(root: Path) -> None:
    """A lower tree: files, a symbolic link, a FIFO and a merged directory."""
    files = {
        "tree/a.txt": b"lower a",
        "tree/gone.txt": b"lower gone",
        "tree/sub/b.txt": b"lower b",
        "file.txt": b"lower file",
        "other/o.txt": b"lower o",
        "up.txt": b"lower up",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.symlink("a.txt", root / "tree" / "link")
    os.mkfifo(root / "tree" / "fifo", 0o640)
    os.chmod(root / "tree" / "a.txt", 0o604)
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)


def lower_state(root: Path) -> dict[str, tuple[typing.Any, ...]]:
    """Every entry of the lower, never opening a FIFO nor following a link."""
    state: dict[str, tuple[typing.Any, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            state[str(path)] = ("link", os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            state[str(path)] = (st.st_mode, st.st_mtime_ns, path.read_bytes())
        else:
            state[str(path)] = (st.st_mode, st.st_mtime_ns)
    return state


def make_upper(root: Path, lower: Path, layout: str) -> None:
    """Give the upper state of its own: a copied-up file, a new file and a whiteout."""
    new_upper_root(root, layout)
    with closing(open_crash_overlay(root, lower, layout)) as overlay:
        overlay.writebytes("/up.txt", b"upper up")
        overlay.writebytes("/tree/new.txt", b"upper only")
        overlay.remove("/tree/gone.txt")


def snapshot(overlay: OverlayFS) -> Snapshot:
    """The visible tree, never following a link: kind, mode, times and content or target."""
    seen: Snapshot = {}
    pending = ["/"]
    while pending:
        directory = pending.pop()
        for info in overlay.scandir(directory, namespaces=["details", "access"]):
            path = f"{directory.rstrip('/')}/{info.name}"
            mode = info.permissions.mode if info.permissions is not None else None
            if overlay.islink(path):
                seen[path] = ("link", overlay.readlink(path))
            elif info.is_dir:
                seen[path] = ("dir", mode)
                pending.append(path)
            elif info.type == ResourceType.file:
                digest = hashlib.sha256(overlay.readbytes(path)).hexdigest()
                seen[path] = ("file", mode, info.modified, digest)
            else:
                seen[path] = (str(info.type), mode, info.modified)
    return seen


class RenameCrash:
    """One rename, its before and after trees, and a fresh copy of the upper per crash."""

    def __init__(self, base: Path, name: str, op: CrashOp, layout: str) -> None:
        self.base = base / layout / name
        self.base.mkdir(parents=True)
        self.lower = base / "lower"
        if not self.lower.exists():
            self.lower.mkdir()
            make_lower(self.lower)
        self.lower_hash = lower_state(self.lower)
        self.op, self.layout = op, layout
        self.options = {"layout": layout}
        self.pristine = self.base / "pristine"
        make_upper(self.pristine, self.lower, layout)
        self.before = self.view(self.fresh_upper("before"))
        after = self.fresh_upper("after")
        killed, self.steps = run_child(after, self.lower, op, options=self.options)
        assert not killed
        self.after = self.view(after)
        assert self.before != self.after
        self.outcomes = {"before": 0, "after": 0}

    def fresh_upper(self, name: str) -> Path:
        """A copy of the pristine upper (and its workdir, for the kernel layout)."""
        return copy_upper(self.pristine, self.base / f"upper-{name}", self.layout)

    def view(self, upper: Path) -> Snapshot:
        """Reopen the layers: the work area must be clean, and the tree is read."""
        return reopened_view(upper, self.lower, self.layout, snapshot)

    def crash_every_step(self) -> None:
        """Kill the rename before each of its steps; each time the tree is old or new."""
        for step in range(self.steps + 1):
            upper = self.fresh_upper("crash")
            run_child(upper, self.lower, self.op, kill_at=step, options=self.options)
            summary.count("crash tests: SIGKILLed children checked")
            seen = self.view(upper)
            if seen == self.before:
                self.outcomes["before"] += 1
                run_child(upper, self.lower, self.op, options=self.options)
                assert self.view(upper) == self.after, f"step {step}: redo did not converge"
            elif seen == self.after:
                self.outcomes["after"] += 1
            else:
                raise AssertionError(
                    f"{self.layout}: a crash at step {step} of {self.steps} left a tree that is "
                    "neither before nor after:\n"
                    + describe_crash_diff(self.before, self.after, seen)
                )
        assert lower_state(self.lower) == self.lower_hash
        assert self.outcomes["before"] >= 1 and self.outcomes["after"] >= 1


def renaming(src: str, dst: str, **flags: bool) -> CrashOp:
    """An operation that renames ``src`` to ``dst`` with ``OverlayFS.rename``."""

    def op(overlay: OverlayFS) -> None:
        overlay.rename(src, dst, **flags)

    return op


def moving(src: str, dst: str) -> CrashOp:
    """An operation that moves file ``src`` over ``dst`` with ``OverlayFS.move``."""

    def op(overlay: OverlayFS) -> None:
        overlay.move(src, dst, overwrite=True)

    return op


def without_rename_whiteout(op: CrashOp) -> CrashOp:
    """``op`` on an upper whose filesystem refuses ``RENAME_WHITEOUT`` (``EINVAL``)."""

    def run(overlay: OverlayFS) -> None:
        from unionfs_lib.host import syscalls

        original = syscalls.renameat2

        def refusing(src: str, dst: str, flags: int) -> None:
            if flags & syscalls.RENAME_WHITEOUT:
                raise OSError(errno.EINVAL, "no RENAME_WHITEOUT here", src)
            original(src, dst, flags)

        syscalls.renameat2 = refusing  # type: ignore[assignment]  # the forked child only
        op(overlay)

    return run


RENAMES: dict[str, CrashOp] = {
    "lower_file_same_dir": renaming("/tree/a.txt", "/tree/moved.txt"),
    "lower_file_to_lower_dir": renaming("/tree/a.txt", "/other/moved.txt"),
    "lower_file_to_new_dir": renaming("/file.txt", "/tree/sub/file.txt"),
    "lower_file_over_lower_file": renaming("/tree/a.txt", "/file.txt"),
    "lower_file_over_upper_file": renaming("/tree/a.txt", "/up.txt"),
    "lower_file_over_new_upper_file": renaming("/tree/a.txt", "/tree/new.txt"),
    "lower_file_to_whited_out_name": renaming("/tree/a.txt", "/tree/gone.txt"),
    "lower_file_move_overwrite": moving("/other/o.txt", "/file.txt"),
    "lower_file_to_whited_out_name_no_rename_whiteout": without_rename_whiteout(
        renaming("/tree/a.txt", "/tree/gone.txt")
    ),
    "lower_link": renaming("/tree/link", "/other/link"),
    "lower_link_over_lower_file": renaming("/tree/link", "/file.txt"),
    "lower_fifo": renaming("/tree/fifo", "/other/fifo"),
    "merged_dir": renaming("/tree", "/moved"),
    "merged_dir_below_lower_dir": renaming("/tree/sub", "/other/sub"),
    "exchange_lower_files": renaming("/tree/a.txt", "/file.txt", exchange=True),
    "exchange_lower_file_and_dir": renaming("/file.txt", "/other", exchange=True),
}


@pytest.fixture(scope="module")
def crash_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One lower tree shared by every case, uppers per case."""
    return tmp_path_factory.mktemp("crash-rename")


@pytest.mark.parametrize("layout", ["markers", "kernel"])
@pytest.mark.parametrize("name", sorted(RENAMES))
def test_rename_of_a_lower_entry_killed_at_every_step(
    crash_base: Path, name: str, layout: str
) -> None:
    if layout == "kernel" and os.geteuid() != 0:
        pytest.skip("SKIPPED LOUDLY: the kernel layout's trusted.* xattrs need root")
    case = RenameCrash(crash_base, name, RENAMES[name], layout)
    case.crash_every_step()
    print(f"{name} ({layout}): {case.steps + 1} crash points, outcomes {case.outcomes}")


def test_the_lower_holds_what_the_cases_need(crash_base: Path) -> None:
    """The FIFO and the link are really there (a tree without them tests less)."""
    lower = crash_base / "lower"
    if not lower.exists():
        lower.mkdir()
        make_lower(lower)
    assert stat.S_ISFIFO(os.lstat(lower / "tree" / "fifo").st_mode)
    assert os.path.islink(lower / "tree" / "link")
