"""OverlaySession with lowers, staging and target on S3 (moto server over real HTTP).

The commit writes each object once at its final name (no copy, no rename),
and a commit SIGKILLed before any upload or delete resumes from its journal.
"""

from __future__ import annotations

import functools
import os

import boto3
import pytest

from unionfs_lib.session import MergeConflict, OverlaySession

from ..support import summary
from ..support.helpers import moto_s3
from ..support.sessions import LOWER, assert_final, assert_old_or_new, run_killed, three_forks

BUCKET = "session"


@pytest.fixture(scope="module")
def endpoint():
    with moto_s3() as url:
        boto3.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
        yield url


def spec(endpoint: str, prefix: str) -> dict:
    return {
        "url": f"s3://{BUCKET}/{prefix}",
        "storage_options": {
            "client_kwargs": {"endpoint_url": endpoint}, "skip_instance_cache": True,
        },
    }


def put_lower(endpoint: str, prefix: str) -> None:
    client = boto3.client("s3", endpoint_url=endpoint)
    for key, data in LOWER.items():
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{key}", Body=data)


def objects(endpoint: str, prefix: str) -> dict[str, bytes]:
    client = boto3.client("s3", endpoint_url=endpoint)
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/").get("Contents", [])
    return {
        item["Key"][len(prefix) + 1 :]: client.get_object(Bucket=BUCKET, Key=item["Key"])[
            "Body"
        ].read()
        for item in listed
    }


def count_requests(monkeypatch) -> list[tuple[str, str]]:
    """Record (method, key) of every request that changes the store (s3fs)."""
    import s3fs
    from fsspec.asyn import sync_wrapper

    from ..support.sessions import MUTATING

    found: list[tuple[str, str]] = []
    original = s3fs.S3FileSystem._call_s3

    async def call_s3(store, method, *args, **kw):
        name = method if isinstance(method, str) else method.__name__
        if name in MUTATING:
            found.append((name, kw.get("Key", "")))
        return await original(store, method, *args, **kw)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", call_s3)
    monkeypatch.setattr(s3fs.S3FileSystem, "call_s3", sync_wrapper(call_s3))
    return found


def test_everything_on_s3_each_object_written_once(endpoint, monkeypatch):
    put_lower(endpoint, "base")
    session = OverlaySession([spec(endpoint, "base")], spec(endpoint, "staging"))
    forks = three_forks(session)
    clash = session.fork("clash")
    with clash.open() as overlay:
        overlay.writebytes("/data/a.txt", b"clash")
    with pytest.raises(MergeConflict):
        session.commit([*forks, clash])
    assert objects(endpoint, "base") == LOWER
    requests = count_requests(monkeypatch)
    assert session.commit(forks) == 6
    assert_final(objects(endpoint, "base"))
    written = sorted(key for method, key in requests if key.startswith("base/"))
    assert written == ["base/data/a.txt", "base/old/x.txt", "base/old/y.txt",
                       "base/out/part-0.txt", "base/out/part-1.txt", "base/out/part-2.txt"]
    assert sorted({method for method, _ in requests}) == ["delete_object", "put_object"]
    session.discard([*forks, clash])
    left = objects(endpoint, f"staging/{session.id}")
    assert left and all(key.startswith(".commits/") for key in left), sorted(left)


def copy_prefix(endpoint: str, source: str, target: str) -> None:
    client = boto3.client("s3", endpoint_url=endpoint)
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=source + "/")
    for item in listed.get("Contents", []):
        key = target + item["Key"][len(source) :]
        origin = {"Bucket": BUCKET, "Key": item["Key"]}
        client.copy_object(Bucket=BUCKET, Key=key, CopySource=origin)


def kill_points(steps: int) -> list[int]:
    """Every point with UNIONFS_SESSION_CRASH_ALL=1; else the journal, the middle
    request and the last (the journal marked done); each S3 attempt takes seconds."""
    if os.environ.get("UNIONFS_SESSION_CRASH_ALL"):
        return list(range(steps))
    return sorted({0, steps // 2, steps - 1})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_s3_commit_killed_before_each_request_that_writes_resumes(endpoint):
    put_lower(endpoint, "template")
    template = OverlaySession([spec(endpoint, "template")], spec(endpoint, "template-staging"),
                              session_id="crash")  # fmt: skip
    names = [fork.name for fork in three_forks(template)]

    def attempt(case: str) -> tuple[OverlaySession, list]:
        """A lower (the target) and a staging area of its own, with the template's uppers."""
        put_lower(endpoint, case)
        copy_prefix(endpoint, "template-staging", f"{case}-staging")
        session = OverlaySession([spec(endpoint, case)], spec(endpoint, f"{case}-staging"),
                                 session_id="crash")  # fmt: skip
        return session, [session.fork(name) for name in names]

    whole, forks = attempt("whole")
    steps = run_killed(lambda: whole.commit(forks), None, objects=True)
    assert steps is not None and steps >= 6
    assert_final(objects(endpoint, "whole"))
    for kill_at in kill_points(steps):
        session, forks = attempt(f"k{kill_at}")
        assert run_killed(functools.partial(session.commit, forks), kill_at, objects=True) is None
        assert_old_or_new(objects(endpoint, f"k{kill_at}"))
        session.commit(forks)
        assert_final(objects(endpoint, f"k{kill_at}"))
        summary.count("session crash tests: SIGKILLed commits resumed (S3)")
