"""Run in a child process: mount an overlay in a thread and report which requests reached it.

The FUSE passthrough tests start this module with ``FUSE_LIBRARY_PATH`` set
(mfusepy loads libfuse once, at import) and read one JSON object from its
standard output::

    python -m tests.support.passthrough_probe BASE [--read-only]

``BASE`` is an empty directory. The probe builds a lower directory (with
``big``: 3 MiB of known bytes, and ``zipped.zip`` served as a second, zip
lower with ``inzip``), an upper and a mount point, then does, through the
mount, each step of :func:`steps` (only the reading ones on a read-only
mount) and notes the ``read``/``write`` requests
the daemon answered during it, the bytes and sizes seen, and the mount's
passthrough refusal (``None``: on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
import zipfile

import fs.osfs
import fs.zipfs

from unionfs_lib.mount.daemon import mount_in_thread
from unionfs_lib.overlay import OverlayFS

MIB = 1 << 20
#: The lower file's bytes: 3 MiB, every 4 KiB block different.
BIG = b"".join(index.to_bytes(4, "big") * 1024 for index in range(768))
DATA_HANDLERS = ("read", "read_buf", "write", "write_buf")


def build(base: str) -> tuple[OverlayFS, str]:
    """Make the layers under ``base``; return the overlay and the mount point."""
    lower, upper, work, target = (os.path.join(base, name)
                                  for name in ("lower", "upper", "work", "m"))
    for path in (lower, upper, work, target):
        os.makedirs(path)
    with open(os.path.join(lower, "big"), "wb") as handle:
        handle.write(BIG)
    archive = os.path.join(base, "zipped.zip")
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("inzip", b"zip bytes " * 1000)
    overlay = OverlayFS(fs.osfs.OSFS(upper),
                        [fs.osfs.OSFS(lower), fs.zipfs.ReadZipFS(archive)])
    return overlay, target


def steps(
    root: str, upper: str, read_only: bool = False
) -> typing.Iterator[tuple[str, typing.Callable[[], typing.Any]]]:
    """Yield ``(name, action)``: each action's result goes into the report."""
    new = os.path.join(root, "new")

    def same_stat() -> list[int]:
        seen, real = os.stat(new), os.stat(os.path.join(upper, "new"))
        return [seen.st_size, int(seen.st_size == real.st_size),
                int(seen.st_mtime_ns == real.st_mtime_ns)]

    def write_new() -> int:
        with open(new, "wb") as handle:
            for _ in range(4):
                handle.write(b"n" * MIB)
        return os.stat(new).st_size

    def read_new() -> bool:
        with open(new, "rb") as handle:
            return handle.read() == b"n" * (4 * MIB)

    def append_and_stat() -> list[int]:
        before = os.stat(new)
        with open(new, "ab") as handle:
            handle.write(b"tail")
        after = os.stat(new)
        return [after.st_size, int(after.st_mtime_ns >= before.st_mtime_ns)]

    def rewrite_middle() -> bool:
        with open(new, "r+b") as handle:
            handle.seek(MIB)
            handle.write(b"m" * 10)
        with open(new, "rb") as handle:
            handle.seek(MIB - 1)
            return handle.read(12) == b"n" + b"m" * 10 + b"n"

    def mapped() -> bool:
        # In a child process: a page fault holds this process's GIL, which
        # the thread serving the mount would need if the fault reached it.
        script = ("import mmap, sys\n"
                  "with open(sys.argv[1], 'r+b') as handle:\n"
                  "    with mmap.mmap(handle.fileno(), 0) as view:\n"
                  "        view[0:4] = b'MMAP'\n"
                  "        view.flush()\n")
        subprocess.run([sys.executable, "-c", script, new], check=True, timeout=60)
        with open(new, "rb") as handle:
            return handle.read(4) == b"MMAP"

    def read_lower() -> bool:
        with open(os.path.join(root, "big"), "rb") as handle:
            return handle.read() == BIG

    def read_zip() -> bool:
        with open(os.path.join(root, "inzip"), "rb") as handle:
            return handle.read() == b"zip bytes " * 1000

    def copy_up_lower() -> list[typing.Any]:
        path = os.path.join(root, "big")
        with open(path, "r+b") as handle:
            handle.seek(5)
            handle.write(b"W")
        with open(path, "rb") as handle:
            seen = handle.read()
        return [seen == BIG[:5] + b"W" + BIG[6:], os.stat(path).st_size]

    if read_only:
        yield "read lower", read_lower
        yield "read zip", read_zip
        return
    yield "write new", write_new
    yield "read new", read_new
    yield "append", append_and_stat
    yield "rewrite", rewrite_middle
    yield "mmap", mapped
    yield "stat after writes", same_stat
    yield "read lower", read_lower
    yield "read zip", read_zip
    yield "copy-up lower", copy_up_lower


def run(base: str, read_only: bool = False) -> dict[str, typing.Any]:
    """Mount, run the steps, unmount; return the report."""
    overlay, target = build(base)
    mounted = mount_in_thread(overlay, target, read_only=read_only)
    assert mounted.operations is not None
    operations = mounted.operations
    report: dict[str, typing.Any] = {"steps": {}}
    try:
        for name, action in steps(target, os.path.join(base, "upper"), read_only):
            before = {key: operations.requests[key] for key in DATA_HANDLERS}
            try:
                result = action()
            except OSError as error:
                result = f"error: {error}"
            handled = sum(operations.requests[key] - before[key] for key in DATA_HANDLERS)
            report["steps"][name] = {"result": result, "data_requests": handled}
        report["refusal"] = operations.passthrough.refusal
        report["passed"] = operations.passthrough.passed
    finally:
        mounted.unmount()
    if not read_only:
        with open(os.path.join(base, "upper", "new"), "rb") as handle:
            report["upper_new_size"] = len(handle.read())
    with open(os.path.join(base, "lower", "big"), "rb") as handle:
        report["lower_unchanged"] = handle.read() == BIG
    return report


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], "--read-only" in sys.argv[2:])))
