"""A record of every STS AssumeRole* request the emulator answers: which role, under which session name.

moto's STS hands out credentials for any role (it checks no trust policy), so the record is how tests see
which roles a command reached for: a plan must never ask for a registry's write role. STS speaks the query
protocol (a form-encoded POST: `Action=AssumeRole&RoleArn=...&RoleSessionName=...`); a JSON request with an
`X-Amz-Target` of `AWSSecurityTokenServiceV20110615.<Action>` is read as well. The request is recorded as it
arrives, before moto answers it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from reconciler.sandbox.ecr.call import read_body

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

STS_TARGET_PREFIX = "AWSSecurityTokenServiceV20110615."


@dataclass(frozen=True)
class AssumedRole:
    """One AssumeRole* request: `action` (AssumeRole, AssumeRoleWithWebIdentity...), the role and the
    session name as sent."""

    action: str
    role_arn: str
    session_name: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def _params(environ: WSGIEnvironment) -> dict[str, str]:
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if not target.startswith(STS_TARGET_PREFIX) and "x-www-form-urlencoded" not in content_type:
        return {}
    body = read_body(environ)
    if target.startswith(STS_TARGET_PREFIX):
        try:
            loaded: Any = json.loads(body or b"{}")
        except ValueError:
            return {}
        if not isinstance(loaded, dict):
            return {}
        return {"Action": target[len(STS_TARGET_PREFIX) :]} | {k: str(v) for k, v in loaded.items()}
    query = parse_qs(body.decode("utf-8", "replace"))
    return {key: values[0] for key, values in query.items() if values}


class AssumedRoles:
    """The record, in arrival order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[AssumedRole] = []

    def observe(self, environ: WSGIEnvironment) -> None:
        """Record the request if it is an STS AssumeRole*; leaves the body for whoever reads it next."""
        params = _params(environ)
        action = params.get("Action", "")
        if not action.startswith("AssumeRole"):
            return
        seen = AssumedRole(action, params.get("RoleArn", ""), params.get("RoleSessionName", ""))
        with self._lock:
            self._seen.append(seen)

    def snapshot(self) -> list[AssumedRole]:
        with self._lock:
            return list(self._seen)

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
