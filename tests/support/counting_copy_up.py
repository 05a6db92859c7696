"""A copy-up engine that counts its copy-ups (thread tests)."""

from __future__ import annotations

import collections
import typing

import attrs

from unionfs_lib.ops.copy_up_engine import CopyUpEngine


@attrs.frozen
class CountingCopyUp(CopyUpEngine):
    """A copy-up engine that counts completed data and metadata copy-ups per lower entry."""

    data: collections.Counter = attrs.field(factory=collections.Counter, eq=False)
    metadata: collections.Counter = attrs.field(factory=collections.Counter, eq=False)

    def copy_up(self, sb: typing.Any, node: typing.Any, dest: str | None = None,
                length: int | None = None) -> None:
        """Copy up, then count (a failed copy-up does not count)."""
        source = getattr(node, "data_ref", node.top)
        super().copy_up(sb, node, dest, length)
        self.data[(source.layer, source.path)] += 1

    def copy_up_metadata(self, sb: typing.Any, node: typing.Any) -> None:
        """Copy up the metadata, then count."""
        super().copy_up_metadata(sb, node)  # type: ignore[misc]
        self.metadata[(node.top.layer, node.top.path)] += 1
