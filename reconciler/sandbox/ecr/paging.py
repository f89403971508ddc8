"""DescribeRepositories paging as real ECR does it: `maxResults` 1..1000 (default 100), an opaque `nextToken`,
refusal of `maxResults`/`nextToken` together with `repositoryNames`. Order: creation order (stable)."""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime
import json
from typing import Any

from reconciler.sandbox.ecr.backend import caller, ecr_backend
from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError, json_answer

DESCRIBE_DEFAULT_PAGE = 100
DESCRIBE_MAX_PAGE = 1000


def describe_pages(call: EcrCall, following: Handler) -> Answer:
    """The layer: checks DescribeRepositories' paging parameters, and answers the listing (no
    repositoryNames) itself, page by page."""
    if call.action != "DescribeRepositories":
        return following(call)
    _check(call.params)
    if call.params.get("repositoryNames"):
        return following(call)
    return _page(call)


def _check(params: dict[str, Any]) -> None:
    has_paging = "maxResults" in params or "nextToken" in params
    if params.get("repositoryNames") and has_paging:
        raise SandboxError(
            "InvalidParameterException",
            "Invalid parameter at 'maxResults, nextToken' failed to satisfy constraint: "
            "'Cannot be specified with repositoryNames'",
        )
    if "maxResults" in params:
        value = params["maxResults"]
        if not isinstance(value, int) or not 0 < value <= DESCRIBE_MAX_PAGE:
            bound = (
                "greater than or equal to 1"
                if isinstance(value, int) and value < 1
                else (f"less than or equal to {DESCRIBE_MAX_PAGE}")
            )
            raise SandboxError(
                "ValidationException",
                f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy "
                f"constraint: Member must have value {bound}",
            )
    if "nextToken" in params:
        _decode_token(params["nextToken"])


def _page(call: EcrCall) -> Answer:
    """One DescribeRepositories page, built here rather than by moto: moto's response serializer costs
    ~0.15 ms per repository per call and always serializes all of them, so paging 10,000 repositories
    100 at a time through moto would take minutes. The shape is moto's (a test compares them)."""
    params = call.params
    account, region = caller(call.environ)
    registry_id = params.get("registryId") or account
    backend = ecr_backend(account, region)
    repositories = [r for r in list(backend.repositories.values()) if r.registry_id == registry_id]
    limit = params.get("maxResults", DESCRIBE_DEFAULT_PAGE)
    start = 0
    if "nextToken" in params:
        offset, after = _decode_token(params["nextToken"])
        start = offset
        # Resume after the last name handed out, so a deletion between pages skips nothing.
        if after is not None and not (
            0 < offset <= len(repositories) and repositories[offset - 1].name == after
        ):
            index = next((i for i, r in enumerate(repositories) if r.name == after), None)
            start = offset if index is None else index + 1
    page = repositories[start : start + limit]
    payload: dict[str, Any] = {"repositories": [_repository_json(r) for r in page]}
    end = start + len(page)
    if end < len(repositories):
        payload["nextToken"] = _encode_token(end, page[-1].name if page else None)
    return json_answer(payload)


def _encode_token(offset: int, after: str | None) -> str:
    raw = json.dumps({"offset": offset, "after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: Any) -> tuple[int, str | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        offset, after = data["offset"], data["after"]
        if not isinstance(offset, int) or offset < 0 or not (after is None or isinstance(after, str)):
            raise ValueError("bad token")
        return offset, after
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise SandboxError(
            "InvalidParameterException",
            "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'",
        ) from exc


def _epoch_millis(value: datetime.datetime) -> float:
    """moto's JSON timestamps: seconds since the epoch, truncated to milliseconds (naive means UTC)."""
    return calendar.timegm(value.utctimetuple()) + (value.microsecond // 1000) / 1000.0


def _repository_json(repository: Any) -> dict[str, Any]:
    """A moto Repository as DescribeRepositories answers it."""
    item: dict[str, Any] = {
        "repositoryArn": repository.arn,
        "registryId": repository.registry_id,
        "repositoryName": repository.name,
        "repositoryUri": repository.uri,
        "createdAt": _epoch_millis(repository.created_at),
        "imageTagMutability": repository.image_tag_mutability,
        "imageScanningConfiguration": repository.image_scanning_configuration,
        "encryptionConfiguration": repository.encryption_configuration,
    }
    if repository.image_tag_mutability_exclusion_filters:
        item["imageTagMutabilityExclusionFilters"] = repository.image_tag_mutability_exclusion_filters
    return item
