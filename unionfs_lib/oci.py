"""OCI / Docker image layers: open an image as an overlay, export changes as a layer.

An OCI image is a stack of layer tarballs applied in order; in each one a
file ``.wh.<name>`` deletes ``<name>`` of the layers beneath and
``.wh..wh..opq`` in a directory hides everything the layers beneath hold
there. That is :class:`~unionfs_lib.whiteout.MarkerWhiteouts`'s format, and
markers found in lower layers are honoured, so each layer tarball opened as a
``TarFS`` is a lower as it is (:func:`open_layers`, :func:`open_image`). Each
is wrapped in an :class:`~unionfs_lib.stores.marker_whiteouts.OCILayer`, so that it gets
OCI's semantics only: the files ``.wh.<name>`` and ``.wh..wh..opq`` are its
markers, and this library's own extensions (redirects, identity records,
generations), or a marker that is a directory, mean nothing there.

:func:`export_layer` (from :mod:`unionfs_lib.changesets.export`) goes the other way:
it writes the upper's changes as one layer tarball.

Difference from OCI: in a single layer holding both ``.wh.<dir>`` and a
directory ``<dir>``, OCI replaces the directory beneath; the overlay merges
them (that pair is a transient state of an interrupted rename for it). OCI
producers write ``<dir>/.wh..wh..opq`` instead, which both read alike.
"""

from __future__ import annotations

import json
import posixpath
import typing

import fs.errors
from fs.base import FS
from fs.tarfs import TarFS

from .changesets.export import export_layer
from .errors import literal
from .overlay import OverlayFS
from .stores.marker_whiteouts import OCILayer

LayerSource = typing.Union[str, FS, typing.BinaryIO]


def open_layers(
    layers: typing.Sequence[LayerSource], upper: FS | None = None, **options: typing.Any
) -> OverlayFS:
    """Build an overlay over OCI layer tarballs given bottom-first (manifest order).

    Each layer is a path or binary file of a ``.tar``/``.tar.gz`` layer (opened
    as a read-only ``TarFS``) or an FS already open. ``upper`` is the writable
    layer (``None`` for a read-only image view); ``options`` go to
    ``OverlayFS``. Each lower is an :class:`~unionfs_lib.stores.marker_whiteouts.OCILayer`:
    only OCI's markers count in it (``.wh.<name>`` and ``.wh..wh..opq`` files),
    none of this library's extensions. The overlay closes the layers when it
    closes.
    """
    lowers = [
        OCILayer(layer if isinstance(layer, FS) else TarFS(layer)) for layer in reversed(layers)
    ]
    return OverlayFS(upper, lowers, **options)


def image_layers(image: FS) -> list[str]:
    """Return the layer tarball paths of an image, bottom-first.

    ``image`` is an OCI image layout (``index.json`` and ``blobs/``) or the
    content of ``docker save`` (``manifest.json``), as a directory or an
    opened tar. The first image of the index is used.
    """
    try:
        if image.isfile("/index.json"):
            index = json.loads(image.readtext("/index.json"))
            manifest = json.loads(image.readtext(_blob(index["manifests"][0]["digest"])))
            return [_blob(layer["digest"]) for layer in manifest["layers"]]
        if image.isfile("/manifest.json"):
            manifest = json.loads(image.readtext("/manifest.json"))
            return ["/" + posixpath.normpath(path) for path in manifest[0]["Layers"]]
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise fs.errors.CreateFailed(msg=literal("malformed image manifest"), exc=error) from error
    raise fs.errors.CreateFailed(msg=literal("not an OCI image layout nor a docker save archive"))


def _blob(digest: str) -> str:
    """Return the layout path of a blob digest (``sha256:<hex>``)."""
    algorithm, _, value = digest.partition(":")
    if not algorithm.isalnum() or not value.isalnum():
        raise fs.errors.CreateFailed(msg=literal(f"malformed digest {digest!r}"))
    return f"/blobs/{algorithm}/{value}"


def open_image(image: FS, upper: FS | None = None, **options: typing.Any) -> OverlayFS:
    """Build an overlay over the layers of an OCI layout or ``docker save`` image.

    Layer tarballs are read straight out of ``image`` (which must stay open
    while the overlay is used).
    """
    layers = [TarFS(image.openbin(path, "r")) for path in image_layers(image)]
    return open_layers(layers, upper, **options)


__all__ = ["LayerSource", "export_layer", "image_layers", "open_image", "open_layers"]
