"""The run's credentials (reconciler.live.credentials): the refresh margins' rule, web identity from the
Actions OIDC endpoint (sandbox), chained roles renewed from it, and a refresh that fails: retried while
there is time, a stop of the run when there is none. Time is a fake clock here, never waited on."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.live import credentials, stop
from reconciler.live.credentials import RunCredentials, refresh_margins, run_credentials
from reconciler.live.roles import assume, session_name
from reconciler.sandbox.ecr import EcrEmulator

ROLE = "arn:aws:iam::123456789012:role/github-actions"
UTC = datetime.UTC


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(credentials, "_cached", None)
    stop.reset()
    yield
    stop.reset()  # a stop tripped here must not stop the next test's calls


@pytest.mark.parametrize(
    ("lifetime", "margins"),
    [(3600, (900, 600)), (12 * 3600, (900, 600)), (900, (225, 150)), (6, (1.5, 1.0)), (-5, (0, 0))],
)
def test_refresh_margins_scale_with_the_session_up_to_botocores(
    lifetime: float, margins: tuple[float, float]
) -> None:
    assert refresh_margins(lifetime) == pytest.approx(margins)


def test_outside_actions_the_usual_chain_is_used() -> None:
    actions = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://example.invalid/token",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t",
        "AWS_ROLE_ARN": ROLE,
    }
    assert run_credentials(actions) is not None
    for missing in actions:
        assert run_credentials({k: v for k, v in actions.items() if k != missing}) is None


def test_in_actions_every_client_and_chained_role_uses_the_web_identity_session(
    aws_env: EcrEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_env.create_repository("theirs", account_id="210987654321")
    for name, value in aws_env.actions_environment(ROLE).items():
        monkeypatch.setenv(name, value)
    base = credentials.base_session("us-east-1")
    chained = assume(base, "arn:aws:iam::210987654321:role/registry", "us-east-1", session_name())
    names = [r["repositoryName"] for r in chained.client("ecr").describe_repositories()["repositories"]]
    assert names == ["theirs"]
    sessions = aws_env.stats()["sessions"]
    # One OIDC token, one AssumeRoleWithWebIdentity, and the chained AssumeRole signed with its session.
    assert sessions == {
        "issued": 2,
        "web_identity": 1,
        "oidc_tokens": 1,
        "refused": 0,
        "oidc_refused": 0,
    }
    # The same credentials object for the whole run: one refresh serves every client.
    assert credentials.base_session().get_credentials() is base.get_credentials()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime.datetime:
        return self.now


class Fetcher:
    def __init__(self, clock: Clock, lifetime: float) -> None:
        self.clock, self.lifetime, self.calls, self.failing = clock, lifetime, 0, False

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.failing:
            raise ConnectionError("OIDC endpoint unreachable")
        expiry = self.clock.now + datetime.timedelta(seconds=self.lifetime)
        return {
            "access_key": f"ASIA{self.calls}",
            "secret_key": "s",
            "token": "t",
            "expiry_time": expiry.isoformat(),
        }


def test_a_failed_refresh_is_retried_while_there_is_time_and_stops_the_run_when_there_is_none() -> None:
    clock = Clock()
    fetch = Fetcher(clock, lifetime=600)  # margins: 150 s advisory, 100 s mandatory
    creds = RunCredentials(fetch, method="test", time_fetcher=clock)
    assert creds.get_frozen_credentials().access_key == "ASIA1"
    clock.now += datetime.timedelta(seconds=449)
    assert creds.get_frozen_credentials().access_key == "ASIA1" and fetch.calls == 1  # 151 s left
    clock.now += datetime.timedelta(seconds=2)  # 149 s left: advisory refresh
    assert creds.get_frozen_credentials().access_key == "ASIA2"
    fetch.failing = True
    clock.now += datetime.timedelta(seconds=460)  # 140 s left: advisory, fails quietly, old ones kept
    assert creds.get_frozen_credentials().access_key == "ASIA2"
    assert stop.reason() is None
    clock.now += datetime.timedelta(seconds=50)  # 90 s left: mandatory, fails: the run stops
    with pytest.raises(stop.CredentialsExpired) as raised:
        creds.get_frozen_credentials()
    assert stop.reason() is raised.value
    assert "refreshing them failed: OIDC endpoint unreachable" in str(raised.value)
    assert str(raised.value).startswith("AWS credentials expired at 00:")


def test_a_first_fetch_that_fails_is_a_set_up_error_not_an_expiry() -> None:
    clock = Clock()
    fetch = Fetcher(clock, lifetime=600)
    fetch.failing = True
    creds = RunCredentials(fetch, method="test", time_fetcher=clock)
    with pytest.raises(ConnectionError):
        creds.get_frozen_credentials()
    assert stop.reason() is None
