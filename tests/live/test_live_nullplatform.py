"""NullplatformClient against the nullplatform API double (`nullplatform`, tests/conftest.py).

Request counts come from the double's per-route counters. Route keys: "POST /token", "GET /provider",
"GET /provider/{provider_id}", "PATCH /provider/{provider_id}".
"""

from __future__ import annotations

import copy
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler.desired.model import NullplatformTarget, PullAccess, Registry
from reconciler.errors import ReconcilerError, StaleTarget, was_sent
from reconciler.live import http as http_module
from reconciler.live.clock import SimulatedClock
from reconciler.live.nullplatform import NullplatformClient, base_url
from reconciler.live.observe import observe_provider
from reconciler.sandbox.nullplatform import NullplatformApi

NRN = "organization=1:account=2:namespace=3"
GET = "GET /provider/{provider_id}"
PATCH = "PATCH /provider/{provider_id}"
LIST = "GET /provider"
TOKEN = "POST /token"
FAKE_KEY = "np-apikey-7f3c-RECOGNISABLE"
SECRET_KEY = "ci-secret-key-9d2e-RECOGNISABLE"
OLD_POLICY = json.dumps({"Version": "2012-10-17", "Statement": []})
NEW_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AllowPull", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
        ],
    }
)
ATTRIBUTES: dict[str, Any] = {
    "ci": {"region": "us-east-1", "access_key": "AKIAFAKEFAKEFAKE", "secret_key": SECRET_KEY},
    "setup": {
        "region": "us-east-1",
        "role_arn": "arn:aws:iam::123456789012:role/nullplatform",
        "naming_rule": "{namespace}/{application}",
        "policy": OLD_POLICY,
    },
    "read": {"region": "us-east-1", "role_arn": "arn:aws:iam::123456789012:role/read"},
}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff delays are recorded instead of slept (a simulated clock): checked without waiting."""
    clock = SimulatedClock()
    monkeypatch.setattr(http_module, "DEFAULT_CLOCK", clock)
    return clock.sleeps


@pytest.fixture
def api(nullplatform: NullplatformApi) -> Iterator[NullplatformApi]:
    nullplatform.api_keys.add(FAKE_KEY)
    yield nullplatform
    nullplatform.api_keys.discard(FAKE_KEY)


def client(api: NullplatformApi, **options: Any) -> NullplatformClient:
    return NullplatformClient(api.url, FAKE_KEY, **options)


def requests(api: NullplatformApi) -> dict[str, int]:
    return dict(api.stats()["requests"])


# -- host and key ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("api.nullplatform.com", "https://api.nullplatform.com"),
        ("https://api.example.com/", "https://api.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.9.9.9:1", "http://127.9.9.9:1"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_host_forms(host: str, url: str) -> None:
    assert base_url(host) == url


@pytest.mark.parametrize("host", ["http://api.nullplatform.com", "http://10.0.0.1:8080", "ftp://127.0.0.1"])
def test_plain_http_is_refused_off_loopback(host: str) -> None:
    with pytest.raises(ReconcilerError, match="NULLPLATFORM_HOST"):
        NullplatformClient(host, FAKE_KEY)


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NULLPLATFORM_API_KEY", raising=False)
    monkeypatch.delenv("NULLPLATFORM_HOST", raising=False)
    with pytest.raises(ReconcilerError, match="NULLPLATFORM_API_KEY is not set"):
        NullplatformClient.from_env()
    monkeypatch.setenv("NULLPLATFORM_API_KEY", FAKE_KEY)
    assert NullplatformClient.from_env().base_url == "https://api.nullplatform.com"
    monkeypatch.setenv("NULLPLATFORM_HOST", "http://127.0.0.1:9")
    made = NullplatformClient.from_env()
    assert made.base_url == "http://127.0.0.1:9"
    assert FAKE_KEY not in repr(made)


# -- finding the provider ----------------------------------------------------------------------------------


def test_a_configured_provider_id_needs_no_call(api: NullplatformApi) -> None:
    assert client(api).find_provider_id(NullplatformTarget(NRN, provider_id="p-1")) == "p-1"
    assert requests(api) == {}


def test_the_one_provider_at_the_nrn_is_found(api: NullplatformApi) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    api.add_provider("organization=1:account=2", ATTRIBUTES)  # a parent's provider is not ours
    api.add_provider(NRN, {}, slug="docker-server")  # another specification
    assert client(api).find_provider_id(NullplatformTarget(NRN)) == provider_id
    assert requests(api) == {TOKEN: 1, LIST: 1}


def test_no_provider_is_a_clear_error(api: NullplatformApi) -> None:
    with pytest.raises(ReconcilerError, match=f"no nullplatform ECR provider config at {NRN}"):
        client(api).find_provider_id(NullplatformTarget(NRN))


def test_several_providers_are_a_clear_error_naming_them(api: NullplatformApi) -> None:
    first = api.add_provider(NRN, ATTRIBUTES)
    second = api.add_provider(NRN, ATTRIBUTES)
    with pytest.raises(ReconcilerError) as raised:
        client(api).find_provider_id(NullplatformTarget(NRN))
    message = str(raised.value)
    assert f"2 nullplatform ECR provider configs at {NRN}" in message
    assert first in message and second in message and "provider_id" in message


def test_listing_follows_pages(api: NullplatformApi) -> None:
    for _ in range(105):
        api.add_provider(NRN, {})
    with pytest.raises(ReconcilerError, match="105 nullplatform ECR provider configs"):
        client(api).find_provider_id(NullplatformTarget(NRN))
    assert requests(api) == {TOKEN: 1, LIST: 2}


# -- reading -----------------------------------------------------------------------------------------------


def test_read_policy_reads_the_providers_own_attributes(api: NullplatformApi) -> None:
    api.add_provider("organization=1:account=2", ATTRIBUTES)  # a parent with a policy
    child = api.add_provider(NRN, {"setup": {"region": "us-east-1"}})
    own = api.add_provider("organization=1:account=9", ATTRIBUTES)
    np = client(api)
    assert np.read_policy(child) is None  # no_merge: the parent's policy is not inherited
    assert np.read_policy(own) == OLD_POLICY
    assert requests(api) == {TOKEN: 1, GET: 2}


def test_observe_provider_records_errors(api: NullplatformApi) -> None:
    target = NullplatformTarget(NRN)
    registry = Registry("main", "123456789012", "us-east-1", PullAccess(), nullplatform=target)
    missing = observe_provider(registry, client(api))
    assert missing is not None and missing.error and "no nullplatform ECR provider config" in missing.error
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    found = observe_provider(registry, client(api))
    assert found is not None and found.error is None
    assert (found.provider_id, found.policy) == (provider_id, OLD_POLICY)


# -- writing -----------------------------------------------------------------------------------------------


def record_patches(api: NullplatformApi, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every `attributes` object a PATCH sent, as the double received it."""
    sent: list[dict[str, Any]] = []
    combine = api._combined

    def recording(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        sent.append(copy.deepcopy(patch))
        return combine(stored, patch)

    monkeypatch.setattr(api, "_combined", recording)
    return sent


@pytest.mark.parametrize("mask_secrets", [True, False], ids=["masked", "revealed"])
@pytest.mark.parametrize("merge_mode", ["deep", "group"])
@pytest.mark.parametrize("patch_status", [200, 204])
def test_write_policy_sends_only_setup_and_keeps_every_other_attribute(
    api: NullplatformApi,
    monkeypatch: pytest.MonkeyPatch,
    merge_mode: str,
    patch_status: int,
    mask_secrets: bool,
) -> None:
    api.configure(merge_mode=merge_mode, patch_status=patch_status, mask_secrets=mask_secrets)
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    stored_ci = json.dumps(api.provider(provider_id)["attributes"]["ci"])
    sent = record_patches(api, monkeypatch)
    client(api).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    expected = copy.deepcopy(ATTRIBUTES)
    expected["setup"]["policy"] = NEW_POLICY
    stored = api.provider(provider_id)["attributes"]  # the double's stored state, not a (masked) read
    assert stored == expected
    assert json.dumps(stored["ci"]) == stored_ci  # the CI credentials, byte for byte
    assert sent == [{"setup": {**ATTRIBUTES["setup"], "policy": NEW_POLICY}}]  # never ci, never read
    assert requests(api) == {TOKEN: 1, GET: 2, PATCH: 1}


def test_the_old_whole_attributes_write_would_have_wiped_the_masked_credentials(api: NullplatformApi) -> None:
    # Why only `setup` is sent: the double masks like the real API, so writing back what was read
    # stores null over the secrets (the sandbox is faithful enough to catch the mistake).
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    np = client(api)
    read = np._attributes(provider_id)
    assert read["ci"]["secret_key"] is None and read["ci"]["access_key"] is None
    np._request("PATCH", f"/provider/{provider_id}", {"attributes": read})
    assert api.provider(provider_id)["attributes"]["ci"]["secret_key"] is None


@pytest.mark.parametrize("merge_mode", ["deep", "group"])
def test_write_policy_adds_a_missing_setup_section(api: NullplatformApi, merge_mode: str) -> None:
    api.configure(merge_mode=merge_mode)
    attributes = {"ci": ATTRIBUTES["ci"]}
    provider_id = api.add_provider(NRN, attributes)
    client(api).write_policy(provider_id, NEW_POLICY, None)
    assert api.provider(provider_id)["attributes"] == {
        "ci": ATTRIBUTES["ci"],
        "setup": {"policy": NEW_POLICY},
    }


@pytest.mark.parametrize("merge_mode", ["deep", "group"])
def test_a_null_in_setup_refuses_the_write_naming_the_attribute(
    api: NullplatformApi, merge_mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.configure(merge_mode=merge_mode)
    attributes = copy.deepcopy(ATTRIBUTES)
    attributes["setup"]["role_arn"] = None
    provider_id = api.add_provider(NRN, attributes)
    with pytest.raises(ReconcilerError) as raised:
        client(api).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    message = str(raised.value)
    assert message.startswith(
        f"nullplatform provider {provider_id}: not written: setup.role_arn read(s) as null"
    )
    assert "region" not in message and "naming_rule" not in message  # only the null one is named
    assert PATCH not in requests(api)  # nothing was sent
    assert api.provider(provider_id)["attributes"] == attributes
    assert_no_secrets(raised.value, caplog.text, "us-east-1", "arn:aws:iam::123456789012:role/read")


def test_setup_reading_null_is_refused_on_read_and_write_while_a_missing_one_is_empty(
    api: NullplatformApi,
) -> None:
    # Only a missing group is empty: a null one may be a whole group the API hides.
    nulled = {"ci": ATTRIBUTES["ci"], "setup": None}
    provider_id = api.add_provider(NRN, nulled)
    with pytest.raises(ReconcilerError, match=r"attributes\.setup reads as null"):
        client(api).read_policy(provider_id)
    with pytest.raises(ReconcilerError, match=r"attributes\.setup reads as null"):
        client(api).write_policy(provider_id, NEW_POLICY, None)
    assert PATCH not in requests(api)
    assert api.provider(provider_id)["attributes"] == nulled
    missing = api.add_provider("organization=1:account=9", {"ci": ATTRIBUTES["ci"]})
    assert client(api).read_policy(missing) is None


def test_a_masked_secret_in_setup_refuses_the_write(api: NullplatformApi) -> None:
    # The docker-server specification keeps its secret in `setup`: sending the group back would wipe it.
    docker = {
        "setup": {"server": "registry.example.com", "path": "p", "username": "u", "password": SECRET_KEY}
    }
    provider_id = api.add_provider(NRN, docker, slug="docker-server")
    with pytest.raises(ReconcilerError, match=r"not written: setup\.password read\(s\) as null"):
        client(api).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    assert PATCH not in requests(api)
    assert api.provider(provider_id)["attributes"] == docker
    # A read says so too, in the same words, so a plan can show it before anyone approves it.
    policy, blocked = client(api).read_provider(provider_id)
    assert policy is None
    assert blocked is not None and "not written: setup.password read(s) as null" in blocked
    assert SECRET_KEY not in blocked
    clean = api.add_provider("organization=1:account=9", ATTRIBUTES)
    assert client(api).read_provider(clean)[1] is None  # ci's masked keys are not in setup: no blocker


def test_a_patch_that_drops_the_groups_not_sent_is_an_error(
    api: NullplatformApi, caplog: pytest.LogCaptureFixture
) -> None:
    # "replace" (whole attributes, as PUT does) is not the API's PATCH: the read-back must notice.
    caplog.set_level(logging.DEBUG)
    api.configure(merge_mode="replace")
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    with pytest.raises(ReconcilerError) as raised:
        client(api).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    assert str(raised.value) == f"nullplatform provider {provider_id}: after PATCH, ci gone; read gone"
    assert was_sent(raised.value)  # the PATCH landed: the report must let restore find it
    assert_no_secrets(raised.value, caplog.text, "us-east-1", "arn:aws:iam::123456789012:role/read")


class LossyApi(NullplatformApi):
    """A double whose PATCH loses data after answering success: `lose` is "secret" (drops ci.secret_key),
    "setup" (drops setup.naming_rule) or "policy" (ignores the policy)."""

    lose = "secret"

    def _patch(self, request: Any, provider_id: str) -> Any:
        before = self.provider(provider_id)["attributes"]
        response = super()._patch(request, provider_id)
        after = self.provider(provider_id)["attributes"]
        if self.lose == "secret":
            after["ci"].pop("secret_key", None)
        elif self.lose == "setup":
            after["setup"].pop("naming_rule", None)
        else:
            after["setup"]["policy"] = before["setup"]["policy"]
        self.set_attributes(provider_id, after)
        return response


@pytest.fixture
def lossy() -> Iterator[LossyApi]:
    with LossyApi(api_key=FAKE_KEY) as api:
        yield api


@pytest.mark.parametrize(
    ("lose", "named"), [("secret", "ci.secret_key gone"), ("setup", "setup.naming_rule gone")]
)
def test_write_policy_detects_a_dropped_attribute_without_showing_it(
    lossy: LossyApi, caplog: pytest.LogCaptureFixture, lose: str, named: str
) -> None:
    # The secret reads null before the PATCH (masked) and is missing after it: a loss, not masking.
    caplog.set_level(logging.DEBUG)
    lossy.lose = lose
    provider_id = lossy.add_provider(NRN, ATTRIBUTES)
    with pytest.raises(ReconcilerError) as raised:
        client(lossy).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    assert str(raised.value) == f"nullplatform provider {provider_id}: after PATCH, {named}"
    assert_no_secrets(raised.value, caplog.text)


def test_write_policy_detects_a_changed_value_without_showing_it(
    api: NullplatformApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    combine = api._combined

    def rewriting(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        combined = combine(stored, patch)
        combined["read"]["region"] = "eu-west-1"
        return combined

    monkeypatch.setattr(api, "_combined", rewriting)
    with pytest.raises(ReconcilerError) as raised:
        client(api).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    assert str(raised.value) == f"nullplatform provider {provider_id}: after PATCH, read.region changed"


def test_write_policy_detects_a_policy_that_did_not_land(lossy: LossyApi) -> None:
    lossy.lose = "policy"
    provider_id = lossy.add_provider(NRN, ATTRIBUTES)
    with pytest.raises(ReconcilerError, match=r"setup\.policy does not hold the written policy"):
        client(lossy).write_policy(provider_id, NEW_POLICY, OLD_POLICY)


def test_write_policy_refuses_a_policy_changed_since_the_plan_and_sends_nothing(api: NullplatformApi) -> None:
    # Someone edits the provider's policy in nullplatform between the plan's read and the write.
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    hand_edit = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "HandEdit",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::555566667777:root"},
                    "Action": "ecr:BatchGetImage",
                }
            ],
        }
    )
    edited = copy.deepcopy(ATTRIBUTES)
    edited["setup"]["policy"] = hand_edit
    api.set_attributes(provider_id, edited)
    with pytest.raises(StaleTarget, match=r"setup\.policy changed since it was read for the plan") as raised:
        client(api).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    assert raised.value.live == hand_edit  # what it holds now, for the report
    assert PATCH not in requests(api)
    assert api.provider(provider_id)["attributes"] == edited


