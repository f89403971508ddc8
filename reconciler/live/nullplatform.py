"""The nullplatform side: find the ECR provider config and read/write its `attributes.setup.policy`.

The provider record also holds CI credentials (`ci.access_key`, `ci.secret_key`), which the API reads as
`null` (secret) while keeping them stored. A write sends only the `setup` group (see `write_policy`), never
`ci`. This module never logs, prints, raises or keeps any attribute other than `setup.policy`, nor the API
key or the tokens: error messages carry the method, the path and the status, attribute paths (never
values), and at most the API's own short error message.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import os
import re
import threading
import urllib.parse
from typing import Any

from reconciler.desired.model import NullplatformTarget
from reconciler.errors import ReconcilerError, SentWriteError, StaleTarget
from reconciler.live.clock import Clock
from reconciler.live.http import Answer, HttpClient, Retries
from reconciler.live.provider_attributes import differences, secret_candidates, write_blocker
from reconciler.policy.fingerprint import live_fingerprint

log = logging.getLogger(__name__)

DEFAULT_HOST = "api.nullplatform.com"
PAGE_LIMIT = 100
_RETRY_AFTER_CAP = 30.0  # a server asking for longer than this is better reported than waited on
_BACKOFF_CAP = 10.0
_MESSAGE_CAP = 200
_ERROR_BODY_CAP = 65_536
_IDS_SHOWN = 10
# Refresh a token this long before its `exp` claim, so a call is not refused mid-run (docs/NULLPLATFORM.md).
_TOKEN_MARGIN = 60.0
# What an API behind a JWT authorizer says of an expired token ("jwt expired", "The incoming token has
# expired", "Token has expired"); nullplatform documents no answer of its own (docs/NULLPLATFORM.md).
_EXPIRED = re.compile(r"\b(?:jwt|token)\b.*\bexpired\b", re.IGNORECASE | re.DOTALL)


class _Refused(ReconcilerError):
    """The API answered the request with a refusal (4xx): it did not take effect."""


def _token_expiry(token: str) -> float | None:
    """The `exp` claim (epoch seconds) of a JWT access token, read without verifying it (the API does
    that); None for a token that is not a JWT or has no `exp`."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


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


