"""What GitHub's answers say: its own words for a refusal, and whether an answer is a rate limit and how
long to wait it out ("Rate limits for the REST API", docs/GITHUB_API.md)."""

from __future__ import annotations

import json
import re

from reconciler.live.http import Answer, Wait

MIN_RATE_LIMIT_WAIT = 60.0  # GitHub: with no retry-after and no reset, wait at least a minute
_SECONDARY = re.compile(r"secondary rate limit", re.IGNORECASE)


def _message_text(answer: Answer) -> str:
    try:
        data = json.loads(answer.body or b"{}")
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return str(message) if message else ""


def github_message(answer: Answer) -> str:
    """GitHub's own words for a refusal ("Issues are disabled for this repo"), which say what to fix.
    Only its `message` field: a response never echoes the request's headers, so the token can't be in it."""
    text = _message_text(answer)
    return f" ({text[:200]})" if text else ""


def header_number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None and value.strip() else None
    except ValueError:
        return None


def rate_limit_wait(answer: Answer, repeats: int, now: float) -> Wait | None:
    """GitHub's rules for a rate-limited answer ("Rate limits for the REST API", docs/GITHUB_API.md): a 403
    or 429 is a rate limit when it has `retry-after`, `x-ratelimit-remaining: 0`, or the secondary-limit
    message (any 429 is one). Wait `retry-after` seconds if given; else, when the remaining count is 0,
    until `x-ratelimit-reset`; else at least a minute, doubling on each repeat. Any other 403 is None:
    a refusal that waiting will not change."""
    if answer.status not in (403, 429):
        return None
    headers = answer.headers
    retry_after = header_number(headers.get("retry-after"))
    exhausted = (headers.get("x-ratelimit-remaining") or "").strip() == "0"
    secondary = bool(_SECONDARY.search(_message_text(answer)))
    if answer.status == 403 and retry_after is None and not exhausted and not secondary:
        return None
    reset = header_number(headers.get("x-ratelimit-reset"))
    if secondary:
        limit = "GitHub's secondary rate limit"
    elif exhausted:
        resource = headers.get("x-ratelimit-resource") or "core"
        limit = f"GitHub's rate limit ({headers.get('x-ratelimit-limit') or '?'} requests, {resource})"
    else:
        limit = "GitHub's rate limit"
    if retry_after is not None:
        return Wait(max(0.0, retry_after), limit, now + max(0.0, retry_after))
    if exhausted and reset is not None:
        # The reset is in whole seconds: one more second makes sure it has passed.
        return Wait(max(0.0, reset - now) + 1.0, limit, reset)
    return Wait(MIN_RATE_LIMIT_WAIT * 2 ** min(repeats, 10), limit, None)
