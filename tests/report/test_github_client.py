"""GitHubClient against the GitHub double: GitHub's rate-limit rules, the bounded wait, refusals, spaced
writes, and no second comment or issue after a POST whose answer was lost.

Every wait goes through a SimulatedClock: a minute-long rate-limit wait takes no time, and the waits the
client asked for are checked exactly.
"""

from __future__ import annotations

import pytest

from reconciler.live.clock import SimulatedClock
from reconciler.report.github import MAX_WAIT_ENV, GitHubClient, GitHubError, max_wait_from_env
from reconciler.sandbox.github import DEFAULT_TOKEN, GithubApi

OWNER, REPO = "acme", "ecr-policies"
LIST = "GET /repos/{owner}/{repo}/issues/{number}/comments"
POST = "POST /repos/{owner}/{repo}/issues/{number}/comments"
EDIT = "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"
CREATE_ISSUE = "POST /repos/{owner}/{repo}/issues"
MARKER = "<!-- test:marker -->"


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


def client(github: GithubApi, clock: SimulatedClock, **options: float) -> GitHubClient:
    return GitHubClient(github.url, DEFAULT_TOKEN, f"{OWNER}/{REPO}", clock=clock, **options)


def requests(github: GithubApi, route: str) -> int:
    return int(github.stats()["requests"].get(route, 0))


# -- rate limits -------------------------------------------------------------------------------------------


def test_the_secondary_limit_on_every_second_write_is_waited_out_as_retry_after_says(
    github: GithubApi, clock: SimulatedClock
) -> None:
    # The issue's case: every second write answered 403 "secondary rate limit" with retry-after: 1.
    github.secondary_limit(every=2, retry_after=1)
    gh = client(github, clock)
    comment_id = gh.upsert_comment(7, f"first {MARKER}", MARKER)
    assert gh.upsert_comment(7, f"second {MARKER}", MARKER) == comment_id  # the edit is refused once
    (comment,) = github.comments(OWNER, REPO, 7)
    assert comment["body"] == f"second {MARKER}"
    assert github.stats()["statuses"]["403"] == 1
    # One second between the two writes, then retry-after's second before the edit is sent again.
    assert clock.sleeps == [1.0, 1.0]


def test_retry_after_is_honoured_for_a_403_and_a_429(github: GithubApi, clock: SimulatedClock) -> None:
    github.limit_next(1, primary=False, retry_after=7, routes=[POST])
    github.limit_next(1, primary=False, status=429, retry_after=3, routes=[POST])
    assert client(github, clock).create_comment(7, "hello") > 0
    assert clock.sleeps == [7.0, 3.0]
    assert requests(github, POST) == 3
    assert len(github.comments(OWNER, REPO, 7)) == 1


def test_an_exhausted_limit_waits_until_its_reset(github: GithubApi, clock: SimulatedClock) -> None:
    reset = int(clock.time()) + 120
    github.limit_next(1, primary=True, reset_at=reset, routes=[LIST])
    assert client(github, clock).list_comments(7) == []
    assert clock.sleeps == [121.0]  # until x-ratelimit-reset, and one second for its rounding
    assert clock.time() >= reset


def test_a_secondary_limit_without_retry_after_waits_a_minute_then_doubles(
    github: GithubApi, clock: SimulatedClock
) -> None:
    github.limit_next(2, primary=False, routes=[LIST])
    assert client(github, clock).list_comments(7) == []
    assert clock.sleeps == [60.0, 120.0]


def test_the_wait_is_bounded_and_the_error_names_the_limit_and_its_reset(
    github: GithubApi, clock: SimulatedClock
) -> None:
    reset = int(clock.time()) + 3600
    github.limit_next(20, primary=True, reset_at=reset, routes=[LIST])
    with pytest.raises(GitHubError) as raised:
        client(github, clock).list_comments(7)
    message = str(raised.value)
    assert "GitHub's rate limit (1000 requests, core)" in message
    assert "resets at 09:00:00 UTC" in message and MAX_WAIT_ENV in message and "600s" in message
    assert clock.sleeps == []  # an hour is past the bound: no point waiting part of it
    assert requests(github, LIST) == 1


