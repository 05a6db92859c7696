"""Checking the overlay's lookup caches against a fresh reading of the layers.

:func:`check_caches` compares every cached upper listing, flag pair and
merged table of an overlay with what the layers hold now; :func:`warm`
fills the caches first. Used by the property tests of the in-place cache
upkeep (``tests/core/test_incremental.py``) and the create tests
(``tests/core/test_create_cache.py``).
"""

from __future__ import annotations

import shutil
import tempfile
import typing

from unionfs_lib import OverlayFS
from unionfs_lib.errors import KernelFormatUnsupported
from unionfs_lib.resolve.merging import merge_listings
from unionfs_lib.resolve.resolver import UPPER, Resolver
from unionfs_lib.stores.kernel_whiteouts import KernelWhiteouts


def warm(overlay: OverlayFS) -> None:
    """Fill the caches: list every directory and look up every entry."""
    for path in overlay.walk.dirs("/"):
        for name in overlay.listdir(path):
            overlay.exists(path.rstrip("/") + "/" + name)
    overlay.listdir("/")


def check_caches(overlay: OverlayFS) -> None:
    """Compare every cached upper listing and merged table with a fresh reading."""
    resolver = overlay._sb.resolver
    store = overlay._sb.store
    layers = resolver.layers
    upper = layers[UPPER]
    assert upper is not None
    fresh = Resolver(layers, store, record_layers=resolver.record_layers)
    for (layer, path), (listing, _) in list(resolver._listings._items.items()):
        if layer != UPPER:
            continue
        expected = store.read_dir(upper, path, with_info=False)
        # Types too: a link's type is its target's now, not when it was listed.
        assert listing.entries == expected.entries, path
        assert set(listing.whiteouts) == set(expected.whiteouts), path
        assert listing.records == expected.records, path
        assert (listing.opaque, listing.redirect) == (expected.opaque, expected.redirect), path
    for (layer, path), (flags, _) in list(resolver._flags._items.items()):
        if layer == UPPER:
            expected = store.read_dir(upper, path, with_info=False)
            assert flags == (expected.opaque, expected.redirect), path
    for (scope, path), (merged, weight) in list(resolver._dirs._items.items()):
        assert node_key(fresh.dir_node(path, scope)) == node_key(merged.node), (scope, path)
        if merged.children is None:
            continue
        again = merge_listings(
            (ref, store.read_dir(_layer(layers, ref.layer), ref.path, ref.layer != UPPER))
            for ref in merged.node.refs
        )
        assert sorted(merged.children) == sorted(again), (scope, path)
        for name, candidate in again.items():
            cached = merged.children[name]
            assert (cached.is_dir, cached.refs) == (candidate.is_dir, candidate.refs), name
            assert stable(cached.info) == stable(candidate.info), name
        if merged.names is not None:
            assert merged.names == sorted(again), (scope, path)
        assert weight == 1 + len(merged.children)
    for path in overlay.walk.dirs("/"):
        node = fresh.dir_node(path)
        assert node is not None
        names = fresh.names(node)
        assert overlay.listdir(path) == names, path
        for name in names:  # each type (a link's: its target's now) as a fresh overlay sees it
            child = path.rstrip("/") + "/" + name
            found = fresh.lookup(child)
            assert found is not None, child
            assert overlay.isdir(child) == found.is_dir, child


def _layer(layers: typing.Sequence[typing.Any], index: int) -> typing.Any:
    found = layers[index]
    assert found is not None
    return found


def stable(info: typing.Any) -> object:
    """The parts of a cached lower ``Info`` that reading the file does not change."""
    if info is None:
        return None
    return info.raw["basic"], info.size, info.modified


def node_key(node: typing.Any) -> object:
    """A node's fields, its lower ``Info`` reduced to :func:`_stable` parts."""
    if node is None:
        return None
    return node.path, node.is_dir, node.refs, node.lower_view, stable(node.info), node.record


def kernel_format_refusal() -> str | None:
    """Tell why this machine cannot hold the kernel format, or ``None`` if it can."""
    scratch = tempfile.mkdtemp()
    try:
        KernelWhiteouts().probe(scratch)
    except KernelFormatUnsupported as error:
        return str(error)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return None
