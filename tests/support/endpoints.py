"""Real storage endpoints on localhost for the fsspec layer tests.

Each context manager runs a server that speaks the real protocol over HTTP on
127.0.0.1 and yields what a client needs to reach it; the clients under test
(fsspec's HTTP filesystem, gcsfs, adlfs) go through their whole stack:

* :func:`http_directory` serves a directory with index pages (the standard
  library's ``http.server``, in a thread);
* :func:`gcs_emulator` runs ``gcp-storage-emulator`` (in memory, in a thread);
* :func:`azurite_blob` runs Azurite's blob service (a node process), which
  :func:`azurite_command` installs from npm into a cache directory once.
* :func:`github_api` answers the GitHub REST endpoints fsspec's
  ``GithubFileSystem`` calls, for a repository given as a dict of files.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import hashlib
import http.server
import importlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import typing
import urllib.parse
from pathlib import Path

import pytest

#: Azurite's well-known development account and key (public, in Azure's docs).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
#: The Azurite release the tests install (npm package ``azurite``).
AZURITE_VERSION = "3.35.0"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait (at most 30 s) until something accepts connections on ``port``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"the server exited with {process.returncode}: {output}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after 30 s")


class _QuietDirectoryHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files (with ``Range: bytes=a-b`` requests) and index pages, quietly.

    A single byte range is answered with ``206 Partial Content``, as static
    file servers (nginx, Apache, Caddy) answer it: fsspec reads files opened
    for reading in blocks, and seeking needs it.
    """

    def log_message(self, format: str, *args: typing.Any) -> None:  # noqa: A002
        pass

    def send_head(self) -> typing.Any:
        """Answer a byte range of a file with 206; anything else as the base class does."""
        requested = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if requested is None or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        first, last = requested.groups()
        start = int(first) if first else max(size - int(last or 0), 0)
        end = min(int(last), size - 1) if first and last else size - 1
        if start >= size:
            self.send_error(416, "range not satisfiable")
            return None
        with open(path, "rb") as source:
            source.seek(start)
            body = source.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


@contextlib.contextmanager
def http_directory(directory: str | os.PathLike[str]) -> typing.Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1; yield the base URL (no slash).

    Directories answer with an index page of links (``name`` or ``name/``),
    and ``/dir`` redirects to ``/dir/``, as most static file servers do.
    """
    handler = functools.partial(_QuietDirectoryHandler, directory=os.fspath(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _gcs_move_route() -> tuple[str, dict[str, typing.Callable[..., None]]]:
    """Return the emulator route of GCS's ``objects.move`` (``.../o/A/moveTo/o/B``).

    gcsfs renames with it; the emulator lacks it and answers 501, which gcsfs
    retries for half a minute before it copies and deletes instead. Here it
    copies and deletes on the server, as the real call does (atomically there).
    """
    from gcp_storage_emulator import settings
    from gcp_storage_emulator.exceptions import NotFound
    from gcp_storage_emulator.handlers import objects

    def move(request: typing.Any, response: typing.Any, storage: typing.Any, *_: object) -> None:
        bucket, source = request.params["bucket_name"], request.params["object_id"]
        target = request.params["dest_object_id"]
        try:
            moved = objects._copy(request.base_url, storage, bucket, source, bucket, target)
        except NotFound:
            response.status = 404
            return
        objects._delete(storage, bucket, source)
        response.json(moved)

    pattern = (
        rf"^{settings.API_ENDPOINT}/b/(?P<bucket_name>[-.\w]+)/o/(?P<object_id>.*[^/]+)"
        r"/moveTo/o/(?P<dest_object_id>.*[^/]+)$"
    )
    return pattern, {"POST": move}


@contextlib.contextmanager
def gcs_emulator() -> typing.Iterator[str]:
    """Run ``gcp-storage-emulator`` in memory on 127.0.0.1; yield its endpoint URL.

    gcsfs's default class (``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT``) first asks
    the Storage Control gRPC API for each bucket's layout, which no emulator
    speaks; the plain ``gcsfs.core.GCSFileSystem`` serves ``gs://`` and
    ``gcs://`` while the emulator runs. ``STORAGE_EMULATOR_HOST`` points
    gcsfs instances made without an endpoint (reopened layers) at it.
    """
    from gcp_storage_emulator import server as emulator

    gcsfs_core = importlib.import_module("gcsfs.core")
    registry = importlib.import_module("fsspec.registry")._registry
    patch = pytest.MonkeyPatch()
    patch.setattr(emulator, "HANDLERS", (_gcs_move_route(), *emulator.HANDLERS))
    port = free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    patch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    for protocol in ("gs", "gcs"):
        patch.setitem(registry, protocol, gcsfs_core.GCSFileSystem)
    try:
        wait_for_port(port)
        yield endpoint
    finally:
        patch.undo()
        server.stop()


def azurite_cache() -> Path:
    """Return the directory Azurite is installed into (``UNIONFS_TEST_CACHE`` or ~/.cache)."""
    base = os.environ.get("UNIONFS_TEST_CACHE") or Path.home() / ".cache" / "unionfs-lib-tests"
    return Path(base) / f"azurite-{AZURITE_VERSION}"


def azurite_command() -> Path:
    """Return Azurite's ``azurite-blob`` program, installing it with npm the first time.

    Skips the calling test, saying why, when npm is missing or the install fails.
    """
    prefix = azurite_cache()
    program = prefix / "node_modules" / ".bin" / "azurite-blob"
    if program.exists():
        return program
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("Azure tests need node and npm to install Azurite (npm package azurite)")
    prefix.mkdir(parents=True, exist_ok=True)
    # One install at a time: tasks.py runs the two passes of the suite side by side.
    with open(prefix / ".install-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if program.exists():
            return program
        install = subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
             f"azurite@{AZURITE_VERSION}"],
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
    if install.returncode != 0 or not program.exists():
        pytest.skip(f"npm could not install azurite@{AZURITE_VERSION}: {install.stderr[-500:]}")
    return program


def azurite_connection_string(endpoint: str) -> str:
    """Return the connection string of Azurite's development account at ``endpoint``."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )


