"""An ECR emulator: moto's server behind a WSGI middleware that behaves like the real service where moto
doesn't (see ../../shared/reference.md, "moto versus real ECR").

moto does the bookkeeping (repositories, policies, STS credentials, accounts); the middleware adds, for the
ECR JSON protocol (POST with `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Action>`):

- DescribeRepositories paging: `maxResults` 1..1000 (default 100), opaque `nextToken`, refusal of
  `maxResults`/`nextToken` together with `repositoryNames`. Order: creation order (stable).
- per-action token-bucket throttling (HTTP 400 `ThrottlingException`, which botocore retries), a throttle
  storm, per-request latency;
- policy read-back as real ECR writes it (Jackson pretty printing, account ids as root ARNs, one-item
  lists collapsed, keys reordered), see `ecr_policy_text`;
- validation moto skips: 10,240-character limit, `Resource` elements, unknown principals (with optional
  IAM eventual consistency);
- faults: a seeded rate of HTTP 500 per action, AccessDenied for chosen repositories, hangs;
- counters, and `/_sandbox/...` endpoints to read them and change knobs at runtime.

Accounts: moto's state is process-global and keyed by account and region, so one emulator serves any number
of registries. moto picks the account of a request from, in order: the MOTO_ACCOUNT_ID environment
variable (don't set it: it pins everything to one account), an `x-moto-account-id` header (what
`EcrEmulator.client(account_id=...)` sends), the access key (credentials from an STS AssumeRole against
the emulator belong to the role's account: this is how the reconciler reaches other registries through
`role_arn`), else 123456789012. A consequence: two emulators in one process share their repositories.

Requests with the header `x-sandbox-bypass: 1` skip every knob and counter (for inspecting state).

Speed (it matters to benchmarks of 10,000 repositories): ECR calls go to moto's ECR Flask app directly,
not through moto's dispatcher; DescribeRepositories pages and Get/SetRepositoryPolicy call moto's backend
methods directly instead of moto's HTTP layer (same state, validation and errors; tests compare both).
A call then costs ~2 ms in all, most of it botocore's own client-side work.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import dataclasses
import datetime
import fnmatch
import io
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.sandbox import LOCALHOST, BackgroundServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_sts import STSClient

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
ECR_TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_POLICY_LENGTH = 10_240
DESCRIBE_DEFAULT_PAGE = 100
DESCRIBE_MAX_PAGE = 1000
BYPASS_HEADER = "x-sandbox-bypass"
ACCOUNT_HEADER = "x-moto-account-id"
DUMMY_ACCESS_KEY = "testing"
DUMMY_SECRET_KEY = "testing"  # noqa: S105 (moto accepts any credentials)

PRINCIPAL_NOT_FOUND = "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'"
INVALID_POLICY = (
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'"
)
POLICY_TOO_LONG = (
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
    f"'Member must have length less than or equal to {MAX_POLICY_LENGTH}'"
)

_ACCOUNT_RE = re.compile(r"\d{12}")
_IAM_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):.+")
_CREDENTIAL_RE = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/")

_DIRECT_ACTIONS = frozenset({"GetRepositoryPolicy", "SetRepositoryPolicy"})
_POLICY_ANSWERS = frozenset({"GetRepositoryPolicy", "SetRepositoryPolicy", "DeleteRepositoryPolicy"})
# The knobs whose JSON form (lists) must become sets.
_SET_KNOBS = frozenset({"known_accounts", "access_denied", "hang_actions", "hang_repositories"})


@dataclass
class EcrEmulatorConfig:
    """The emulator's knobs. Action names are ECR's ("GetRepositoryPolicy"); "*" means every action."""

    # Added to every ECR request (ms); `action_latency_ms` overrides it per action.
    latency_ms: float = 0.0
    action_latency_ms: dict[str, float] = field(default_factory=dict)
    # Token buckets per (account, region, action): sustained calls per second; burst defaults to the rate.
    tps: dict[str, float] = field(default_factory=dict)
    default_tps: float | None = None
    burst: dict[str, float] = field(default_factory=dict)
    # Throttle this fraction of calls (of `throttle_storm_actions`, None: all) until `throttle_storm_until`
    # (a time.monotonic() value; `EcrEmulator.throttle_storm()` sets it from a duration).
    throttle_storm_fraction: float = 0.0
    throttle_storm_until: float = 0.0
    throttle_storm_actions: set[str] | None = None
    # Principal validation of SetRepositoryPolicy. None: every account exists. Otherwise 12-digit ids and
    # IAM ARNs in Principal.AWS must name one of these accounts (include the registry's own).
    known_accounts: set[str] | None = None
    # Account -> how many more SetRepositoryPolicy calls naming it fail with 'Principal not found' before
    # it "exists" (IAM eventual consistency: new principals take seconds to be visible).
    eventual_consistency_failures: dict[str, int] = field(default_factory=dict)
    # Not real ECR behaviour: also treat aws:PrincipalAccount condition values as principals, so the
    # reconciler's own policies (Principal "*" plus a condition) can exercise the checks above.
    check_condition_accounts: bool = False
    max_policy_length: int = MAX_POLICY_LENGTH
    # Rewrite policies read back (GetRepositoryPolicy, and policyText in Set/DeleteRepositoryPolicy answers).
    rewrite_policies: bool = True
    # Serve GetRepositoryPolicy/SetRepositoryPolicy by calling moto's backend directly (see _direct).
    direct_backend_calls: bool = True
    # Fraction (0..1) of calls per action answered with HTTP 500 ServerException; "*" for every action.
    error_rate: dict[str, float] = field(default_factory=dict)
    # Repository names (fnmatch globs) for which any action naming them gets AccessDeniedException.
    access_denied: set[str] = field(default_factory=set)
    # Calls of these actions (naming one of `hang_repositories`, None: any) wait `hang_seconds` before
    # being answered, far beyond a client's read timeout. reset()/stop() release them early.
    hang_actions: set[str] = field(default_factory=set)
    hang_repositories: set[str] | None = None
    hang_seconds: float = 60.0
    # Seed of the RNG behind error_rate and throttle storms.
    seed: int = 0

    def copy(self, **changes: Any) -> EcrEmulatorConfig:
        """A deep-enough copy (fresh containers) with `changes` applied; unknown knob names are errors."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown ECR emulator knob(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name in names:
            value = changes.get(name, getattr(self, name))
            if name in _SET_KNOBS and value is not None:
                value = set(value)
            elif isinstance(value, dict):
                value = dict(value)
            values[name] = value
        return EcrEmulatorConfig(**values)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = sorted(value) if isinstance(value, set) else value
        return out


