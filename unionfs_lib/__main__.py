"""Command line: ``python -m unionfs_lib COMMAND OVERLAY_URL ...``.

Commands (``OVERLAY_URL`` is anything ``fs.open_fs`` opens, usually an
``overlay://`` URL as printed by ``describe``)::

    describe OVERLAY_URL [--fingerprints tree|content|none]   print the JSON description
    which OVERLAY_URL PATH                     print "INDEX LAYER_URL_OR_REPR LAYER_PATH"
    copy-up-tree OVERLAY_URL [PATH]            copy up everything under PATH, opaquify
    squash OVERLAY_URL TARGET_URL              write the merged view into an empty FS
    export OVERLAY_URL OUT.tar [--gzip]        write the upper's changes as an OCI layer
    diff OVERLAY_URL [PATH] [--patch|--json]   list changes: "A path", "M path", "D path",
                                               "R old -> new"; or a unified diff, or JSON
    commit OVERLAY_URL TARGET_URL [PATH...] [--discard]
                                               apply the changes to TARGET (then drop them)
    discard OVERLAY_URL [PATH...]              revert paths (or everything) to the lowers
    mount OVERLAY_URL MOUNTPOINT [-f] [-d] [-o OPTIONS]
                                               mount the overlay with FUSE (daemonised
                                               unless -f; see unionfs_lib.mount)

The same commands run as ``unionfs-lib COMMAND ...`` (the console script).
Opening the overlay creates nothing: a missing upper is an error (add
``create=1`` to an ``overlay://`` URL to create it), so ``diff``,
``describe`` and ``which`` only ever read.
Long operations draw a progress bar on standard error when it is a terminal
(``--progress`` draws it anyway, ``--no-progress`` never). Errors are printed
and give exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing

import fs
import fs.errors
from fs.opener.errors import OpenerError

from .errors import literal
from .layer_url import error_text, layer_url, open_layer
from .overlay import OverlayFS
from .progress import ProgressBar


def _parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m unionfs_lib", description=summary)
    commands = parser.add_subparsers(dest="command", required=True)
    describe = commands.add_parser("describe", help="print the overlay's JSON description")
    describe.add_argument("url")
    describe.add_argument("--fingerprints", default="tree", choices=("tree", "content", "none"))
    which = commands.add_parser("which", help="print the layer backing a path")
    which.add_argument("url")
    which.add_argument("path")
    copy = commands.add_parser("copy-up-tree", help="copy up everything under a path")
    copy.add_argument("url")
    copy.add_argument("path", nargs="?", default="/")
    squash = commands.add_parser("squash", help="write the merged view into an empty FS")
    squash.add_argument("url")
    squash.add_argument("target")
    export = commands.add_parser("export", help="write the upper's changes as an OCI layer")
    export.add_argument("url")
    export.add_argument("out")
    export.add_argument("--gzip", action="store_true")
    diff = commands.add_parser("diff", help="list the changes against the lowers")
    diff.add_argument("url")
    diff.add_argument("path", nargs="?", default="/")
    form = diff.add_mutually_exclusive_group()
    form.add_argument("--patch", action="store_true", help="print a unified diff")
    form.add_argument("--json", action="store_true", help="print the changes as JSON")
    commit = commands.add_parser("commit", help="apply the changes to a target FS")
    commit.add_argument("url")
    commit.add_argument("target")
    commit.add_argument("paths", nargs="*", metavar="path")
    commit.add_argument("--discard", action="store_true", help="discard what was committed")
    discard = commands.add_parser("discard", help="revert paths to the lowers' view")
    discard.add_argument("url")
    discard.add_argument("paths", nargs="*", metavar="path")
    mount = commands.add_parser("mount", help="mount the overlay with FUSE")
    mount.add_argument("url")
    mount.add_argument("mountpoint")
    mount.add_argument("-f", dest="foreground", action="store_true", help="stay in the foreground")
    mount.add_argument("-d", dest="debug", action="store_true", help="print every FUSE request")
    mount.add_argument("-o", dest="options", action="append", default=[],
                       help="mount options: ro, allow_other, timeout=SECONDS, readahead=KIB, ...")
    for sub in (copy, squash, export, commit):
        group = sub.add_mutually_exclusive_group()
        group.add_argument("--progress", action="store_true", help="always draw the bar")
        group.add_argument("--no-progress", action="store_true", help="never draw the bar")
    return parser


def _bar(args: argparse.Namespace) -> ProgressBar | None:
    """Return the progress bar the options ask for."""
    if args.no_progress:
        return None
    return ProgressBar(force=args.progress)


def _mount(args: argparse.Namespace) -> None:
    """Mount the overlay at ``args.url`` (see :mod:`unionfs_lib.mount`)."""
    import attrs

    from .mount.daemon import MountError, check_mountpoint, run_request
    from .mount.options import UsageError, parse_options

    try:
        request = parse_options(",".join(args.options), args.url, args.mountpoint, layers=False)
        request = attrs.evolve(request, foreground=args.foreground, debug=args.debug)
        check_mountpoint(request.mountpoint)
    except (UsageError, MountError) as error:
        raise ValueError(str(error)) from None
    overlay = fs.open_fs(args.url, writeable=not request.read_only)
    if not isinstance(overlay, OverlayFS):
        overlay.close()
        raise fs.errors.CreateFailed(msg=literal(f"{args.url!r} is not an overlay"))
    try:
        run_request(request, overlay)
    except MountError as error:
        overlay.close()
        raise ValueError(str(error)) from None


def _run(args: argparse.Namespace) -> None:
    """Open the overlay and run one command."""
    if args.command == "mount":
        _mount(args)
        return
    read_only = args.command in ("describe", "diff", "which")
    with fs.open_fs(args.url, writeable=not read_only) as opened:
        if not isinstance(opened, OverlayFS):
            raise fs.errors.CreateFailed(msg=literal(f"{args.url!r} is not an overlay"))
        overlay = opened
        if args.command == "describe":
            print(json.dumps(overlay.describe(fingerprints=args.fingerprints), indent=2))
        elif args.command == "which":
            index, layer, path = overlay.which(args.path)
            print(index, _layer_name(layer), path)
        elif args.command == "diff":
            _diff(overlay, args)
        elif args.command == "discard":
            overlay.discard(args.paths or None)
        else:
            bar = _bar(args)
            try:
                if args.command == "copy-up-tree":
                    count = overlay.copy_up_tree(args.path, progress=bar)
                    _finish(bar)  # end the bar's line before the summary
                    print(f"copied up {count} entries")
                elif args.command == "commit":
                    _commit(overlay, args, bar)
                elif args.command == "squash":
                    with open_layer(args.target, writeable=True, create=True) as target:
                        overlay.squash(target, progress=bar)
                else:
                    compression = "gz" if args.gzip else ""
                    overlay.export_layer(args.out, compression=compression, progress=bar)
            finally:
                _finish(bar)


def _diff(overlay: OverlayFS, args: argparse.Namespace) -> None:
    """Print the changes as lines, a unified diff, or JSON."""
    if args.patch:
        sys.stdout.write(overlay.diff(args.path))
        return
    found = overlay.changes(args.path)
    if args.json:
        print(json.dumps([change.as_dict() for change in found], indent=2))
        return
    for change in found:
        print(change.line())


def _commit(overlay: OverlayFS, args: argparse.Namespace, bar: ProgressBar | None) -> None:
    """Commit into the target URL, then discard what was committed if asked."""
    paths = args.paths or None
    with open_layer(args.target, writeable=True) as target:
        count = overlay.commit(target, paths, progress=bar)
    _finish(bar)
    if args.discard:
        overlay.discard(paths)
    print(f"committed {count} entries")


def _finish(bar: ProgressBar | None) -> None:
    """End the bar's line, if one was drawn."""
    if bar is not None:
        bar.finish()


def _layer_name(layer: typing.Any) -> str:
    """Return a layer's URL when it has one, else its repr."""
    try:
        return layer_url(layer)
    except fs.errors.FSError:
        return repr(layer)


def main(argv: typing.Sequence[str | os.PathLike[str]] | None = None) -> int:
    """Run the command line; return the exit status (``argv`` may hold path objects)."""
    args = _parser().parse_args(None if argv is None else [os.fspath(arg) for arg in argv])
    try:
        _run(args)
    except (fs.errors.FSError, OpenerError, ValueError, OSError) as error:
        print(f"error: {error_text(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
