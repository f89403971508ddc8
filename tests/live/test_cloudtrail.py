"""live/cloudtrail.py against a fake LookupEvents: one query per event name, every page, the quota kept,
events of other services ignored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.live.clock import SimulatedClock
from reconciler.live.cloudtrail import CHANGE_EVENTS, CloudTrailError, EventHistory


def event(name: str, repository: str, source: str = "ecr.amazonaws.com") -> dict[str, Any]:
    record = {"eventSource": source, "eventName": name, "requestParameters": {"repositoryName": repository}}
    return {"EventName": name, "EventSource": source, "CloudTrailEvent": json.dumps(record)}


class FakeTrail:
    def __init__(self, events: dict[str, list[dict[str, Any]]], page: int = 2) -> None:
        self.events = events
        self.page = page
        self.calls: list[dict[str, Any]] = []

    def lookup_events(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        (attribute,) = arguments["LookupAttributes"]
        assert attribute["AttributeKey"] == "EventName"
        assert arguments["MaxResults"] == 50
        found = self.events.get(attribute["AttributeValue"], [])
        start = int(arguments.get("NextToken", 0))
        answer: dict[str, Any] = {"Events": found[start : start + self.page]}
        if start + self.page < len(found):
            answer["NextToken"] = str(start + self.page)
        return answer


WINDOW = (datetime(2026, 12, 5, 2, tzinfo=UTC), datetime(2026, 12, 5, 12, tzinfo=UTC))


def test_every_change_event_name_every_page_and_only_ecr() -> None:
    trail = FakeTrail(
        {
            "SetRepositoryPolicy": [event("SetRepositoryPolicy", n) for n in ("a", "b", "c", "a", "d")],
            "DeleteRepositoryPolicy": [event("DeleteRepositoryPolicy", "e")],
            "CreateRepository": [event("CreateRepository", "git-repo", source="codecommit.amazonaws.com")],
            "DeleteRepository": [event("DeleteRepository", "f")],
            "GetRepositoryPolicy": [event("GetRepositoryPolicy", "pulled-only")],
        }
    )
    changes = EventHistory(trail, clock=SimulatedClock()).changed_repositories(*WINDOW)
    assert changes.repositories == {"a", "b", "c", "d", "e", "f"}
    assert changes.events == 7
    asked = [c["LookupAttributes"][0]["AttributeValue"] for c in trail.calls]
    assert sorted(set(asked)) == sorted(CHANGE_EVENTS)
    assert asked.count("SetRepositoryPolicy") == 3  # 5 events, 2 a page
    assert all(c["StartTime"] == WINDOW[0] and c["EndTime"] == WINDOW[1] for c in trail.calls)


def test_at_most_two_calls_a_second() -> None:
    trail = FakeTrail({"SetRepositoryPolicy": [event("SetRepositoryPolicy", str(n)) for n in range(10)]})
    clock = SimulatedClock()
    started = clock.monotonic()
    EventHistory(trail, clock=clock).changed_repositories(*WINDOW)
    calls = len(trail.calls)
    assert calls == 8  # 5 pages + one for each of the 3 other names
    assert clock.monotonic() - started >= (calls - 1) * 0.5


def test_a_refusal_is_one_error_naming_the_call() -> None:
    class Denied:
        def lookup_events(self, **_: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "LookupEvents")

    with pytest.raises(CloudTrailError, match="CloudTrail LookupEvents failed: AccessDeniedException: no"):
        EventHistory(Denied()).changed_repositories(*WINDOW)
