"""Role assumption: the one place a role session is opened (registry read/write roles, the Organizations
role), and the name every such session carries.

The name is the run's: on GitHub Actions `GITHUB_RUN_ID` and `GITHUB_RUN_ATTEMPT`, elsewhere the process id
and start time. CloudTrail records the session name in `userIdentity.arn`
(`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`) of every call made with the session, so a policy write
names the run that made it. STS limits `RoleSessionName` to 2-64 characters of `[\\w+=,.@-]` (STS API
reference, AssumeRole).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, DeferredRefreshableCredentials

log = logging.getLogger(__name__)

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


class _FixedProvider(CredentialProvider):
    """Hands botocore one credentials object (our assumed-role credentials) instead of the default chain."""

    METHOD = "ecr-policy-reconciler-assume-role"
    CANONICAL_NAME = "custom-ecr-policy-reconciler"

    def __init__(self, credentials: DeferredRefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> DeferredRefreshableCredentials:
        return self._credentials


def assume(
    base_session: boto3.session.Session, role_arn: str, region: str, session_name: str
) -> boto3.session.Session:
    """A session whose credentials are the role's, refreshed by botocore before they expire.

    The STS client uses the base session's credentials (the standard AWS environment: env vars, profile,
    web identity in CI). Nothing is fetched until the first call, and botocore's RefreshableCredentials
    re-assumes the role ahead of expiry (and under a lock, so worker threads share one refresh), which
    keeps runs longer than the role's session duration working.
    """
    sts = base_session.client("sts", region_name=region, config=Config(retries={"mode": "standard"}))

    def fetch() -> dict[str, str]:
        log.debug("assuming role %s as %s", role_arn, session_name)
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)
        credentials = answer["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    credentials = DeferredRefreshableCredentials(refresh_using=fetch, method="assume-role")
    core = botocore.session.Session()
    core.set_config_variable("region", region)
    core.register_component("credential_provider", CredentialResolver([_FixedProvider(credentials)]))
    return boto3.session.Session(botocore_session=core, region_name=region)
