"""What the REST doubles (nullplatform, GitHub) share: routing, latency, scripted faults, lost answers and
per-route counters."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.server import LOCALHOST, BackgroundServer, Served

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from werkzeug.wrappers import Request, Response

_PLACEHOLDER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")  # werkzeug's <int:id> in a rule


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
    """Requests carried out whose answer is lost: answered 502 instead, held `delay` seconds (past a
    client's read timeout), or (`garbled`) answered 200 with the first half of the answer, a body that is
    not JSON (a proxy or an outage page answering for the service). What a client sees of a request it
    cannot know the outcome of."""

    count: int
    delay: float | None = None
    routes: frozenset[str] | None = None
    garbled: bool = False


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

    def garble_next(self, count: int = 1, *, routes: Iterable[str] | None = None) -> None:
        """Carry out the next `count` requests to `routes` (None: any), then answer 200 with the first half
        of their answer, which is not JSON."""
        chosen = None if routes is None else frozenset(routes)
        self.faults.lose(LostAnswers(count, routes=chosen, garbled=True))

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
        if lost.garbled:
            body = response.get_data()
            response.status_code = 200
            response.set_data(body[: len(body) // 2])
            return response
        if lost.delay is not None:
            time.sleep(lost.delay)  # the client has given up on this answer by now
            return response
        return self.error(502, "sandbox: the answer was lost after the request was carried out")
