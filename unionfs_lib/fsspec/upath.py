"""``OverlayPath``: an overlay through `universal_pathlib`_'s ``UPath``.

Registered with universal_pathlib under the protocol ``"overlay"`` (the
``universal_pathlib.implementations`` entry point), so that::

    UPath("overlay://data/x.csv", upper=U, lowers=[L1, L2])

is an :class:`OverlayPath`: a :class:`pathlib.Path`-like object whose every
call goes through :class:`~unionfs_lib.fsspec.filesystem.OverlayFileSystem`
(``read_text``, ``write_bytes``, ``iterdir``, ``glob``, ``rename``,
``unlink``, ``mkdir`` ...). The storage options are those of
``fsspec.filesystem("overlay", ...)``: ``upper=``, ``lowers=``, ``overlay=``
and ``overlay_options=``. Paths are absolute and ``/``-separated;
``overlay://data/x.csv`` and ``overlay:///data/x.csv`` are one path, and the
first is how it prints. Needs the ``upath`` extra
(``pip install "unionfs-lib[upath]"``).

.. _universal_pathlib: https://github.com/fsspec/universal_pathlib
"""

from __future__ import annotations

import warnings

from fsspec.registry import register_implementation, registry
from upath import UPath
from upath._stat import UPathStatResult
from upath.types import StatResultType

from .filesystem import OverlayFileSystem

__all__ = ["OverlayPath"]

_PREFIX = "overlay://"

# universal_pathlib parses paths with the fsspec class of the protocol once
# fsspec has imported it, and warns when it has not; import it here, where
# universal_pathlib loads this module, even where the ``fsspec.specs`` entry
# point was not installed (a checkout on ``sys.path``).
if OverlayFileSystem.protocol not in registry:
    register_implementation(OverlayFileSystem.protocol, OverlayFileSystem)


class OverlayPath(UPath):
    """A ``UPath`` into an overlay (protocol ``overlay``).

    Example:
        >>> import fsspec
        >>> from upath import UPath
        >>> fsspec.filesystem("memory").pipe("/upath/base/a.txt", b"lower")
        >>> root = UPath("overlay://", upper="memory:///upath/top",
        ...              lowers=["memory:///upath/base"])
        >>> (root / "a.txt").read_text()
        'lower'
        >>> _ = (root / "b.txt").write_text("upper")
        >>> sorted(path.name for path in root.iterdir())
        ['a.txt', 'b.txt']
        >>> str(root / "b.txt")
        'overlay://b.txt'
    """

    __slots__ = ()

    @property
    def path(self) -> str:
        """Return the path the overlay filesystem takes: absolute, ``/`` for the root."""
        path = super().path
        return "/" if path in {"", "."} else path

    def is_absolute(self) -> bool:
        """Tell whether the path is absolute (the root of the overlay is)."""
        if self._relative_base is None and self.__vfspath__() == "/":
            return True
        return super().is_absolute()

    def stat(self, *, follow_symlinks: bool = True) -> StatResultType:
        """Return the overlay's info of the path as an ``os.stat_result`` look-alike.

        A time the overlay does not keep (the root's, for one) is left out of
        the info rather than given as ``None``, so the result reads it as 0
        instead of warning; ``follow_symlinks`` is ignored (with a warning),
        as for every ``UPath``.
        """
        if not follow_symlinks:
            warnings.warn(
                f"{type(self).__name__}.stat(follow_symlinks=False): is currently ignored.",
                UserWarning,
                stacklevel=2,
            )
        info = self.fs.info(self.path)
        return UPathStatResult.from_info(
            {key: value for key, value in info.items() if value is not None}
        )

    def __str__(self) -> str:
        """Return the URL, ``overlay://`` followed by the path without its leading ``/``."""
        text = super().__str__()
        if text.startswith(_PREFIX + "/"):
            return _PREFIX + text[len(_PREFIX) + 1 :]
        return text
