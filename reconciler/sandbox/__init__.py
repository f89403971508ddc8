"""Local doubles of the services the reconciler talks to, for the demo, the tests and the benchmarks.

- `reconciler.sandbox.ecr.EcrEmulator`: moto's ECR (and STS) behind a middleware that adds what real ECR
  does and moto doesn't: pagination, throttling, latency, policy read-back rewriting, validation, faults.
- `reconciler.sandbox.nullplatform.NullplatformApi`: the provider endpoints of the nullplatform API.
- `reconciler.sandbox.github.GithubApi`: pull-request (issue) comments of the GitHub REST API.
- `reconciler.sandbox.seed`: fills the ECR emulator with repositories in mixed states.
- `reconciler.sandbox.command`: `reconciler sandbox`, all of the above on 127.0.0.1 until Ctrl-C.

Every double is a WSGI app served by a small threaded HTTP/1.1 server in a daemon thread of the current
process (so tests can reach into its state directly) on 127.0.0.1 and a free port. This module holds the
pieces they share; it imports nothing heavy, so importing one double doesn't pay for moto.
"""

from __future__ import annotations

import http.server
import io
import json
import random
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import unquote

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from werkzeug.wrappers import Request, Response

LOCALHOST = "127.0.0.1"
_PLACEHOLDER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")  # werkzeug's <int:id> in a rule
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


@dataclass
class FaultPlan:
    """Scripted HTTP failures for the REST doubles: `count` answers with `status` (then normal again), or
    every answer when `count` is None. `retry_after` adds a Retry-After header (seconds), as for 429s."""

    status: int
    count: int | None = 1
    retry_after: float | None = None
    routes: frozenset[str] | None = None  # route keys like "PATCH /provider/{id}"; None: every route

    def applies_to(self, route: str) -> bool:
        return self.routes is None or route in self.routes


@dataclass
class LostAnswers:
    """Requests carried out whose answer is lost: answered 502 instead, or held `delay` seconds (past a
    client's read timeout). What a client sees of a write it cannot know the outcome of."""

    count: int
    delay: float | None = None
    routes: frozenset[str] | None = None


class FaultInjector:
    """Shared fault logic of the REST doubles: scripted failures (FIFO) and a seeded random error rate."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._plans: list[FaultPlan] = []
        self._lost: list[LostAnswers] = []
        self._seed = seed
        self._rng = random.Random(seed)
        self.error_rate = 0.0
        self.error_status = 500

    def add(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plans.append(plan)

    def lose(self, plan: LostAnswers) -> None:
        with self._lock:
            self._lost.append(plan)

    def next_lost(self, route: str) -> LostAnswers | None:
        """Whether this request's answer is to be lost (consuming one use)."""
        with self._lock:
            for plan in self._lost:
                if plan.routes is None or route in plan.routes:
                    plan.count -= 1
                    if plan.count <= 0:
                        self._lost.remove(plan)
                    return plan
        return None

    def reset(self) -> None:
        with self._lock:
            self._plans.clear()
            self._lost.clear()
            self._rng = random.Random(self._seed)
            self.error_rate = 0.0
            self.error_status = 500

    def next_fault(self, route: str) -> FaultPlan | None:
        """The failure to answer this request with, if any (consuming one use of a counted plan)."""
        with self._lock:
            for plan in self._plans:
                if not plan.applies_to(route):
                    continue
                if plan.count is not None:
                    plan.count -= 1
                    if plan.count <= 0:
                        self._plans.remove(plan)
                return plan
            if self.error_rate > 0 and self._rng.random() < self.error_rate:
                return FaultPlan(status=self.error_status, count=None)
        return None


