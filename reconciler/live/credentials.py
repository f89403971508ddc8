"""The run's AWS credentials: from GitHub's OIDC in Actions, refreshed for as long as the run lasts; else
boto3's usual chain.

Why: `aws-actions/configure-aws-credentials` exports session credentials (an hour by default, at most the
role's maximum session) with no expiry time, so botocore takes them as static and never refreshes them:
a run longer than the session fails on every call after it ends. Where the job may request OIDC tokens
(`ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, set by GitHub with the job's
`id-token: write` permission) and `AWS_ROLE_ARN` names the workflow's role, the run gets its credentials
itself: a fresh OIDC token (audience `sts.amazonaws.com`) and `AssumeRoleWithWebIdentity` (unsigned), as
refreshable credentials. They take precedence over exported `AWS_ACCESS_KEY_ID`: every session this
module hands out resolves credentials through them only.

botocore has its own web-identity provider, which also reads `AWS_ROLE_ARN` but only acts with
`AWS_WEB_IDENTITY_TOKEN_FILE` (a file it re-reads on each refresh, as on EKS). Actions gives a token
through an HTTP endpoint, not a file, so the workflows set `AWS_ROLE_ARN` and no token file: botocore's
provider stays inactive, and this module is the one that refreshes. Outside Actions (no request URL or
token), boto3's chain is used as is (profiles and SSO refresh themselves; with a token file, botocore's
web-identity provider does).

Refresh margins (`RunCredentials`): botocore refreshes 15 minutes before expiry (advisory: a failure is
retried on the next call) and must refresh 10 minutes before (mandatory: calls wait for it). For a session
of 15 minutes that would refresh on every call, so the margins scale with the session's length: advisory
at a quarter of the session left, mandatory at a sixth, never more than botocore's 15 and 10 minutes (an
hour-long session refreshes exactly as botocore would). When a mandatory refresh fails after the run had
credentials, the run stops at once (reconciler.live.stop) with one message, instead of every call failing.

Sources: GitHub, "About security hardening with OpenID Connect" and "Configuring OpenID Connect in Amazon
Web Services" (the token request: GET `$ACTIONS_ID_TOKEN_REQUEST_URL&audience=...` with
`Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answer `{"value": token}`); AWS STS API
reference, AssumeRoleWithWebIdentity; botocore `credentials.py` (RefreshableCredentials).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import boto3
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, DeferredRefreshableCredentials

from reconciler.live import stop

log = logging.getLogger(__name__)

OIDC_AUDIENCE = "sts.amazonaws.com"
# botocore's own margins, the most we use (see the module docstring for the rule).
MAX_ADVISORY_MARGIN = 15 * 60.0
MAX_MANDATORY_MARGIN = 10 * 60.0
OIDC_TIMEOUT = 10.0

SESSION_PREFIX = "ecr-policy-reconciler"
MAX_SESSION_NAME = 64
_NOT_ALLOWED = re.compile(r"[^\w+=,.@-]", re.ASCII)
_STARTED = time.time()


def session_name(environ: Mapping[str, str] | None = None) -> str:
    """`ecr-policy-reconciler-gh-<run id>-<attempt>` in a GitHub Actions run, else
    `ecr-policy-reconciler-local-<pid>-<start time>`: one name for the whole run (refreshes included),
    valid for RoleSessionName whatever the environment holds (characters STS refuses are dropped, the
    result cut to 64)."""
    env = os.environ if environ is None else environ
    run_id = _clean(env.get("GITHUB_RUN_ID", ""))
    if run_id:
        attempt = _clean(env.get("GITHUB_RUN_ATTEMPT", ""))
        name = f"{SESSION_PREFIX}-gh-{run_id}" + (f"-{attempt}" if attempt else "")
    else:
        name = f"{SESSION_PREFIX}-local-{os.getpid()}-{int(_STARTED)}"
    return name[:MAX_SESSION_NAME]


def _clean(value: str) -> str:
    return _NOT_ALLOWED.sub("", value)


Fetch = Callable[[], dict[str, str]]


def refresh_margins(lifetime: float) -> tuple[float, float]:
    """(advisory, mandatory) seconds before expiry for a session of `lifetime` seconds: a quarter and a
    sixth of it, at most botocore's 15 and 10 minutes."""
    lifetime = max(0.0, lifetime)
    return min(MAX_ADVISORY_MARGIN, lifetime / 4), min(MAX_MANDATORY_MARGIN, lifetime / 6)


