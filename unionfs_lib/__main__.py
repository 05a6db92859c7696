"""Command line: ``unionfs-lib COMMAND OVERLAY_URL ...`` (also ``python -m unionfs_lib``).

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

Every command but ``mount`` also takes the layers as a mount names them,
``-o lowerdir=A:B,upperdir=U,workdir=W`` in place of ``OVERLAY_URL`` (the
options of ``unionfs-lib-mount`` and ``mount -t overlay``, read by the same
parser and opened as the mount opens them: the kernel's on-disk format), so
the changes a mount wrote are reviewed and kept without building a URL::

    unionfs-lib diff -o lowerdir=/srv/app,upperdir=/tmp/up,workdir=/tmp/work
    unionfs-lib commit -o lowerdir=/srv/app,upperdir=/tmp/up,workdir=/tmp/work osfs:///srv/app

Opening the overlay creates nothing: a missing upper is an error (add
``create=1`` to an ``overlay://`` URL to create it), so ``diff``,
``describe`` and ``which`` only ever read. ``diff`` prints nothing when there
is no change, or ``no changes`` when its output is a terminal.
Long operations draw a progress bar on standard error when it is a terminal
(``--progress`` draws it anyway, ``--no-progress`` never). Errors are printed
and give exit status 1; a reader that stops early (``| head``) ends the
command quietly, with the status of a process killed by ``SIGPIPE`` (141).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing

import fs
import fs.errors
from fs.base import FS
from fs.opener.errors import OpenerError

from . import __version__
from .errors import literal
from .frontend_api import ProgressBar, error_text, layer_url, open_layer
from .overlay import OverlayFS

#: The program's name, in usage lines and ``--version`` (also under ``python -m``).
PROG = "unionfs-lib"
#: The exit status of a command whose reader closed the pipe (128 + ``SIGPIPE``).
BROKEN_PIPE_STATUS = 141
#: What ``--help`` says about the program (plain text: no markup).
DESCRIPTION = (
    "Review, keep or throw away what an overlay's upper layer changed, and inspect, "
    "copy, export or mount the overlay. OVERLAY_URL is an overlay:// URL as 'describe' "
    "prints it (anything fs.open_fs opens); every command but 'mount' also takes the "
    "layers as a mount names them: -o lowerdir=A:B,upperdir=U,workdir=W in place of "
    "OVERLAY_URL."
)
#: The help text of ``OVERLAY_URL``.
URL_HELP = "the overlay's URL (overlay://...); leave it out when -o names the layers"
#: The help text of ``-o`` on every command but ``mount``.
LAYERS_HELP = (
    "the layers as a mount names them, in place of OVERLAY_URL: lowerdir= the lower "
    "directories joined by ':', top-most first; upperdir= and workdir= as "
    "unionfs-lib-mount and mount -t overlay take them (the kernel's on-disk format)"
)

#: How each positional is filled: exactly one value, at most one, or any number.
ONE, OPTIONAL, MANY = "one", "optional", "many"
#: The positionals of each command, in order; the first is the overlay's URL.
POSITIONALS: dict[str, tuple[tuple[str, str, typing.Any], ...]] = {
    "describe": (("url", ONE, None),),
    "which": (("url", ONE, None), ("path", ONE, None)),
    "copy-up-tree": (("url", ONE, None), ("path", OPTIONAL, "/")),
    "squash": (("url", ONE, None), ("target", ONE, None)),
    "export": (("url", ONE, None), ("out", ONE, None)),
    "diff": (("url", ONE, None), ("path", OPTIONAL, "/")),
    "commit": (("url", ONE, None), ("target", ONE, None), ("paths", MANY, [])),
    "discard": (("url", ONE, None), ("paths", MANY, [])),
}


def _parser() -> argparse.ArgumentParser:
    """Build the argument parser (plain-text help: ``--help`` shows no markup)."""
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                        help="print the program's name and version, then exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     title="commands",
                                     help="the command to run (COMMAND --help says more)")
    describe = _command(commands, "describe", "print the overlay's JSON description")
    describe.add_argument("--fingerprints", default="tree", choices=("tree", "content", "none"),
                          help="how each lower's fingerprint is computed: from its tree of "
                               "names, sizes and times, from its content, or not at all "
                               "(default: tree)")
    _command(commands, "which", "print the layer backing a path: INDEX LAYER PATH_IN_LAYER",
             path="the overlay path to look up")
    copy = _command(commands, "copy-up-tree", "copy up everything under a path",
                    path="the overlay path whose tree is copied up (default: /)")
    squash = _command(commands, "squash", "write the merged view into an empty FS",
                      target="the URL (or directory) of the empty FS to write into")
    export = _command(commands, "export", "write the upper's changes as an OCI layer",
                      out="the tarball to write")
    export.add_argument("--gzip", action="store_true", help="compress the tarball with gzip")
    diff = _command(commands, "diff", "list the changes against the lowers",
                    path="list only the changes at and beneath this overlay path (default: /)")
    form = diff.add_mutually_exclusive_group()
    form.add_argument("--patch", action="store_true",
                      help="print a unified diff that git apply and patch -p1 take")
    form.add_argument("--json", action="store_true", help="print the changes as JSON")
    commit = _command(commands, "commit", "apply the changes to a target FS",
                      target="the URL (or directory) to apply the changes to, usually "
                             "the directory the lower reads",
                      paths="commit only the changes at and beneath these overlay paths "
                            "(default: all)")
    commit.add_argument("--discard", action="store_true",
                        help="then discard what was committed from the upper")
    _command(commands, "discard", "revert paths to the lowers' view",
             paths="the overlay paths to revert (default: everything)")
    _mount_command(commands)
    for sub in (copy, squash, export, commit):
        group = sub.add_mutually_exclusive_group()
        group.add_argument("--progress", action="store_true",
                           help="draw the progress bar even when standard error is no terminal")
        group.add_argument("--no-progress", action="store_true", help="never draw the bar")
    return parser


def _command(
    commands: typing.Any, name: str, summary: str, **helps: str
) -> argparse.ArgumentParser:
    """Add a command taking ``OVERLAY_URL`` (or ``-o``) and its :data:`POSITIONALS`.

    Every positional is declared optional to argparse: which value fills
    which positional depends on ``-o`` and is decided by :func:`_place`.
    """
    sub: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=summary[0].upper() + summary[1:] + "."
    )
    for key, kind, _ in POSITIONALS[name]:
        text = URL_HELP if key == "url" else helps[key]
        metavar = "OVERLAY_URL" if key == "url" else key.rstrip("s").upper()
        sub.add_argument(key, nargs="*" if kind == MANY else "?", metavar=metavar, help=text)
    sub.add_argument("-o", dest="layers", metavar="lowerdir=A:B,upperdir=U,workdir=W",
                     help=LAYERS_HELP)
    return sub


def _mount_command(commands: typing.Any) -> None:
    """Add the ``mount`` command."""
    mount = commands.add_parser("mount", help="mount the overlay with FUSE",
                                description="Mount the overlay with FUSE (daemonised unless -f).")
    mount.add_argument("url", metavar="OVERLAY_URL", help="the overlay's URL (overlay://...)")
    mount.add_argument("mountpoint", metavar="MOUNTPOINT", help="the directory to mount on")
    mount.add_argument("-f", dest="foreground", action="store_true", help="stay in the foreground")
    mount.add_argument("-d", dest="debug", action="store_true", help="print every FUSE request")
    mount.add_argument("-o", dest="options", action="append", default=[],
                       help="mount options: ro, allow_other, timeout=SECONDS, readahead=KIB, ...")


def _place(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Give each positional its value: the first is the URL, unless ``-o`` names the layers."""
    spec = POSITIONALS[args.command]
    given: list[str] = []
    for key, kind, _ in spec:
        value = getattr(args, key)
        given.extend(value if kind == MANY else [] if value is None else [value])
    slots = spec[1:] if args.layers is not None else spec
    if args.layers is not None:
        args.url = None
    for key, kind, default in slots:
        if kind == MANY:
            setattr(args, key, given)
            given = []
        elif given:
            setattr(args, key, given.pop(0))
        elif kind == OPTIONAL:
            setattr(args, key, default)
        else:
            metavar = "OVERLAY_URL (or -o lowerdir=...)" if key == "url" else key.upper()
            parser.error(f"{args.command}: the argument {metavar} is required")
    if given:
        parser.error(f"{args.command}: unrecognized arguments: {' '.join(given)}")


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