def test_write_policy_compares_the_policy_it_expects_by_meaning(api: NullplatformApi) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    reformatted = json.dumps(json.loads(OLD_POLICY), indent=4)  # the same policy, other bytes
    client(api).write_policy(provider_id, NEW_POLICY, reformatted)
    assert api.provider(provider_id)["attributes"]["setup"]["policy"] == NEW_POLICY


def test_a_patch_that_may_have_landed_says_so_and_a_refused_one_does_not(api: NullplatformApi) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    api.fail_next(503, count=None, routes=[PATCH])  # gave up: an attempt may have been processed
    with pytest.raises(ReconcilerError, match="gave up after 2 attempts") as gave_up:
        client(api, max_attempts=2).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    assert was_sent(gave_up.value)
    api.reset_knobs()
    api.fail_next(400, count=1, routes=[PATCH])  # answered with a refusal: nothing changed
    with pytest.raises(ReconcilerError, match="HTTP 400") as refused:
        client(api).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    assert not was_sent(refused.value)
    api.fail_next(503, count=None, routes=[GET])  # before the PATCH: nothing sent
    with pytest.raises(ReconcilerError) as unread:
        client(api, max_attempts=2).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    assert not was_sent(unread.value)
    assert PATCH in requests(api)


# -- tokens, retries ---------------------------------------------------------------------------------------