class NullplatformClient:
    """A small JSON client for the nullplatform API (on reconciler.live.http), with token refresh and
    retries."""

    def __init__(
        self,
        host: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 10,
        max_attempts: int = 5,
        backoff: float = 0.5,
        clock: Clock | None = None,
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
        self._http = HttpClient(
            self.base_url,
            service="nullplatform",
            connect_timeout=timeout,
            read_timeout=timeout,
            retries=Retries(
                attempts=self.max_attempts,
                backoff=backoff,
                backoff_cap=_BACKOFF_CAP,
                retry_after_cap=_RETRY_AFTER_CAP,
            ),
            clock=clock,
        )

    @classmethod
    def from_env(cls) -> NullplatformClient:
        """From NULLPLATFORM_API_KEY (required) and NULLPLATFORM_HOST (default api.nullplatform.com)."""
        return cls(os.environ.get("NULLPLATFORM_HOST"), os.environ.get("NULLPLATFORM_API_KEY"))

    def __repr__(self) -> str:  # never the key or the token
        return f"NullplatformClient({self.base_url!r})"

    @property
    def calls(self) -> int:
        """HTTP requests sent (token requests and retries included)."""
        return self._http.sent

    # -- HTTP -------------------------------------------------------------------------------------------

    def _parsed(self, method: str, path: str, answer: Answer) -> Any:
        try:
            return answer.json()
        except ValueError:
            raise ReconcilerError(
                f"nullplatform {method} {path}: answered {answer.status} with a non-JSON body"
            ) from None

    def _raw_message(self, answer: Answer) -> str:
        try:
            payload = json.loads(answer.body[:_ERROR_BODY_CAP] or b"null")
        except ValueError:
            return ""
        message = payload.get("message") if isinstance(payload, dict) else None
        return message if isinstance(message, str) else ""

    def _api_message(self, answer: Answer) -> str:
        """The API's own short error message from a JSON error body, scrubbed of our secrets."""
        message = self._raw_message(answer)
        if not message or len(message) > _MESSAGE_CAP:
            return ""
        for secret in (self.__api_key, self.__token, *self.__seen_values):
            if secret and secret in message:
                return ""
        return f": {message}"

    def _fetch_token(self) -> str:
        # Asking for a token twice is harmless: a lost answer is simply asked again.
        answer = self._http.request("POST", "/token", json={"apikey": self.__api_key}, idempotent=True)
        status = answer.status
        # No body, no message: a token endpoint's error could echo what it was sent.
        if status in {401, 403}:
            raise ReconcilerError(
                f"nullplatform POST /token: {status}: the API key was rejected (NULLPLATFORM_API_KEY)"
            )
        if status >= 400:
            raise ReconcilerError(f"nullplatform POST /token: {status}")
        token = self._parsed("POST", "/token", answer)
        token = token.get("access_token") if isinstance(token, dict) else None
        if not isinstance(token, str) or not token:
            raise ReconcilerError("nullplatform POST /token: the answer has no access_token")
        log.debug("nullplatform: obtained an access token")
        return token

    def _token(self, stale: str | None = None) -> str:
        """The current token; a new one when there is none, the caller's `stale` one was refused, or it
        expires within _TOKEN_MARGIN (its JWT `exp` claim)."""
        with self._token_lock:
            token = self.__token
            expiry = None if token is None else _token_expiry(token)
            if (
                token is None
                or token == stale
                or (expiry is not None and expiry - _TOKEN_MARGIN <= self._http.clock.time())
            ):
                self.__token = token = self._fetch_token()
            return token

    def _expired_token(self, answer: Answer) -> bool:
        """Whether the API refused the token itself: 401, or a 403 saying the token expired."""
        if answer.status == 401:
            return True
        return answer.status == 403 and bool(_EXPIRED.search(self._raw_message(answer)))

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        """An authenticated JSON call: retries transient failures (reconciler.live.http); refreshes the
        token once when the API refuses it as expired. A PATCH that may have gone out without an answer
        raises OutcomeUnknown (write_policy reads before sending it again)."""
        refreshed = False
        while True:
            token = self._token()
            answer = self._http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
            if answer.status < 400:
                return self._parsed(method, path, answer)
            status = answer.status
            if self._expired_token(answer) and not refreshed:
                log.debug("nullplatform %s %s: %d, refreshing the token", method, path, status)
                refreshed = True
                self._token(stale=token)
                continue
            if status == 401:
                raise _Refused(
                    f"nullplatform {method} {path}: 401 Unauthorized even with a fresh token; "
                    "check NULLPLATFORM_API_KEY and its roles"
                )
            raise _Refused(f"nullplatform {method} {path}: HTTP {status}{self._api_message(answer)}")

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
        self.__seen_values.update(secret_candidates(attributes))
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

        docs/NULLPLATFORM.md: secret attributes (the ECR provider's `ci.access_key` and
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

        def patch() -> bool:
            self._request("PATCH", path, {"attributes": {"setup": sent}})
            return True

        def applied() -> bool | None:
            # The PATCH went out and no answer says whether it was applied: read before sending it again.
            now = self._policy_of(provider_id, self._attributes(provider_id))
            if now == policy:
                return True
            if live_fingerprint(now) == live_fingerprint(current):
                return None  # not applied: sending it again is safe
            raise SentWriteError(
                f"nullplatform provider {provider_id}: setup.policy changed by someone else while a PATCH "
                "of ours had no answer; not sent again (plan again)"
            )

        try:
            self._http.recover_write(patch, applied, f"nullplatform PATCH {path}")
        except _Refused:
            raise  # answered with a refusal: nothing changed
        except ReconcilerError as exc:
            # Gave up on timeouts, resets and 5xx: the PATCH may have been applied all the same.
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
        problems.extend(differences(expected, after, skip={"setup.policy"}))
        if problems:
            raise SentWriteError(f"nullplatform provider {provider_id}: after PATCH, {'; '.join(problems)}")
        log.info("nullplatform provider %s: setup.policy updated", provider_id)
