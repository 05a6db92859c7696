"""Sessions on real engines: a Dask LocalCluster with worker processes, a process pool, Ray.

One cluster (two worker processes) serves the module. A worker SIGKILLed in
the middle of its task returns no fork; the others merge and commit. The
example of docs/sessions.rst runs as written (its own two-process cluster).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from unionfs_lib.session import Fork, OverlaySession

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

pytestmark = pytest.mark.out_of_process

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "sessions.rst"


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster, distributed.Client(cluster) as connected:
            yield connected


def make_lower(root: Path) -> Path:
    lower = root / "lower"
    (lower / "in").mkdir(parents=True)
    for number in range(6):
        (lower / "in" / f"{number}.txt").write_text(f"{number}\n")
    return lower


def square(fork: Fork, number: int, victim: int = -1) -> Fork:
    """Square one input into /out; the victim kills its own worker halfway."""
    with fork.open() as overlay:
        value = int(overlay.readtext(f"/in/{number}.txt"))
        overlay.makedirs("/out", recreate=True)
        overlay.writetext(f"/out/{number}.txt", f"{value * value}\n")
        if number == victim:
            overlay.writetext("/out/partial.txt", "half")
            os.kill(os.getpid(), signal.SIGKILL)
    return fork


def test_dask_forks_merge_and_commit(client, tmp_path):
    lower = make_lower(tmp_path)
    session = OverlaySession([str(lower)], str(tmp_path / "staging"))
    forks = client.gather(client.map(square, [session.fork() for _ in range(6)], range(6)))
    assert {fork.session_id for fork in forks} == {session.id}
    assert session.commit(forks) == 7
    assert sorted(os.listdir(lower / "out")) == [f"{number}.txt" for number in range(6)]
    assert (lower / "out" / "5.txt").read_text() == "25\n"


def test_a_worker_killed_mid_task_leaves_its_fork_out(client, tmp_path):
    lower = make_lower(tmp_path)
    session = OverlaySession([str(lower)], str(tmp_path / "staging"))
    futures = client.map(square, [session.fork() for _ in range(4)], range(4), victim=2)
    forks = client.gather(futures, errors="skip")
    assert len(forks) == 3
    assert isinstance(futures[2].exception(), distributed.KilledWorker)
    session.commit(forks)
    assert sorted(os.listdir(lower / "out")) == ["0.txt", "1.txt", "3.txt"]
    client.wait_for_workers(2, timeout=30)


def test_process_pool(tmp_path):
    lower = make_lower(tmp_path)
    session = OverlaySession([str(lower)], str(tmp_path / "staging"))
    with ProcessPoolExecutor(2) as pool:
        forks = list(pool.map(square, [session.fork() for _ in range(4)], range(4)))
    assert session.commit(forks) == 5
    assert (lower / "out" / "3.txt").read_text() == "9\n"


def test_ray_tasks(tmp_path):
    try:
        import ray
    except ImportError:
        pytest.skip("Ray is not installed: the Ray session test did not run (pip install ray)")
    lower = make_lower(tmp_path)
    session = OverlaySession([str(lower)], str(tmp_path / "staging"))
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        remote = ray.remote(square)
        forks = ray.get([remote.remote(session.fork(), number) for number in range(4)])
    finally:
        ray.shutdown()
    assert session.commit(forks) == 5


@pytest.mark.parametrize("index", [0, 1], ids=["dask", "process-pool"])
def test_docs_examples_run_as_scripts(tmp_path, index):
    """Each Python block of the page is a complete script; the first starts a 2-process cluster."""
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", DOC.read_text())
    assert len(blocks) == 2 and "LocalCluster(n_workers=2, processes=True)" in blocks[0]
    script = tmp_path / "example.py"
    script.write_text("\n".join(line[4:] for line in blocks[index].splitlines()) + "\n")
    root = str(Path(__file__).resolve().parent.parent.parent)
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(script)], env={**os.environ, "PYTHONPATH": path},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
