"""The floor of the low-level FUSE API: a minimal pass-through on pyfuse3.

Usage (foreground; :mod:`benchmarks.fuse_floor` starts and unmounts it)::

    python -m benchmarks.floor_lowlevel SOURCE MOUNTPOINT [--counter FILE]

This mirrors the directory ``SOURCE`` at ``MOUNTPOINT`` through pyfuse3, the
binding of libfuse 3's low-level (inode-based) API, and does nothing else:
each request is one system call on ``SOURCE``. pyfuse3 is not a dependency
of unionfs_lib (it is in the optional ``bench`` extra); this is a measuring
instrument for :mod:`benchmarks.fuse_floor`, not a file system to use.

Inodes are the source's own inode numbers (the source's root is inode 1), a
table maps each to its path in the source (a ``rename`` of a directory
rewrites its descendants' paths), and each inode's lookup count is kept and
the path forgotten when the kernel forgets the inode, as a low-level file
system must. Handles are the source's file descriptors; a directory's
listing is read once at ``opendir`` and served from memory.

How it uses the kernel's caches (what a good low-level file system does, and
what ``unionfs-lib-mount`` asks of libfuse's high-level API): every entry and
attribute reply carries an ``entry_timeout`` and ``attr_timeout`` of
:data:`TIMEOUT` seconds; a name that does not exist is answered with inode 0
and the same timeout (a cached negative entry, like ``negative_timeout``);
``open`` and ``create`` set ``keep_cache`` (file pages kept across opens,
like ``kernel_cache``); listings are answered with ``readdirplus`` only
(pyfuse3 always asks for it and turns ``readdirplus_auto`` off), with each
entry's full attributes, so no ``lookup`` follows a listing; the mount option
is ``default_permissions`` (pyfuse3's default), and the write-back cache is
off (as in ours). pyfuse3 cannot ask the kernel to keep a directory's listing
(``cache_readdir``): its ``opendir`` returns only the handle. Requests are
served by pyfuse3's trio loop, on one thread. ``flush``, ``fsync``,
``access`` and the extended attributes answer ``ENOSYS`` (pyfuse3's
defaults), so the kernel stops asking.

``--counter FILE`` counts every request handled in Python in the first 8
bytes of ``FILE``, as in :mod:`benchmarks.floor_highlevel`.
"""

from __future__ import annotations

import errno
import os
import sys
import typing

import pyfuse3
import trio

from .floor_highlevel import TIMEOUT, RequestCounter, floor_parser


def entry(found: os.stat_result, inode: int) -> pyfuse3.EntryAttributes:
    """Return ``found`` as the reply of inode ``inode``, cached for :data:`TIMEOUT` seconds."""
    attributes = pyfuse3.EntryAttributes()
    attributes.st_ino = inode
    attributes.entry_timeout = TIMEOUT
    attributes.attr_timeout = TIMEOUT
    attributes.st_mode = found.st_mode
    attributes.st_nlink = found.st_nlink
    attributes.st_uid = found.st_uid
    attributes.st_gid = found.st_gid
    attributes.st_rdev = found.st_rdev
    attributes.st_size = found.st_size
    attributes.st_blksize = found.st_blksize
    attributes.st_blocks = found.st_blocks
    attributes.st_atime_ns = found.st_atime_ns
    attributes.st_mtime_ns = found.st_mtime_ns
    attributes.st_ctime_ns = found.st_ctime_ns
    return attributes


def missing() -> pyfuse3.EntryAttributes:
    """Return the reply for a name that does not exist, cached for :data:`TIMEOUT` seconds."""
    attributes = pyfuse3.EntryAttributes()
    attributes.st_ino = 0
    attributes.entry_timeout = TIMEOUT
    return attributes


def failing(error: OSError) -> pyfuse3.FUSEError:
    """Return the FUSE error of ``error``."""
    return pyfuse3.FUSEError(error.errno or errno.EIO)


