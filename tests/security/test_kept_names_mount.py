"""A name the mount keeps a quick answer for never leads a change of metadata out of the upper.

The daemon keeps, per name it described, the upper file that answers it
(its ``getattr`` quick answer), and sends ``chmod``, ``chown``, ``utimens``
and ``getxattr`` of that name straight to that file. The attacker is code
inside the sandbox: through calls on the served overlay (without
``forget``) it replaces such a file with a symbolic link to the victim's
files; the kernel, whose caches still hold the old file, then sends the
name's changes of mode, owner and times to the daemon (called here as
libfuse calls it: a process on the mount would follow the link itself).
Nothing may follow the link: the victim stays as it was, owner included.
"""

from __future__ import annotations

import os

import pytest

from unionfs_lib.mount.operations import OverlayOperations
from unionfs_lib.overlay import OverlayFS

from ..support.victim import Victim

NOBODY = 65534


@pytest.mark.parametrize("target_name", ["keep.txt", "sub"])
def test_a_link_laid_under_a_kept_name_is_never_followed(tmp_path, victim: Victim, target_name):
    upper, work, lower = (tmp_path / name for name in ("upper", "work", "lower"))
    for path in (upper, work, lower):
        path.mkdir()
    overlay = OverlayFS.from_dirs([str(lower)], str(upper), str(work))
    operations = OverlayOperations(overlay)
    target = victim.join(target_name)
    owner = os.lstat(target).st_uid, os.lstat(target).st_gid
    handle = operations.create("/f", 0o100644, os.O_WRONLY | os.O_CREAT)
    operations.release("/f", handle)
    operations.getattr("/f")  # described: the daemon keeps its upper file
    assert "/f" in operations._reusable
    # The attacker, inside the sandbox: the file becomes a link to the victim.
    overlay.remove("/f")
    overlay.symlink(target, "/f")
    for change in (
        lambda: operations.chmod("/f", 0o100777),
        lambda: operations.utimens("/f", (1, 1)),
        lambda: operations.chown("/f", NOBODY, NOBODY),
        lambda: operations.getxattr("/f", "user.victim"),
    ):
        try:
            change()
        except OSError:
            pass  # refused is fine; followed is not
    assert (os.lstat(target).st_uid, os.lstat(target).st_gid) == owner
    victim.assert_unchanged()
    overlay.close()
