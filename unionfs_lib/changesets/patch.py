r"""Unified diffs of an overlay's changes, in the form ``git apply`` and ``patch -p1`` take.

:func:`unified_diff` turns the file changes of :func:`~unionfs_lib.changesets.changes.changes`
into one patch against the lowers' view: ``a/...`` is what the lowers show,
``b/...`` the merged view, ``/dev/null`` the side where a file does not
exist. A deleted directory, or one replaced by a file, contributes the
deletion of each file beneath it, as ``git diff`` would show it. Files that
are not UTF-8 text (or hold a NUL byte) are named with ``Binary files ...
differ`` and not dumped. Directories themselves, and empty directories,
have no place in a unified diff.

Symbolic links are diffed as ``git`` diffs them: mode ``120000``, the stored
target as the content, without a final newline. A link is never followed,
whatever it points to, so nothing outside the layers is ever read. A link
that replaced a file (or the reverse) is the deletion of one and the
creation of the other; an entry that replaced a directory comes after the
deletions beneath it, so ``patch`` meets no directory in its way.

File names are quoted as ``git`` quotes them (``core.quotePath``, its
default): a name holding a control character (a newline, a tab, ...), ``"``,
``\`` or a byte outside ASCII is written in double quotes with C escapes
(``"a/new\nline"``), in every header line, so no name can end a header
line early and inject lines of its own. A ``---``/``+++`` label holding a
space ends with a tab, as ``git`` writes it for ``patch``. One addition to
``git``'s rule: a name ending with a space is quoted too, since GNU ``patch``
strips trailing blanks from a name it reads unquoted (``git apply`` reads
either form).

Everything is read under the overlay's lock, so the patch is one consistent
snapshot even while other threads write.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import typing

import attrs
from fs.base import FS

from ..host.confine import read_inside
from ..model.paths import components
from ..model.records import UPPER, Node
from ..ops.special_files import special_stat
from ..ops.superblock import OverlaySuper, overlay_super
from ..resolve.name_probe import NameProbe
from .changes import ADDED, DELETED, MODIFIED, Change, changes, node_link, walk_entries

DEV_NULL = "/dev/null"

#: How a diff's comment line names each kind of special file.
_SPECIAL_KINDS = {
    stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
}

#: The modes ``git`` gives a regular file, an executable one and a symbolic link.
REGULAR, EXECUTABLE, SYMLINK = "100644", "100755", "120000"

#: The C escapes ``git`` quotes these bytes with (any other control byte, and
#: any byte outside ASCII, is an octal escape).
_ESCAPES = {
    0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f",
    0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\",
}
#: A byte that makes ``git`` quote a name: a control byte, a quote, a backslash, non-ASCII.
_QUOTED_BYTE = re.compile(rb'[\x00-\x1f"\\\x7f-\xff]')


@attrs.frozen
class FilePair:
    """One file of the patch: its path, its bytes before and after (``None``: absent), its modes.

    A symbolic link is a "file" of mode :data:`SYMLINK` whose bytes are its
    target. ``after_children`` marks an entry that replaced a directory: its
    section comes after the deletions beneath it.
    """

    path: str
    old: bytes | None
    new: bytes | None
    old_mode: str = REGULAR
    new_mode: str = REGULAR
    after_children: bool = False


def unified_diff(overlay: FS, path: str = "/", *, context: int = 3) -> str:
    """Return the unified diff of the text files and links changed at and beneath ``path``.

    Special files (FIFOs, sockets, device nodes), which ``git`` does not
    hold, are never read: each is named on a comment line at the top
    (``# special file not diffed (fifo): name``), which ``git apply`` and
    ``patch`` pass over.
    """
    notes: dict[str, str] = {}
    with overlay_super(overlay).lock:
        pairs = file_pairs(overlay, changes(overlay, path, detailed=True), notes)
    lines = [f"# special file not diffed ({kind}): {quote_name('', name.lstrip('/'))}\n"
             for name, kind in sorted(notes.items())]
    return "".join(lines) + "".join(render(pair, context) for pair in pairs)


def file_pairs(
    overlay: FS, found: typing.Iterable[Change], notes: dict[str, str] | None = None
) -> list[FilePair]:
    """Turn changes into the file pairs of a patch (the caller holds the lock).

    Special files are left out; ``notes`` (when given) gets their paths and
    kinds.
    """
    sb = overlay_super(overlay)
    probe = NameProbe(sb.resolver)
    skipped: dict[str, str] = {} if notes is None else notes
    pairs: dict[str, FilePair] = {}
    for change in found:
        merged = None if change.kind == DELETED else probe.lookup(change.path, UPPER)
        kind = None if merged is None else special_kind(sb, merged)
        if kind is not None:
            skipped[change.path] = kind
            new, new_mode = None, REGULAR
        else:
            new, new_mode = _new_side(overlay, change)
        old_node = None if change.kind == ADDED else probe.lookup(change.path, 1)
        old_link = None if old_node is None else node_link(sb, old_node)
        old_is_dir = old_node is not None and old_node.is_dir and old_link is None
        if change.kind == MODIFIED and change.is_dir and old_is_dir:
            continue  # a directory's own mode changed: its files are changes of their own
        for old_path, old, old_mode in _old_files(sb, probe, old_node, old_link, skipped):
            pairs[old_path] = FilePair(old_path, old, None, old_mode)
        if new is not None:
            before = pairs.get(change.path)
            pairs[change.path] = FilePair(
                change.path,
                before.old if before else None,
                new,
                before.old_mode if before else REGULAR,
                new_mode,
                old_is_dir,
            )
    return sorted(pairs.values(), key=_order)


def special_kind(sb: OverlaySuper, node: Node) -> str | None:
    """Return what special file ``node`` is in the layer holding it, ``None`` for the rest."""
    top = node.top
    found = special_stat(sb.layer(top.layer), top.path)
    if found is None:
        return None
    return _SPECIAL_KINDS[stat.S_IFMT(found.st_mode)]


def _order(pair: FilePair) -> tuple[tuple[int, str], ...]:
    """Sort by path components; an entry that replaced a directory after all beneath it."""
    key = tuple((0, name) for name in components(pair.path))
    return (*key, (1, "")) if pair.after_children else key


def _new_side(overlay: FS, change: Change) -> tuple[bytes | None, str]:
    """Return the merged view's bytes and mode of a change (``None``: no file there now)."""
    if change.kind == DELETED:
        return None, REGULAR
    if change.link_target is not None:
        return os.fsencode(change.link_target), SYMLINK
    if change.is_dir:
        return None, REGULAR
    mode = EXECUTABLE if _executable(overlay, change.path) else REGULAR
    return overlay.readbytes(change.path), mode


def _old_files(
    sb: OverlaySuper,
    probe: NameProbe,
    node: Node | None,
    link: str | None,
    skipped: dict[str, str],
) -> typing.Iterator[tuple[str, bytes, str]]:
    """Yield ``(path, bytes, mode)`` of the lower entry ``node``, or of every one beneath it.

    ``link`` is the target of ``node`` if it is a symbolic link. Links are
    yielded with their targets, never followed nor entered. Special files
    are never read: they go to ``skipped`` instead.
    """
    if node is None:
        return
    if link is not None:
        yield node.path, os.fsencode(link), SYMLINK
        return
    if not node.is_dir:
        found_kind = special_kind(sb, node)
        if found_kind is None:
            yield node.path, _lower_bytes(sb, node), REGULAR
        else:
            skipped[node.path] = found_kind
        return
    for found, found_link in walk_entries(sb, probe, node, 1):
        if found_link is not None:
            yield found.path, os.fsencode(found_link), SYMLINK
        elif not found.is_dir:
            yield from _old_files(sb, probe, found, None, skipped)


def _lower_bytes(sb: OverlaySuper, node: Node) -> bytes:
    """Read the lower file ``node`` (reached through its parent's listing; no link)."""
    top = node.top
    return read_inside(sb.layer(top.layer), top.path, True)


def _executable(overlay: FS, path: str) -> bool:
    """Tell whether the merged file at ``path`` has an execute bit."""
    info = overlay.getinfo(path, namespaces=["access"])
    if not info.has_namespace("access") or info.permissions is None:
        return False
    return bool(info.permissions.mode & 0o111)


def quote_name(prefix: str, path: str) -> str:
    r"""Return ``prefix + path`` as ``git`` writes a file name in a patch (``quote_c_style``).

    A name of printable ASCII without ``"`` nor ``\`` is written as it is.
    Any other is put in double quotes, its bytes (as the OS holds them)
    escaped: ``\a \b \t \n \v \f \r \" \\`` for those, a three-digit
    octal escape for the other control bytes and every byte outside ASCII.
    A name ending with a space is quoted as well (for GNU ``patch``).
    """
    name = prefix + path
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate no OS name holds (a MemoryFS may)
        raw = name.encode("utf-8", "surrogatepass")
    if not name.endswith(" ") and _QUOTED_BYTE.search(raw) is None:
        return name
    quoted = (_quote_byte(byte) for byte in raw)
    return '"' + "".join(quoted) + '"'


def _quote_byte(byte: int) -> str:
    """One byte of a quoted name."""
    if byte in _ESCAPES:
        return _ESCAPES[byte]
    if byte < 0x20 or byte >= 0x7F:
        return f"\\{byte:03o}"
    return chr(byte)


def _label(line: str, name: str) -> str:
    """Return a ``---``/``+++`` line: a name with a space ends with a tab, for ``patch``."""
    return f"{line} {name}\t\n" if " " in name else f"{line} {name}\n"


def as_text(data: bytes | None) -> str | None:
    """Decode file bytes as text, or return ``None`` for binary data."""
    if data is None:
        return ""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def split_lines(text: str) -> list[str]:
    r"""Split text at ``\n`` only, keeping the line ends (the last line may lack one)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def render(pair: FilePair, context: int = 3) -> str:
    """Return the ``diff --git`` section(s) of one file pair."""
    if pair.old is not None and pair.new is not None:
        if (pair.old_mode == SYMLINK) != (pair.new_mode == SYMLINK):
            # A type change: git shows the deletion of one and the creation of the other.
            gone = FilePair(pair.path, pair.old, None, pair.old_mode, pair.old_mode)
            made = FilePair(pair.path, None, pair.new, pair.new_mode, pair.new_mode)
            return render(gone, context) + render(made, context)
        if pair.old == pair.new:
            return ""  # metadata only: a unified diff cannot say it
    name = pair.path.lstrip("/")
    old_name, new_name = quote_name("a/", name), quote_name("b/", name)
    old_label = DEV_NULL if pair.old is None else old_name
    new_label = DEV_NULL if pair.new is None else new_name
    head = [f"diff --git {old_name} {new_name}\n"]
    if pair.old is None:
        head.append(f"new file mode {pair.new_mode}\n")
    elif pair.new is None:
        head.append(f"deleted file mode {pair.old_mode}\n")
    old_text, new_text = as_text(pair.old), as_text(pair.new)
    if old_text is None or new_text is None:
        head.append(f"Binary files {old_label} and {new_label} differ\n")
        return "".join(head)
    hunks = list(
        difflib.unified_diff(split_lines(old_text), split_lines(new_text), n=context)
    )[2:]  # difflib's own ---/+++ lines: ours quote the names
    if not hunks:
        return "".join(head)
    head.append(_label("---", old_label))
    head.append(_label("+++", new_label))
    return "".join(head) + "".join(_mark_missing_newline(line) for line in hunks)


def _mark_missing_newline(line: str) -> str:
    r"""Add the ``\ No newline at end of file`` marker after a last line without one."""
    if line.endswith("\n"):
        return line
    return line + "\n\\ No newline at end of file\n"