class Passthrough(pyfuse3.Operations):
    """Answer each inode-based request with the same system call on ``source``."""

    enable_writeback_cache = False

    def __init__(self, source: str, counter: RequestCounter) -> None:
        super().__init__()
        self.source = os.fsencode(os.path.realpath(source))
        self.root_ino = os.lstat(self.source).st_ino
        self.counter = counter
        self.paths: dict[int, bytes] = {pyfuse3.ROOT_INODE: self.source}
        self.lookups: dict[int, int] = {}
        self.listings: dict[int, list[tuple[bytes, os.stat_result]]] = {}
        self.listing_paths: dict[int, bytes] = {}
        self.next_listing = 1

    # -- inodes --------------------------------------------------------------

    def known(self, path: bytes, found: os.stat_result) -> pyfuse3.EntryAttributes:
        """Record ``path`` as its inode's path, count a lookup, return its reply."""
        inode = pyfuse3.ROOT_INODE if found.st_ino == self.root_ino else found.st_ino
        self.paths[inode] = path
        self.lookups[inode] = self.lookups.get(inode, 0) + 1
        return entry(found, inode)

    def child(self, parent: int, name: bytes) -> bytes:
        """Return the source path of ``name`` in directory ``parent``."""
        return self.paths[parent] + b"/" + name

    def attributes(self, inode: int) -> pyfuse3.EntryAttributes:
        """Return the attributes of ``inode`` (no lookup counted)."""
        try:
            return entry(os.lstat(self.paths[inode]), inode)
        except OSError as error:
            raise failing(error) from None

    async def lookup(self, parent_inode: int, name: bytes,
                     ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        """Look ``name`` up in ``parent_inode`` (a missing name is a cached negative entry)."""
        self.counter.tick()
        path = self.child(parent_inode, name)
        try:
            return self.known(path, os.lstat(path))
        except FileNotFoundError:
            return missing()
        except OSError as error:
            raise failing(error) from None

    async def forget(self, inode_list: typing.Sequence[tuple[int, int]]) -> None:
        """Drop the lookups the kernel forgets; forget an inode's path at zero."""
        self.counter.tick()
        for inode, count in inode_list:
            left = self.lookups.get(inode, 0) - count
            if left > 0:
                self.lookups[inode] = left
            elif inode != pyfuse3.ROOT_INODE:
                self.lookups.pop(inode, None)
                self.paths.pop(inode, None)

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        """``lstat`` the inode's path."""
        self.counter.tick()
        return self.attributes(inode)

    async def setattr(self, inode: int, attr: pyfuse3.EntryAttributes,
                      fields: pyfuse3.SetattrFields, fh: int | None,
                      ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        """Change the mode, owner, size or times the request names."""
        self.counter.tick()
        path = self.paths[inode]
        try:
            if fields.update_size:
                os.truncate(fh if fh is not None else path, attr.st_size)
            if fields.update_mode:
                os.chmod(path, attr.st_mode & 0o7777)
            if fields.update_uid or fields.update_gid:
                os.lchown(path, attr.st_uid if fields.update_uid else -1,
                          attr.st_gid if fields.update_gid else -1)
            if fields.update_atime or fields.update_mtime:
                now = os.lstat(path)
                os.utime(path, follow_symlinks=False, ns=(
                    attr.st_atime_ns if fields.update_atime else now.st_atime_ns,
                    attr.st_mtime_ns if fields.update_mtime else now.st_mtime_ns))
        except OSError as error:
            raise failing(error) from None
        return self.attributes(inode)

    # -- directories ---------------------------------------------------------

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        """Read the directory's listing, with each entry's attributes; return its handle."""
        self.counter.tick()
        path = self.paths[inode]
        try:
            with os.scandir(path) as entries:
                listing = [(item.name, item.stat(follow_symlinks=False)) for item in entries]
        except OSError as error:
            raise failing(error) from None
        handle = self.next_listing
        self.next_listing += 1
        self.listings[handle] = listing
        self.listing_paths[handle] = path
        return handle

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        """Reply with the listing from ``start_id`` on (``readdirplus``: full attributes)."""
        self.counter.tick()
        listing = self.listings[fh]
        parent = self.directory_of(fh)
        for index in range(start_id, len(listing)):
            name, found = listing[index]
            inode = found.st_ino
            if not pyfuse3.readdir_reply(token, name, entry(found, inode), index + 1):
                break
            self.paths[inode] = parent + b"/" + name
            self.lookups[inode] = self.lookups.get(inode, 0) + 1

    def directory_of(self, fh: int) -> bytes:
        """Return the source path of the listing ``fh`` (kept beside it at ``opendir``)."""
        return self.listing_paths[fh]

    async def releasedir(self, fh: int) -> None:
        """Forget the listing."""
        self.counter.tick()
        self.listings.pop(fh, None)
        self.listing_paths.pop(fh, None)

    async def mkdir(self, parent_inode: int, name: bytes, mode: int,
                    ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        """Make the directory."""
        self.counter.tick()
        path = self.child(parent_inode, name)
        try:
            os.mkdir(path, mode)
            return self.known(path, os.lstat(path))
        except OSError as error:
            raise failing(error) from None

    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        """Remove the directory."""
        self.counter.tick()
        try:
            os.rmdir(self.child(parent_inode, name))
        except OSError as error:
            raise failing(error) from None

    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        """Remove the file."""
        self.counter.tick()
        try:
            os.unlink(self.child(parent_inode, name))
        except OSError as error:
            raise failing(error) from None

    async def rename(self, parent_inode_old: int, name_old: bytes, parent_inode_new: int,
                     name_new: bytes, flags: int, ctx: pyfuse3.RequestContext) -> None:
        """Rename; the moved inode's path (and a directory's descendants') follow."""
        self.counter.tick()
        if flags:
            raise pyfuse3.FUSEError(errno.EINVAL)
        old, new = self.child(parent_inode_old, name_old), self.child(parent_inode_new, name_new)
        try:
            os.rename(old, new)
        except OSError as error:
            raise failing(error) from None
        prefix = old + b"/"
        for inode, path in list(self.paths.items()):
            if path == old:
                self.paths[inode] = new
            elif path.startswith(prefix):
                self.paths[inode] = new + path[len(old):]

    # -- files ---------------------------------------------------------------

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        """Open the file; its descriptor is the handle; keep its pages cached."""
        self.counter.tick()
        try:
            return pyfuse3.FileInfo(fh=os.open(self.paths[inode], flags), keep_cache=True)
        except OSError as error:
            raise failing(error) from None

    async def create(self, parent_inode: int, name: bytes, mode: int, flags: int,
                     ctx: pyfuse3.RequestContext
                     ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        """Create and open the file."""
        self.counter.tick()
        path = self.child(parent_inode, name)
        try:
            descriptor = os.open(path, flags | os.O_CREAT, mode)
            return (pyfuse3.FileInfo(fh=descriptor, keep_cache=True),
                    self.known(path, os.fstat(descriptor)))
        except OSError as error:
            raise failing(error) from None

    async def read(self, fh: int, off: int, size: int) -> bytes:
        """``pread`` from the handle."""
        self.counter.tick()
        return os.pread(fh, size, off)

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        """``pwrite`` to the handle."""
        self.counter.tick()
        return os.pwrite(fh, buf, off)

    async def release(self, fh: int) -> None:
        """Close the handle."""
        self.counter.tick()
        os.close(fh)


def main(argv: list[str] | None = None) -> int:
    """Mount ``SOURCE`` at ``MOUNTPOINT`` and serve until unmounted."""
    args = floor_parser(__doc__, threads=False).parse_args(argv)
    operations = Passthrough(args.source, RequestCounter(args.counter))
    pyfuse3.init(operations, args.mountpoint, {"fsname=floor-lowlevel", "default_permissions"})
    try:
        trio.run(pyfuse3.main)
    finally:
        pyfuse3.close(unmount=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