class SandboxError(Exception):
    """An AWS-style error answer: HTTP status, `__type` and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class _TokenBucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.capacity = rate, max(burst, 1.0)
        self.tokens, self.updated = self.capacity, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Counters:
    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.throttled: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.injected: dict[str, int] = {}
        self.other_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0

    @staticmethod
    def bump(table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "throttled": dict(self.throttled),
            "errors": dict(self.errors),
            "injected": dict(self.injected),
            "total_requests": sum(self.requests.values()),
            "total_throttled": sum(self.throttled.values()),
            "total_errors": sum(self.errors.values()),
            "other_requests": self.other_requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }


# --- policy read-back -----------------------------------------------------------------------------------


def _collapse(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _rewrite_principal(principal: Any) -> Any:
    if not isinstance(principal, dict):
        return principal
    out: dict[str, Any] = {}
    for kind, value in principal.items():
        values = value if isinstance(value, list) else [value]
        if kind == "AWS":
            values = [
                f"arn:aws:iam::{v}:root" if isinstance(v, str) and _ACCOUNT_RE.fullmatch(v) else v
                for v in values
            ]
        # Real ECR reorders principals; sorting is one stable way to "reorder".
        values = sorted(values, key=str) if all(isinstance(v, str) for v in values) else values
        out[kind] = _collapse(values)
    return out


def _rewrite_statement(statement: Any) -> Any:
    if not isinstance(statement, dict):
        return statement
    out: dict[str, Any] = {}
    for key, value in statement.items():
        if key in ("Principal", "NotPrincipal"):
            value = _rewrite_principal(value)
        elif key in ("Action", "NotAction"):
            value = _collapse(value)
        elif key == "Condition" and isinstance(value, dict):
            value = {
                op: {k: _collapse(v) for k, v in block.items()} if isinstance(block, dict) else block
                for op, block in value.items()
            }
        out[key] = value
    return out


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def rewrite_policy_document(document: Any) -> Any:
    """The document as ECR hands it back: account principals as root ARNs, one-item lists as strings,
    principals sorted, keys sorted (so "Statement" comes before "Version")."""
    if not isinstance(document, dict):
        return document
    rewritten = dict(document)
    statements = rewritten.get("Statement")
    if isinstance(statements, list):
        rewritten["Statement"] = [_rewrite_statement(s) for s in statements]
    elif isinstance(statements, dict):
        rewritten["Statement"] = [_rewrite_statement(statements)]
    return _sorted_keys(rewritten)


def jackson_dumps(value: Any) -> str:
    """JSON the way AWS's Java services pretty-print it (Jackson's DefaultPrettyPrinter): objects one entry
    a line with `"key" : value` and 2-space indentation, arrays inline `[ a, b ]`, `[ {` ... `} ]`."""
    parts: list[str] = []

    def write(item: Any, nesting: int) -> None:
        if isinstance(item, dict):
            if not item:
                parts.append("{ }")
                return
            parts.append("{")
            inner = "\n" + "  " * (nesting + 1)
            for index, (key, child) in enumerate(item.items()):
                parts.append(
                    ("," if index else "") + inner + json.dumps(str(key), ensure_ascii=False) + " : "
                )
                write(child, nesting + 1)
            parts.append("\n" + "  " * nesting + "}")
        elif isinstance(item, list):
            if not item:
                parts.append("[ ]")
                return
            parts.append("[ ")
            for index, child in enumerate(item):
                if index:
                    parts.append(", ")
                write(child, nesting)
            parts.append(" ]")
        else:
            parts.append(json.dumps(item, ensure_ascii=False))

    write(value, 0)
    return "".join(parts)


def ecr_policy_text(policy_text: str) -> str:
    """What GetRepositoryPolicy returns for a policy set as `policy_text` (unparsable text unchanged)."""
    try:
        document = json.loads(policy_text)
    except ValueError:
        return policy_text
    return jackson_dumps(rewrite_policy_document(document))


# --- policy validation ----------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _statements(document: Any) -> list[Any]:
    return _as_list(document.get("Statement")) if isinstance(document, dict) else []


def principal_accounts(document: Any, *, include_conditions: bool = False) -> list[str]:
    """Account ids named in Principal.AWS / NotPrincipal.AWS (ids or IAM ARNs), optionally also
    aws:PrincipalAccount condition values; in order of appearance, without duplicates."""
    found: list[str] = []
    for statement in _statements(document):
        if not isinstance(statement, dict):
            continue
        for key in ("Principal", "NotPrincipal"):
            principal = statement.get(key)
            if not isinstance(principal, dict):
                continue
            for value in _as_list(principal.get("AWS")):
                if not isinstance(value, str):
                    continue
                if _ACCOUNT_RE.fullmatch(value):
                    found.append(value)
                elif match := _IAM_ARN_RE.fullmatch(value):
                    found.append(match.group(1))
        condition = statement.get("Condition")
        if include_conditions and isinstance(condition, dict):
            for block in condition.values():
                if not isinstance(block, dict):
                    continue
                for ckey, cvalue in block.items():
                    if ckey.lower() == "aws:principalaccount":
                        found.extend(v for v in _as_list(cvalue) if isinstance(v, str))
    return list(dict.fromkeys(found))


# --- the middleware -------------------------------------------------------------------------------------


@dataclass
class _Captured:
    status: str = "500 INTERNAL SERVER ERROR"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def code(self) -> int:
        return int(self.status.split(" ", 1)[0])


def _error_capture(error: SandboxError) -> _Captured:
    """The answer botocore's JSON protocol parser expects: `__type` and `message` in the body."""
    body = json.dumps({"__type": error.code, "message": error.message}).encode()
    reason = "Bad Request" if error.status == 400 else "Internal Server Error"
    headers = [
        ("Content-Type", JSON_CONTENT_TYPE),
        ("x-amzn-ErrorType", error.code),
        ("Content-Length", str(len(body))),
    ]
    return _Captured(f"{error.status} {reason}", headers, body)


