"""Measure what a session commit costs per changed file as the number of forks grows.

Usage::

    python -m benchmarks.sessions            # 8, 16, 32, 64 forks x 100 files, local and S3
    python -m benchmarks.sessions --tiny     # smoke size (seconds)
    python -m benchmarks.sessions --local    # local target only
    python -m benchmarks.sessions --s3-only --files 5   # S3 only, 5 files per fork

Each fork's upper holds ``files`` new files of its own (``/out/<fork>/<n>``,
laid straight into the staging area, as a worker writing through its fork
leaves them). The figure is ``session.commit(forks)`` (the merge, the check
of every path against the target, the journal and the writes), divided by the
number of changed files: it should stay flat from 8 to 64 forks. Targets are
a local directory and an S3 bucket served by moto on 127.0.0.1 (real HTTP;
its per-request latency, not S3's, sets the absolute figure there). Each
figure is the minimum over ``repeats`` runs, each on fresh forks and target.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import typing

import attrs

from unionfs_lib.session import OverlaySession

from .run import fmt_ratio, fmt_time, machine, print_table

FLAT_TARGET = 1.5


@attrs.frozen
class Sizes:
    """The fork counts, the files per fork and the repeats."""

    forks: tuple[int, ...] = (8, 16, 32, 64)
    files: int = 100
    repeats: int = 2


TINY = Sizes(forks=(2, 4), files=5, repeats=1)


class LocalTarget:
    """A lower directory (the target) and a staging directory on local disk."""

    name = "local"

    def __init__(self, root: str) -> None:
        self.root = root

    def prepare(self, case: str, forks: int, files: int) -> tuple[OverlaySession, list]:
        base = os.path.join(self.root, case)
        lower = os.path.join(base, "lower")
        os.makedirs(os.path.join(lower, "out"))
        session = OverlaySession([lower], os.path.join(base, "staging"), session_id="bench")
        made = [session.fork(f"f{index}") for index in range(forks)]
        for fork in made:
            folder = os.path.join(base, "staging", "bench", fork.name, "out", fork.name)
            os.makedirs(folder)
            for number in range(files):
                with open(os.path.join(folder, str(number)), "wb") as stream:
                    stream.write(b"x" * 64)
        return session, made

    def files_in_target(self, case: str) -> int:
        return sum(len(names) for _, _, names in os.walk(os.path.join(self.root, case, "lower")))

    def clean(self, case: str) -> None:
        shutil.rmtree(os.path.join(self.root, case))


class S3Target:
    """A prefix of a moto bucket for the lower (the target) and one for the staging area."""

    name = "s3 (moto)"
    bucket = "sessions-bench"

    def __init__(self, endpoint: str) -> None:
        import boto3

        self.endpoint = endpoint
        self.client = boto3.client("s3", endpoint_url=endpoint)
        self.client.create_bucket(Bucket=self.bucket)

    def spec(self, prefix: str) -> dict[str, typing.Any]:
        options = {"client_kwargs": {"endpoint_url": self.endpoint}, "skip_instance_cache": True}
        return {"url": f"s3://{self.bucket}/{prefix}", "storage_options": options}

    def prepare(self, case: str, forks: int, files: int) -> tuple[OverlaySession, list]:
        self.client.put_object(Bucket=self.bucket, Key=f"{case}/lower/out/.keep", Body=b"")
        session = OverlaySession([self.spec(f"{case}/lower")], self.spec(f"{case}/staging"),
                                 session_id="bench")  # fmt: skip
        made = [session.fork(f"f{index}") for index in range(forks)]
        for fork in made:
            for number in range(files):
                key = f"{case}/staging/bench/{fork.name}/out/{fork.name}/{number}"
                self.client.put_object(Bucket=self.bucket, Key=key, Body=b"x" * 64)
        return session, made

    def files_in_target(self, case: str) -> int:
        paginator = self.client.get_paginator("list_objects_v2")
        count = 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{case}/lower/"):
            count += len(page.get("Contents", []))
        return count - 1  # the .keep marker

    def clean(self, case: str) -> None:
        pass  # the server's memory goes with it


@contextlib.contextmanager
def moto_endpoint() -> typing.Iterator[str]:
    """Run moto's S3 server on 127.0.0.1 with test credentials; yield its URL."""
    from moto.server import ThreadedMotoServer

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        os.environ.setdefault(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def measure(target: typing.Any, forks: int, sizes: Sizes) -> float:
    """Return the best time of one commit of ``forks`` forks, per changed file."""
    best = float("inf")
    for repeat in range(sizes.repeats):
        case = f"n{forks}-r{repeat}"
        session, made = target.prepare(case, forks, sizes.files)
        start = time.perf_counter()
        session.commit(made)
        elapsed = time.perf_counter() - start
        assert target.files_in_target(case) == forks * sizes.files
        target.clean(case)
        best = min(best, elapsed / (forks * sizes.files))
    return best


def report(target: typing.Any, sizes: Sizes) -> bool:
    """Print one target's table; return whether the cost per file stays flat."""
    per_file = {forks: measure(target, forks, sizes) for forks in sizes.forks}
    first = per_file[sizes.forks[0]]
    rows = [
        [str(forks), str(forks * sizes.files), fmt_time(cost), fmt_ratio(cost / first)]
        for forks, cost in per_file.items()
    ]
    header = ["forks", "changed files", "commit per file", f"vs {sizes.forks[0]} forks"]
    print_table(f"Session commit into {target.name}, {sizes.files} files per fork", header, rows)
    flat = per_file[sizes.forks[-1]] <= FLAT_TARGET * first
    print(f"flat (largest within {FLAT_TARGET}x of smallest): {'yes' if flat else 'NO'}")
    return flat


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="smoke size")
    parser.add_argument("--local", action="store_true", help="local target only")
    parser.add_argument("--s3-only", action="store_true", help="S3 target only")
    parser.add_argument("--files", type=int, help="files per fork (default 100)")
    parser.add_argument("--repeats", type=int, help="runs per figure (default 2)")
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else Sizes()
    if args.files:
        sizes = attrs.evolve(sizes, files=args.files)
    if args.repeats:
        sizes = attrs.evolve(sizes, repeats=args.repeats)
    print(f"machine: {machine()}")
    if not args.s3_only:
        with tempfile.TemporaryDirectory() as root:
            report(LocalTarget(root), sizes)
    if not args.local:
        with moto_endpoint() as endpoint:
            report(S3Target(endpoint), sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
