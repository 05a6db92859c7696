"""Running the ``unionfs-lib`` command line in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig


def run_cli(*args: str, script: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``python -m unionfs_lib ARGS`` (or the ``unionfs-lib`` script)."""
    if script:
        command = [os.path.join(sysconfig.get_path("scripts"), "unionfs-lib"), *args]
    else:
        command = [sys.executable, "-m", "unionfs_lib", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)