def _params(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def _encode_token(offset: int, after: str | None) -> str:
    raw = json.dumps({"offset": offset, "after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: Any) -> tuple[int, str | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        offset, after = data["offset"], data["after"]
        if not isinstance(offset, int) or offset < 0 or not (after is None or isinstance(after, str)):
            raise ValueError("bad token")
        return offset, after
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise SandboxError(
            "InvalidParameterException",
            "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'",
        ) from exc


class EcrMiddleware:
    """The WSGI layer in front of moto's dispatcher; see the module docstring. State lives here."""

    def __init__(
        self, inner: WSGIApplication, config: EcrEmulatorConfig, ecr_app: WSGIApplication | None = None
    ) -> None:
        self.inner = inner
        # ECR calls skip moto's dispatcher: it finds the backend for every request under one global lock,
        # listing moto's ~200 module directories twice a call (2-3 ms, serialized), which would cap the
        # emulator at a few hundred calls a second whatever the clients' concurrency.
        self.ecr_app = ecr_app or inner
        self.initial_config = config.copy()
        self.config = config.copy()
        self._lock = threading.Lock()
        self._counters = _Counters()
        self._buckets: dict[tuple[str, str, str], _TokenBucket] = {}
        self._rng = random.Random(config.seed)
        self._ec_remaining = dict(config.eventual_consistency_failures)
        self._became_known: set[str] = set()
        self._release = threading.Event()  # set to end waits early (see release_hangs)
        self._generation = 0  # bumped by release_hangs: requests from an older generation change nothing

    # -- knobs and counters --

    def configure(self, **knobs: Any) -> None:
        with self._lock:
            self.config = self.config.copy(**knobs)
            if {"tps", "default_tps", "burst"} & set(knobs):
                self._buckets.clear()
            if "seed" in knobs:
                self._rng = random.Random(self.config.seed)
            if "eventual_consistency_failures" in knobs:
                self._ec_remaining = dict(self.config.eventual_consistency_failures)
                self._became_known.clear()

    def reset_knobs(self) -> None:
        self.release_hangs()
        with self._lock:
            self.config = self.initial_config.copy()
            self._buckets.clear()
            self._rng = random.Random(self.config.seed)
            self._ec_remaining = dict(self.config.eventual_consistency_failures)
            self._became_known.clear()

    def reset_stats(self) -> None:
        with self._lock:
            in_flight = self._counters.in_flight
            self._counters = _Counters()
            self._counters.in_flight = in_flight

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._counters.snapshot()

    def release_hangs(self) -> None:
        """Cut short every request now waiting (hang or latency): it answers ServerException and changes
        nothing. Without this, a request whose client died (a killed process, a read timeout) would
        still write when its wait ends, possibly into the next test's freshly reset state."""
        with self._lock:
            self._generation += 1
            release, self._release = self._release, threading.Event()
        release.set()

    # -- WSGI --

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._admin(environ, start_response, path)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(ECR_TARGET_PREFIX):
            with self._lock:
                self._counters.other_requests += 1  # STS, moto's own API
            return self.inner(environ, start_response)
        if environ.get("HTTP_X_SANDBOX_BYPASS") == "1":
            return self._bypass(environ, start_response)
        action = target[len(ECR_TARGET_PREFIX) :]
        body = self._read_body(environ)
        with self._lock:
            self._counters.bump(self._counters.requests, action)
            self._counters.in_flight += 1
            self._counters.max_in_flight = max(self._counters.max_in_flight, self._counters.in_flight)
        try:
            captured = self._handle(environ, action, body)
        finally:
            with self._lock:
                self._counters.in_flight -= 1
        start_response(captured.status, captured.headers)
        return [captured.body]

    def _bypass(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Protocol behaviour (validation, paging, rewriting) without knobs or counters."""
        action = environ["HTTP_X_AMZ_TARGET"][len(ECR_TARGET_PREFIX) :]
        body = self._read_body(environ)
        params = _params(body)
        config = self.config
        try:
            captured = self._answer(environ, config, action, params, body)
        except SandboxError as error:
            captured = _error_capture(error)
        start_response(captured.status, captured.headers)
        return [captured.body]

    @staticmethod
    def _read_body(environ: WSGIEnvironment) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def _forward(self, environ: WSGIEnvironment, body: bytes) -> _Captured:
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        captured = _Captured()

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            captured.status, captured.headers = status, list(headers)
            return lambda _chunk: None

        result = self.ecr_app(environ, capture)
        try:
            captured.body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return captured

    def _handle(self, environ: WSGIEnvironment, action: str, body: bytes) -> _Captured:
        config = self.config  # one consistent snapshot for the whole request
        with self._lock:
            generation, release = self._generation, self._release
        params = _params(body)
        names = self._repository_names(params)
        delay = config.action_latency_ms.get(action, config.latency_ms)
        try:
            if delay > 0:
                release.wait(delay / 1000.0)  # like time.sleep, but release_hangs() ends it
            self._maybe_hang(config, action, names, release)
            if generation != self._generation:
                raise SandboxError("ServerException", "sandbox: request cut short by a reset", 500)
            self._maybe_throttle(config, environ, action)
            self._maybe_fail(config, environ, action, params, names)
            captured = self._answer(environ, config, action, params, body)
        except SandboxError as error:
            captured = _error_capture(error)
            if error.code == "ThrottlingException":
                with self._lock:
                    self._counters.bump(self._counters.throttled, action)
                return captured
        if captured.code >= 400:
            with self._lock:
                self._counters.bump(self._counters.errors, action)
        return captured

    @staticmethod
    def _repository_names(params: dict[str, Any]) -> list[str]:
        names = [params["repositoryName"]] if isinstance(params.get("repositoryName"), str) else []
        many = params.get("repositoryNames")
        if isinstance(many, list):
            names.extend(n for n in many if isinstance(n, str))
        return names

    def _maybe_hang(
        self, config: EcrEmulatorConfig, action: str, names: list[str], release: threading.Event
    ) -> None:
        if action not in config.hang_actions and "*" not in config.hang_actions:
            return
        if config.hang_repositories is not None and not any(
            fnmatch.fnmatchcase(n, p) for n in names for p in config.hang_repositories
        ):
            return
        with self._lock:
            self._counters.bump(self._counters.injected, "hang")
        release.wait(config.hang_seconds)

    def _maybe_throttle(self, config: EcrEmulatorConfig, environ: WSGIEnvironment, action: str) -> None:
        now = time.monotonic()
        with self._lock:
            storm = (
                config.throttle_storm_fraction > 0
                and now < config.throttle_storm_until
                and (config.throttle_storm_actions is None or action in config.throttle_storm_actions)
                and self._rng.random() < config.throttle_storm_fraction
            )
            if storm:
                raise SandboxError("ThrottlingException", "Rate exceeded")
            rate = config.tps.get(action, config.tps.get("*", config.default_tps))
            if rate is None:
                return
            account, region = _caller(environ)
            key = (account, region, action)
            bucket = self._buckets.get(key)
            if bucket is None:
                burst = config.burst.get(action, config.burst.get("*", rate))
                bucket = self._buckets[key] = _TokenBucket(rate, burst, now)
            if not bucket.take(now):
                raise SandboxError("ThrottlingException", "Rate exceeded")

    def _maybe_fail(
        self,
        config: EcrEmulatorConfig,
        environ: WSGIEnvironment,
        action: str,
        params: dict[str, Any],
        names: list[str],
    ) -> None:
        rate = config.error_rate.get(action, config.error_rate.get("*", 0.0))
        if rate > 0:
            with self._lock:
                fail = self._rng.random() < rate
                if fail:
                    self._counters.bump(self._counters.injected, "server_error")
            if fail:
                raise SandboxError("ServerException", "sandbox: injected internal failure", 500)
        denied = next(
            (n for n in names if any(fnmatch.fnmatchcase(n, p) for p in config.access_denied)), None
        )
        if denied is not None:
            with self._lock:
                self._counters.bump(self._counters.injected, "access_denied")
            account, region = _caller(environ)
            registry = params.get("registryId") or account
            raise SandboxError(
                "AccessDeniedException",
                f"User: arn:aws:sts::{account}:assumed-role/sandbox/session is not authorized to perform: "
                f"ecr:{action} on resource: arn:aws:ecr:{region}:{registry}:repository/{denied} "
                f"because no resource-based policy allows the ecr:{action} action",
            )

    def _answer(
        self,
        environ: WSGIEnvironment,
        config: EcrEmulatorConfig,
        action: str,
        params: dict[str, Any],
        body: bytes,
    ) -> _Captured:
        """What ECR answers, knobs aside: our checks, then moto (or our paging), then our rewriting."""
        self._validate(config, action, params)
        if action == "DescribeRepositories" and not params.get("repositoryNames"):
            return self._page(environ, params)
        if (
            config.direct_backend_calls
            and action in _DIRECT_ACTIONS
            and isinstance(params.get("repositoryName"), str)
        ):
            return self._post_process(config, action, self._direct(environ, action, params))
        return self._post_process(config, action, self._forward(environ, body))

    @staticmethod
    def _direct(environ: WSGIEnvironment, action: str, params: dict[str, Any]) -> _Captured:
        """The hot per-repository calls go to moto's ECR backend methods without moto's HTTP layer
        (Flask, request parsing, response serialization: ~2 ms a call, GIL-bound in this process).
        Same backend, same validation, same errors; `direct_backend_calls=False` turns it off."""
        from moto.core.exceptions import ServiceException

        account, region = _caller(environ)
        backend = _ecr_backend(account, region)
        registry_id, name = params.get("registryId"), params["repositoryName"]
        try:
            if action == "GetRepositoryPolicy":
                result = backend.get_repository_policy(registry_id, name)
            elif isinstance(params.get("policyText"), str):
                result = backend.set_repository_policy(registry_id, name, params["policyText"])
            else:
                raise SandboxError("ValidationException", "policyText is required")
        except ServiceException as exc:
            raise SandboxError(str(exc.code), str(exc.message)) from exc
        body = json.dumps(result).encode()
        headers = [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))]
        return _Captured("200 OK", headers, body)

    def _validate(self, config: EcrEmulatorConfig, action: str, params: dict[str, Any]) -> None:
        """Checks real ECR makes and moto doesn't."""
        if action == "DescribeRepositories":
            has_paging = "maxResults" in params or "nextToken" in params
            if params.get("repositoryNames") and has_paging:
                raise SandboxError(
                    "InvalidParameterException",
                    "Invalid parameter at 'maxResults, nextToken' failed to satisfy constraint: "
                    "'Cannot be specified with repositoryNames'",
                )
            if "maxResults" in params:
                value = params["maxResults"]
                if not isinstance(value, int) or not DESCRIBE_DEFAULT_PAGE * 0 < value <= DESCRIBE_MAX_PAGE:
                    bound = (
                        "greater than or equal to 1"
                        if isinstance(value, int) and value < 1
                        else (f"less than or equal to {DESCRIBE_MAX_PAGE}")
                    )
                    raise SandboxError(
                        "ValidationException",
                        f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy "
                        f"constraint: Member must have value {bound}",
                    )
            if "nextToken" in params:
                _decode_token(params["nextToken"])
        elif action == "SetRepositoryPolicy":
            self._validate_policy(config, params.get("policyText"))

    def _validate_policy(self, config: EcrEmulatorConfig, text: Any) -> None:
        if not isinstance(text, str):
            return  # moto answers for missing parameters
        if len(text) > config.max_policy_length:
            raise SandboxError("InvalidParameterException", POLICY_TOO_LONG)
        try:
            document = json.loads(text)
        except ValueError:
            return  # moto's own validator rejects malformed JSON
        if any(
            isinstance(s, dict) and ("Resource" in s or "NotResource" in s) for s in _statements(document)
        ):
            raise SandboxError("InvalidParameterException", INVALID_POLICY)
        accounts = principal_accounts(document, include_conditions=config.check_condition_accounts)
        with self._lock:
            pending = [a for a in accounts if self._ec_remaining.get(a, 0) > 0]
            for account in pending:
                self._ec_remaining[account] -= 1
                if self._ec_remaining[account] == 0:
                    self._became_known.add(account)
            if pending:
                raise SandboxError("InvalidParameterException", PRINCIPAL_NOT_FOUND)
            if config.known_accounts is not None:
                known = config.known_accounts | self._became_known
                if any(a not in known for a in accounts):
                    raise SandboxError("InvalidParameterException", PRINCIPAL_NOT_FOUND)

    def _post_process(self, config: EcrEmulatorConfig, action: str, captured: _Captured) -> _Captured:
        if captured.code >= 400:
            return captured
        if config.rewrite_policies and action in _POLICY_ANSWERS:
            captured = self._rewrite(captured)
        return captured

    @staticmethod
    def _replace_body(captured: _Captured, payload: Any) -> _Captured:
        body = json.dumps(payload).encode()
        headers = [(k, v) for k, v in captured.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        return _Captured(captured.status, headers, body)

    def _page(self, environ: WSGIEnvironment, params: dict[str, Any]) -> _Captured:
        """One DescribeRepositories page, built here rather than by moto: moto's response serializer costs
        ~0.15 ms per repository per call and always serializes all of them, so paging 10,000 repositories
        100 at a time through moto would take minutes. The shape is moto's (a test compares them)."""
        account, region = _caller(environ)
        registry_id = params.get("registryId") or account
        backend = _ecr_backend(account, region)
        repositories = [r for r in list(backend.repositories.values()) if r.registry_id == registry_id]
        limit = params.get("maxResults", DESCRIBE_DEFAULT_PAGE)
        start = 0
        if "nextToken" in params:
            offset, after = _decode_token(params["nextToken"])
            start = offset
            # Resume after the last name handed out, so a deletion between pages skips nothing.
            if after is not None and not (
                0 < offset <= len(repositories) and repositories[offset - 1].name == after
            ):
                index = next((i for i, r in enumerate(repositories) if r.name == after), None)
                start = offset if index is None else index + 1
        page = repositories[start : start + limit]
        payload: dict[str, Any] = {"repositories": [_repository_json(r) for r in page]}
        end = start + len(page)
        if end < len(repositories):
            payload["nextToken"] = _encode_token(end, page[-1].name if page else None)
        body = json.dumps(payload).encode()
        headers = [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))]
        return _Captured("200 OK", headers, body)

    def _rewrite(self, captured: _Captured) -> _Captured:
        payload = json.loads(captured.body)
        if isinstance(payload.get("policyText"), str):
            payload["policyText"] = ecr_policy_text(payload["policyText"])
        return self._replace_body(captured, payload)

    # -- admin endpoints --

    def _admin(self, environ: WSGIEnvironment, start_response: StartResponse, path: str) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        status, payload = "200 OK", None
        try:
            if path == "/_sandbox/stats" and method == "GET":
                payload = self.stats()
            elif path == "/_sandbox/config" and method == "GET":
                payload = self.config.to_json()
            elif path == "/_sandbox/config" and method == "POST":
                knobs = json.loads(self._read_body(environ) or b"{}")
                if not isinstance(knobs, dict):
                    raise ValueError("expected a JSON object of knobs")
                if "throttle_storm_seconds" in knobs:
                    knobs["throttle_storm_until"] = time.monotonic() + float(
                        knobs.pop("throttle_storm_seconds")
                    )
                self.configure(**knobs)
                payload = self.config.to_json()
            elif path == "/_sandbox/reset-stats" and method == "POST":
                self.reset_stats()
                payload = self.stats()
            elif path == "/_sandbox/reset" and method == "POST":
                options = json.loads(self._read_body(environ) or b"{}")
                self.release_hangs()
                reset_moto_state()
                self.reset_stats()
                if isinstance(options, dict) and options.get("knobs"):
                    self.reset_knobs()
                payload = {"reset": True}
            else:
                status, payload = "404 NOT FOUND", {"message": f"no sandbox endpoint {method} {path}"}
        except (ValueError, TypeError) as exc:
            status, payload = "400 BAD REQUEST", {"message": str(exc)}
        body = json.dumps(payload).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def _caller(environ: WSGIEnvironment) -> tuple[str, str]:
    """(account, region) of a request, the way moto resolves them (see the module docstring)."""
    import os

    match = _CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    access_key, region = (match.group(1), match.group(2)) if match else ("", DEFAULT_REGION)
    account = os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if not account:
        from moto.iam.models import get_account_id_from

        account = str(get_account_id_from(access_key)) if access_key else DEFAULT_ACCOUNT_ID
    return account, region


def reset_moto_state() -> None:
    """Clear every moto backend of this process (what POST /moto-api/reset does)."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def _epoch_millis(value: datetime.datetime) -> float:
    """moto's JSON timestamps: seconds since the epoch, truncated to milliseconds (naive means UTC)."""
    return calendar.timegm(value.utctimetuple()) + (value.microsecond // 1000) / 1000.0


def _repository_json(repository: Any) -> dict[str, Any]:
    """A moto Repository as DescribeRepositories answers it."""
    item: dict[str, Any] = {
        "repositoryArn": repository.arn,
        "registryId": repository.registry_id,
        "repositoryName": repository.name,
        "repositoryUri": repository.uri,
        "createdAt": _epoch_millis(repository.created_at),
        "imageTagMutability": repository.image_tag_mutability,
        "imageScanningConfiguration": repository.image_scanning_configuration,
        "encryptionConfiguration": repository.encryption_configuration,
    }
    if repository.image_tag_mutability_exclusion_filters:
        item["imageTagMutabilityExclusionFilters"] = repository.image_tag_mutability_exclusion_filters
    return item


def _ecr_backend(account_id: str, region: str) -> Any:
    from moto.ecr.models import ecr_backends

    return ecr_backends[account_id][region]


# --- the emulator ---------------------------------------------------------------------------------------


class EcrEmulator:
    """moto's server plus the ECR middleware, on 127.0.0.1 in a background thread; a context manager.

    Use `client()` for boto3 clients, `environment()` for the variables a subprocess needs, the knob
    methods (`configure`, `throttle_storm`, `reset_knobs`) to shape behaviour, `stats()` for counters, and
    the direct methods (`create_repository`, `put_policy`, `stored_policy`, `repository_names`) to reach
    into moto's state without going through HTTP (no latency, no throttling, not counted).
    """

    def __init__(
        self, config: EcrEmulatorConfig | None = None, *, host: str = LOCALHOST, port: int = 0
    ) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self._middleware = EcrMiddleware(
            DomainDispatcherApplication(create_backend_app),
            config or EcrEmulatorConfig(),
            create_backend_app("ecr"),
        )
        self._server = BackgroundServer(self._middleware, host=host, port=port, name="ecr-emulator")

    # -- lifecycle --

    def start(self) -> EcrEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._middleware.release_hangs()
        self._server.stop()

    def __enter__(self) -> EcrEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    # -- knobs, counters, state --

    @property
    def config(self) -> EcrEmulatorConfig:
        """The knobs in force (a copy: change them with configure())."""
        return self._middleware.config.copy()

    def configure(self, **knobs: Any) -> None:
        """Change knobs (EcrEmulatorConfig field names) at runtime; the others keep their values."""
        self._middleware.configure(**knobs)

    def throttle_storm(self, fraction: float, seconds: float, actions: Iterable[str] | None = None) -> None:
        """Throttle `fraction` of calls (to `actions`, default all) for `seconds`, whatever the TPS."""
        self.configure(
            throttle_storm_fraction=fraction,
            throttle_storm_until=time.monotonic() + seconds,
            throttle_storm_actions=None if actions is None else set(actions),
        )

    def reset_knobs(self) -> None:
        """Back to the configuration the emulator was created with (and release hanging requests)."""
        self._middleware.reset_knobs()

    def reset_stats(self) -> None:
        self._middleware.reset_stats()

    def reset(self) -> None:
        """Clear moto's state (every account and region) and the counters; knobs stay (see reset_knobs)."""
        self._middleware.release_hangs()
        reset_moto_state()
        self._middleware.reset_stats()

    def stats(self) -> dict[str, Any]:
        """Counters: requests/throttled/errors per action, injected faults, in-flight peak, totals."""
        return self._middleware.stats()

    # -- clients --

    def environment(self, region: str = DEFAULT_REGION) -> dict[str, str]:
        """Environment variables pointing AWS SDKs and the reconciler at this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
            "AWS_DEFAULT_REGION": region,
        }

    def client(
        self,
        region: str = DEFAULT_REGION,
        *,
        account_id: str | None = None,
        bypass: bool = False,
        max_attempts: int | None = None,
        **config: Any,
    ) -> ECRClient:
        """A boto3 ECR client for this emulator with dummy credentials. `account_id` picks the registry
        account (moto's header); `bypass` skips knobs and counters; `max_attempts` sets botocore's standard
        retry mode with that many attempts in all (1: no retries); other keyword arguments go to
        botocore.config.Config."""
        import boto3
        from botocore.config import Config

        if max_attempts is not None:
            config.setdefault("retries", {"mode": "standard", "total_max_attempts": max_attempts})
        client = boto3.client(
            "ecr",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=DUMMY_ACCESS_KEY,
            aws_secret_access_key=DUMMY_SECRET_KEY,
            config=Config(**config),
        )
        headers = {}
        if account_id is not None:
            headers[ACCOUNT_HEADER] = account_id
        if bypass:
            headers[BYPASS_HEADER] = "1"
        if headers:
            client.meta.events.register("before-sign.ecr.*", _add_headers(headers))
        return client

    def sts_client(self, region: str = DEFAULT_REGION) -> STSClient:
        import boto3

        return boto3.client(
            "sts",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=DUMMY_ACCESS_KEY,
            aws_secret_access_key=DUMMY_SECRET_KEY,
        )

    def assumed_client(self, role_arn: str, region: str = DEFAULT_REGION, **config: Any) -> ECRClient:
        """An ECR client with credentials from STS AssumeRole on the emulator: it acts in the role's
        account (how the reconciler reaches a registry through its role_arn)."""
        import boto3
        from botocore.config import Config

        credentials = self.sts_client(region).assume_role(RoleArn=role_arn, RoleSessionName="sandbox")[
            "Credentials"
        ]
        return boto3.client(
            "ecr",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            config=Config(**config),
        )

    # -- direct state access (in-process, bypasses HTTP) --

    def create_repository(
        self,
        name: str,
        *,
        policy_text: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
    ) -> None:
        """Create a repository straight in moto (fast: seeding 10,000 takes well under a second)."""
        backend = _ecr_backend(account_id, region)
        repository = backend.create_repository(name, None, None, None, None, [])
        if policy_text is not None:
            repository.policy = policy_text

    def put_policy(
        self,
        name: str,
        policy_text: str | None,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
    ) -> None:
        """Set (None: delete) a repository's policy text as stored, without validation."""
        _ecr_backend(account_id, region)._get_repository(name).policy = policy_text

    def stored_policy(
        self, name: str, *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION
    ) -> str | None:
        """The policy text as stored (as last set, before read-back rewriting); None when there is none."""
        policy = _ecr_backend(account_id, region)._get_repository(name).policy
        return None if policy is None else str(policy)

    def repository_names(
        self, *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION
    ) -> list[str]:
        return [str(name) for name in _ecr_backend(account_id, region).repositories]


def _add_headers(headers: dict[str, str]) -> Callable[..., None]:
    def handler(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    return handler


def iter_pages(client: ECRClient, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
    """DescribeRepositories page by page (a tiny helper for tests and benchmarks)."""
    token: str | None = None
    while True:
        arguments = dict(kwargs, **({"nextToken": token} if token else {}))
        response = client.describe_repositories(**arguments)
        yield [dict(r) for r in response["repositories"]]
        token = response.get("nextToken")
        if not token:
            return