def test_repeated_secondary_limits_stop_at_the_configured_bound(
    github: GithubApi, clock: SimulatedClock
) -> None:
    github.limit_next(20, primary=False, retry_after=40, routes=[POST])
    with pytest.raises(GitHubError, match=r"secondary rate limit: gave up after waiting 80s.*100s"):
        client(github, clock, max_wait=100).create_comment(7, "hello")
    assert clock.sleeps == [40.0, 40.0]
    assert github.comments(OWNER, REPO, 7) == []


def test_the_bound_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_wait_from_env({}) == 600.0
    assert max_wait_from_env({MAX_WAIT_ENV: "90"}) == 90.0
    with pytest.raises(GitHubError, match=MAX_WAIT_ENV):
        max_wait_from_env({MAX_WAIT_ENV: "soon"})


def test_a_403_that_is_not_a_rate_limit_fails_at_once_with_githubs_message(
    github: GithubApi, clock: SimulatedClock
) -> None:
    github.read_only_tokens.add("fork-token")
    try:
        gh = GitHubClient(github.url, "fork-token", f"{OWNER}/{REPO}", clock=clock)
        with pytest.raises(GitHubError, match=r"HTTP 403 \(Resource not accessible by integration\)"):
            gh.create_comment(7, "hello")
    finally:
        github.read_only_tokens.discard("fork-token")
    assert requests(github, POST) == 1
    assert clock.sleeps == []


def test_writes_go_one_at_a_time_a_second_apart(github: GithubApi, clock: SimulatedClock) -> None:
    gh = client(github, clock)
    first = gh.create_comment(7, "one")
    gh.list_comments(7)  # reads are not spaced
    gh.update_comment(first, "two")
    gh.create_comment(7, "three")
    assert clock.sleeps == [1.0, 1.0]


# -- a POST whose answer was lost ---------------------------------------------------------------------------


def test_a_comment_post_answered_502_after_it_landed_is_found_by_its_marker_not_repeated(
    github: GithubApi, clock: SimulatedClock
) -> None:
    github.lose_answer_next(1, routes=[POST])
    comment_id = client(github, clock).upsert_comment(7, f"plan {MARKER}", MARKER)
    (comment,) = github.comments(OWNER, REPO, 7)
    assert comment["id"] == comment_id and comment["body"] == f"plan {MARKER}"
    assert requests(github, POST) == 1


def test_a_comment_post_that_timed_out_is_found_not_repeated(
    github: GithubApi, clock: SimulatedClock
) -> None:
    # Carried out at once, answered only long after the client's read timeout (no timing is asserted).
    github.lose_answer_next(1, routes=[POST], delay=5)
    gh = client(github, clock, timeout=1.0)
    comment_id = gh.create_comment(7, "hello")
    (comment,) = github.comments(OWNER, REPO, 7)
    assert comment["id"] == comment_id
    assert gh._http.sent == 2  # the POST, then the lookup that found it


def test_an_issue_post_whose_answer_was_lost_is_found_by_its_marker_not_opened_twice(
    github: GithubApi, clock: SimulatedClock
) -> None:
    github.lose_answer_next(1, routes=[CREATE_ISSUE])
    issue = client(github, clock).create_issue("Drift", f"drift {MARKER}", ("drift",), marker=MARKER)
    (stored,) = github.issues(OWNER, REPO)
    assert stored["number"] == issue.number and issue.body == f"drift {MARKER}"
    assert requests(github, CREATE_ISSUE) == 1


def test_a_post_that_did_not_land_is_sent_again_after_the_lookup(
    github: GithubApi, clock: SimulatedClock
) -> None:
    github.fail_next(502, 1, routes=[POST])  # refused before it was carried out
    client(github, clock).create_comment(7, "hello")
    assert len(github.comments(OWNER, REPO, 7)) == 1
    assert requests(github, POST) == 2 and requests(github, LIST) == 1
