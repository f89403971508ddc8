"""The HTTP layer (reconciler.live.http) against small local servers: redirects, what is retried and what
is not, Retry-After, and that credentials never leave the configured origin.

Waits go through a SimulatedClock (nothing really sleeps); no test asserts how long anything took.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.live.clock import SimulatedClock
from reconciler.live.http import HttpClient, Retries, origin, retry_after_seconds
from reconciler.live.http_errors import GaveUp, OutcomeUnknown, RedirectRefused
from reconciler.report.github import GitHubClient, GitHubError
from reconciler.sandbox.server import BackgroundServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass
class Recorder:
    """A WSGI app answering from a script (one answer per request, the last one repeated) and recording
    each request's method, path and Authorization header."""

    script: list[Answer | Callable[[], Answer]] = field(default_factory=list)
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self.lock:
            self.seen.append(
                (environ["REQUEST_METHOD"], environ["PATH_INFO"], environ.get("HTTP_AUTHORIZATION"))
            )
            step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        status, headers, body = step() if callable(step) else step
        start_response(f"{status} X", headers)
        return [body]


OK: Answer = (200, [("Content-Type", "application/json")], b'{"ok": true}')


@pytest.fixture
def servers() -> Iterator[Callable[[Recorder], str]]:
    started: list[BackgroundServer] = []

    def serve(app: Recorder) -> str:
        server = BackgroundServer(app, name="http-test")
        server.start()
        started.append(server)
        return server.url

    yield serve
    for server in started:
        server.stop()


def layer(url: str, clock: SimulatedClock, **retries: Any) -> HttpClient:
    return HttpClient(
        url,
        service="test",
        headers={"Authorization": "Bearer s3cret-token"},
        read_timeout=1.0,
        retries=Retries(**retries),
        clock=clock,
    )


# -- redirects -------------------------------------------------------------------------------------------


def test_a_redirect_to_another_host_is_refused_and_the_token_never_reaches_it(
    servers: Callable[[Recorder], str],
) -> None:
    elsewhere = Recorder([OK])
    other = servers(elsewhere)
    origin_app = Recorder([(307, [("Location", f"{other}/steal")], b"")])
    base = servers(origin_app)
    with pytest.raises(RedirectRefused, match=r"redirecting to http://127\.0\.0\.1:\d+, another origin"):
        layer(base, SimulatedClock()).request("POST", "/things", json={"a": 1})
    assert elsewhere.seen == []  # not even a request without the header
    assert len(origin_app.seen) == 1


def test_the_github_client_refuses_a_redirect_to_another_host(servers: Callable[[Recorder], str]) -> None:
    elsewhere = Recorder([OK])
    other = servers(elsewhere)
    base = servers(Recorder([(301, [("Location", f"{other}/repos/acme/x/issues/7/comments")], b"")]))
    gh = GitHubClient(base, "s3cret-token", "acme/x", clock=SimulatedClock())
    with pytest.raises(GitHubError, match="not followed, so the credentials are not sent there") as raised:
        gh.list_comments(7)
    assert elsewhere.seen == [] and "s3cret-token" not in str(raised.value)


def test_a_redirect_on_the_same_origin_is_followed_with_its_method_and_body(
    servers: Callable[[Recorder], str],
) -> None:
    app = Recorder([(307, [("Location", "/moved")], b""), OK])
    base = servers(app)
    answer = layer(base, SimulatedClock()).request("PATCH", "/old", json={"a": 1})
    assert answer.status == 200 and answer.json() == {"ok": True}
    assert [(method, path) for method, path, _ in app.seen] == [("PATCH", "/old"), ("PATCH", "/moved")]


