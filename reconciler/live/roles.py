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

import boto3
from botocore.config import Config

from reconciler.live.credentials import RunCredentials, session_name, session_with

__all__ = ["assume", "session_name"]

log = logging.getLogger(__name__)


def assume(
    base_session: boto3.session.Session, role_arn: str, region: str, session_name: str
) -> boto3.session.Session:
    """A session whose credentials are the role's, refreshed by botocore before they expire.

    The STS client uses the base session's credentials (reconciler.live.credentials: web identity in
    Actions, else the standard AWS environment). Nothing is fetched until the first call, and the
    credentials re-assume the role ahead of expiry (under a lock, so worker threads share one refresh,
    with a margin scaled to the session's length), which keeps runs longer than the role's session working.
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

    return session_with(RunCredentials(fetch, method="assume-role"), region)
