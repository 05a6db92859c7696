"""A victim directory outside every layer, and a check that nothing touched it.

:class:`Victim` fills a directory with files, a nested directory, a private
file and a link, snapshots everything an attacker could change (names, kinds,
bytes, link targets, permission bits, sizes and modification times), and
:meth:`Victim.assert_unchanged` compares the directory with that snapshot.
The snapshot never follows a link and opens nothing but regular files.
"""

from __future__ import annotations

import os
import stat
import typing

import attrs

#: Relative path -> (kind, mode bits, size, mtime_ns, bytes or link target).
Snapshot = dict[str, tuple[str, int, int, int, typing.Union[bytes, str, None]]]


def snapshot(root: str) -> Snapshot:
    """Record every entry below ``root`` (``root`` itself included) without following links."""
    found: Snapshot = {}
    pending = [""]
    while pending:
        rel = pending.pop()
        path = os.path.join(root, rel) if rel else root
        st = os.lstat(path)
        data: bytes | str | None = None
        if stat.S_ISLNK(st.st_mode):
            kind, data = "link", os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            kind = "dir"
            pending.extend(os.path.join(rel, name) for name in sorted(os.listdir(path)))
        elif stat.S_ISREG(st.st_mode):
            kind = "file"
            with open(path, "rb") as handle:
                data = handle.read()
        else:
            kind = "special"
        mtime = 0 if kind == "dir" else st.st_mtime_ns
        found["/" + rel] = (kind, stat.S_IMODE(st.st_mode), st.st_size if kind == "file" else 0,
                            mtime, data)
    return found


@attrs.define
class Victim:
    """A directory outside every layer that an attacker must not read, change or delete.

    Attributes:
        path: the directory's OS path.
        secret: the bytes of ``secret.txt``, a file only its owner may read.

    """

    path: str
    secret: bytes = b"the victim's secret\n"
    before: Snapshot = attrs.field(factory=dict)

    def populate(self) -> Victim:
        """Fill the directory and take the snapshot."""
        os.makedirs(os.path.join(self.path, "sub", "deeper"), exist_ok=True)
        files = {
            "keep.txt": b"keep me\n",
            "main.c": b"int main(void) { return 0; }\n",
            "sub/inner.txt": b"inner\n",
            "sub/deeper/leaf.bin": bytes(range(256)),
        }
        for rel, data in files.items():
            with open(os.path.join(self.path, rel), "wb") as handle:
                handle.write(data)
        secret = os.path.join(self.path, "secret.txt")
        with open(secret, "wb") as handle:
            handle.write(self.secret)
        os.chmod(secret, 0o600)
        os.symlink("keep.txt", os.path.join(self.path, "alias"))
        self.before = snapshot(self.path)
        return self

    def join(self, *names: str) -> str:
        """Return the OS path of ``names`` inside the victim."""
        return os.path.join(self.path, *names)

    def assert_unchanged(self) -> None:
        """Fail if anything in the victim directory differs from the snapshot."""
        after = snapshot(self.path)
        missing = sorted(set(self.before) - set(after))
        added = sorted(set(after) - set(self.before))
        changed = sorted(p for p in set(self.before) & set(after) if self.before[p] != after[p])
        assert not (missing or added or changed), (
            f"victim {self.path} touched: missing={missing} added={added} changed={changed}"
        )