class RunCredentials(DeferredRefreshableCredentials):
    """Refreshable credentials (fetched on first use) whose margins scale with each session's length, and
    whose failure to refresh, once the run had credentials and now must refresh, stops the run.

    `fetch` returns botocore's refresh metadata (access_key, secret_key, token, expiry_time ISO 8601).
    """

    def __init__(
        self, fetch: Fetch, *, method: str, time_fetcher: Callable[[], datetime] | None = None
    ) -> None:
        if time_fetcher is None:
            super().__init__(refresh_using=fetch, method=method)
        else:
            super().__init__(refresh_using=fetch, method=method, time_fetcher=time_fetcher)

    def _protected_refresh(self, is_mandatory: bool) -> None:
        # botocore's, but a failure is retried quietly while there is time, and stops the run when there
        # is none (botocore logs a warning with a traceback either way, and raises into one call).
        # `me`: botocore's private state, which its type stubs do not describe.
        me: Any = self
        try:
            metadata = me._refresh_using()
        except Exception as exc:
            if me._frozen_credentials is None:
                raise  # never had credentials: a set-up problem, reported as such by the call
            if not is_mandatory:
                log.info("refreshing AWS credentials failed (retried before they expire): %s", exc)
                return
            raise stop.credentials_expired(
                f"refreshing them failed: {_short(exc)}", at=me._expiry_time
            ) from exc
        try:
            me._set_from_data(metadata)
            staged = me._staged_expiry_time
            me._publish_refresh()
        finally:
            me._staged_expiry_time = None
        if staged is not None:
            lifetime = (staged - me._time_fetcher()).total_seconds()
            me._advisory_refresh_timeout, me._mandatory_refresh_timeout = refresh_margins(lifetime)
            log.debug("AWS credentials (%s) valid for %.0f s", self.method, lifetime)
        if me._is_expired():
            raise stop.credentials_expired("the refreshed credentials are already expired")


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


class _Provider(CredentialProvider):
    """Hands botocore one credentials object instead of its default chain."""

    METHOD = "ecr-policy-reconciler"
    CANONICAL_NAME = "custom-ecr-policy-reconciler"

    def __init__(self, credentials: DeferredRefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> DeferredRefreshableCredentials:
        return self._credentials


def session_with(credentials: DeferredRefreshableCredentials, region: str | None) -> boto3.session.Session:
    """A boto3 session whose every client signs with `credentials` (and nothing else)."""
    core = botocore.session.Session()
    if region:
        core.set_config_variable("region", region)
    core.register_component("credential_provider", CredentialResolver([_Provider(credentials)]))
    core.register("before-send", stop.before_send_hook)  # STS for chained roles included
    return boto3.session.Session(botocore_session=core, region_name=region)


def in_github_actions(environ: Mapping[str, str]) -> bool:
    """The job can request OIDC tokens and names the role to assume with them."""
    return all(
        environ.get(name)
        for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "AWS_ROLE_ARN")
    )


def fetch_oidc_token(url: str, bearer: str, audience: str = OIDC_AUDIENCE) -> str:
    """A fresh GitHub Actions OIDC token for `audience` (one GET; the token is never logged)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http"):  # http: the sandbox's emulated endpoint
        raise ValueError("ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL")
    separator = "&" if parts.query else "?"
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        f"{url}{separator}audience={urllib.parse.quote(audience)}",
        headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=OIDC_TIMEOUT) as answer:  # noqa: S310
        value = json.loads(answer.read() or b"{}").get("value")
    if not isinstance(value, str) or not value:
        raise ValueError("the Actions OIDC token endpoint answered without a token")
    return value


def web_identity_fetch(environ: Mapping[str, str]) -> Fetch:
    """The refresh function: a new OIDC token, then AssumeRoleWithWebIdentity of AWS_ROLE_ARN."""
    url = environ["ACTIONS_ID_TOKEN_REQUEST_URL"]
    bearer = environ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
    role_arn = environ["AWS_ROLE_ARN"]
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    name = session_name(environ)
    # Unsigned: the web identity token is the proof. The endpoint: the standard environment's.
    sts = boto3.session.Session(region_name=region).client(
        "sts", config=Config(signature_version=UNSIGNED, retries={"mode": "standard"})
    )
    sts.meta.events.register("before-send.sts.*", stop.before_send_hook)

    def fetch() -> dict[str, str]:
        token = fetch_oidc_token(url, bearer)
        log.debug("assuming role %s with a GitHub OIDC token", role_arn)
        answer = sts.assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName=name, WebIdentityToken=token
        )
        credentials = answer["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    return fetch


_lock = threading.Lock()
_cached: tuple[tuple[str, ...], RunCredentials] | None = None


def run_credentials(environ: Mapping[str, str] | None = None) -> RunCredentials | None:
    """The run's web-identity credentials in Actions (one object for the whole process, shared by every
    client, so there is one refresh for all), or None outside Actions."""
    global _cached
    env = os.environ if environ is None else environ
    if not in_github_actions(env):
        return None
    key = tuple(
        env.get(name, "")
        for name in (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_STS",
        )
    )
    with _lock:
        if _cached is None or _cached[0] != key:
            _cached = (key, RunCredentials(web_identity_fetch(env), method="assume-role-with-web-identity"))
        return _cached[1]


def base_session(region_name: str | None = None, **_: Any) -> boto3.session.Session:
    """The session every client of the run starts from: the web-identity credentials in Actions, else
    boto3's default chain."""
    credentials = run_credentials()
    if credentials is None:
        return boto3.session.Session(region_name=region_name)
    return session_with(credentials, region_name)
