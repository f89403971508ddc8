"""CloudTrail's event history: which repositories of a registry changed since a time (`plan --since`).

One `LookupEvents` query per event name (docs/INCREMENTAL.md says why these names and not the event source:
ECR logs every call, image pulls included, and a query by source would page through all of them). Paged with
`NextToken` at 50 events a page, at most 2 calls a second (LookupEvents' quota per account and region);
botocore's standard retries absorb a throttle. Only the events' repository names are kept.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from reconciler.errors import ReconcilerError
from reconciler.live.clock import Clock, SystemClock

log = logging.getLogger(__name__)

ECR_EVENT_SOURCE = "ecr.amazonaws.com"
# The calls that change what a plan sees of a repository that exists before and after: its policy set or
# deleted, or the repository deleted and created again under the same name. Repositories created or deleted
# for good show in the listing, which `plan --since` still makes (docs/INCREMENTAL.md).
CHANGE_EVENTS = ("SetRepositoryPolicy", "DeleteRepositoryPolicy", "CreateRepository", "DeleteRepository")
PAGE_SIZE = 50
CALLS_PER_SECOND = 2.0


class CloudTrailError(ReconcilerError):
    """The event history could not be read: the plan falls back to a full read."""


@dataclass(frozen=True)
class TrailChanges:
    repositories: frozenset[str]  # named by an event in the window
    events: int  # ECR events of CHANGE_EVENTS in the window
    calls: int  # LookupEvents calls made


def _repository(event: dict[str, Any]) -> str | None:
    """The repository an event names: requestParameters.repositoryName of the record, else its resource."""
    try:
        record = json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        record = {}
    if isinstance(record, dict) and record.get("eventSource", ECR_EVENT_SOURCE) != ECR_EVENT_SOURCE:
        return None
    parameters = record.get("requestParameters") if isinstance(record, dict) else None
    if isinstance(parameters, dict) and isinstance(parameters.get("repositoryName"), str):
        return str(parameters["repositoryName"])
    for resource in event.get("Resources") or ():
        if resource.get("ResourceType") == "AWS::ECR::Repository" and resource.get("ResourceName"):
            name = str(resource["ResourceName"])
            return name.split(":repository/", 1)[-1]  # an ARN, or the bare name
    return None


class EventHistory:
    """LookupEvents for one account and region, paced to its quota."""

    def __init__(self, client: Any, *, clock: Clock | None = None) -> None:  # no stubs for CloudTrail
        self._client = client
        self._clock = clock or SystemClock()
        self._last_call: float | None = None
        self.calls = 0

    def _lookup(self, **arguments: Any) -> dict[str, Any]:
        if self._last_call is not None:
            wait = self._last_call + 1.0 / CALLS_PER_SECOND - self._clock.monotonic()
            if wait > 0:
                self._clock.sleep(wait)
        self._last_call = self._clock.monotonic()
        self.calls += 1
        try:
            answer: dict[str, Any] = self._client.lookup_events(**arguments)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise CloudTrailError(
                f"CloudTrail LookupEvents failed: {error.get('Code', 'error')}: {error.get('Message', exc)}"
            ) from exc
        except BotoCoreError as exc:
            raise CloudTrailError(f"CloudTrail LookupEvents failed: {exc}") from exc
        return answer

    def changed_repositories(self, start: datetime, end: datetime) -> TrailChanges:
        names: set[str] = set()
        events = 0
        for event_name in CHANGE_EVENTS:
            token: str | None = None
            while True:
                arguments: dict[str, Any] = {
                    "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": event_name}],
                    "StartTime": start,
                    "EndTime": end,
                    "MaxResults": PAGE_SIZE,
                }
                if token:
                    arguments["NextToken"] = token
                page = self._lookup(**arguments)
                for event in page.get("Events", ()):
                    if event.get("EventSource", ECR_EVENT_SOURCE) != ECR_EVENT_SOURCE:
                        continue  # CodeCommit has CreateRepository and DeleteRepository too
                    repository = _repository(event)
                    if repository is not None:
                        names.add(repository)
                        events += 1
                token = page.get("NextToken")
                if not token:
                    break
        log.info("CloudTrail: %d events name %d repositories (%d calls)", events, len(names), self.calls)
        return TrailChanges(repositories=frozenset(names), events=events, calls=self.calls)