def test_an_expired_token_is_refreshed_once(api: NullplatformApi) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    np = client(api)
    assert np.read_policy(provider_id) == OLD_POLICY
    api.expire_tokens()  # mid-run
    assert np.read_policy(provider_id) == OLD_POLICY
    assert np.read_policy(provider_id) == OLD_POLICY
    assert requests(api) == {TOKEN: 2, GET: 4}  # one 401, one new token, then the retried call
    assert api.stats()["statuses"] == {"200": 5, "401": 1}


def test_an_expired_token_answered_403_jwt_expired_is_refreshed_once(api: NullplatformApi) -> None:
    # nullplatform documents no answer for an expired token (docs/NULLPLATFORM.md): a 403 saying so counts.
    api.configure(expired_status=403, expired_message="jwt expired")
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    np = client(api)
    assert np.read_policy(provider_id) == OLD_POLICY
    api.expire_tokens()
    assert np.read_policy(provider_id) == OLD_POLICY
    assert requests(api) == {TOKEN: 2, GET: 3}
    assert api.stats()["statuses"] == {"200": 4, "403": 1}


def test_a_403_that_is_not_about_the_token_is_refused_without_a_new_token(api: NullplatformApi) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    api.fail_next(403, count=1, routes=[GET])
    with pytest.raises(ReconcilerError, match=r"HTTP 403: sandbox: injected HTTP 403"):
        client(api).read_policy(provider_id)
    assert requests(api) == {TOKEN: 1, GET: 1}


