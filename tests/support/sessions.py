"""Helpers of the session tests: a small lower tree, forks with known changes, kill points.

:func:`run_killed` runs a function in a forked child that SIGKILLs itself
right before its state-changing call number ``kill_at``: on local files the
``os`` calls and file opens for writing (as ``tests/core/test_crash.py`` counts
them), on an object store each upload and each delete of an object.
"""

from __future__ import annotations

import os
import signal
import typing

from fs.base import FS

from unionfs_lib.session import Fork, OverlaySession

from .crash import StepKiller

#: The lower tree: path -> bytes.
LOWER = {
    "data/a.txt": b"alpha\n",
    "data/b.txt": b"beta\n",
    "old/x.txt": b"ex\n",
    "old/y.txt": b"why\n",
    "keep.txt": b"keep\n",
}

#: What each of three forks does, and the merged result (path -> bytes, None: gone).
EXPECTED = {
    "data/a.txt": b"alpha 2\n",
    "out/part-0.txt": b"part 0\n",
    "out/part-1.txt": b"part 1\n",
    "out/part-2.txt": b"part 2\n",
    "old/x.txt": None,
    "old/y.txt": None,
    "data/b.txt": b"beta\n",
    "keep.txt": b"keep\n",
}


def fill(layer: FS, files: typing.Mapping[str, bytes]) -> None:
    """Write ``files`` into ``layer``."""
    for path, data in files.items():
        layer.makedirs("/" + path.rpartition("/")[0], recreate=True)
        layer.writebytes("/" + path, data)


def work(fork: Fork, index: int) -> Fork:
    """The task of fork ``index``: write a part; fork 0 edits a file, fork 1 removes a tree."""
    with fork.open() as overlay:
        overlay.makedirs("/out", recreate=True)
        overlay.writebytes(f"/out/part-{index}.txt", f"part {index}\n".encode())
        if index == 0:
            overlay.writebytes("/data/a.txt", b"alpha 2\n")
        if index == 1:
            overlay.removetree("/old")
    return fork


def three_forks(session: OverlaySession) -> list[Fork]:
    """Return forks 0, 1, 2 of ``session`` with their work done, and one that did nothing."""
    forks = [work(session.fork(f"f{index}"), index) for index in range(3)]
    return [*forks, session.fork("idle")]


def contents(layer: FS) -> dict[str, bytes]:
    """Return every file of ``layer`` (outside the commit work area): path -> bytes."""
    found = {}
    for path in layer.walk.files("/", exclude_dirs=[".unionfs-commit"]):
        found[path.lstrip("/")] = layer.readbytes(path)
    return found


def assert_old_or_new(seen: dict[str, bytes]) -> None:
    """Every entry of a target after a crash is the lower's or the merged result's."""
    for path, data in seen.items():
        assert data in (LOWER.get(path), EXPECTED.get(path)), f"{path} is neither: {data!r}"
    for path in set(LOWER) | set(EXPECTED):
        if path not in seen:
            assert LOWER.get(path) is None or EXPECTED.get(path) is None, f"{path} went missing"


def assert_final(seen: dict[str, bytes]) -> None:
    """The target holds the merged result exactly."""
    assert seen == {path: data for path, data in EXPECTED.items() if data is not None}


# -- killing ----------------------------------------------------------------------------

HOOKED_OS = ("mkdir", "rename", "replace", "remove", "unlink", "rmdir", "chmod", "utime")


class Killer(StepKiller):
    """Counts state-changing calls and SIGKILLs the process right before call ``kill_at``."""

    def install_os(self) -> None:
        """Count the ``os`` calls that change files and every open for writing."""
        for name in HOOKED_OS:
            setattr(os, name, self.hook(getattr(os, name)))
        self.hook_writing_opens()

    def install_objects(self) -> None:
        """Count every request that changes an object store (s3fs), killing before one."""
        import s3fs
        from fsspec.asyn import sync_wrapper

        original = s3fs.S3FileSystem._call_s3
        killer = self

        async def call_s3(
            store: typing.Any, method: typing.Any, *args: typing.Any, **kw: typing.Any
        ) -> typing.Any:
            name = method if isinstance(method, str) else method.__name__
            if name in MUTATING:
                killer.step()
            return await original(store, method, *args, **kw)

        s3fs.S3FileSystem._call_s3 = call_s3  # type: ignore[method-assign]
        # the blocking call_s3 (S3File's uploads) wraps the original coroutine function
        s3fs.S3FileSystem.call_s3 = sync_wrapper(call_s3)  # type: ignore[method-assign]


#: The S3 requests that change the store.
MUTATING = {
    "put_object", "delete_object", "delete_objects", "copy_object", "upload_part",
    "create_multipart_upload", "complete_multipart_upload",
}


def run_killed(
    action: typing.Callable[[], object], kill_at: int | None, objects: bool = False
) -> int | None:
    """Run ``action`` in a forked child killed before call ``kill_at``; return its call count.

    Returns ``None`` when the child was killed.
    """
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            killer = Killer(kill_at)
            if objects:
                killer.install_objects()
            else:
                killer.install_os()
            action()
            os.write(writer, str(killer.steps).encode())
            code = 0
        except BaseException:  # noqa: B036 - report anything, then leave
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(writer)
    _, status = os.waitpid(pid, 0)
    counted = os.read(reader, 64)
    os.close(reader)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return None
    assert os.WEXITSTATUS(status) == 0, f"child failed (status {status})"
    return int(counted)
