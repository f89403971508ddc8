"""CloudTrail event history for the emulated ECR (moto has no `LookupEvents`).

Every ECR call the emulator answers successfully is recorded as a management event, reads and image pulls
included, as CloudTrail records every ECR API call: a lookup filtered by event source would page through
all of them, which is why the reconciler asks per event name. Direct state changes (seeding, `put_policy`,
create-on-push) are recorded too. `LookupEvents` answers as CloudTrail does: one lookup attribute at most,
newest first, at most 50 events a page with a `NextToken`, 2 calls a second per account and region (a
ThrottlingException past that), and only events older than the delivery delay (CloudTrail delivers an event
minutes after the call). Knobs: `cloudtrail_delivery_delay` (seconds), `cloudtrail_denied` (every lookup is
AccessDeniedException), `cloudtrail_tps`.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError, json_answer

CLOUDTRAIL_TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
EVENT_SOURCE = "ecr.amazonaws.com"
MAX_PAGE = 50
_READ_ONLY_PREFIXES = ("Describe", "Get", "List", "BatchGet", "BatchCheck")
_KEYS = {"EventId", "EventName", "ReadOnly", "Username", "EventSource", "ResourceType", "ResourceName"}


@dataclass(frozen=True)
class TrailEvent:
    sequence: int
    time: float  # epoch seconds: when the call was made
    name: str
    account: str
    region: str
    repository: str | None
    event_id: str

    @property
    def read_only(self) -> bool:
        return self.name.startswith(_READ_ONLY_PREFIXES)

    def attribute(self, key: str) -> str | None:
        return {
            "EventId": self.event_id,
            "EventName": self.name,
            "ReadOnly": "true" if self.read_only else "false",
            "Username": "sandbox",
            "EventSource": EVENT_SOURCE,
            "ResourceType": "AWS::ECR::Repository" if self.repository else None,
            "ResourceName": self.repository,
        }.get(key)

    def to_json(self) -> dict[str, Any]:
        record = {
            "eventVersion": "1.08",
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)),
            "eventSource": EVENT_SOURCE,
            "eventName": self.name,
            "awsRegion": self.region,
            "recipientAccountId": self.account,
            "requestParameters": {"repositoryName": self.repository} if self.repository else None,
            "readOnly": self.read_only,
            "managementEvent": True,
            "eventID": self.event_id,
        }
        event: dict[str, Any] = {
            "EventId": self.event_id,
            "EventName": self.name,
            "ReadOnly": "true" if self.read_only else "false",
            "EventTime": self.time,
            "EventSource": EVENT_SOURCE,
            "Username": "sandbox",
            "CloudTrailEvent": json.dumps(record),
        }
        if self.repository:
            event["Resources"] = [{"ResourceType": "AWS::ECR::Repository", "ResourceName": self.repository}]
        return event


class EventHistory:
    """The recorded events of every account and region, and the `LookupEvents` handler."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[TrailEvent] = []
        self._sequence = itertools.count(1)
        self._calls: dict[tuple[str, str], list[float]] = {}
        self.offset = 0.0  # added to every new event's time (see age())

    def reset(self) -> None:
        with self._lock:
            self._events.clear()
            self._calls.clear()
            self.offset = 0.0

    def record(self, name: str, account: str, region: str, repository: str | None) -> None:
        with self._lock:
            self._events.append(
                TrailEvent(
                    sequence=next(self._sequence),
                    time=time.time() + self.offset,
                    name=name,
                    account=account,
                    region=region,
                    repository=repository,
                    event_id=str(uuid.uuid4()),
                )
            )

    def age(self, seconds: float) -> int:
        """Move every recorded event `seconds` into the past (a registry seeded "long ago"); the number."""
        with self._lock:
            self._events = [
                TrailEvent(
                    e.sequence, e.time - seconds, e.name, e.account, e.region, e.repository, e.event_id
                )
                for e in self._events
            ]
            return len(self._events)

    def recorder(self, account_region: Any) -> Any:
        """The layer in front of ECR's answers: a successful call becomes an event."""

        def layer(call: EcrCall, following: Handler) -> Answer:
            answer = following(call)
            if answer.code < 300:
                account, region = account_region(call.environ)
                names: list[str | None] = list(call.repository_names) or [None]
                for repository in names:
                    self.record(call.action, account, region, repository)
            return answer

        return layer

    def lookup(self, params: dict[str, Any], account: str, region: str, config: Any) -> Answer:
        if config.cloudtrail_denied:
            raise SandboxError(
                "AccessDeniedException",
                "User is not authorized to perform: cloudtrail:LookupEvents",
            )
        self._take_call(account, region, float(config.cloudtrail_tps))
        attributes = params.get("LookupAttributes") or []
        if not isinstance(attributes, list) or len(attributes) > 1:
            raise SandboxError("InvalidLookupAttributesException", "You cannot specify more than one lookup")
        key, value = None, None
        if attributes:
            key, value = attributes[0].get("AttributeKey"), attributes[0].get("AttributeValue")
            if key not in _KEYS:
                raise SandboxError("InvalidLookupAttributesException", f"Invalid attribute key {key}")
        limit = int(params.get("MaxResults") or MAX_PAGE)
        if not 1 <= limit <= MAX_PAGE:
            raise SandboxError("InvalidMaxResultsException", "MaxResults must be between 1 and 50")
        start = float(params.get("StartTime", 0.0))
        end = float(params.get("EndTime", time.time()))
        if start > end:
            raise SandboxError("InvalidTimeRangeException", "StartTime is after EndTime")
        before = _decode_token(params.get("NextToken"))
        delivered_until = time.time() - float(config.cloudtrail_delivery_delay)
        with self._lock:
            events = self._events
        page: list[TrailEvent] = []
        more = False
        for event in reversed(events):  # newest first
            if before is not None and event.sequence >= before:
                continue
            if event.account != account or event.region != region or event.time > delivered_until:
                continue
            if not start <= event.time <= end or (key is not None and event.attribute(key) != value):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(event)
        payload: dict[str, Any] = {"Events": [e.to_json() for e in page]}
        if more:
            payload["NextToken"] = _encode_token(page[-1].sequence)
        return json_answer(payload)

    def _take_call(self, account: str, region: str, rate: float) -> None:
        """At most `rate` calls in any second, per account and region."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._calls.get((account, region), []) if now - t < 1.0]
            if len(recent) >= rate:
                self._calls[(account, region)] = recent
                raise SandboxError("ThrottlingException", "Rate exceeded")
            recent.append(now)
            self._calls[(account, region)] = recent


def _encode_token(sequence: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": sequence}).encode()).decode()


def _decode_token(token: Any) -> int | None:
    if token is None:
        return None
    try:
        before = json.loads(base64.urlsafe_b64decode(str(token).encode()))["before"]
        return int(before)
    except (ValueError, KeyError, TypeError) as exc:
        raise SandboxError("InvalidNextTokenException", "Invalid NextToken") from exc
