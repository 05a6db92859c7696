"""A mount started by root serves every user, as ``mount -t overlay`` does (#21).

Run by root, ``unionfs-lib-mount`` adds ``allow_other``; the kernel checks
each user's permissions (``default_permissions``). ``-o noallow_other``
keeps the mount to root alone.
"""

from __future__ import annotations

import errno
import os
from unittest import mock

import pytest

from unionfs_lib.mount.options import parse_args

from ..support.mounting import (
    fuse_or_skip,
    probe_as_nobody,
)

pytestmark = pytest.mark.out_of_process  # layers used by other processes only

ARGS = ["overlay", "/m", "-o", "lowerdir=/l"]


def test_root_mounts_allow_other_by_default_and_noallow_other_opts_out():
    with mock.patch("os.geteuid", return_value=0):
        assert parse_args(ARGS).fuse_options == ("allow_other",)
        assert parse_args([*ARGS, "-o", "allow_other"]).fuse_options == ("allow_other",)
        assert parse_args([*ARGS, "-o", "noallow_other"]).fuse_options == ()
        assert parse_args([*ARGS, "-o", "allow_other,noallow_other"]).fuse_options == ()
        assert parse_args([*ARGS, "-o", "allow_root"]).fuse_options == ("allow_root",)
    with mock.patch("os.geteuid", return_value=1000):
        assert parse_args(ARGS).fuse_options == ()
        assert parse_args([*ARGS, "-o", "allow_other"]).fuse_options == ("allow_other",)


def test_a_root_mount_serves_other_users_with_the_kernel_checking_permissions():
    fuse_or_skip()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount for other users")
    assert probe_as_nobody(()) == [str(errno.EACCES), str(errno.EACCES), "ok"]
    assert probe_as_nobody(("noallow_other",)) == [str(errno.EACCES)] * 3
