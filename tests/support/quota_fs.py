"""An FS wrapper with a byte quota: a full disk on demand."""

from __future__ import annotations

import threading
import typing

import fs.errors
from fs.base import FS
from fs.wrapfs import WrapFS


class _QuotaFile:
    """A file of :class:`QuotaFS`: writes spend the FS's byte budget."""

    def __init__(self, quota: QuotaFS, handle: typing.BinaryIO) -> None:
        self._quota = quota
        self._handle = handle

    def write(self, data: typing.Any) -> int:
        self._quota.spend(len(data))
        return self._handle.write(data)

    def __getattr__(self, name: str) -> typing.Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _QuotaFile:
        return self

    def __exit__(self, *args: typing.Any) -> None:
        self._handle.close()

    def __iter__(self) -> typing.Iterator[bytes]:
        return iter(self._handle)


class QuotaFS(WrapFS[FS]):
    """Wrap a writable FS; data writes fail with ``InsufficientStorage`` past ``budget`` bytes."""

    def __init__(self, wrap_fs: FS, budget: int) -> None:
        super().__init__(wrap_fs)
        self.budget = budget
        self._spent_lock = threading.Lock()

    def spend(self, count: int) -> None:
        with self._spent_lock:
            if count > self.budget:
                raise fs.errors.InsufficientStorage(msg=f"quota exceeded by {count - self.budget}")
            self.budget -= count

    def openbin(self, path: str, mode: str = "r", buffering: int = -1, **options: typing.Any):
        handle = super().openbin(path, mode, buffering, **options)
        if "r" in mode and "+" not in mode:
            return handle
        return typing.cast(typing.BinaryIO, _QuotaFile(self, handle))

    def writebytes(self, path: str, contents: bytes) -> None:
        self.spend(len(contents))
        super().writebytes(path, contents)

    def upload(
        self, path: str, file: typing.Any, chunk_size: int | None = None, **options: typing.Any
    ) -> None:
        with self.openbin(path, "wb") as target:
            while True:
                chunk = file.read(chunk_size or 65536)
                if not chunk:
                    break
                target.write(chunk)