class RouteCounters:
    """Thread-safe request and error counts keyed by route ("GET /provider/{id}")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._statuses: dict[str, int] = {}

    def record(self, route: str, status: int) -> None:
        with self._lock:
            self._requests[route] = self._requests.get(route, 0) + 1
            self._statuses[str(status)] = self._statuses.get(str(status), 0) + 1
            if status >= 400:
                self._errors[route] = self._errors.get(route, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "errors": dict(self._errors),
                "statuses": dict(self._statuses),
                "total_requests": sum(self._requests.values()),
                "total_errors": sum(self._errors.values()),
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._errors.clear()
            self._statuses.clear()


def json_response(payload: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
    from werkzeug.wrappers import Response

    response = Response(json.dumps(payload), status=status, mimetype="application/json")
    for name, value in headers:
        response.headers[name] = value
    return response


class RestService(Served):
    """Base of the REST doubles: routing, latency, scripted faults and per-route counters.

    Subclasses list their routes in `routes()` as (rule, method, handler); a route's key in the counters
    and fault plans is "METHOD rule" with werkzeug's `<name>` placeholders written `{name}`.
    """

    service_name = "rest"

    def __init__(self, *, host: str = LOCALHOST, port: int = 0, seed: int = 0) -> None:
        from werkzeug.routing import Map, Rule

        self.counters = RouteCounters()
        self.faults = FaultInjector(seed)
        self.latency_ms = 0.0
        self._handlers: dict[str, Callable[..., Response]] = {}
        rules = []
        for rule, method, handler in self.routes():
            key = method + " " + _PLACEHOLDER.sub(r"{\1}", rule)
            self._handlers[key] = handler
            rules.append(Rule(rule, endpoint=key, methods=[method]))
        self._url_map = Map(rules, strict_slashes=False)
        self._server = BackgroundServer(self._wsgi, host=host, port=port, name=self.service_name)

    def routes(self) -> list[tuple[str, str, Callable[..., Response]]]:
        raise NotImplementedError

    def error(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
        """The service's error body; subclasses shape it like the real API."""
        return json_response({"message": message}, status, headers)

    # -- faults and counters --

    def fail_next(
        self,
        status: int,
        count: int | None = 1,
        *,
        retry_after: float | None = None,
        routes: Iterable[str] | None = None,
    ) -> None:
        """Answer the next `count` requests (None: all, until reset) to `routes` (route keys such as
        "PATCH /provider/{id}"; None: any) with `status`, and a Retry-After header when given."""
        self.faults.add(FaultPlan(status, count, retry_after, None if routes is None else frozenset(routes)))

    def lose_answer_next(
        self, count: int = 1, *, routes: Iterable[str] | None = None, delay: float | None = None
    ) -> None:
        """Carry out the next `count` requests to `routes` (None: any), then answer 502 instead of their
        answer, or (with `delay`) answer only after `delay` seconds."""
        self.faults.lose(LostAnswers(count, delay, None if routes is None else frozenset(routes)))

    def stats(self) -> dict[str, Any]:
        """Counters by route key: requests, errors (status >= 400), answers by status, totals."""
        return self.counters.snapshot()

    def reset_stats(self) -> None:
        self.counters.reset()

    # -- WSGI --

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        from werkzeug.exceptions import MethodNotAllowed, NotFound
        from werkzeug.wrappers import Request

        request = Request(environ)
        adapter = self._url_map.bind_to_environ(environ)
        try:
            key, arguments = adapter.match()
        except MethodNotAllowed:
            key, response = "other", self.error(405, "Method Not Allowed")
        except NotFound:
            key, response = "other", self.error(404, "Not Found")
        else:
            response = self._dispatch(str(key), request, arguments)
        self.counters.record(str(key), response.status_code)
        return response(environ, start_response)

    def _dispatch(self, key: str, request: Request, arguments: Mapping[str, Any]) -> Response:
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000.0)
        fault = self.faults.next_fault(key)
        if fault is not None:
            headers = [] if fault.retry_after is None else [("Retry-After", f"{fault.retry_after:g}")]
            return self.error(fault.status, f"sandbox: injected HTTP {fault.status}", headers)
        lost = self.faults.next_lost(key)
        response = self._handlers[key](request, **arguments)
        if lost is None:
            return response
        if lost.delay is not None:
            time.sleep(lost.delay)  # the client has given up on this answer by now
            return response
        return self.error(502, "sandbox: the answer was lost after the request was carried out")
