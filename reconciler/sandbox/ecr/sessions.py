"""Session credentials that expire, the GitHub Actions OIDC token endpoint, and AssumeRoleWithWebIdentity.

moto's STS hands out credentials that never stop working. Here, with the knob `session_lifetime_seconds`,
the credentials STS issues (AssumeRole, AssumeRoleWithWebIdentity) carry an `Expiration` that many
seconds after issue, and a call signed with them after it is refused as AWS refuses it: ECR and
Organizations with `ExpiredTokenException`, STS (a chained AssumeRole) with `ExpiredToken`. The knob
`session_calls` also ends a session after that many ECR calls signed with it: an expiry driven by calls,
not by the clock, for tests that must not depend on the machine's speed.

The Actions OIDC endpoint (`GET /_sandbox/oidc/token?audience=...`, `Authorization: bearer
<ACTIONS_ID_TOKEN_REQUEST_TOKEN>`) answers `{"value": token}` as GitHub's does; `oidc_tokens` limits how
many it hands out (then HTTP 500: a refresh that fails). AssumeRoleWithWebIdentity accepts only tokens
this endpoint issued for the audience `sts.amazonaws.com` (else `InvalidIdentityToken`), then moto
assumes the role (credentials in the role's account).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError, read_body
from reconciler.sandbox.ecr.config import EcrEmulatorConfig

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REQUEST_TOKEN = "sandbox-actions-id-token-request-token"  # noqa: S105 (a sandbox value)
OIDC_PATH = "/_sandbox/oidc/token"
AUDIENCE = "sts.amazonaws.com"
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
_ACCESS_KEY = re.compile(rb"<AccessKeyId>([^<]+)</AccessKeyId>")
_EXPIRATION = re.compile(rb"<Expiration>[^<]+</Expiration>")
_EXPIRED_MESSAGE = "The security token included in the request is expired"


@dataclass
class _Session:
    expires_at: float  # time.time()
    calls_left: int | None


def access_key_of(environ: WSGIEnvironment) -> str | None:
    match = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    return match.group(1) if match else None


class Sessions:
    """The sessions STS issued and whether a call's credentials are still good. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._tokens: set[str] = set()
        self._counts = {"issued": 0, "web_identity": 0, "oidc_tokens": 0, "refused": 0, "oidc_refused": 0}

    def reset(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._tokens.clear()
            self._counts = dict.fromkeys(self._counts, 0)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def _expired(self, key: str | None, *, count: bool) -> bool:
        if key is None:
            return False
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return False  # long-term keys ("testing"): they do not expire
            if time.time() >= session.expires_at or session.calls_left == 0:
                self._counts["refused"] += 1
                return True
            if count and session.calls_left is not None:
                session.calls_left -= 1
            return False

    def refuse_expired(self, call: EcrCall, following: Handler) -> Answer:
        """The layer for ECR and Organizations calls."""
        if self._expired(access_key_of(call.environ), count=True):
            raise SandboxError("ExpiredTokenException", _EXPIRED_MESSAGE)
        return following(call)

    # -- the Actions OIDC endpoint --

    def oidc_token(self, environ: WSGIEnvironment, config: EcrEmulatorConfig) -> tuple[str, Any]:
        if environ.get("HTTP_AUTHORIZATION", "") != f"bearer {REQUEST_TOKEN}":
            return "401 UNAUTHORIZED", {"message": "bad ACTIONS_ID_TOKEN_REQUEST_TOKEN"}
        audience = parse_qs(str(environ.get("QUERY_STRING", ""))).get("audience", [""])[0]
        with self._lock:
            if config.oidc_tokens is not None and self._counts["oidc_tokens"] >= config.oidc_tokens:
                self._counts["oidc_refused"] += 1
                return "500 INTERNAL SERVER ERROR", {"message": "sandbox: the OIDC endpoint is failing"}
            self._counts["oidc_tokens"] += 1
            token = f"sandbox-oidc-{self._counts['oidc_tokens']}-{audience}"
            self._tokens.add(token)
        return "200 OK", {"value": token}

    # -- STS --

    def sts(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        inner: WSGIApplication,
        config: EcrEmulatorConfig,
    ) -> Iterable[bytes]:
        """An STS request: refused when signed with expired credentials; web identity tokens checked;
        the credentials it issues recorded with their lifetime (and `Expiration` saying so)."""
        params = {k: v[0] for k, v in parse_qs(read_body(environ).decode("utf-8", "replace")).items()}
        action = params.get("Action", "")
        if self._expired(access_key_of(environ), count=False):
            return _sts_error(start_response, "ExpiredToken", _EXPIRED_MESSAGE)
        if action == "AssumeRoleWithWebIdentity":
            with self._lock:
                known = params.get("WebIdentityToken", "") in self._tokens
            if not known or not params.get("WebIdentityToken", "").endswith(f"-{AUDIENCE}"):
                return _sts_error(
                    start_response, "InvalidIdentityToken", "the web identity token was not issued here"
                )
        answer: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            answer[:] = [status, headers]
            return lambda _data: None

        body = b"".join(inner(environ, capture))
        status, headers = answer
        issued = _ACCESS_KEY.search(body)
        if issued is not None and status.startswith("200"):
            lifetime = config.session_lifetime_seconds
            expires_at = time.time() + (lifetime if lifetime is not None else 3600.0)
            if lifetime is not None:
                when = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                body = _EXPIRATION.sub(f"<Expiration>{when}</Expiration>".encode(), body, count=1)
            with self._lock:
                self._sessions[issued.group(1).decode()] = _Session(expires_at, config.session_calls)
                self._counts["issued"] += 1
                if action == "AssumeRoleWithWebIdentity":
                    self._counts["web_identity"] += 1
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


def _sts_error(start_response: StartResponse, code: str, message: str) -> Iterable[bytes]:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>sandbox</RequestId></ErrorResponse>"
    ).encode()
    start_response("400 Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]