def test_a_jwt_token_is_renewed_before_its_exp_claim_without_a_refusal(api: NullplatformApi) -> None:
    api.configure(jwt_tokens=True, token_ttl_seconds=3600)
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    clock = SimulatedClock(start=time.time())
    np = client(api, clock=clock)
    assert np.read_policy(provider_id) == OLD_POLICY
    assert np.read_policy(provider_id) == OLD_POLICY
    assert requests(api) == {TOKEN: 1, GET: 2}
    clock.now += 3600 - 30  # within a minute of `exp`: renewed before the call, not after a 401
    assert np.read_policy(provider_id) == OLD_POLICY
    assert requests(api) == {TOKEN: 2, GET: 3}
    assert "401" not in api.stats()["statuses"]


def test_a_second_401_is_a_clear_error(api: NullplatformApi) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    api.fail_next(401, count=2, routes=[GET])
    with pytest.raises(ReconcilerError, match=r"GET /provider/\S+: 401 Unauthorized even with a fresh token"):
        client(api).read_policy(provider_id)
    assert requests(api) == {TOKEN: 2, GET: 2}


def test_a_rejected_api_key_is_a_clear_error(api: NullplatformApi) -> None:
    with pytest.raises(ReconcilerError, match="POST /token: 401: the API key was rejected"):
        NullplatformClient(api.url, "not-a-key").read_policy("p")
    assert requests(api) == {TOKEN: 1}


