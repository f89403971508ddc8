"""The ECR emulator's STS sessions: an Expiration that says the configured lifetime, calls with expired
session credentials refused (ECR: ExpiredTokenException; STS: ExpiredToken), the Actions OIDC token
endpoint and AssumeRoleWithWebIdentity. Expiry is driven by call count here (no waiting)."""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from reconciler.sandbox.ecr import EcrEmulator
from reconciler.sandbox.ecr.sessions import REQUEST_TOKEN

ROLE = "arn:aws:iam::123456789012:role/job"


def session_client(ecr: EcrEmulator, service: str, credentials: dict[str, str]) -> object:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name="us-east-1",
        endpoint_url=ecr.url,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_expiration_says_the_lifetime(ecr: EcrEmulator) -> None:
    ecr.configure(session_lifetime_seconds=900)
    answer = ecr.sts_client().assume_role(RoleArn=ROLE, RoleSessionName="job")
    left = answer["Credentials"]["Expiration"] - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(seconds=800) < left <= datetime.timedelta(seconds=900)


def test_a_session_past_its_calls_is_refused_by_ecr_and_sts(ecr: EcrEmulator) -> None:
    ecr.create_repository("app")
    ecr.configure(session_calls=2)
    credentials = ecr.session_environment(ROLE)
    client = session_client(ecr, "ecr", credentials)
    for _ in range(2):
        client.describe_repositories()  # type: ignore[attr-defined]
    with pytest.raises(ClientError) as refused:
        client.describe_repositories()  # type: ignore[attr-defined]
    assert refused.value.response["Error"]["Code"] == "ExpiredTokenException"
    sts = session_client(ecr, "sts", credentials)
    with pytest.raises(ClientError) as chained:
        sts.assume_role(RoleArn=ROLE, RoleSessionName="chained")  # type: ignore[attr-defined]
    assert chained.value.response["Error"]["Code"] == "ExpiredToken"
    # Long-term keys never expire.
    assert ecr.client().describe_repositories()["repositories"]
    assert ecr.stats()["sessions"]["refused"] == 2


def _token(ecr: EcrEmulator, bearer: str = REQUEST_TOKEN) -> str:
    url = ecr.actions_environment(ROLE)["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=sts.amazonaws.com"
    request = urllib.request.Request(url, headers={"Authorization": f"bearer {bearer}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.loads(answer.read())["value"])


def test_oidc_tokens_and_web_identity(ecr: EcrEmulator) -> None:
    with pytest.raises(urllib.error.HTTPError) as unauthorized:
        _token(ecr, bearer="wrong")
    assert unauthorized.value.code == 401
    ecr.configure(oidc_tokens=1)
    token = _token(ecr)
    with pytest.raises(urllib.error.HTTPError) as failing:
        _token(ecr)
    assert failing.value.code == 500
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=ecr.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    answer = sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="gha", WebIdentityToken=token)
    assert answer["Credentials"]["AccessKeyId"]
    with pytest.raises(ClientError) as invalid:
        sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="gha", WebIdentityToken="forged")
    assert invalid.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert ecr.stats()["sessions"]["web_identity"] == 1
