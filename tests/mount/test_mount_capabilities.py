"""Detection of the kernel directory cache and FUSE passthrough (libfuse and kernel versions)."""

from __future__ import annotations

from unionfs_lib.mount import capabilities
from unionfs_lib.mount.capabilities import (
    directory_cache_refusal,
    kernel_version,
    libfuse_version,
    passthrough_refusal,
)


def test_passthrough_needs_libfuse_3_17_first():
    assert passthrough_refusal((3, 14), (6, 18), True) == "unavailable: libfuse 3.14 < 3.17"
    assert passthrough_refusal((3, 16), (6, 18), True) == "unavailable: libfuse 3.16 < 3.17"


def test_passthrough_needs_linux_6_9():
    assert passthrough_refusal((3, 17), (6, 8), True) == "unavailable: kernel 6.8 < 6.9"
    assert passthrough_refusal((3, 19), (5, 15), True) == "unavailable: kernel 5.15 < 6.9"


def test_passthrough_needs_cap_sys_admin():
    assert "CAP_SYS_ADMIN" in str(passthrough_refusal((3, 17), (6, 9), False))
    assert passthrough_refusal((3, 17), (6, 9), True) is None
    assert passthrough_refusal((4, 0), (7, 1), True) is None


def test_the_directory_cache_needs_libfuse_3_16():
    assert str(directory_cache_refusal((3, 14))).startswith("unavailable: libfuse 3.14 < 3.16")
    assert directory_cache_refusal((3, 16)) is None


def test_versions_are_parsed_from_the_kernel_release():
    assert kernel_version("6.18.44-fc-v1300") == (6, 18)
    assert kernel_version("6.9.0") == (6, 9)
    assert kernel_version("weird") is None


def test_this_machine_is_reported_with_the_loaded_libfuse():
    found = libfuse_version()
    reason = passthrough_refusal()
    if found is None:
        assert reason == "unavailable: no libfuse"
    elif found < capabilities.PASSTHROUGH_LIBFUSE:
        # Debian 12's libfuse 3.14 here: "unavailable: libfuse 3.14 < 3.17".
        assert reason == f"unavailable: libfuse {found[0]}.{found[1]} < 3.17"
    else:
        assert reason is None or "kernel" in reason or "CAP_SYS_ADMIN" in reason