def open_overlay(args: argparse.Namespace) -> FS:
    """Open the overlay a command names: its URL, or the layers of ``-o`` as a mount opens them.

    ``-o`` is read by the mount's own parser
    (:func:`~unionfs_lib.mount.options.parse_options`) and opened by the
    mount's own :func:`~unionfs_lib.mount.daemon.open_request`; its
    ``upperdir=``, when given, must exist (nothing is created).
    """
    if args.layers is None:
        read_only = args.command in ("describe", "diff", "which")
        return fs.open_fs(args.url, writeable=not read_only)
    from .mount.daemon import open_request
    from .mount.options import UsageError, parse_options

    try:
        request = parse_options(args.layers, "overlay", os.curdir)
    except UsageError as error:
        raise ValueError(f"-o {args.layers}: {error}") from None
    return open_request(request)


def _run(args: argparse.Namespace) -> None:
    """Open the overlay and run one command."""
    if args.command == "mount":
        _mount(args)
        return
    with open_overlay(args) as opened:
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
                    print(f"copied up {entries(count)}")
                elif args.command == "commit":
                    _commit(overlay, args, bar)
                elif args.command == "squash":
                    with open_layer(args.target, writeable=True, create=True) as target:
                        overlay.squash(target, progress=bar)
                else:
                    compression: typing.Literal["", "gz"] = "gz" if args.gzip else ""
                    overlay.export_layer(args.out, compression=compression, progress=bar)
            finally:
                _finish(bar)


