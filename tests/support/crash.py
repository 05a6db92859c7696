"""Crash points: a child killed at each file-system call of an operation, on either layout."""

from __future__ import annotations

import builtins
import io
import os
import shutil
import signal
import subprocess
import time
import typing
from contextlib import closing
from pathlib import Path

from fs.osfs import OSFS

from unionfs_lib import OverlayFS

#: os functions that change the file system: each call is one crash point.
HOOKED_OS = (
    "mkdir", "rename", "replace", "remove", "unlink", "rmdir", "chmod", "utime",
    "truncate", "link", "symlink", "mknod", "setxattr", "removexattr",
)


CrashOp = typing.Callable[[OverlayFS], None]
Seen = typing.TypeVar("Seen")

#: The OCI store's work area in the upper.
WORK_AREA = "/.wh..wh..work"


def work_of(upper: Path) -> Path:
    """The kernel layout's workdir beside ``upper``."""
    return Path(str(upper) + ".work")


def open_crash_overlay(
    upper: Path, lower: Path, layout: str = "markers", **options: typing.Any
) -> OverlayFS:
    """Open the layers: OCI markers in an OSFS upper, or the kernel layout (from_dirs)."""
    if layout == "kernel":
        return OverlayFS.from_dirs([str(lower)], str(upper), str(work_of(upper)), **options)
    return OverlayFS(OSFS(str(upper)), [OSFS(str(lower))], **options)


def new_upper_root(root: Path, layout: str) -> None:
    """Make the empty upper ``root`` (and its workdir beside it, for the kernel layout)."""
    root.mkdir()
    if layout == "kernel":
        work_of(root).mkdir()


def copy_layer(source: Path, target: Path) -> None:
    """Copy a directory exactly (devices, xattrs, times, FIFOs), replacing ``target``."""
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)


def copy_upper(pristine: Path, target: Path, layout: str) -> Path:
    """Copy the upper ``pristine`` (and its workdir, for the kernel layout) to ``target``."""
    copy_layer(pristine, target)
    if layout == "kernel":
        copy_layer(work_of(pristine), work_of(target))
    return target


def crash_leftovers(overlay: OverlayFS, upper: Path, layout: str) -> list[str]:
    """What an interrupted operation left in the work area after reopening."""
    if layout == "kernel":
        work = work_of(upper) / "work"
        return sorted(os.listdir(work)) if work.exists() else []
    assert overlay.upper is not None
    return overlay.upper.listdir(WORK_AREA) if overlay.upper.isdir(WORK_AREA) else []


def reopened_view(
    upper: Path, lower: Path, layout: str, read: typing.Callable[[OverlayFS], Seen]
) -> Seen:
    """Reopen the layers: the work area must be clean; return what ``read`` sees."""
    with closing(open_crash_overlay(upper, lower, layout)) as overlay:
        seen = read(overlay)
        left = crash_leftovers(overlay, upper, layout)
    assert left == [], f"work area not cleaned on open: {left}"
    return seen


def describe_crash_diff(
    before: dict[str, typing.Any], after: dict[str, typing.Any], seen: dict[str, typing.Any]
) -> str:
    """The paths where ``seen`` differs from ``before`` or ``after``, one line each."""
    lines = []
    for path in sorted(set(before) | set(after) | set(seen)):
        states = before.get(path), after.get(path), seen.get(path)
        if states[2] != states[0] or states[2] != states[1]:
            lines.append(f"  {path}: before={states[0]} after={states[1]} seen={states[2]}")
    return "\n".join(lines)


class StepKiller:
    """Counts state-changing calls in a forked child and SIGKILLs it right before call ``kill_at``.

    Attributes:
        kill_at (int or None): The call to die before (``None`` never dies).
        steps (int): The calls counted so far.

    """

    def __init__(self, kill_at: int | None) -> None:
        self.kill_at = kill_at
        self.steps = 0

    def step(self) -> None:
        """Count one call, dying first when it is call ``kill_at``."""
        if self.steps == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        self.steps += 1

    def hook(self, original: typing.Callable[..., typing.Any]) -> typing.Callable[..., typing.Any]:
        """Return ``original`` counting a step before each call."""

        def hooked(*args: typing.Any, **kw: typing.Any) -> typing.Any:
            self.step()
            return original(*args, **kw)

        return hooked

    def hook_writing_opens(self) -> None:
        """Count every ``open`` (builtin and ``io``) for writing, appending or updating."""
        opener = io.open

        def hooked_open(file: typing.Any, mode: str = "r", *args: typing.Any, **kw: typing.Any):
            if any(flag in mode for flag in "wax+"):
                self.step()
            return opener(file, mode, *args, **kw)

        io.open = hooked_open  # type: ignore[assignment]
        builtins.open = hooked_open  # type: ignore[assignment]


class _Killer(StepKiller):
    """Counts every call of :data:`HOOKED_OS`, writing opens and ``renameat2``."""

    def install(self) -> None:
        for name in HOOKED_OS:
            original = getattr(os, name, None)
            if original is not None:
                setattr(os, name, self.hook(original))
        self._hook_os_open()
        self.hook_writing_opens()
        from unionfs_lib.host import syscalls  # renameat2 goes through ctypes

        syscalls.renameat2 = self.hook(syscalls.renameat2)  # type: ignore[assignment]

    def _hook_os_open(self) -> None:
        """Count ``os.open`` for writing too (whiteout stores write their markers that way)."""
        original = os.open
        writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

        def hooked(path: typing.Any, flags: int, *args: typing.Any, **kw: typing.Any) -> int:
            if flags & writing:
                self.step()
            return original(path, flags, *args, **kw)

        os.open = hooked  # type: ignore[assignment]


def run_child(
    upper: Path,
    lower: Path,
    op: CrashOp,
    kill_at: int | None = None,
    kill_after: float | None = None,
    options: dict[str, typing.Any] | None = None,
) -> tuple[bool, int]:
    """Run ``op`` in a forked child; return (killed, steps it counted)."""
    count_file = upper.parent / (upper.name + ".steps")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            overlay = open_crash_overlay(upper, lower, **(options or {}))
            killer = _Killer(kill_at)
            if kill_after is None:
                killer.install()
            op(overlay)
            overlay.close()
            count_file.write_text(str(killer.steps))
            code = 0
        except BaseException:  # noqa: B036 - report anything, then leave
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    if kill_after is not None:
        time.sleep(kill_after)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True, -1
    assert os.WEXITSTATUS(status) == 0, f"child failed (status {status})"
    return False, int(count_file.read_text())
