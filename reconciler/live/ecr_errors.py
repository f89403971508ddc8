"""What a failed ECR call becomes: `EcrError` (or `EcrWriteError` for a write) with the operation, where,
AWS's error code and message, and whether it is worth retrying; an expired credential stops the run."""

from __future__ import annotations

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from reconciler.errors import ReconcilerError
from reconciler.live import stop
from reconciler.live.stop import EXPIRED_CODES

RATE_CODES = {
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
}
# Worth retrying: throttling, and a service that is briefly unavailable.
_THROTTLING_CODES = RATE_CODES | {"ServiceUnavailable"}


class EcrError(ReconcilerError):
    """An ECR call failed. `code` is the AWS error code (or the botocore exception name)."""

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class EcrWriteError(EcrError):
    """SetRepositoryPolicy or DeleteRepositoryPolicy failed; nothing can be assumed about the repository.

    `sent`: the request went out, or may have, without a definite refusal (a read timeout, a dropped
    connection, a 5xx or a throttle after retries: an earlier attempt may have been processed), so the
    write may have landed.
    """

    sent = False


def error_parts(exc: Exception, operation: str) -> tuple[str, str, bool]:
    """(code, message, retryable) of a botocore failure, for messages a person can act on."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        failed = getattr(exc, "operation_name", operation)
        if failed and failed != operation:
            # Names the failing call when it is not the ECR one, e.g. AssumeRole failing under it.
            message = f"{message} (in {failed})"
        return code, message, code in _THROTTLING_CODES or status >= 500
    retryable = isinstance(exc, ConnectionError | HTTPClientError)
    return type(exc).__name__, str(exc), retryable


def failure(kind: type[EcrError], exc: Exception, operation: str, where: str, note: str = "") -> EcrError:
    """The error to raise for a failed call: the operation, where, AWS's code and message, and a note."""
    code, message, retryable = error_parts(exc, operation)
    if code in EXPIRED_CODES:
        # The run stops: no further call. A refused write is still settled (reported failed, not sent).
        reason = stop.credentials_expired()
        if not issubclass(kind, EcrWriteError):
            raise reason from exc
    error = kind(f"{operation} failed for {where}: {code}: {message}{note}", code=code, retryable=retryable)
    if isinstance(error, EcrWriteError):
        # What botocore retries is what may have reached ECR (a definite error answer is not retried).
        error.sent = retryable
    return error