def test_server_errors_are_retried_with_backoff(api: NullplatformApi, no_sleep: list[float]) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    api.fail_next(503, count=2, routes=[GET])
    api.fail_next(502, count=1, routes=[PATCH])
    np = client(api, backoff=0.5)
    np.write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    # The 502 leaves the PATCH's outcome unknown: one read shows it was not applied before it is sent again.
    assert requests(api) == {TOKEN: 1, GET: 5, PATCH: 2}
    assert len(no_sleep) == 3
    assert 0.25 <= no_sleep[0] <= 0.5 and 0.5 <= no_sleep[1] <= 1.0  # exponential, jittered


def test_a_patch_applied_whose_answer_was_lost_is_read_not_sent_again(api: NullplatformApi) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    api.lose_answer_next(1, routes=[PATCH])  # applied, then answered 502
    client(api).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    assert api.provider(provider_id)["attributes"]["setup"]["policy"] == NEW_POLICY
    # One PATCH; reads: the one it is built from, the one after the lost answer, the read-back.
    assert requests(api) == {TOKEN: 1, GET: 3, PATCH: 1}


def test_a_patch_whose_answer_was_lost_is_not_sent_again_over_someone_elses_edit(
    api: NullplatformApi,
) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    np = client(api)
    np.read_policy(provider_id)
    edited = copy.deepcopy(ATTRIBUTES)
    edited["setup"]["policy"] = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "Theirs"}]})

    def someone_edits() -> None:  # between our lost PATCH and the read that follows it
        api.set_attributes(provider_id, edited)

    api.fail_next(502, 1, routes=[PATCH])
    original = np._attributes

    def reading(provider: str) -> dict[str, Any]:
        if requests(api).get(PATCH):
            someone_edits()
        return original(provider)

    np._attributes = reading  # type: ignore[method-assign]
    with pytest.raises(ReconcilerError, match="changed by someone else while a PATCH of ours had no answer"):
        np.write_policy(provider_id, NEW_POLICY, OLD_POLICY)
    assert requests(api)[PATCH] == 1
    assert api.provider(provider_id)["attributes"] == edited


