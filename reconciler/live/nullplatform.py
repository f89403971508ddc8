"""The nullplatform side: find the ECR provider config and read/write its `attributes.setup.policy`.

The provider record also holds CI credentials (`ci.access_key`, `ci.secret_key`), which the API reads as
`null` (secret) while keeping them stored. A write sends only the `setup` group (see `write_policy`), never
`ci`. This module never logs, prints, raises or keeps any attribute other than `setup.policy`, nor the API
key or the tokens: error messages carry the method, the path and the status, attribute paths (never
values), and at most the API's own short error message.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from reconciler.desired.model import NullplatformTarget
from reconciler.errors import ReconcilerError, SentWriteError, StaleTarget
from reconciler.plan.fingerprint import live_fingerprint

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_HOST = "api.nullplatform.com"
PAGE_LIMIT = 100
_RETRY_AFTER_CAP = 30.0  # a server asking for longer than this is better reported than waited on
_BACKOFF_CAP = 10.0
_MESSAGE_CAP = 200
_RETRYABLE_STATUS = {429, 500, 502, 503, 504}
_ERROR_BODY_CAP = 65_536
_IDS_SHOWN = 10
_sleep = time.sleep  # module-level so tests can record backoff delays instead of waiting them out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are refused (answered as the 3xx error): urllib would resend the Authorization header to
    wherever the Location points, including another host or plain http."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Refused(ReconcilerError):
    """The API answered the request with a refusal (4xx): it did not take effect."""


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying; `reason` is safe to show."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def base_url(host: str) -> str:
    """The API's base URL from NULLPLATFORM_HOST: a bare host name means https; http only to loopback."""
    host = host.strip()
    if "://" not in host:
        host = f"https://{host}"
    parts = urllib.parse.urlsplit(host)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ReconcilerError(f"NULLPLATFORM_HOST {host!r} is not a host name or an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        # The bearer token would cross the network in clear text.
        raise ReconcilerError(
            f"NULLPLATFORM_HOST {host!r}: plain http is allowed only for loopback addresses; use https"
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _differences(
    before: Any, after: Any, prefix: str = "", skip: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """What differs, as "path gone", "path added" or "path changed". Values are never returned."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if path in skip:
                continue
            if key not in after:
                found.append(f"{path} gone")
            elif key not in before:
                found.append(f"{path} added")
            else:
                found.extend(_differences(before[key], after[key], path, skip))
        return found
    # Lists and scalars compare whole: a list is one attribute value.
    if type(before) is not type(after) or before != after:
        return [f"{prefix or 'attributes'} changed"]
    return []


def _null_paths(value: Any, path: str) -> list[str]:
    """Dotted paths of the `null` values in `value`."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _null_paths(item, f"{path}.{key}")]
    return []


def write_blocker(provider_id: str, setup: dict[str, Any]) -> str | None:
    """Why `setup.policy` cannot be written, or None: a `null` elsewhere in `setup` may be a secret the API
    hides, and the whole group must be sent back. Paths only, never values."""
    nulls = [p for p in _null_paths(setup, "setup") if p != "setup.policy"]
    if not nulls:
        return None
    return (
        f"nullplatform provider {provider_id}: not written: {', '.join(nulls)} read(s) as null "
        "(the API answers null for a secret it hides), and the whole setup group must be sent "
        "back, which would store null over it; give it a value in nullplatform, then apply again"
    )


def _secret_candidates(value: Any, path: str = "") -> list[str]:
    """Leaf strings of provider attributes, except the policy (ours, and long JSON that errors may quote)."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _secret_candidates(v, f"{path}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [s for v in value for s in _secret_candidates(v, path)]
    if isinstance(value, str) and path != "setup.policy" and len(value) >= 4:
        return [value]
    return []


class NullplatformClient:
    """A small JSON client for the nullplatform API (stdlib urllib), with token refresh and retries."""

    def __init__(
        self,
        host: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 10,
        max_attempts: int = 5,
        backoff: float = 0.5,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("NULLPLATFORM_API_KEY")
        if not key:
            raise ReconcilerError("NULLPLATFORM_API_KEY is not set: it is needed to read the provider config")
        self.base_url = base_url(host or os.environ.get("NULLPLATFORM_HOST") or DEFAULT_HOST)
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.__api_key = key
        self.__token: str | None = None
        # Every attribute value we have seen other than setup.policy: an API error message quoting one
        # (as schema validators do) is dropped, since those values hold credentials.
        self.__seen_values: set[str] = set()
        self._token_lock = threading.Lock()
        self._calls = 0
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._calls_lock = threading.Lock()

    @classmethod
    def from_env(cls) -> NullplatformClient:
        """From NULLPLATFORM_API_KEY (required) and NULLPLATFORM_HOST (default api.nullplatform.com)."""
        return cls(os.environ.get("NULLPLATFORM_HOST"), os.environ.get("NULLPLATFORM_API_KEY"))

    def __repr__(self) -> str:  # never the key or the token
        return f"NullplatformClient({self.base_url!r})"

    @property
    def calls(self) -> int:
        """HTTP requests sent (token requests and retries included)."""
        return self._calls

    # -- HTTP -------------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: Any, token: str | None) -> tuple[int, Any]:
        """One HTTP exchange. Returns (status, parsed JSON or None); raises HTTPError for >= 400."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)  # noqa: S310
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        with self._calls_lock:
            self._calls += 1
        with self._opener.open(request, timeout=self.timeout) as response:
            raw = response.read()
            status = int(response.status)
        log.debug("nullplatform %s %s -> %d", method, path, status)
        if not raw.strip():
            return status, None
        try:
            return status, json.loads(raw)
        except ValueError:
            raise ReconcilerError(
                f"nullplatform {method} {path}: answered {status} with a non-JSON body"
            ) from None

    def _api_message(self, error: urllib.error.HTTPError) -> str:
        """The API's own short error message from a JSON error body, scrubbed of our secrets."""
        try:
            payload = json.loads(error.read(_ERROR_BODY_CAP) or b"null")
        except (ValueError, OSError):
            return ""
        message = payload.get("message") if isinstance(payload, dict) else None
        if not isinstance(message, str) or len(message) > _MESSAGE_CAP:
            return ""
        for secret in (self.__api_key, self.__token, *self.__seen_values):
            if secret and secret in message:
                return ""
        return f": {message}"

    def _attempts(self, method: str, path: str, once: Callable[[], _T]) -> _T:
        """Run `once()` up to max_attempts times, backing off on _Retry; then a clear error."""
        last = ""
        for attempt in range(self.max_attempts):
            try:
                return once()
            except _Retry as retry:
                last = retry.reason
                if attempt + 1 >= self.max_attempts:
                    break
                delay = retry.delay
                if delay is None:
                    delay = min(_BACKOFF_CAP, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
                log.debug("nullplatform %s %s: %s; retrying in %.2fs", method, path, last, delay)
                _sleep(delay)
        attempts = f"{self.max_attempts} attempt{'s' if self.max_attempts > 1 else ''}"
        raise ReconcilerError(f"nullplatform {method} {path}: gave up after {attempts} ({last})")

    def _exchange(self, method: str, path: str, body: Any, token: str | None) -> tuple[int, Any]:
        """One attempt, with transient failures turned into _Retry and 4xx left as HTTPError."""
        try:
            return self._send(method, path, body, token)
        except urllib.error.HTTPError as error:
            if error.code in _RETRYABLE_STATUS:
                delay = None
                if error.code == 429:
                    delay = self._retry_after(error.headers.get("Retry-After"))
                error.close()
                raise _Retry(f"HTTP {error.code}", delay) from None
            raise
        except TimeoutError:
            raise _Retry(f"timed out after {self.timeout}s") from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise _Retry(f"timed out after {self.timeout}s") from None
            raise _Retry(f"connection failed: {type(reason).__name__}") from None
        except (OSError, http.client.HTTPException) as error:  # resets, truncated answers
            raise _Retry(f"connection failed: {type(error).__name__}") from None

    def _retry_after(self, value: str | None) -> float | None:
        if not value:
            return None
        try:
            return max(0.0, min(_RETRY_AFTER_CAP, float(value)))
        except ValueError:
            return None  # an HTTP date: fall back to our own backoff

    def _fetch_token(self) -> str:
        def once() -> str:
            try:
                _, answer = self._exchange("POST", "/token", {"apikey": self.__api_key}, None)
            except urllib.error.HTTPError as error:
                status = error.code
                error.close()
                # No body, no message: a token endpoint's error could echo what it was sent.
                if status in {401, 403}:
                    raise ReconcilerError(
                        f"nullplatform POST /token: {status}: the API key was rejected (NULLPLATFORM_API_KEY)"
                    ) from None
                raise ReconcilerError(f"nullplatform POST /token: {status}") from None
            token = answer.get("access_token") if isinstance(answer, dict) else None
            if not isinstance(token, str) or not token:
                raise ReconcilerError("nullplatform POST /token: the answer has no access_token")
            return token

        token = self._attempts("POST", "/token", once)
        log.debug("nullplatform: obtained an access token")
        return token

    def _token(self, stale: str | None = None) -> str:
        """The current token; a new one when there is none or the caller's `stale` one was refused."""
        with self._token_lock:
            if self.__token is None or self.__token == stale:
                self.__token = self._fetch_token()
            return self.__token

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        """An authenticated JSON call: retries transient failures; refreshes the token once on 401."""
        refreshed = False
        while True:
            token = self._token()

            def once(token: str = token) -> tuple[int, Any]:
                return self._exchange(method, path, body, token)

            try:
                _, answer = self._attempts(method, path, once)
                return answer
            except urllib.error.HTTPError as error:
                status = error.code
                message = self._api_message(error)
                error.close()
                if status == 401 and not refreshed:
                    log.debug("nullplatform %s %s: 401, refreshing the token", method, path)
                    refreshed = True
                    self._token(stale=token)
                    continue
                if status == 401:
                    raise _Refused(
                        f"nullplatform {method} {path}: 401 Unauthorized even with a fresh token; "
                        "check NULLPLATFORM_API_KEY and its roles"
                    ) from None
                raise _Refused(f"nullplatform {method} {path}: HTTP {status}{message}") from None

    # -- provider config ------------------------------------------------------------------------------

    def find_provider_id(self, target: NullplatformTarget) -> str:
        """The id of the one ECR provider config at the target's NRN (or its configured provider_id)."""
        if target.provider_id:
            return target.provider_id
        found: list[str] = []
        elsewhere: list[str] = []
        offset = 0
        while True:
            query = urllib.parse.urlencode(
                {"nrn": target.nrn, "specification_slug": "ecr", "limit": PAGE_LIMIT, "offset": offset}
            )
            answer = self._request("GET", f"/provider?{query}")
            results = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(results, list):
                raise ReconcilerError(
                    f"nullplatform GET /provider for {target.nrn}: the answer has no results"
                )
            for record in results:
                if not isinstance(record, dict) or record.get("id") is None:
                    continue
                # Only a provider defined at this exact NRN is ours to write; one inherited from a parent
                # NRN is shared with other scopes.
                if record.get("nrn", target.nrn) == target.nrn:
                    found.append(str(record["id"]))
                else:
                    elsewhere.append(f"{record['id']} at {record.get('nrn')}")
            offset += len(results)
            paging = answer.get("paging") if isinstance(answer.get("paging"), dict) else {}
            total = paging.get("total")
            if not results or (isinstance(total, int) and offset >= total) or len(results) < PAGE_LIMIT:
                break
        if len(found) == 1:
            return found[0]
        if not found:
            hint = f" (found only {', '.join(elsewhere)})" if elsewhere else ""
            raise ReconcilerError(
                f"no nullplatform ECR provider config at {target.nrn}{hint}; create it, or set provider_id"
            )
        shown = ", ".join(found[:_IDS_SHOWN]) + (", ..." if len(found) > _IDS_SHOWN else "")
        raise ReconcilerError(
            f"{len(found)} nullplatform ECR provider configs at {target.nrn} (ids {shown}); "
            "set provider_id to choose one"
        )

    def _attributes(self, provider_id: str) -> dict[str, Any]:
        path = f"/provider/{urllib.parse.quote(provider_id, safe='')}?no_merge=true"
        record = self._request("GET", path)
        attributes = record.get("attributes") if isinstance(record, dict) else None
        if attributes is None:
            return {}
        if not isinstance(attributes, dict):
            raise ReconcilerError(f"nullplatform provider {provider_id}: attributes is not an object")
        self.__seen_values.update(_secret_candidates(attributes))
        return attributes

    @staticmethod
    def _policy_of(provider_id: str, attributes: dict[str, Any]) -> str | None:
        if "setup" not in attributes:
            return None  # only a missing group is empty
        setup = attributes["setup"]
        if setup is None:
            # The whole group may be a secret the API hides (it answers null for those): its policy is
            # not known, and sending `setup` back would store over whatever it holds.
            raise ReconcilerError(
                f"nullplatform provider {provider_id}: attributes.setup reads as null (the API answers null "
                "for a secret it hides); not read nor written: give it a value in nullplatform, then apply "
                "again"
            )
        if not isinstance(setup, dict):
            raise ReconcilerError(f"nullplatform provider {provider_id}: attributes.setup is not an object")
        policy = setup.get("policy")
        if policy is None or isinstance(policy, str):
            return policy
        raise ReconcilerError(f"nullplatform provider {provider_id}: setup.policy is not a JSON string")

    def read_policy(self, provider_id: str) -> str | None:
        """The provider's own (not inherited: no_merge) `attributes.setup.policy`, or None if absent."""
        return self._policy_of(provider_id, self._attributes(provider_id))

    def read_provider(self, provider_id: str) -> tuple[str | None, str | None]:
        """As read_policy, and why a write of it would be refused (see `write_blocker`), or None: so a
        plan can say so before anyone approves it."""
        attributes = self._attributes(provider_id)
        policy = self._policy_of(provider_id, attributes)
        return policy, write_blocker(provider_id, attributes.get("setup") or {})

    def write_policy(self, provider_id: str, policy: str, expected_before: str | None) -> None:
        """Set `setup.policy` by PATCHing the `setup` group alone, then verify by reading back.

        reference.md ("nullplatform API"): secret attributes (the ECR provider's `ci.access_key` and
        `ci.secret_key`) read as `null` while stored intact, so a read-modify-write of whole `attributes`
        would store `null` over the CI credentials, and reading back could not tell. nullplatform's own
        scripts PATCH only the top-level group they change, sent whole as read: groups not sent are kept;
        whether a partial group merges or replaces is undocumented, hence the whole `setup` group. A `null`
        in `setup` may be a masked secret that sending back would wipe: the write is refused. Only
        attribute paths are ever reported, never values (they include credentials).

        `expected_before` is the policy the change was planned against: the policy in the read the PATCH
        is built from must mean the same, or someone changed it since and StaleTarget is raised with
        nothing sent. A failure once the PATCH may have gone out (a timeout, a 5xx, a read-back that does
        not show what was written) is a SentWriteError: the write may have landed.
        """
        path = f"/provider/{urllib.parse.quote(provider_id, safe='')}"
        before = self._attributes(provider_id)
        current = self._policy_of(provider_id, before)  # refuses a `setup` that is null or not an object
        setup: dict[str, Any] = before.get("setup") or {}
        blocked = write_blocker(provider_id, setup)
        if blocked:
            raise ReconcilerError(blocked)
        if live_fingerprint(current) != live_fingerprint(expected_before):
            raise StaleTarget(
                f"nullplatform provider {provider_id}: setup.policy changed since it was read for the plan; "
                "not written (plan again)",
                live=current,
            )
        sent = {**json.loads(json.dumps(setup)), "policy": policy}
        try:
            self._request("PATCH", path, {"attributes": {"setup": sent}})
        except _Refused:
            raise  # answered with a refusal: nothing changed
        except ReconcilerError as exc:
            # Timeouts, resets and 5xx: the PATCH may have been applied all the same.
            raise SentWriteError(str(exc)) from None
        expected = {**before, "setup": sent}
        try:
            after = self._attributes(provider_id)
            landed = self._policy_of(provider_id, after)
        except ReconcilerError as exc:
            raise SentWriteError(f"{exc} (reading back after the PATCH)") from None
        problems: list[str] = []
        if landed != policy:
            problems.append("setup.policy does not hold the written policy")
        # A masked secret reads null before and after: equal, so expected masking is not a change.
        problems.extend(_differences(expected, after, skip={"setup.policy"}))
        if problems:
            raise SentWriteError(f"nullplatform provider {provider_id}: after PATCH, {'; '.join(problems)}")
        log.info("nullplatform provider %s: setup.policy updated", provider_id)
