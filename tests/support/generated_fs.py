"""A read-only FS that streams generated directory entries, storing none (iteration cost)."""

from __future__ import annotations

import fs.errors
from fs.base import FS
from fs.enums import ResourceType
from fs.info import Info


class GeneratedFS(FS):
    """A read-only FS whose directory ``/big`` streams ``count`` generated files.

    Nothing is stored: ``scandir`` yields entries one at a time, the way an
    OSFS does over ``os.scandir``, so a test can measure what the overlay
    itself holds while iterating a very large directory.
    """

    def __init__(self, count, prefix="e", step=1):
        super().__init__()
        self.count = count
        self.prefix = prefix
        self.step = step

    def _names(self):
        for index in range(0, self.count * self.step, self.step):
            yield f"{self.prefix}{index:09d}"

    def _generates(self, name):
        digits = name[len(self.prefix):]
        if not name.startswith(self.prefix) or not digits.isdigit():
            return False
        index = int(digits)
        return index % self.step == 0 and index < self.count * self.step

    def _info(self, name, is_dir):
        raw = {"basic": {"name": name, "is_dir": is_dir}}
        raw["details"] = {"type": int(ResourceType.directory if is_dir else ResourceType.file),
                          "size": 0}
        return Info(raw)

    def getinfo(self, path, namespaces=None):
        path = self.validatepath(path)
        if path in ("/", "/big"):
            return self._info(path.rsplit("/", 1)[-1], True)
        name = path[5:]
        if path.startswith("/big/") and self._generates(name):
            return self._info(name, False)
        raise fs.errors.ResourceNotFound(path)

    def listdir(self, path):
        return [info.name for info in self.scandir(path)]

    def scandir(self, path, namespaces=None, page=None):
        path = self.validatepath(path)
        if path == "/":
            return iter([self._info("big", True)])
        if path == "/big":
            return (self._info(name, False) for name in self._names())
        raise fs.errors.ResourceNotFound(path)

    def openbin(self, path, mode="r", buffering=-1, **options):
        raise fs.errors.ResourceReadOnly(path)

    def makedir(self, path, permissions=None, recreate=False):
        raise fs.errors.ResourceReadOnly(path)

    def remove(self, path):
        raise fs.errors.ResourceReadOnly(path)

    def removedir(self, path):
        raise fs.errors.ResourceReadOnly(path)

    def setinfo(self, path, info):
        raise fs.errors.ResourceReadOnly(path)