def entries(count: int) -> str:
    """Return ``"1 entry"`` or ``"N entries"``."""
    return f"{count} entry" if count == 1 else f"{count} entries"


def _diff(overlay: OverlayFS, args: argparse.Namespace) -> None:
    """Print the changes as lines, a unified diff, or JSON; say "no changes" to a terminal."""
    if args.patch:
        text = overlay.diff(args.path)
        sys.stdout.write(text)
        if not text and sys.stdout.isatty() and not overlay.changes(args.path):
            _no_changes()  # an empty patch may still hide metadata changes: not "no changes"
        return
    found = overlay.changes(args.path)
    if args.json:
        print(json.dumps([change.as_dict() for change in found], indent=2))
        return
    for change in found:
        print(change.line())
    if not found:
        _no_changes()


def _no_changes() -> None:
    """Say that there is nothing to show, when standard output is a terminal (never to a pipe)."""
    if sys.stdout.isatty():
        print("no changes")


def _commit(overlay: OverlayFS, args: argparse.Namespace, bar: ProgressBar | None) -> None:
    """Commit into the target URL, then discard what was committed if asked."""
    paths = args.paths or None
    with open_layer(args.target, writeable=True) as target:
        count = overlay.commit(target, paths, progress=bar)
    _finish(bar)
    if args.discard:
        overlay.discard(paths)
    print(f"committed {entries(count)}")


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
    """Run the command line; return the exit status (``argv`` may hold path objects).

    A reader that closes the pipe early (``unionfs-lib diff URL | head -1``)
    ends the command quietly with status 141, as a process killed by
    ``SIGPIPE`` (the recipe of Python's :mod:`signal` documentation: the
    rest of the output goes to ``os.devnull``).
    """
    parser = _parser()
    args = parser.parse_args(None if argv is None else [os.fspath(arg) for arg in argv])
    if args.command != "mount":
        _place(parser, args)
    try:
        _run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE_STATUS
    except (fs.errors.FSError, OpenerError, ValueError, OSError) as error:
        print(f"error: {error_text(error)}", file=sys.stderr)
        return 1
    return 0


def _silence_stdout() -> None:
    """Point standard output at ``os.devnull``, so the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor: nothing will be flushed to it
        pass


if __name__ == "__main__":
    sys.exit(main())
