"""Writes handed from libfuse's buffer straight to a layer file.

With a ``write`` operation, every ``WRITE`` request's data goes from
libfuse's buffer into a new Python ``bytes`` object (``ctypes.string_at``)
and from there into the file: one megabyte request, one megabyte allocated,
filled and copied again. libfuse's ``write_buf`` operation hands over the
request's buffer vector instead; :func:`copy_to_descriptor` asks libfuse
(``fuse_buf_copy``) to write it at an offset of a file descriptor itself, so
the data never enters Python (and, where libfuse reads requests with
``splice``, never enters user space). :func:`gather` copies a buffer vector
into ``bytes`` for the other kinds of open files.

Reads go the other way with the ``read_buf`` operation: :func:`hand_out_descriptor`
gives libfuse a buffer vector that names a file descriptor and an offset, and
libfuse reads the reply from the file itself (``pread``, or ``splice`` into
the device); :func:`hand_out_bytes` gives it bytes read in Python. Either
vector is allocated with the C library's ``malloc``, as libfuse frees it.
"""

from __future__ import annotations

import ctypes
import functools
import typing

#: ``enum fuse_buf_flags`` of libfuse 3.
FUSE_BUF_IS_FD = 1 << 1
FUSE_BUF_FD_SEEK = 1 << 2
FUSE_BUF_FD_RETRY = 1 << 3


class _Buffer(ctypes.Structure):
    """libfuse 3's ``struct fuse_buf``."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("flags", ctypes.c_int),
        ("mem", ctypes.c_void_p),
        ("fd", ctypes.c_int),
        ("pos", ctypes.c_int64),
    ]


class _OneBufferVector(ctypes.Structure):
    """libfuse 3's ``struct fuse_bufvec`` holding one buffer (inline, as in C)."""

    _fields_ = [
        ("count", ctypes.c_size_t),
        ("idx", ctypes.c_size_t),
        ("off", ctypes.c_size_t),
        ("buf", _Buffer * 1),
    ]


@functools.cache
def _functions() -> tuple[typing.Any, typing.Any]:
    """Return libfuse's ``fuse_buf_copy`` and ``fuse_buf_size``, typed."""
    import mfusepy

    library = mfusepy._libfuse
    copy = library.fuse_buf_copy
    copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    copy.restype = ctypes.c_ssize_t
    size = library.fuse_buf_size
    size.argtypes = [ctypes.c_void_p]
    size.restype = ctypes.c_size_t
    return copy, size


def _address(vector: typing.Any) -> int | None:
    """Return the address a ``struct fuse_bufvec *`` from mfusepy points to."""
    address: int | None = ctypes.cast(vector, ctypes.c_void_p).value
    return address


def _vector(buffer: _Buffer) -> _OneBufferVector:
    """Return a buffer vector holding ``buffer`` alone."""
    return _OneBufferVector(1, 0, 0, (_Buffer * 1)(buffer))


def copy_to_descriptor(source: typing.Any, descriptor: int, offset: int) -> int:
    """Write the buffer vector ``source`` at ``offset`` of ``descriptor``; return the bytes written.

    Raises ``OSError`` with libfuse's errno on failure.
    """
    copy, size = _functions()
    length = size(_address(source))
    flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY
    target = _vector(_Buffer(length, flags, None, descriptor, offset))
    written: int = copy(ctypes.addressof(target), _address(source), 0)
    if written < 0:
        raise OSError(-written, f"write of {length} bytes at {offset} failed")
    return written


def gather(source: typing.Any) -> bytes:
    """Return the data of the buffer vector ``source`` as ``bytes``."""
    copy, size = _functions()
    length = size(_address(source))
    memory = ctypes.create_string_buffer(length)
    target = _vector(_Buffer(length, 0, ctypes.addressof(memory), -1, 0))
    copied: int = copy(ctypes.addressof(target), _address(source), 0)
    if copied < 0:
        raise OSError(-copied, f"reading {length} bytes of a request failed")
    return memory.raw[:copied]


@functools.cache
def _malloc() -> typing.Any:
    """Return the C library's ``malloc``, typed (libfuse frees what ``read_buf`` hands it)."""
    allocate = ctypes.CDLL(None).malloc
    allocate.argtypes = [ctypes.c_size_t]
    allocate.restype = ctypes.c_void_p
    return allocate


def _allocated(size: int) -> int:
    """Return ``size`` bytes from ``malloc`` (``MemoryError`` if it fails)."""
    address: int | None = _malloc()(max(size, 1))
    if not address:
        raise MemoryError(f"malloc of {size} bytes failed")
    return address


#: Bytes of a one-buffer vector (what :func:`_new_vector` allocates).
_VECTOR_SIZE = ctypes.sizeof(_OneBufferVector)

#: Flags of a buffer that names a descriptor and an offset.
_AT_DESCRIPTOR = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY


def _new_vector(target: typing.Any) -> _Buffer:
    """Point ``*target`` (a ``struct fuse_bufvec **``) at a new one-buffer vector.

    The vector is made in ``malloc``-ed memory (libfuse frees it), its
    header filled there; return its buffer, for the caller to fill in place.
    """
    address = _allocated(_VECTOR_SIZE)
    vector = _OneBufferVector.from_address(address)
    vector.count = 1
    vector.idx = 0
    vector.off = 0
    slot = _address(target)
    assert slot is not None
    ctypes.c_void_p.from_address(slot).value = address
    buffer: _Buffer = vector.buf[0]
    return buffer


def _hand_out(target: typing.Any, buffer: _Buffer) -> None:
    """Point ``*target`` (a ``struct fuse_bufvec **``) at a new vector holding ``buffer``."""
    ctypes.pointer(_new_vector(target))[0] = buffer


def hand_out_descriptor(target: typing.Any, descriptor: int, size: int, offset: int) -> None:
    """Answer a ``read_buf``: ``size`` bytes at ``offset`` of ``descriptor``, read by libfuse.

    The buffer is filled where libfuse finds it: no structure is built and
    copied over per ``READ``.
    """
    buffer = _new_vector(target)
    buffer.size = size
    buffer.flags = _AT_DESCRIPTOR
    buffer.mem = None
    buffer.fd = descriptor
    buffer.pos = offset


def hand_out_bytes(target: typing.Any, data: bytes) -> None:
    """Answer a ``read_buf`` with ``data`` (copied into memory libfuse frees)."""
    memory = _allocated(len(data))
    ctypes.memmove(memory, data, len(data))
    _hand_out(target, _Buffer(len(data), 0, memory, -1, 0))
