"""One ECR call as the middleware's layers see it, the answer they give, and how they are chained.

A layer is a function `(call, following) -> Answer`: it may answer itself, raise a `SandboxError` (which
becomes an AWS-style error answer), or hand the call to the `following` handler and change its answer.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.ecr.config import EcrEmulatorConfig

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

ECR_TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
BYPASS_HEADER = "x-sandbox-bypass"
ACCOUNT_HEADER = "x-moto-account-id"


class SandboxError(Exception):
    """An AWS-style error answer: HTTP status, `__type` and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def answer(self) -> Answer:
        """The answer botocore's JSON protocol parser expects: `__type` and `message` in the body."""
        body = json.dumps({"__type": self.code, "message": self.message}).encode()
        reason = "Bad Request" if self.status == 400 else "Internal Server Error"
        headers = [
            ("Content-Type", JSON_CONTENT_TYPE),
            ("x-amzn-ErrorType", self.code),
            ("Content-Length", str(len(body))),
        ]
        return Answer(f"{self.status} {reason}", headers, body)


@dataclass
class Answer:
    """A WSGI answer, whole: status line, headers and body."""

    status: str = "500 INTERNAL SERVER ERROR"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def code(self) -> int:
        return int(self.status.split(" ", 1)[0])

    def with_payload(self, payload: Any) -> Answer:
        """The same answer with another JSON body."""
        body = json.dumps(payload).encode()
        headers = [(k, v) for k, v in self.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        return Answer(self.status, headers, body)


def json_answer(payload: Any) -> Answer:
    """A 200 answer of the ECR JSON protocol."""
    body = json.dumps(payload).encode()
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))]
    return Answer("200 OK", headers, body)


class Releaser:
    """Lets a reset cut short every request now waiting (latency or a hang); see `Ticket`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0  # bumped by release_all: requests from an older generation change nothing
        self._event = threading.Event()  # set to end waits early

    def ticket(self) -> Ticket:
        with self._lock:
            return Ticket(self, self.generation, self._event)

    def release_all(self) -> None:
        with self._lock:
            self.generation += 1
            event, self._event = self._event, threading.Event()
        event.set()


@dataclass(frozen=True)
class Ticket:
    """A request's place in the Releaser's generations, taken when it arrives."""

    releaser: Releaser
    generation: int
    event: threading.Event

    def wait(self, seconds: float) -> None:
        """Like time.sleep, but a release ends it."""
        self.event.wait(seconds)

    @property
    def released(self) -> bool:
        return self.generation != self.releaser.generation


@dataclass(frozen=True)
class EcrCall:
    """One ECR call: `config` is the knobs in force when it arrived (one snapshot for the whole call)."""

    environ: WSGIEnvironment
    action: str
    body: bytes
    params: dict[str, Any]
    config: EcrEmulatorConfig
    ticket: Ticket

    @property
    def repository_names(self) -> list[str]:
        """The repositories the call names (repositoryName, repositoryNames)."""
        params = self.params
        names = [params["repositoryName"]] if isinstance(params.get("repositoryName"), str) else []
        many = params.get("repositoryNames")
        if isinstance(many, list):
            names.extend(n for n in many if isinstance(n, str))
        return names


def read_body(environ: WSGIEnvironment) -> bytes:
    """The request body, read whole (and put back, for whoever reads the environ next)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def parse_params(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


Handler = Callable[[EcrCall], Answer]
Layer = Callable[[EcrCall, Handler], Answer]


def chain(layers: Sequence[Layer], innermost: Handler) -> Handler:
    """One handler: a call meets `layers` in order, then `innermost`."""
    handler = innermost
    for layer in reversed(layers):
        handler = _bind(layer, handler)
    return handler


def _bind(layer: Layer, following: Handler) -> Handler:
    return lambda call: layer(call, following)