def test_429_honours_retry_after_capped(api: NullplatformApi, no_sleep: list[float]) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    api.fail_next(429, count=1, retry_after=2, routes=[GET])
    api.fail_next(429, count=1, retry_after=3600, routes=[GET])
    assert client(api).read_policy(provider_id) == OLD_POLICY
    assert no_sleep == [2.0, 30.0]
    assert requests(api) == {TOKEN: 1, GET: 3}


def test_retries_give_up_naming_method_and_path(api: NullplatformApi) -> None:
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    api.fail_next(500, count=None, routes=[GET])
    with pytest.raises(ReconcilerError) as raised:
        client(api, max_attempts=3).read_policy(provider_id)
    message = str(raised.value)
    assert (
        message
        == f"nullplatform GET /provider/{provider_id}?no_merge=true: gave up after 3 attempts (HTTP 500)"
    )
    assert requests(api) == {TOKEN: 1, GET: 3}


def test_timeouts_are_retried_then_reported(api: NullplatformApi) -> None:
    api.configure(latency_ms=400)
    with pytest.raises(
        ReconcilerError, match=r"POST /token: gave up after 2 attempts \(timed out after 0.1s\)"
    ):
        client(api, timeout=0.1, max_attempts=2).read_policy("p")


def test_connection_failures_are_retried_then_reported() -> None:
    np = NullplatformClient("http://127.0.0.1:9", FAKE_KEY, max_attempts=2)
    with pytest.raises(ReconcilerError, match=r"POST /token: gave up after 2 attempts \(connection failed"):
        np.read_policy("p")