def test_https_to_http_is_another_origin() -> None:
    assert origin("https://api.github.com/x") == ("https", "api.github.com", 443)
    assert origin("http://api.github.com/x") != origin("https://api.github.com/x")
    assert origin("https://API.github.com:443/y") == origin("https://api.github.com/x")
    gh = HttpClient("https://api.github.com", service="GitHub", clock=SimulatedClock())
    with pytest.raises(RedirectRefused, match=r"http://api\.github\.com is not https://api\.github\.com"):
        gh.request("GET", "http://api.github.com/repos")  # e.g. a Link header pointing at plain http


# -- retries ---------------------------------------------------------------------------------------------


def test_retry_after_is_honoured_and_backoff_is_exponential_with_jitter(
    servers: Callable[[Recorder], str],
) -> None:
    app = Recorder([(503, [("Retry-After", "4")], b""), (500, [], b""), (502, [], b""), OK])
    clock = SimulatedClock()
    answer = layer(servers(app), clock, attempts=4, backoff=1.0).request("GET", "/x")
    assert answer.status == 200
    first, second, third = clock.sleeps
    assert first == 4.0  # Retry-After
    # Then the backoff for the 2nd and 3rd attempts, 2 s and 4 s, each jittered into [0.5, 1]x.
    assert 1.0 <= second <= 2.0 and 2.0 <= third <= 4.0


def test_retry_after_as_an_http_date() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2026 07:28:30 GMT", 1_792_567_700.0) == 10.0
    assert retry_after_seconds("soon", 0.0) is None and retry_after_seconds(None, 0.0) is None


def test_a_write_answered_500_is_not_repeated_blindly(servers: Callable[[Recorder], str]) -> None:
    app = Recorder([(500, [], b""), OK])
    with pytest.raises(OutcomeUnknown, match=r"test POST /x: HTTP 500; it may have been carried out"):
        layer(servers(app), SimulatedClock()).request("POST", "/x", json={})
    assert len(app.seen) == 1


def test_a_write_answered_429_or_503_was_not_carried_out_and_is_sent_again(
    servers: Callable[[Recorder], str],
) -> None:
    app = Recorder([(429, [("Retry-After", "2")], b""), (503, [], b""), OK])
    clock = SimulatedClock()
    assert layer(servers(app), clock).request("POST", "/x", json={}).status == 200
    assert len(app.seen) == 3 and clock.sleeps[0] == 2.0


def test_a_read_timeout_is_retried_for_a_read_but_is_an_unknown_outcome_for_a_write(
    servers: Callable[[Recorder], str],
) -> None:
    release = threading.Event()

    def slow() -> Answer:
        release.wait(10)  # held past the client's read timeout
        return OK

    try:
        app = Recorder([slow, OK])
        base = servers(app)
        clock = SimulatedClock()
        assert layer(base, clock, backoff=0.1).request("GET", "/x").status == 200
        app.script[:] = [slow, OK]
        with pytest.raises(OutcomeUnknown, match=r"timed out after 1s; it may have been carried out"):
            layer(base, clock).request("POST", "/x", json={})
        assert [method for method, _, _ in app.seen] == ["GET", "GET", "POST"]
    finally:
        release.set()


def test_a_refused_connection_was_never_sent_so_even_a_write_is_retried() -> None:
    clock = SimulatedClock()
    with pytest.raises(GaveUp, match=r"test POST /x: gave up after 3 attempts \(connection failed"):
        layer("http://127.0.0.1:9", clock, attempts=3).request("POST", "/x", json={})
    assert len(clock.sleeps) == 2


def test_recover_write_reads_before_sending_again() -> None:
    clock = SimulatedClock()
    http = layer("http://127.0.0.1:9", clock, attempts=3)
    sends: list[int] = []
    reads: list[int] = []

    def send() -> str:
        sends.append(1)
        raise OutcomeUnknown("lost", "timed out")

    def landed() -> str | None:
        reads.append(1)
        return "found" if len(reads) == 2 else None

    assert http.recover_write(send, landed, "test POST /x") == "found"
    assert len(sends) == 2 and len(reads) == 2  # sent again only after a read showed it had not landed
