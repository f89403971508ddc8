"""The emulated CloudTrail event history: what LookupEvents answers, as CloudTrail does."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sample_registry import DESIRED

from reconciler.sandbox.ecr import EcrEmulator


def cloudtrail(ecr: EcrEmulator, attempts: int = 1) -> Any:
    return boto3.client(
        "cloudtrail",
        region_name="us-east-1",
        endpoint_url=ecr.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def by_name(name: str) -> list[dict[str, str]]:
    return [{"AttributeKey": "EventName", "AttributeValue": name}]


def test_every_answered_call_is_an_event_reads_and_pushes_included(ecr: EcrEmulator) -> None:
    client = ecr.client()
    client.create_repository(repositoryName="app")
    client.set_repository_policy(repositoryName="app", policyText=DESIRED)
    client.get_repository_policy(repositoryName="app")
    ecr.put_template({"prefix": "team", "appliedFor": ["CREATE_ON_PUSH"]})
    ecr.push_image("team/new")
    events = cloudtrail(ecr).lookup_events()["Events"]
    names = [e["EventName"] for e in events]
    # Newest first.
    assert names == [
        "PutImage",
        "CreateRepository",
        "GetRepositoryPolicy",
        "SetRepositoryPolicy",
        "CreateRepository",
    ]
    record = json.loads(events[-1]["CloudTrailEvent"])
    assert record["eventSource"] == "ecr.amazonaws.com"
    assert record["requestParameters"] == {"repositoryName": "app"}
    assert events[-1]["Resources"] == [{"ResourceType": "AWS::ECR::Repository", "ResourceName": "app"}]


@pytest.mark.slow
def test_pages_of_at_most_50_with_a_next_token_and_one_attribute(ecr: EcrEmulator) -> None:
    for index in range(120):
        ecr.create_repository(f"r{index:03d}")
    client = cloudtrail(ecr, attempts=5)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        extra = {"NextToken": token} if token else {}
        page = client.lookup_events(LookupAttributes=by_name("CreateRepository"), MaxResults=50, **extra)
        pages += 1
        assert len(page["Events"]) <= 50
        seen += [e["Resources"][0]["ResourceName"] for e in page["Events"]]
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3
    assert seen == [f"r{index:03d}" for index in reversed(range(120))]
    with pytest.raises(ClientError, match="InvalidMaxResultsException"):
        client.lookup_events(MaxResults=51)
    with pytest.raises(ClientError, match="InvalidLookupAttributesException"):
        client.lookup_events(LookupAttributes=by_name("CreateRepository") + by_name("DeleteRepository"))


def test_a_time_window_and_the_history_of_the_callers_account_only(ecr: EcrEmulator) -> None:
    ecr.create_repository("old")
    ecr.age_events(3600)
    ecr.create_repository("new")
    ecr.create_repository("elsewhere", account_id="210987654321")
    since = time.time() - 600
    events = cloudtrail(ecr, attempts=5).lookup_events(StartTime=since)["Events"]
    assert [e["Resources"][0]["ResourceName"] for e in events] == ["new"]


def test_two_calls_a_second_then_throttled(ecr: EcrEmulator) -> None:
    client = cloudtrail(ecr)
    answered = 0
    with pytest.raises(ClientError, match="ThrottlingException"):
        for _ in range(10):  # far more than 2 within the same second on any machine
            client.lookup_events(MaxResults=1)
            answered += 1
    assert answered <= 2


def test_events_are_delivered_after_the_delay_and_denied_on_request(ecr: EcrEmulator) -> None:
    ecr.create_repository("app")
    ecr.configure(cloudtrail_delivery_delay=600.0)
    assert cloudtrail(ecr, attempts=5).lookup_events()["Events"] == []
    ecr.configure(cloudtrail_delivery_delay=0.0, cloudtrail_denied=True)
    with pytest.raises(ClientError, match="AccessDeniedException"):
        cloudtrail(ecr).lookup_events()
