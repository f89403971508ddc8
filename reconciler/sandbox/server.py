"""The HTTP server every sandbox double runs on: a small threaded HTTP/1.1 WSGI server with keep-alive, in a
daemon thread of the current process, on 127.0.0.1 and a free port."""

from __future__ import annotations

import http.server
import io
import socket
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import unquote

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

LOCALHOST = "127.0.0.1"
_HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})


class WsgiRequestHandler(http.server.BaseHTTPRequestHandler):
    """A minimal HTTP/1.1 WSGI handler with keep-alive.

    Not werkzeug's dev server: it closes every connection (and drains the socket for 10 ms after each
    request), so each call would pay a TCP connect and a new server thread, ~1 ms here, which distorts
    benchmarks of clients that pool connections as boto3 does. Bodies are read whole before the app runs
    (so the stream is always at the next request) and answers are buffered and sent with Content-Length.
    """

    protocol_version = "HTTP/1.1"
    server_version = "reconciler-sandbox"
    timeout = 60.0  # idle keep-alive connections end (a socket timeout, not a request one)
    server: WsgiServer

    def setup(self) -> None:
        super().setup()
        # An answer goes out in two writes (headers, body); with Nagle's algorithm and delayed ACKs the
        # second would wait ~40 ms on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a benchmark making 30,000 calls must not write 30,000 lines

    def _environ(self, body: bytes) -> WSGIEnvironment:
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ: WSGIEnvironment = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            if "_" in name:
                continue  # like werkzeug: X_Foo must not pass for X-Foo
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _handle(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.send_error(411, "chunked request bodies are not supported; send Content-Length")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return lambda _data: None

        try:
            result = self.server.app(self._environ(body), start_response)
            try:
                payload = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            traceback.print_exc()
            answer, payload = (
                ["500 Internal Server Error", [("Content-Type", "text/plain")]],
                b"sandbox error",
            )
        status, headers = answer
        code, _, reason = str(status).partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class WsgiServer(http.server.ThreadingHTTPServer):
    daemon_threads = True  # hung or idle connections never hold up the process or stop()
    block_on_close = False
    # socketserver's listen backlog is 5: a client opening dozens of connections at once (64 calls in
    # flight) while the accept loop waits for the GIL had some connections dropped and retried by TCP after
    # 1 s, a stall no real endpoint has (a plan of 600 repositories took 2.4 s or 3.4 s at random).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: WSGIApplication) -> None:
        self.app = app
        super().__init__(address, WsgiRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read timeout in a hang test, a closed pool) is normal, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class BackgroundServer:
    """A threaded WSGI server for `app` in a daemon thread (one thread per connection, so slow requests
    overlap like they do against a real service)."""

    def __init__(
        self, app: WSGIApplication, *, host: str = LOCALHOST, port: int = 0, name: str = "sandbox"
    ) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self._name = name
        self._server: WsgiServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self._name} server is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        # Bind in this thread, so a taken port fails here and not silently in the thread.
        server = WsgiServer((self._host, self._requested_port), self._app)
        # A short poll interval makes stop() quick (shutdown waits for the loop to notice).
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self._name}-server",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)


class Served:
    """A double served by a BackgroundServer (`self._server`): start and stop it, or use it as a context
    manager; `url` and `port` say where it listens."""

    _server: BackgroundServer

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port
