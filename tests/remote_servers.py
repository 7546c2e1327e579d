"""Local servers for the remote-scene tests (no tests here): an HTTP server that honours range requests and
counts the bytes it serves, and moto's S3 API server (``ThreadedMotoServer``), both on 127.0.0.1 only.

Each runs in a child process started and stopped by the test fixtures: rasterio holds the GIL while GDAL
opens and reads a URL, so a server thread in the test process itself could never answer (a deadlock). The
range server is steered and read through ``/__control`` and ``/__stats`` (not counted as served bytes).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RangeServer:
    """Serves the files of ``root`` over HTTP with ``Range: bytes=a-b`` (206 responses), as object stores do.

    ``served`` counts the body bytes sent; ``down`` makes every request fail as a stopped server's would
    (the connection is closed without a response); ``fail_after`` does so once that many bytes were served.
    """

    def __init__(self, root: Path):
        self.root = root
        self.served = 0
        self.requests: list[str] = []
        self.down = False
        self.fail_after: int | None = None
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:   # quiet
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                if self.path.startswith(("/__control", "/__stats")):
                    self._control()
                    return
                with server.lock:
                    cut = server.down or (server.fail_after is not None and server.served >= server.fail_after)
                if cut:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                path = server.root / self.path.lstrip("/").split("?", 1)[0]
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start, end = 0, len(data) - 1
                ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if ranged:
                    start = int(ranged.group(1))
                    end = min(int(ranged.group(2)) if ranged.group(2) else end, len(data) - 1)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("ETag", f'"{path.stat().st_mtime_ns}-{len(data)}"')
                self.end_headers()
                if body:
                    chunk = data[start:end + 1]
                    with server.lock:
                        server.served += len(chunk)
                        server.requests.append(f"{self.path} {start}-{end}")
                    self.wfile.write(chunk)

            def _control(self) -> None:
                if self.path.startswith("/__control"):
                    query = dict(p.split("=") for p in self.path.partition("?")[2].split("&") if p)
                    with server.lock:
                        server.down = query.get("down", "0") == "1"
                        server.fail_after = int(query["fail_after"]) if "fail_after" in query else None
                        if "reset" in query:
                            server.served, server.requests = 0, []
                body = json.dumps({"served": server.served, "requests": server.requests}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> RangeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def range_server(root: Path) -> Iterator[RangeClient]:
    """A :class:`RangeServer` for ``root`` in a child process, stopped after the block."""
    with _child("range", str(root)) as port:
        yield RangeClient(f"http://127.0.0.1:{port}")


@contextlib.contextmanager
def moto_server(auth_after: int | None = None) -> Iterator[str]:
    """moto's S3 API server in a child process; yields its ``host:port``. ``auth_after``: moto checks every
    request's access key against its IAM users after that many requests (``INITIAL_NO_AUTH_ACTION_COUNT``)."""
    count = {} if auth_after is None else {"INITIAL_NO_AUTH_ACTION_COUNT": str(auth_after)}
    with environment(**count), _child("moto") as port:
        yield f"127.0.0.1:{port}"


class RangeClient:
    """The test side of a :class:`RangeServer`: its URL, its counters, and switches that stop it."""

    def __init__(self, url: str):
        self.url = url

    def _call(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as reply:
            return json.loads(reply.read())

    def stats(self) -> dict:
        return self._call("/__stats")

    def reset(self) -> None:
        self._call("/__control?reset=1")

    def stop(self, after_bytes: int | None = None) -> None:
        """Fail every request (``after_bytes``: once that many more bytes were served)."""
        served = self.stats()["served"]
        self._call(f"/__control?fail_after={served + after_bytes}" if after_bytes is not None else "/__control?down=1")

    def restart(self) -> None:
        self._call("/__control")


@contextlib.contextmanager
def _child(kind: str, *args: str) -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, __file__, kind, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        port = int(proc.stdout.readline())
        yield port
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block, restoring the previous values after it."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _serve(kind: str, args: list[str]) -> None:
    """Child process: start the server, print its port, serve until standard input closes."""
    if kind == "range":
        server = RangeServer(Path(args[0])).__enter__()
        port = server.httpd.server_address[1]
    else:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        port = server.get_host_and_port()[1]
    print(port, flush=True)
    sys.stdin.read()
    if kind == "range":
        server.__exit__(None, None, None)
    else:
        server.stop()


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2:])
