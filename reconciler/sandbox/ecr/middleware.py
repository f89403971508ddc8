"""The WSGI middleware in front of moto: it builds an `EcrCall` per ECR request and passes it through the
layers, composed here in the order a call meets them. Knobs, counters and `/_sandbox/...` admin endpoints
live here too."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.ecr.backend import caller, moto_ecr, reset_moto_state
from reconciler.sandbox.ecr.call import (
    ECR_TARGET_PREFIX,
    EcrCall,
    Releaser,
    SandboxError,
    chain,
    parse_params,
    read_body,
)
from reconciler.sandbox.ecr.cloudtrail import CLOUDTRAIL_TARGET_PREFIX, EventHistory
from reconciler.sandbox.ecr.config import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, EcrEmulatorConfig
from reconciler.sandbox.ecr.counters import Counters
from reconciler.sandbox.ecr.fastpath import direct_policy_calls
from reconciler.sandbox.ecr.faults import Dice, Failures, Hangs
from reconciler.sandbox.ecr.latency import cut_short, latency
from reconciler.sandbox.ecr.organizations import ORGANIZATIONS_TARGET_PREFIX, OrganizationsRules
from reconciler.sandbox.ecr.paging import describe_pages
from reconciler.sandbox.ecr.readback import read_back
from reconciler.sandbox.ecr.sessions import OIDC_PATH, Sessions
from reconciler.sandbox.ecr.sts import AssumedRoles
from reconciler.sandbox.ecr.templates import create_through_template, creation_templates
from reconciler.sandbox.ecr.throttling import Throttling
from reconciler.sandbox.ecr.validation import PolicyValidation

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_BUCKET_KNOBS = frozenset({"tps", "default_tps", "burst"})


class EcrMiddleware:
    """The WSGI layer in front of moto's dispatcher (see the package docstring). State lives here."""

    def __init__(
        self, inner: WSGIApplication, config: EcrEmulatorConfig, ecr_app: WSGIApplication | None = None
    ) -> None:
        self.inner = inner
        self.initial_config = config.copy()
        self.config = config.copy()
        self._lock = threading.Lock()
        self.counters = Counters()
        self.assumed_roles = AssumedRoles()  # every STS AssumeRole*: role and session name
        self._releaser = Releaser()
        self._dice = Dice(config.seed)
        self._throttling = Throttling(self._dice)
        self._validation = PolicyValidation(config)
        self.sessions = Sessions()
        self.trail = EventHistory()  # CloudTrail's event history of the calls answered (cloudtrail.py)
        # What ECR answers, knobs aside (calls with the bypass header get only this). ECR calls skip moto's
        # dispatcher: it finds the backend for every request under one global lock, listing moto's ~200
        # module directories twice a call (2-3 ms, serialized), which would cap the emulator at a few
        # hundred calls a second whatever the clients' concurrency.
        self._answer = chain(
            [
                self.trail.recorder(caller),
                creation_templates,
                describe_pages,
                self._validation,
                read_back,
                direct_policy_calls,
            ],
            moto_ecr(ecr_app or inner),
        )
        # Every other ECR call meets the knobs first, in this order.
        self._handle = chain(
            [
                self.counters.count,
                self.sessions.refuse_expired,
                latency,
                Hangs(self.counters),
                cut_short,
                self._throttling,
                Failures(self._dice, self.counters),
            ],
            self._answer,
        )

        # AWS Organizations, on the same endpoint: counted, faults and who-may-ask, then moto.
        self._organizations = chain(
            [self.counters.count, self.sessions.refuse_expired, OrganizationsRules(self.counters)],
            moto_ecr(inner),
        )

    # -- knobs and counters --

    def configure(self, **knobs: Any) -> None:
        with self._lock:
            self.config = self.config.copy(**knobs)
            if _BUCKET_KNOBS & set(knobs):
                self._throttling.reset()
            if "throttle_storm_calls" in knobs:
                self._throttling.restart_storm()
            if "seed" in knobs:
                self._dice.reseed(self.config.seed)
            if "eventual_consistency_failures" in knobs:
                self._validation.reset(self.config)

    def reset_knobs(self) -> None:
        self.release_hangs()
        with self._lock:
            self.config = self.initial_config.copy()
            self._throttling.reset()
            self._dice.reseed(self.config.seed)
            self._validation.reset(self.config)

    def reset_stats(self) -> None:
        self.counters.reset()
        self.assumed_roles.reset()

    def stats(self) -> dict[str, Any]:
        return self.counters.snapshot() | {"sessions": self.sessions.stats()}

    def release_hangs(self) -> None:
        """Cut short every request now waiting (hang or latency): it answers ServerException and changes
        nothing. Without this, a request whose client died (a killed process, a read timeout) would
        still write when its wait ends, possibly into the next test's freshly reset state."""
        self._releaser.release_all()

    # -- WSGI --

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._admin(environ, start_response, path)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(ORGANIZATIONS_TARGET_PREFIX):
            return self._organizations_call(environ, start_response, target)
        if target.startswith(CLOUDTRAIL_TARGET_PREFIX):
            return self._cloudtrail_call(environ, start_response, target)
        if not target.startswith(ECR_TARGET_PREFIX):
            self.assumed_roles.observe(environ)
            self.counters.other_request()  # STS, moto's own API
            if _is_sts(environ):
                return self.sessions.sts(environ, start_response, self.inner, self.config)
            return self.inner(environ, start_response)
        body = read_body(environ)
        call = EcrCall(
            environ=environ,
            action=target[len(ECR_TARGET_PREFIX) :],
            body=body,
            params=parse_params(body),
            config=self.config,
            ticket=self._releaser.ticket(),
        )
        if environ.get("HTTP_X_SANDBOX_BYPASS") == "1":
            # Protocol behaviour (validation, paging, rewriting) without knobs or counters.
            try:
                answer = self._answer(call)
            except SandboxError as error:
                answer = error.answer()
        else:
            answer = self._handle(call)
        start_response(answer.status, answer.headers)
        return [answer.body]

    def _organizations_call(
        self, environ: WSGIEnvironment, start_response: StartResponse, target: str
    ) -> Iterable[bytes]:
        body = read_body(environ)
        call = EcrCall(
            environ=environ,
            action=target[len(ORGANIZATIONS_TARGET_PREFIX) :],
            body=body,
            params=parse_params(body),
            config=self.config,
            ticket=self._releaser.ticket(),
        )
        answer = self._organizations(call)
        start_response(answer.status, answer.headers)
        return [answer.body]

    def _cloudtrail_call(
        self, environ: WSGIEnvironment, start_response: StartResponse, target: str
    ) -> Iterable[bytes]:
        self.counters.other_request()
        account, region = caller(environ)
        try:
            if target[len(CLOUDTRAIL_TARGET_PREFIX) :] != "LookupEvents":
                raise SandboxError("UnsupportedOperationException", "the sandbox emulates only LookupEvents")
            answer = self.trail.lookup(parse_params(read_body(environ)), account, region, self.config)
        except SandboxError as error:
            answer = error.answer()
        start_response(answer.status, answer.headers)
        return [answer.body]

    # -- admin endpoints --

    def push(self, account: str, region: str, repository: str) -> str | None:
        """Sandbox-only create-on-push (templates.py); the template's prefix (None: the repository
        existed). Recorded as CloudTrail would: the push, and the repository ECR created for it."""
        created = create_through_template(account, region, repository)
        if created.template is not None:
            self.trail.record("CreateRepository", account, region, repository)
        self.trail.record("PutImage", account, region, repository)
        return created.template

    def _push(self, options: Any) -> dict[str, Any]:
        """`POST /_sandbox/push`: `{"repository": NAME, "account_id"?, "region"?}`."""
        if not isinstance(options, dict) or not isinstance(options.get("repository"), str):
            raise ValueError('expected {"repository": NAME} (and optionally account_id, region)')
        repository = options["repository"]
        account = str(options.get("account_id") or DEFAULT_ACCOUNT_ID)
        template = self.push(account, str(options.get("region") or DEFAULT_REGION), repository)
        return {"repository": repository, "template": template}

    def _admin(self, environ: WSGIEnvironment, start_response: StartResponse, path: str) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        status, payload = "200 OK", None
        try:
            if path == OIDC_PATH and method == "GET":
                status, payload = self.sessions.oidc_token(environ, self.config)
            elif path == "/_sandbox/stats" and method == "GET":
                payload = self.stats()
            elif path == "/_sandbox/assumed-roles" and method == "GET":
                payload = {"assumed_roles": [seen.to_json() for seen in self.assumed_roles.snapshot()]}
            elif path == "/_sandbox/config" and method == "GET":
                payload = self.config.to_json()
            elif path == "/_sandbox/config" and method == "POST":
                knobs = json.loads(read_body(environ) or b"{}")
                if not isinstance(knobs, dict):
                    raise ValueError("expected a JSON object of knobs")
                if "throttle_storm_seconds" in knobs:
                    knobs["throttle_storm_until"] = time.monotonic() + float(
                        knobs.pop("throttle_storm_seconds")
                    )
                self.configure(**knobs)
                payload = self.config.to_json()
            elif path == "/_sandbox/push" and method == "POST":
                payload = self._push(json.loads(read_body(environ) or b"{}"))
            elif path == "/_sandbox/cloudtrail/age" and method == "POST":
                options = json.loads(read_body(environ) or b"{}")
                payload = {"aged": self.trail.age(float(options["seconds"]))}
            elif path == "/_sandbox/reset-stats" and method == "POST":
                self.reset_stats()
                payload = self.stats()
            elif path == "/_sandbox/reset" and method == "POST":
                options = json.loads(read_body(environ) or b"{}")
                self.release_hangs()
                reset_moto_state()
                self.trail.reset()
                self.reset_stats()
                self.sessions.reset()
                if isinstance(options, dict) and options.get("knobs"):
                    self.reset_knobs()
                payload = {"reset": True}
            else:
                status, payload = "404 NOT FOUND", {"message": f"no sandbox endpoint {method} {path}"}
        except (ValueError, TypeError) as exc:
            status, payload = "400 BAD REQUEST", {"message": str(exc)}
        except SandboxError as error:
            status, payload = "400 BAD REQUEST", {"__type": error.code, "message": error.message}
        body = json.dumps(payload).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def _is_sts(environ: WSGIEnvironment) -> bool:
    """An STS query-protocol request (signed for sts, or the unsigned AssumeRoleWithWebIdentity)."""
    if "/sts/aws4_request" in str(environ.get("HTTP_AUTHORIZATION", "")):
        return True
    return environ.get("REQUEST_METHOD") == "POST" and b"Version=2011-06-15" in read_body(environ)
