"""The GitHub double's rate limits, answered as GitHub answers them ("Rate limits for the REST API",
docs/GITHUB_API.md): scripted primary or secondary limits for the next requests, or a secondary limit on
every n-th write. A refused request is not carried out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.sandbox.rest import json_response

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you "
    "reach out to GitHub Support for help, please include the request ID {request_id}."
)
PRIMARY_LIMIT_MESSAGE = (
    "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please "
    "include the request ID {request_id}."
)
RATE_LIMIT = 1000  # GITHUB_TOKEN: 1,000 requests an hour per repository
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass
class _Limited:
    """Scripted rate-limit answers: `count` of them (None: until reset)."""

    count: int | None
    primary: bool
    status: int
    retry_after: float | None
    reset_at: int | None
    routes: frozenset[str] | None


class RateLimits:
    """The limits scripted so far; `answer(key)` says whether a request gets a rate-limit answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limits: list[_Limited] = []
        self._secondary_every: int | None = None
        self._secondary_retry_after: float | None = None
        self._secondary_status = 403
        self._writes_seen = 0
        self._request_ids = 0

    def secondary(self, every: int | None, retry_after: float | None, status: int) -> None:
        """Refuse every `every`-th write with the secondary rate limit (None: stop)."""
        with self._lock:
            self._secondary_every = every
            self._secondary_retry_after = retry_after
            self._secondary_status = status
            self._writes_seen = 0

    def next(
        self,
        count: int | None,
        primary: bool,
        status: int,
        retry_after: float | None,
        reset_at: int | None,
        routes: Iterable[str] | None,
    ) -> None:
        """Answer the next `count` requests (None: all, until cleared) to `routes` (None: any)."""
        with self._lock:
            self._limits.append(
                _Limited(
                    count,
                    primary,
                    status,
                    retry_after,
                    reset_at,
                    None if routes is None else frozenset(routes),
                )
            )

    def clear(self) -> None:
        with self._lock:
            self._limits.clear()
            self._secondary_every = None
            self._writes_seen = 0

    def answer(self, key: str) -> Response | None:
        """The rate-limit answer for this request (route key "METHOD rule"), if it gets one."""
        method = key.partition(" ")[0]
        with self._lock:
            self._request_ids += 1
            request_id = f"SANDBOX:{self._request_ids:06d}"
            for plan in self._limits:
                if plan.routes is not None and key not in plan.routes:
                    continue
                if plan.count is not None:
                    plan.count -= 1
                    if plan.count <= 0:
                        self._limits.remove(plan)
                return _limit_answer(plan.primary, plan.status, plan.retry_after, plan.reset_at, request_id)
            if method in _WRITES and self._secondary_every:
                self._writes_seen += 1
                if self._writes_seen % self._secondary_every == 0:
                    retry_after = self._secondary_retry_after
                    return _limit_answer(False, self._secondary_status, retry_after, None, request_id)
        return None


def _limit_answer(
    primary: bool, status: int, retry_after: float | None, reset_at: int | None, request_id: str
) -> Response:
    headers = [("x-ratelimit-limit", str(RATE_LIMIT)), ("x-ratelimit-resource", "core")]
    if primary:
        reset = reset_at if reset_at is not None else int(time.time()) + 3600
        headers += [("x-ratelimit-remaining", "0"), ("x-ratelimit-used", str(RATE_LIMIT))]
        headers += [("x-ratelimit-reset", str(reset))]
        message = PRIMARY_LIMIT_MESSAGE
    else:
        headers += [("x-ratelimit-remaining", str(RATE_LIMIT - 10)), ("x-ratelimit-used", "10")]
        message = SECONDARY_LIMIT_MESSAGE
    if retry_after is not None:
        headers.append(("retry-after", f"{retry_after:g}"))
    body = {"message": message.format(request_id=request_id), "documentation_url": RATE_LIMIT_DOCS}
    return json_response(body, status, headers)
