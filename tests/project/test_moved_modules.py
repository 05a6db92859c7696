"""Old module paths (before the package was foldered by layer) warn and are the new modules.

``unionfs_lib._moved`` keeps every old path importable for one release: the
import warns with a ``DeprecationWarning`` naming the new path and gives the
new module object itself. The table is written from the relayout's mapping.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

from unionfs_lib._moved import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_path_warns_and_is_the_new_module(
    old: str, new: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module(new)
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        aliased = importlib.import_module(old)
    assert aliased is module
    assert module.__name__ == new and module.__spec__ is not None
    assert module.__spec__.name == new  # the module keeps its own spec


def test_the_public_strategy_modules_keep_their_old_paths() -> None:
    public = {
        "whiteout",
        "kernel_format",
        "copy_up",
        "readdir",
        "store",
        "strategies",
        "changes",
        "commit",
        "patch",
        "export",
        "lazy",
        "describe",
        "description",
        "registry",
        "lifecycle",
        "kernel_mount",
        "layer_url",
        "fingerprint",
    }
    assert {f"unionfs_lib.{name}" for name in public} <= set(MOVED)


def test_old_imports_work_in_a_fresh_interpreter() -> None:
    # relayout: keep (the old paths are the point of this test)
    script = textwrap.dedent(
        """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import unionfs_lib
        assert not [w for w in caught if "moved to" in str(w.message)], caught
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from unionfs_lib.whiteout import MarkerWhiteouts  # relayout: keep
            from unionfs_lib import copy_up  # relayout: keep
            import unionfs_lib.kernel_format  # relayout: keep
        import unionfs_lib.stores.marker_whiteouts as new
        assert MarkerWhiteouts is new.MarkerWhiteouts
        assert copy_up is sys.modules["unionfs_lib.ops.copy_up_engine"]
        kernel = sys.modules["unionfs_lib.stores.kernel_whiteouts"]
        assert unionfs_lib.kernel_format is kernel  # relayout: keep
        moved = [w for w in caught if "moved to" in str(w.message)]
        assert len(moved) == 3, caught
        assert all(w.category is DeprecationWarning for w in moved), moved
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", "import sys\n" + script],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_the_package_itself_imports_no_old_path() -> None:
    code = (
        "import warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import unionfs_lib, unionfs_lib.mount, unionfs_lib.fsspec, unionfs_lib.__main__\n"
        "moved = [str(w.message) for w in caught if 'moved to' in str(w.message)]\n"
        "assert not moved, moved\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