@contextlib.contextmanager
def azurite_blob() -> typing.Iterator[str]:
    """Run Azurite's blob service in memory on 127.0.0.1; yield its connection string.

    ``AZURE_STORAGE_CONNECTION_STRING`` holds it while the server runs, which
    is where adlfs finds credentials for a layer reopened without them.
    """
    program = azurite_command()
    port = free_port()
    process = subprocess.Popen(
        [str(program), "--blobHost", "127.0.0.1", "--blobPort", str(port),
         "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    patch = pytest.MonkeyPatch()
    try:
        wait_for_port(port, process)
        connection_string = azurite_connection_string(f"http://127.0.0.1:{port}")
        patch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string)
        yield connection_string
    finally:
        patch.undo()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _git_sha(kind: str, name: str) -> str:
    """Return a stable 40-hex object name for a tree or blob of the fake repository."""
    return hashlib.sha1(f"{kind}\0{name}".encode()).hexdigest()


class _GitHubHandler(http.server.BaseHTTPRequestHandler):
    """The GitHub REST endpoints fsspec's ``GithubFileSystem`` reads, over one commit.

    ``GET /repos/{org}/{repo}/git/trees/{ref or tree sha}`` lists a tree and
    ``GET /repos/{org}/{repo}/contents/{path}?ref={ref}`` returns a file
    base64-encoded, in GitHub's JSON shapes.
    """

    files: typing.ClassVar[dict[str, bytes]] = {}
    prefix: typing.ClassVar[str] = ""
    ref: typing.ClassVar[str] = ""

    def log_message(self, format: str, *args: typing.Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        """Answer a tree or a contents request; anything else is 404."""
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if path.startswith(f"{self.prefix}/git/trees/"):
            found = self._tree(path.rpartition("/")[2])
        elif path.startswith(f"{self.prefix}/contents/"):
            found = self._contents(path[len(f"{self.prefix}/contents/") :], url.query)
        else:
            found = None
        body = json.dumps(found or {"message": "Not Found"}).encode()
        self.send_response(200 if found is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _directories(self) -> set[str]:
        parents = {name.rsplit("/", 1)[0] for name in self.files if "/" in name}
        every = {""}
        for parent in parents:
            parts = parent.split("/")
            every.update("/".join(parts[: index + 1]) for index in range(len(parts)))
        return every

    def _tree(self, name: str) -> dict[str, typing.Any] | None:
        directories = {_git_sha("tree", path): path for path in self._directories()}
        directory = "" if name == self.ref else directories.get(name)
        if directory is None:
            return None
        entries: list[dict[str, typing.Any]] = []
        for path in sorted(self._directories() - {""}):
            if path.rpartition("/")[0] == directory:
                entries.append({"path": path.rpartition("/")[2], "mode": "040000",
                                "type": "tree", "sha": _git_sha("tree", path)})  # fmt: skip
        for path, data in sorted(self.files.items()):
            if path.rpartition("/")[0] == directory:
                entries.append({"path": path.rpartition("/")[2], "mode": "100644", "type": "blob",
                                "sha": _git_sha("blob", path), "size": len(data)})  # fmt: skip
        return {"sha": name, "tree": entries, "truncated": False}

    def _contents(self, path: str, query: str) -> dict[str, typing.Any] | None:
        if urllib.parse.parse_qs(query).get("ref") != [self.ref] or path not in self.files:
            return None
        data = self.files[path]
        return {"type": "file", "path": path, "name": path.rpartition("/")[2], "size": len(data),
                "encoding": "base64", "content": base64.b64encode(data).decode(),
                "sha": _git_sha("blob", path), "download_url": None}  # fmt: skip


@contextlib.contextmanager
def github_api(
    files: dict[str, bytes], org: str = "octo", repo: str = "base", ref: str = "main"
) -> typing.Iterator[str]:
    """Serve ``files`` as commit ``ref`` of ``org/repo`` through GitHub's REST API shapes.

    fsspec's ``GithubFileSystem`` keeps its API addresses in class attributes
    (``url``, ``content_url``); they point at this server while it runs, so
    the client sends its real requests over HTTP on 127.0.0.1. Yields the
    server's base URL.
    """
    from fsspec.implementations.github import GithubFileSystem

    handler = type(
        "GitHubHandler",
        (_GitHubHandler,),
        {"files": dict(files), "prefix": f"/repos/{org}/{repo}", "ref": ref},
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    patch = pytest.MonkeyPatch()
    patch.setattr(GithubFileSystem, "url", base + "/repos/{org}/{repo}/git/trees/{sha}")
    patch.setattr(
        GithubFileSystem, "content_url", base + "/repos/{org}/{repo}/contents/{path}?ref={sha}"
    )
    try:
        yield base
    finally:
        patch.undo()
        server.shutdown()
        server.server_close()
        thread.join()
