"""What the HTTP layer (`live/http.py`) raises: each message names the service, method, path and why,
never a header or a body, so callers can print it as it is."""

from __future__ import annotations

from reconciler.errors import ReconcilerError


class HttpError(ReconcilerError):
    """A request failed; the message names the service, method, path and why (never a header)."""


class GaveUp(HttpError):
    """Retries ran out (attempts or time): the last failure is in the message."""


class OutcomeUnknown(HttpError):
    """A write went out (or may have) and no answer says whether it was carried out: read before
    sending it again (`HttpClient.recover_write`)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class RedirectRefused(HttpError):
    """The server redirected to another origin (or to plain http): not followed, credentials kept."""


class RateLimited(HttpError):
    """The service's rate limit would need a longer wait than allowed; `resets_at` (epoch) if known."""

    def __init__(self, message: str, resets_at: float | None) -> None:
        super().__init__(message)
        self.resets_at = resets_at
