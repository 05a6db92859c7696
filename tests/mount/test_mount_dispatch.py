"""How the daemon's FUSE layer answers a request: the result, the errno, mfusepy's way for the rest.

The layer between libfuse's callbacks and :class:`OverlayOperations`
(``daemon._fuse_class``) answers the common outcomes itself (a result, an
``OSError`` with an errno) and hands every other one to mfusepy's own
``_wrapper``, which logs it and answers ``EINVAL`` (or stops the loop).
Nothing is mounted here: the layer is called as libfuse's callback calls it.
"""

from __future__ import annotations

import collections
import errno
import logging
import typing

import mfusepy
import pytest

from unionfs_lib.mount import daemon


class Operations:
    """A stand-in for the operations: counts requests, records ``names_changed``."""

    def __init__(self) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        self.changed: list[str | None] = []

    def names_changed(self, path: str | None = None) -> None:
        self.changed.append(path)


@pytest.fixture
def layer(monkeypatch: pytest.MonkeyPatch) -> typing.Any:
    """The daemon's FUSE object, unmounted, over :class:`Operations`; mfusepy's calls counted."""
    cls = daemon._fuse_class()
    fuse = object.__new__(cls)
    fuse.operations = Operations()
    fuse.encoding, fuse.errors, fuse.raw_fi = "utf-8", "surrogateescape", False
    fuse.mfusepy_calls = []
    real = mfusepy.FUSE._wrapper

    def counted(self: typing.Any, func: typing.Any, *args: typing.Any, **kwargs: typing.Any) -> int:
        fuse.mfusepy_calls.append(func.__name__)
        result: int = real(self, func, *args, **kwargs)
        return result

    monkeypatch.setattr(mfusepy.FUSE, "_wrapper", counted)
    monkeypatch.setattr(mfusepy, "fuse_exit", lambda: None)
    return fuse


def handler(name: str, outcome: typing.Any) -> typing.Callable[..., typing.Any]:
    """Return a handler called ``name`` that returns ``outcome``, or raises it."""

    def answer(*args: typing.Any) -> typing.Any:
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    answer.__name__ = name
    return answer


def test_results_and_errnos_are_answered_without_mfusepy(layer: typing.Any) -> None:
    assert layer._wrapper(handler("getattr_fuse_3", None), b"/f") == 0
    assert layer._wrapper(handler("write_buf", 5), b"/f") == 5
    missing = OSError(errno.ENOENT, "no such entry")
    assert layer._wrapper(handler("getattr_fuse_3", missing), b"/f") == -errno.ENOENT
    no_data = OSError(errno.ENODATA, "no attribute")
    assert layer._wrapper(handler("getxattr", no_data), b"/f", b"user.x") == -errno.ENODATA
    assert layer.mfusepy_calls == []
    assert layer.operations.requests == {"getattr_fuse_3": 2, "write_buf": 1, "getxattr": 1}


def test_other_failures_take_mfusepy_s_way(
    layer: typing.Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="fuse"):
        assert layer._wrapper(handler("read", ValueError("a bug")), b"/f") == -errno.EINVAL
    assert "Uncaught exception from FUSE operation read" in caplog.text
    assert layer._wrapper(handler("read", OSError(-3, "odd"))) == -errno.EINVAL
    assert layer._wrapper(handler("read", OSError("no errno"))) == -errno.EINVAL
    assert layer._wrapper(handler("read", KeyboardInterrupt())) == -errno.EFAULT  # loop stopped
    assert layer._wrapper(handler("init", OSError(errno.EIO, "init fails"))) == -errno.EFAULT
    assert layer.mfusepy_calls == ["read"] * 4 + ["init"]


def test_errnos_are_logged_by_mfusepy_when_its_debug_log_is_on(
    layer: typing.Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="fuse"):
        missing = OSError(errno.ENOENT, "no such entry")
        assert layer._wrapper(handler("getattr_fuse_3", missing), b"/f") == -errno.ENOENT
    assert layer.mfusepy_calls == ["getattr_fuse_3"]
    assert "returning errno 2" in caplog.text


def test_kept_answers_are_dropped_around_name_changes(layer: typing.Any) -> None:
    layer._wrapper(handler("unlink", None), b"/d/f")
    assert layer.operations.changed == ["/d/f", "/d/f"]
    layer.operations.changed.clear()
    layer._wrapper(handler("rename_fuse_3", None), b"/d/f", b"/d/g", 0)
    assert layer.operations.changed == [None, None]
    layer.operations.changed.clear()
    # create describes the name it adds itself: dropped before, not after
    layer._wrapper(handler("create", None), b"/d/new", 0o644, None)
    assert layer.operations.changed == ["/d/new"]
    layer.operations.changed.clear()
    assert layer._wrapper(handler("mkdir", AssertionError()), b"/d/dir", 0o755) == -errno.EINVAL
    assert layer.operations.changed == ["/d/dir", "/d/dir"]
