"""Helpers that observe a filesystem: its whole tree as a dict, and the calls that reach it.

* :func:`tree` reads every path of a PyFilesystem2 FS into a dict (the form
  the tests compare overlays, layers and models in);
* :func:`os_tree` does the same for an OS directory without following or
  opening anything but regular files (kernel whiteouts are devices);
* :class:`CountingFS` wraps a layer and counts the calls, file opens and
  bytes that reach it, for tests that bound what an operation costs.
"""

from __future__ import annotations

import collections
import contextlib
import os
import stat
import typing

import pytest
from fs.base import FS
from fs.wrapfs import WrapFS

#: Path -> bytes (a file) or ``None`` (a directory).
Tree = dict[str, typing.Optional[bytes]]
#: Like :data:`Tree`, with ``"special"`` for anything but files and directories.
OSTree = dict[str, typing.Union[None, bytes, str]]


def tree(
    layer: FS, path: str = "/", exclude: typing.Collection[str] = ()
) -> Tree:
    """Return every path below ``path`` mapped to its bytes, or ``None`` for a directory.

    Directories named in ``exclude`` are left out with everything below them
    (say, an upper's work area).
    """
    found: Tree = {}
    for entry, info in layer.walk.info(path):
        if any(entry == skipped or entry.startswith(skipped + "/") for skipped in exclude):
            continue
        found[entry] = None if info.is_dir else layer.readbytes(entry)
    return found


def os_tree(root: str | os.PathLike[str]) -> OSTree:
    """Snapshot an OS directory: relative path -> ``None``, the bytes of a file, or ``"special"``.

    Nothing but regular files is opened, so a device (a kernel whiteout) or a
    dangling link is safe to meet.
    """
    found: OSTree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        base = "" if rel == "." else "/" + rel
        for name in dirnames:
            found[f"{base}/{name}"] = None
        for name in filenames:
            path = os.path.join(dirpath, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                with open(path, "rb") as handle:
                    found[f"{base}/{name}"] = handle.read()
            else:
                found[f"{base}/{name}"] = "special"
    return found


class CountingFS(WrapFS[FS]):
    """A pass-through wrapper counting what reaches a layer.

    Attributes:
        calls: how many times each of ``openbin``, ``readbytes``, ``scandir``,
            ``listdir`` and ``getinfo`` was called.
        bytes_read: bytes read through ``readbytes`` and through the file
            handles ``openbin`` returned.
    """

    def __init__(self, wrapped: FS) -> None:
        super().__init__(wrapped)
        self.calls: collections.Counter[str] = collections.Counter()
        self.bytes_read = 0

    @property
    def opens(self) -> int:
        """How many files were opened."""
        return self.calls["openbin"]

    def total(self) -> int:
        """How many counted calls reached the layer."""
        return sum(self.calls.values())

    def openbin(
        self, path: str, mode: str = "r", buffering: int = -1, **options: typing.Any
    ) -> typing.BinaryIO:
        """Open a file whose reads are counted."""
        self.calls["openbin"] += 1
        handle = super().openbin(path, mode, buffering, **options)
        return typing.cast(typing.BinaryIO, _CountedReads(handle, self))

    def readbytes(self, path: str) -> bytes:
        """Read a whole file, counting its bytes."""
        self.calls["readbytes"] += 1
        data = super().readbytes(path)
        self.bytes_read += len(data)
        return data

    def scandir(
        self,
        path: str,
        namespaces: typing.Collection[str] | None = None,
        page: tuple[int, int] | None = None,
    ) -> typing.Iterator[typing.Any]:
        """Scan a directory (counted)."""
        self.calls["scandir"] += 1
        return super().scandir(path, namespaces, page)

    def listdir(self, path: str) -> list[str]:
        """List a directory (counted)."""
        self.calls["listdir"] += 1
        return super().listdir(path)

    def getinfo(self, path: str, namespaces: typing.Collection[str] | None = None) -> typing.Any:
        """Get an entry's info (counted)."""
        self.calls["getinfo"] += 1
        return super().getinfo(path, namespaces)


class _CountedReads:
    """A file handle that adds what is read through it to its layer's ``bytes_read``."""

    def __init__(self, inner: typing.BinaryIO, layer: CountingFS) -> None:
        self._inner = inner
        self._layer = layer

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._layer.bytes_read += len(data)
        return data

    def readinto(self, buffer: typing.Any) -> int:
        count: int = self._inner.readinto(buffer)  # type: ignore[attr-defined]
        self._layer.bytes_read += count or 0
        return count

    def __getattr__(self, name: str) -> typing.Any:
        return getattr(self._inner, name)

    def __iter__(self) -> typing.Iterator[bytes]:
        return iter(self._inner)

    def __enter__(self) -> _CountedReads:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()


@contextlib.contextmanager
def moto_s3() -> typing.Iterator[str]:
    """Run a real moto S3 server on 127.0.0.1 (test credentials); yield its URL.

    The server speaks HTTP on a free port, as S3 would: the clients under test
    (fs-s3fs, s3fs, boto3) go through their whole stack.
    """
    from moto.server import ThreadedMotoServer

    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        patch.undo()


def forked_text(work: typing.Callable[[], str]) -> str:
    """Run ``work`` in a forked child and return the text it returned.

    The child leaves with ``os._exit`` whatever happens (an error there
    sends no text), so nothing of the test runner runs twice.
    """
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        try:
            os.close(reader)
            os.write(writer, work().encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(child, 0)
    return text
