"""One small HTTP layer for the JSON APIs the reconciler calls besides AWS (nullplatform, GitHub), on urllib3.

What it adds to urllib3, and why:
- one pool of keep-alive connections per client, with separate connect and read timeouts;
- retries of what is safe to retry, with exponential backoff and jitter, honouring `Retry-After`,
  bounded by attempts and by the total time spent waiting (`Retries.max_wait`);
- a service's own rate-limit rule (`RateLimitRule`, e.g. GitHub's), waited out within the same bound,
  with an error naming the limit and when it resets past it;
- writes one at a time and, when asked, at least `write_interval` seconds apart;
- redirects followed only to the same origin (scheme, host, port). urllib (stdlib) re-sends the
  `Authorization` header wherever a redirect points; urllib3 drops it for another host but would still
  follow https -> http on the same one. Refusing both means a credential only goes where it was meant to;
- no blind repeat of a write whose outcome is unknown (a timeout or a dropped connection after the request
  went out, a 5xx other than 503): `OutcomeUnknown`, and `recover_write` to read before sending again.

urllib3's own `Retry` is not used: its sleeps cannot be injected and it cannot tell a caller that a write's
outcome is unknown. The clock (wall time, monotonic time, sleep; `live/clock.py`) is injected instead, so
tests run backoffs and rate-limit waits instantly and deterministically.

It knows nothing about plans or reports: errors (`live/http_errors.py`) carry the service, method, path and a
reason, never a header or a body.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from reconciler.live.clock import Clock, SystemClock
from reconciler.live.http_errors import GaveUp, OutcomeUnknown, RateLimited, RedirectRefused

log = logging.getLogger(__name__)
_T = TypeVar("_T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# Answers that say the request was not carried out, so even a write may be sent again.
_NOT_CARRIED_OUT = frozenset({429, 503})


# The clock clients get when none is given; tests that drive clients through the CLI replace it.
DEFAULT_CLOCK: Clock = SystemClock()


@dataclass(frozen=True)
class Answer:
    """A response: status, headers (case-insensitive), body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The parsed JSON body, or None when empty; ValueError when it is not JSON."""
        return jsonlib.loads(self.body) if self.body.strip() else None


@dataclass(frozen=True)
class Wait:
    """A rate limit answered: wait `seconds` then send again. `limit` names it for people; `resets_at`
    (epoch seconds) is when it lifts, if known."""

    seconds: float
    limit: str
    resets_at: float | None = None


# (answer, how many times this request was rate limited already, now as epoch seconds) -> a wait or None
RateLimitRule = Callable[[Answer, int, float], Wait | None]


@dataclass(frozen=True)
class Retries:
    """How hard to try. `attempts` bounds transient failures (5xx, connection problems, 429 without a
    service rule); `max_wait` bounds the total time one request may spend waiting, rate limits included.
    Backoff: `backoff * 2**n` capped at `backoff_cap`, times a jitter in [0.5, 1] so clients that failed
    together do not come back together. A `Retry-After` on 429/503 is honoured, up to `retry_after_cap`."""

    attempts: int = 4
    backoff: float = 0.5
    backoff_cap: float = 10.0
    retry_after_cap: float = 30.0
    max_wait: float = 600.0
    statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})


class _Unsent(Exception):
    """No connection was made: the request never reached the server."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Lost(_Unsent):
    """The request went out (or may have) and no answer came back."""


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def _origin_text(url: str) -> str:
    scheme, host, port = origin(url)
    default = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    return f"{scheme}://{host}" + ("" if default else f":{port}")


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class HttpClient:
    """JSON over HTTP to one origin (`base_url`), with the rules in the module docstring."""

    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        retries: Retries | None = None,
        rate_limit: RateLimitRule | None = None,
        write_interval: float = 0.0,
        max_wait_setting: str = "",
        clock: Clock | None = None,
        pool_size: int = 4,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = origin(self.base_url)
        self.service = service
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = retries or Retries()
        self.rate_limit = rate_limit
        self.write_interval = write_interval
        self.max_wait_setting = max_wait_setting
        self.clock = clock if clock is not None else DEFAULT_CLOCK
        self.__headers = dict(headers or {})  # may hold a credential: never shown
        self._rng = rng or random.Random()
        self._pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=pool_size,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=False,
        )
        self._write_lock = threading.Lock()
        self._last_write: float | None = None
        self._sent_lock = threading.Lock()
        self._sent = 0

    def __repr__(self) -> str:  # never the headers
        return f"HttpClient({self.service!r}, {self.base_url!r})"

    @property
    def sent(self) -> int:
        """HTTP requests sent, retries and followed redirects included."""
        return self._sent

    def url(self, target: str) -> str:
        """`target` as an absolute URL: a path is joined to the base URL; an absolute URL must be on the
        base origin (a `Link` header or a configured URL pointing elsewhere gets no credentials)."""
        url = target if "://" in target else self.base_url + target
        if origin(url) != self.origin:
            raise RedirectRefused(
                f"{self.service}: {_origin_text(url)} is not {_origin_text(self.base_url)}; "
                "not requested, so the credentials are not sent there"
            )
        return url

    def _label(self, method: str, url: str) -> str:
        if url.startswith(self.base_url):
            path = url[len(self.base_url) :] or "/"
        else:
            parts = urllib.parse.urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        return f"{self.service} {method} {path}"

    def backoff_delay(self, attempt: int) -> float:
        """The wait before retry number `attempt + 1` (0-based): exponential, capped, jittered."""
        base = min(self.retries.backoff_cap, self.retries.backoff * 2**attempt)
        return float(base * (0.5 + self._rng.random() / 2))

    # -- requests ---------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        target: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Answer:
        """Send `json` (if any) to `target` (a path or a same-origin URL) and return the final answer:
        one below 400, or an error status the retries do not take up (the caller reads its message).

        Raises GaveUp, RateLimited, RedirectRefused, or OutcomeUnknown for a write that is not
        `idempotent` (by default: anything but GET, HEAD, PUT, DELETE, OPTIONS) once it went out without
        an answer saying whether it was carried out."""
        method = method.upper()
        url = self.url(target)
        body = None if json is None else jsonlib.dumps(json).encode()
        sent_headers = {"Accept": "application/json", **self.__headers, **(headers or {})}
        if body is not None:
            sent_headers["Content-Type"] = "application/json"
        repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        if method in _READS:
            return self._attempts(method, url, body, sent_headers, repeatable)
        with self._write_lock:  # writes one at a time, spaced
            if self._last_write is not None and self.write_interval > 0:
                gap = self._last_write + self.write_interval - self.clock.monotonic()
                if gap > 0:
                    self.clock.sleep(gap)
            try:
                return self._attempts(method, url, body, sent_headers, repeatable)
            finally:
                self._last_write = self.clock.monotonic()

    def _attempts(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], repeatable: bool
    ) -> Answer:
        label = self._label(method, url)
        failures = 0  # transient failures so far (bounded by attempts)
        throttled = 0  # rate-limit answers so far (bounded by max_wait)
        waited = 0.0
        while True:
            hint: float | None = None
            try:
                answer = self._follow(method, url, body, headers, label)
            except _Lost as lost:
                if not repeatable:
                    raise OutcomeUnknown(
                        f"{label}: {lost.reason}; it may have been carried out", lost.reason
                    ) from None
                last = lost.reason
            except _Unsent as unsent:
                last = unsent.reason
            else:
                wait = (
                    None if self.rate_limit is None else self.rate_limit(answer, throttled, self.clock.time())
                )
                if wait is not None:
                    throttled += 1
                    if waited + wait.seconds > self.retries.max_wait:
                        raise RateLimited(self._limit_message(label, wait, waited), wait.resets_at)
                    log.warning("%s: %s; waiting %.0fs", label, wait.limit, wait.seconds)
                    self.clock.sleep(wait.seconds)
                    waited += wait.seconds
                    continue
                if answer.status not in self.retries.statuses:
                    return answer
                last = f"HTTP {answer.status}"
                if not repeatable and answer.status not in _NOT_CARRIED_OUT:
                    raise OutcomeUnknown(f"{label}: {last}; it may have been carried out", last)
                if answer.status in _NOT_CARRIED_OUT:
                    hint = retry_after_seconds(answer.headers.get("Retry-After"), self.clock.time())
                    if hint is not None:
                        hint = min(hint, self.retries.retry_after_cap)
            failures += 1
            if failures >= self.retries.attempts:
                attempts = f"{failures} attempt{'s' if failures > 1 else ''}"
                raise GaveUp(f"{label}: gave up after {attempts} ({last})")
            delay = hint if hint is not None else self.backoff_delay(failures - 1)
            if waited + delay > self.retries.max_wait:
                raise GaveUp(
                    f"{label}: gave up after {failures} attempts and {waited:.0f}s of waiting ({last})"
                )
            log.debug("%s: %s; retrying in %.2fs", label, last, delay)
            self.clock.sleep(delay)
            waited += delay

    def _limit_message(self, label: str, wait: Wait, waited: float) -> str:
        if wait.resets_at is not None:
            stamp = time.strftime("%H:%M:%S UTC", time.gmtime(wait.resets_at))
            resets = f"it resets at {stamp} (in {max(0.0, wait.resets_at - self.clock.time()):.0f}s)"
        else:
            resets = f"the service asked for {wait.seconds:.0f}s more and gave no reset time"
        setting = f"; {self.max_wait_setting} sets that bound" if self.max_wait_setting else ""
        return (
            f"{label}: {wait.limit}: gave up after waiting {waited:.0f}s, the most a request may wait is "
            f"{self.retries.max_wait:.0f}s{setting}; {resets}"
        )

    def _follow(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], label: str
    ) -> Answer:
        """One exchange, following redirects that stay on the base origin."""
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._send(method, url, body, headers)
            location = answer.headers.get("Location")
            if answer.status not in _REDIRECTS or not location:
                return answer
            target = urllib.parse.urljoin(url, location)
            if origin(target) != self.origin:
                raise RedirectRefused(
                    f"{label}: answered {answer.status} redirecting to {_origin_text(target)}, another "
                    "origin; not followed, so the credentials are not sent there"
                )
            if answer.status == 303 or (answer.status in (301, 302) and method in _READS):
                method, body = ("HEAD" if method == "HEAD" else "GET"), None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            url = target
        raise GaveUp(f"{label}: more than {MAX_REDIRECTS} redirects")

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        with self._sent_lock:
            self._sent += 1
        try:
            response = self._pool.request(
                method, url, body=body, headers=headers, redirect=False, retries=False, preload_content=True
            )
        except NewConnectionError as error:  # refused, unreachable, unknown host: never sent
            raise _Unsent(f"connection failed: {type(error).__name__}") from None
        except ConnectTimeoutError:
            raise _Unsent(f"timed out after {self.connect_timeout:g}s") from None
        except SSLError as error:
            raise _Unsent(f"connection failed: {type(error).__name__}") from None
        except ReadTimeoutError:
            raise _Lost(f"timed out after {self.read_timeout:g}s") from None
        except ProtocolError as error:  # reset or closed mid-exchange
            inner = error.args[1] if len(error.args) > 1 else error
            raise _Lost(f"connection failed: {type(inner).__name__}") from None
        except Urllib3Error as error:
            raise _Lost(f"connection failed: {type(error).__name__}") from None
        log.debug("%s -> %d", self._label(method, url), response.status)
        return Answer(int(response.status), response.headers, bytes(response.data or b""))

    def recover_write(self, send: Callable[[], _T], landed: Callable[[], _T | None], label: str) -> _T:
        """Run a write that may end in OutcomeUnknown. Then `landed()` reads whether it was carried out and
        returns what `send` would have (it was), or None (it was not); only then is it sent again, with
        backoff, up to the attempts. Errors from `landed` propagate."""
        last = ""
        for attempt in range(self.retries.attempts):
            try:
                return send()
            except OutcomeUnknown as unknown:
                last = unknown.reason
            log.info("%s: outcome unknown (%s); reading before sending it again", label, last)
            found = landed()
            if found is not None:
                return found
            if attempt + 1 < self.retries.attempts:
                self.clock.sleep(self.backoff_delay(attempt))
        attempts = self.retries.attempts
        raise GaveUp(f"{label}: gave up after {attempts} attempt{'s' if attempts > 1 else ''} ({last})")