# -- secrets -----------------------------------------------------------------------------------------------


def assert_no_secrets(error: BaseException, logs: str, *extra: str) -> None:
    text = "\n".join(
        [str(error), repr(error), *map(str, error.args), *traceback.format_exception(error), logs]
    )
    for secret in (FAKE_KEY, SECRET_KEY, "AKIAFAKEFAKEFAKE", *extra):
        assert secret not in text


def provoke(api: NullplatformApi) -> list[Callable[[], object]]:
    """Every error path of the client, each as a call that raises ReconcilerError."""
    provider_id = api.add_provider(NRN, ATTRIBUTES)
    # Attributes the specification refuses make the PATCH answer 400 (the body names the bad key).
    odd_setup = {**ATTRIBUTES["setup"], "secret_key": SECRET_KEY}
    odd = api.add_provider("organization=1:account=5", {**ATTRIBUTES, "setup": odd_setup})
    # A null in setup (refused before any PATCH), and a PATCH that loses the groups not sent.
    nulled = api.add_provider("organization=1:account=6", {**ATTRIBUTES, "setup": {"role_arn": None}})
    dropping = api.add_provider("organization=1:account=8", ATTRIBUTES)

    def dropped() -> object:
        api.configure(merge_mode="replace")
        try:
            return client(api).write_policy(dropping, NEW_POLICY, OLD_POLICY)
        finally:
            api.reset_knobs()

    def second_401() -> object:
        api.fail_next(401, count=2, routes=[GET])
        return client(api).read_policy(provider_id)

    def exhausted() -> object:
        api.fail_next(503, count=None, routes=[PATCH])
        try:
            return client(api, max_attempts=2).write_policy(provider_id, NEW_POLICY, OLD_POLICY)
        finally:
            api.reset_knobs()

    return [
        lambda: NullplatformClient(api.url, FAKE_KEY + "-wrong").read_policy(provider_id),
        second_401,
        exhausted,
        lambda: client(api).read_policy("no-such-provider"),
        lambda: client(api).write_policy(odd, NEW_POLICY, OLD_POLICY),
        lambda: client(api).write_policy(nulled, NEW_POLICY, None),
        dropped,
        lambda: client(api).find_provider_id(NullplatformTarget("organization=1:account=7")),
        lambda: NullplatformClient("http://127.0.0.1:9", FAKE_KEY, max_attempts=1).read_policy(provider_id),
        lambda: NullplatformClient("http://example.com", FAKE_KEY),
    ]


def test_secrets_never_appear_in_errors_or_logs(
    api: NullplatformApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    failures = 0
    for call in provoke(api):
        with pytest.raises(ReconcilerError) as raised:
            call()
        failures += 1
        tokens = [*api._access_tokens, *api._refresh_tokens]  # every token the double ever issued
        assert_no_secrets(raised.value, caplog.text, *tokens)
    assert failures == 10
