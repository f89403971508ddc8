"""EcrClient against the ECR emulator (`aws_env`, tests/conftest.py): call counts come from the emulator's
own counters, not from the client under test."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import boto3
import pytest

from reconciler.desired.model import PullAccess, Registry
from reconciler.live.ecr import EcrClient
from reconciler.live.ecr_errors import EcrError, EcrWriteError
from reconciler.live.roles import assume
from reconciler.sandbox.ecr import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, EcrEmulator

OTHER_ACCOUNT = "210987654321"


def policy(*accounts: str, sid: str = "AllowPull") -> str:
    principal: Any = {"AWS": list(accounts)} if accounts else "*"
    statement = {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": ["ecr:BatchGetImage"]}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def registry(**changes: Any) -> Registry:
    values: dict[str, Any] = {
        "name": "main",
        "account_id": DEFAULT_ACCOUNT_ID,
        "region": DEFAULT_REGION,
        "pull_access": PullAccess(accounts=("111122223333",)),
    }
    values.update(changes)
    return Registry(**values)


def requests(emulator: EcrEmulator) -> dict[str, int]:
    return dict(emulator.stats()["requests"])


def test_endpoint_comes_from_the_standard_aws_environment(aws_env: EcrEmulator) -> None:
    client = EcrClient(registry())
    assert client.endpoint_url == aws_env.url  # AWS_ENDPOINT_URL, not passed explicitly


def test_listing_follows_pages_of_1000(aws_env: EcrEmulator) -> None:
    names = [f"team-{i // 100:02d}/app-{i:04d}" for i in range(2345)]
    for name in names:
        aws_env.create_repository(name)
    client = EcrClient(registry())
    assert client.list_repositories() == names
    assert requests(aws_env) == {"DescribeRepositories": 3}
    assert client.calls() == {"DescribeRepositories": 3}


def test_reading_n_repositories_makes_exactly_n_calls(aws_env: EcrEmulator) -> None:
    names = [f"app-{i:03d}" for i in range(40)]
    for index, name in enumerate(names):
        aws_env.create_repository(name, policy_text=policy(sid=f"S{index}") if index % 2 else None)
    done: list[str] = []
    client = EcrClient(registry(), max_rps=None, concurrency=8)
    results = client.read_policies(names, on_done=lambda p: done.append(p.repository))
    assert [r.repository for r in results] == names  # input order, whatever the completion order
    assert sorted(done) == names
    assert all(r.error is None for r in results)
    assert [r.text is None for r in results] == [i % 2 == 0 for i in range(40)]
    assert json.loads(results[1].text or "")["Statement"][0]["Sid"] == "S1"
    assert requests(aws_env) == {"GetRepositoryPolicy": 40}
    assert client.calls() == {"GetRepositoryPolicy": 40}
    assert aws_env.stats()["max_in_flight"] <= 8


def test_access_denied_on_one_repository_spares_the_others(aws_env: EcrEmulator) -> None:
    for name in ("aa", "bb", "cc"):
        aws_env.create_repository(name, policy_text=policy())
    aws_env.configure(access_denied={"bb"})
    a, b, c = EcrClient(registry()).read_policies(["aa", "bb", "cc"])
    assert a.text and c.text and a.error is None and c.error is None
    assert b.text is None
    assert b.error is not None
    assert "AccessDeniedException" in b.error and "repository bb in registry main" in b.error
    assert requests(aws_env) == {"GetRepositoryPolicy": 3}  # AccessDenied is not retried


def test_missing_repository_is_an_error_not_an_empty_policy(aws_env: EcrEmulator) -> None:
    result = EcrClient(registry()).read_policy("gone")
    assert result.text is None
    assert result.error is not None and "RepositoryNotFoundException" in result.error


def test_pacing_at_the_service_limit_reads_everything(aws_env: EcrEmulator) -> None:
    names = [f"app-{i:02d}" for i in range(25)]
    for name in names:
        aws_env.create_repository(name)
    # A server bucket of 2 tokens: 8 unpaced threads would drain it at once. That evenly spaced sends are
    # never throttled is asserted on a simulated clock (test_ratelimit.py): here a busy machine may delay
    # a thread into a throttle, so only what holds anyway is asserted.
    aws_env.configure(tps={"GetRepositoryPolicy": 10.0}, burst={"GetRepositoryPolicy": 2.0})
    client = EcrClient(registry(), max_rps=10.0, concurrency=8)
    results = client.read_policies(names)
    assert all(r.error is None for r in results)
    stats = aws_env.stats()
    assert stats["requests"] == {"GetRepositoryPolicy": 25 + stats["total_throttled"]}


def test_server_errors_are_retried(aws_env: EcrEmulator) -> None:
    names = [f"app-{i:02d}" for i in range(30)]
    for name in names:
        aws_env.create_repository(name, policy_text=policy())
    aws_env.configure(error_rate={"GetRepositoryPolicy": 0.3}, seed=7)
    client = EcrClient(registry(), max_rps=None)
    results = client.read_policies(names)
    assert all(r.error is None and r.text for r in results)
    stats = aws_env.stats()
    injected = stats["injected"]["server_error"]
    assert injected > 0
    assert stats["requests"] == {"GetRepositoryPolicy": 30 + injected}
    assert client.calls() == stats["requests"]  # before-send sees every attempt, retries included


def test_a_hanging_endpoint_fails_within_the_timeout_bound(aws_env: EcrEmulator) -> None:
    aws_env.create_repository("slow")
    aws_env.configure(hang_actions={"GetRepositoryPolicy"}, hang_seconds=30)
    client = EcrClient(registry(), read_timeout=0.3, max_attempts=2)
    started = time.monotonic()
    try:
        result = client.read_policy("slow")
    finally:
        aws_env.reset_knobs()  # release the hung server threads
    elapsed = time.monotonic() - started
    assert result.error is not None and "ReadTimeoutError" in result.error
    # Two attempts of 0.3 s plus botocore's backoff between them (at most 1 s on the first retry): about
    # 1.6 s at most, bounded loosely so a busy machine does not fail it; the hang itself is 30 s.
    assert elapsed < 15
    assert client.calls() == {"GetRepositoryPolicy": 2}


def test_listing_failure_raises_a_clear_error(aws_env: EcrEmulator) -> None:
    client = EcrClient(registry(), endpoint_url="http://127.0.0.1:9", max_attempts=1, connect_timeout=0.5)
    with pytest.raises(EcrError) as raised:
        client.list_repositories()
    assert "DescribeRepositories failed for registry main (123456789012, us-east-1)" in str(raised.value)
    assert raised.value.code == "EndpointConnectionError"
    assert raised.value.retryable


def test_set_policy_never_sends_force_and_returns_the_answered_text(aws_env: EcrEmulator) -> None:
    aws_env.create_repository("app")
    bodies: list[dict[str, Any]] = []

    def session_factory(**kwargs: Any) -> boto3.session.Session:
        session = boto3.session.Session(**kwargs)
        capture = lambda request, **_: bodies.append(json.loads(request.body))  # noqa: E731
        session.events.register("before-send.ecr.SetRepositoryPolicy", capture)
        return session

    client = EcrClient(registry(), session_factory=session_factory)
    text = policy("111122223333")
    answered = client.set_policy("app", text)
    assert bodies and all("force" not in body for body in bodies)
    assert bodies[0]["registryId"] == DEFAULT_ACCOUNT_ID
    assert aws_env.stored_policy("app") == text
    # The emulator reformats like real ECR: the caller gets ECR's text, not its own.
    assert answered != text
    assert json.loads(answered)["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert requests(aws_env) == {"SetRepositoryPolicy": 1}


def test_principal_not_found_fails_at_once_with_ecrs_message(aws_env: EcrEmulator) -> None:
    # Our statements name no principal ARN, so a refused principal is in a foreign statement: no waiting
    # for IAM (it used to be retried for ~31 s, on every run).
    aws_env.create_repository("app")
    aws_env.configure(eventual_consistency_failures={"111122223333": 2})
    client = EcrClient(registry())
    with pytest.raises(EcrWriteError) as raised:
        client.set_policy("app", policy("111122223333"))
    assert raised.value.code == "InvalidParameterException"
    assert not raised.value.retryable and not raised.value.sent
    message = str(raised.value)
    assert "repository app in registry main" in message and "Principal not found" in message
    assert requests(aws_env) == {"SetRepositoryPolicy": 1}
    assert aws_env.stored_policy("app") is None


def test_a_deleted_principal_reads_back_as_its_unique_id_and_is_refused_at_once(aws_env: EcrEmulator) -> None:
    role = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/ci"
    aws_env.create_repository("app", policy_text=policy(role))
    unique_id = aws_env.delete_principal(role)
    assert unique_id.startswith("AROA")
    client = EcrClient(registry())
    read = client.read_policy("app")
    assert json.loads(read.text or "")["Statement"][0]["Principal"] == {"AWS": unique_id}
    with pytest.raises(EcrWriteError) as raised:
        client.set_policy("app", read.text or "")
    assert raised.value.code == "InvalidParameterException" and not raised.value.retryable
    assert "Invalid repository policy provided" in str(raised.value)
    with pytest.raises(EcrWriteError):
        client.set_policy("app", policy(role))  # nor can the ARN be written again
    assert requests(aws_env) == {"GetRepositoryPolicy": 1, "SetRepositoryPolicy": 2}
    assert aws_env.stored_policy("app") == policy(role)


def test_other_write_errors_are_not_retried(aws_env: EcrEmulator) -> None:
    aws_env.create_repository("app")
    too_big = policy(sid="S" * 11_000)
    client = EcrClient(registry())
    with pytest.raises(EcrWriteError) as raised:
        client.set_policy("app", too_big)
    assert raised.value.code == "InvalidParameterException" and not raised.value.retryable
    with pytest.raises(EcrWriteError) as missing:
        client.set_policy("nope", policy())
    assert missing.value.code == "RepositoryNotFoundException"
    assert requests(aws_env) == {"SetRepositoryPolicy": 2}
    # Refused outright: the write did not land, and the error says it was not sent.
    assert not raised.value.sent and not missing.value.sent


def test_a_write_cut_by_the_read_timeout_may_have_landed_and_says_so(aws_env: EcrEmulator) -> None:
    # ECR answers after the client gave up: the policy lands all the same.
    aws_env.create_repository("slow")
    aws_env.configure(hang_actions={"SetRepositoryPolicy"}, hang_seconds=0.6)
    client = EcrClient(registry(), read_timeout=0.2, max_attempts=1)
    with pytest.raises(EcrWriteError) as raised:
        client.set_policy("slow", policy())
    assert raised.value.code == "ReadTimeoutError" and raised.value.sent
    deadline = time.monotonic() + 10
    while aws_env.stored_policy("slow") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert aws_env.stored_policy("slow") == policy()


def test_delete_policy_treats_an_absent_policy_as_done(aws_env: EcrEmulator) -> None:
    aws_env.create_repository("app", policy_text=policy())
    client = EcrClient(registry())
    client.delete_policy("app")
    client.delete_policy("app")
    assert aws_env.stored_policy("app") is None
    with pytest.raises(EcrWriteError) as raised:
        client.delete_policy("nope")
    assert raised.value.code == "RepositoryNotFoundException"
    assert requests(aws_env) == {"DeleteRepositoryPolicy": 3}


@pytest.mark.parametrize("write", [False, True])
def test_the_role_is_assumed_once_and_reaches_the_roles_account(aws_env: EcrEmulator, write: bool) -> None:
    aws_env.create_repository("mine")  # the default account: must not show up
    aws_env.create_repository("theirs", account_id=OTHER_ACCOUNT, policy_text=policy())
    read_role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/reconciler-read"
    write_role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/reconciler-write"
    other = registry(account_id=OTHER_ACCOUNT, read_role_arn=read_role, write_role_arn=write_role)
    client = EcrClient(other, write=write)
    assert client.list_repositories() == ["theirs"]
    assert client.read_policies(["theirs"])[0].text
    assert requests(aws_env) == {"DescribeRepositories": 1, "GetRepositoryPolicy": 1}
    # One STS AssumeRole for the whole run, of the one role its kind of run may use.
    assert [seen.role_arn for seen in aws_env.assumed_roles()] == [write_role if write else read_role]
    assert aws_env.stats()["other_requests"] == 1


class FakeSts:
    """Hands out credentials expiring `lifetime` from now, counting AssumeRole calls."""

    def __init__(self, lifetime: datetime.timedelta) -> None:
        self.lifetime = lifetime
        self.calls: list[dict[str, Any]] = []

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        n = len(self.calls)
        expiration = datetime.datetime.now(datetime.UTC) + self.lifetime
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{n}",
                "SecretAccessKey": f"secret-{n}",
                "SessionToken": f"token-{n}",
                "Expiration": expiration,
            }
        }


class FakeBaseSession:
    def __init__(self, sts: FakeSts) -> None:
        self.sts = sts

    def client(self, service: str, **_: Any) -> FakeSts:
        assert service == "sts"
        return self.sts


# A 5-minute session is not re-assumed on every call (botocore's fixed 10-minute margin would): the margin
# scales with the session (reconciler.live.credentials.refresh_margins).
@pytest.mark.parametrize(("minutes", "assumed"), [(60, 1), (5, 1)])
def test_assumed_role_credentials_are_refreshed_before_they_expire(minutes: int, assumed: int) -> None:
    sts = FakeSts(datetime.timedelta(minutes=minutes))
    session = assume(FakeBaseSession(sts), "arn:aws:iam::210987654321:role/r", "eu-west-1", "run-42")  # type: ignore[arg-type]
    credentials = session.get_credentials()
    assert credentials is not None
    assert sts.calls == []  # nothing is assumed until credentials are first needed
    keys = {credentials.get_frozen_credentials().access_key for _ in range(3)}
    # Fresh credentials are reused, however short the session.
    assert len(sts.calls) == assumed and len(keys) == assumed
    assert sts.calls[0] == {
        "RoleArn": "arn:aws:iam::210987654321:role/r",
        "RoleSessionName": "run-42",
    }


def test_a_place_left_by_an_attempt_that_never_got_its_answer_is_given_back(
    aws_env: EcrEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An exception that escapes botocore between before-send and response-received (here, once, while it
    # turns the HTTP answer into a response: after its own try, so response-received never fires) leaves
    # the pacer's place taken; the thread's next send gives it back.
    import botocore.endpoint

    aws_env.create_repository("app", policy_text=policy())
    client = EcrClient(registry(), concurrency=2)
    convert = botocore.endpoint.convert_to_response_dict
    failures = [RuntimeError("escaped between before-send and response-received")]

    def fail_once(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return convert(*args, **kwargs)

    monkeypatch.setattr(botocore.endpoint, "convert_to_response_dict", fail_once)
    with pytest.raises(RuntimeError):
        client.read_policy("app")
    assert client._pacers.pacer("GetRepositoryPolicy").in_flight == 1  # leaked until the next send
    assert client.read_policy("app").text is not None
    assert client._pacers.pacer("GetRepositoryPolicy").in_flight == 0
