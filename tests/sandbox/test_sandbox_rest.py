"""The nullplatform and GitHub doubles: auth, paging, merge modes, limits, faults, counters."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from reconciler.sandbox.github import GithubApi
from reconciler.sandbox.github_checks import MAX_COMMENT_LENGTH
from reconciler.sandbox.nullplatform import NullplatformApi

NRN = "organization=1:account=2:namespace=3"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": []})


def call(
    base: str, method: str, path: str, body: Any = None, token: str | None = None, scheme: str = "Bearer"
) -> tuple[int, Any, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None, dict(error.headers)


def ecr_attributes(policy: str = POLICY) -> dict[str, Any]:
    return {
        "ci": {"region": "us-east-1", "access_key": "AKIASANDBOX", "secret_key": "secret"},
        "setup": {"region": "us-east-1", "role_arn": "arn:aws:iam::123456789012:role/np", "policy": policy},
    }


def as_read(attributes: dict[str, Any]) -> dict[str, Any]:
    """`ecr_attributes()` as an authenticated read shows it: the CI credentials are secret."""
    return {**attributes, "ci": {**attributes["ci"], "access_key": None, "secret_key": None}}


# --- nullplatform ---------------------------------------------------------------------------------------


def token(api: NullplatformApi) -> str:
    status, body, _ = call(api.url, "POST", "/token", {"apikey": api.api_key})
    assert status == 200
    return str(body["access_token"])


def test_token_for_a_known_api_key_only(nullplatform: NullplatformApi) -> None:
    status, body, _ = call(nullplatform.url, "POST", "/token", {"apikey": nullplatform.api_key})
    assert status == 200 and body["access_token"] and body["refresh_token"]
    assert call(nullplatform.url, "POST", "/token", {"apikey": "wrong"})[0] == 401


@pytest.mark.parametrize("auth", [None, "not-a-token"])
def test_calls_without_a_valid_token_are_401(nullplatform: NullplatformApi, auth: str | None) -> None:
    assert call(nullplatform.url, "GET", f"/provider?nrn={NRN}", token=auth)[0] == 401


def test_expired_token_is_401_and_refresh_gives_a_working_one(nullplatform: NullplatformApi) -> None:
    status, tokens, _ = call(nullplatform.url, "POST", "/token", {"apikey": nullplatform.api_key})
    assert call(nullplatform.url, "GET", f"/provider?nrn={NRN}", token=tokens["access_token"])[0] == 200
    nullplatform.expire_tokens()
    assert call(nullplatform.url, "GET", f"/provider?nrn={NRN}", token=tokens["access_token"])[0] == 401
    status, fresh, _ = call(nullplatform.url, "POST", "/token", {"refresh_token": tokens["refresh_token"]})
    assert status == 200
    assert call(nullplatform.url, "GET", f"/provider?nrn={NRN}", token=fresh["access_token"])[0] == 200
    # A refresh token works once.
    assert call(nullplatform.url, "POST", "/token", {"refresh_token": tokens["refresh_token"]})[0] == 401


def test_token_ttl_knob(nullplatform: NullplatformApi) -> None:
    nullplatform.configure(token_ttl_seconds=0)
    assert call(nullplatform.url, "GET", f"/provider?nrn={NRN}", token=token(nullplatform))[0] == 401


def test_list_filters_and_pages(nullplatform: NullplatformApi) -> None:
    ids = [nullplatform.add_provider(NRN, ecr_attributes()) for _ in range(5)]
    nullplatform.add_provider(NRN, {"other": {}}, slug="docker-registry")
    nullplatform.add_provider(NRN + ":application=4", ecr_attributes())
    access = token(nullplatform)
    status, body, _ = call(
        nullplatform.url, "GET", f"/provider?nrn={NRN}&specification_slug=ecr&limit=2&offset=2", token=access
    )
    assert status == 200
    assert [p["id"] for p in body["results"]] == ids[2:4]
    assert body["paging"] == {"limit": 2, "offset": 2, "total": 5}
    assert body["results"][0]["specification_slug"] == "ecr"
    assert call(nullplatform.url, "GET", "/provider", token=access)[0] == 400  # nrn is required


def test_get_no_merge_and_merged_from_parents(nullplatform: NullplatformApi) -> None:
    parent = {"setup": {"naming_rule": "<namespace>/<application>", "region": "eu-west-1"}}
    nullplatform.add_provider("organization=1:account=2", parent)
    provider_id = nullplatform.add_provider(NRN, ecr_attributes(), provider_id="prov-1")
    access = token(nullplatform)
    status, own, _ = call(nullplatform.url, "GET", "/provider/prov-1?no_merge=true", token=access)
    assert status == 200 and own["attributes"] == as_read(ecr_attributes()) and own["id"] == provider_id
    _, merged, _ = call(nullplatform.url, "GET", "/provider/prov-1", token=access)
    assert merged["attributes"]["setup"]["naming_rule"] == "<namespace>/<application>"
    assert merged["attributes"]["setup"]["region"] == "us-east-1"  # the child wins
    assert merged["attributes"]["ci"]["secret_key"] is None
    assert call(nullplatform.url, "GET", "/provider/nope?no_merge=true", token=access)[0] == 404


def test_patch_deep_merges_by_default(nullplatform: NullplatformApi) -> None:
    provider_id = nullplatform.add_provider(NRN, ecr_attributes())
    new_policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "AllowPull"}]})
    status, record, _ = call(
        nullplatform.url,
        "PATCH",
        f"/provider/{provider_id}",
        {"attributes": {"setup": {"policy": new_policy}}},
        token=token(nullplatform),
    )
    assert status == 200 and record["attributes"]["setup"]["policy"] == new_policy
    stored = nullplatform.provider(provider_id)["attributes"]
    assert stored["setup"]["role_arn"] == "arn:aws:iam::123456789012:role/np"  # kept
    assert stored["ci"] == ecr_attributes()["ci"]


def test_secrets_read_as_null_everywhere_and_stay_stored(nullplatform: NullplatformApi) -> None:
    provider_id = nullplatform.add_provider(NRN, ecr_attributes())
    docker = {"setup": {"server": "r.example.com", "path": "p", "username": "u", "password": "pw"}}
    docker_id = nullplatform.add_provider(NRN, docker, slug="docker-server")
    access = token(nullplatform)
    _, own, _ = call(nullplatform.url, "GET", f"/provider/{provider_id}?no_merge=true", token=access)
    assert own["attributes"] == as_read(ecr_attributes())
    _, listed, _ = call(nullplatform.url, "GET", f"/provider?nrn={NRN}", token=access)
    shown = {r["id"]: r["attributes"] for r in listed["results"]}
    assert shown[provider_id] == as_read(ecr_attributes())
    assert shown[docker_id]["setup"] == {**docker["setup"], "password": None}
    _, patched, _ = call(
        nullplatform.url,
        "PATCH",
        f"/provider/{provider_id}",
        {"attributes": {"setup": {"policy": POLICY}}},
        token=access,
    )
    assert patched["attributes"]["ci"]["secret_key"] is None  # PATCH's answer is a read too
    assert nullplatform.provider(provider_id)["attributes"] == ecr_attributes()  # stored intact
    nullplatform.configure(mask_secrets=False)
    _, own, _ = call(nullplatform.url, "GET", f"/provider/{provider_id}?no_merge=true", token=access)
    assert own["attributes"] == ecr_attributes()


def test_patch_stores_a_null_sent_over_a_secret(nullplatform: NullplatformApi) -> None:
    # What a read-modify-write of whole attributes does to a masked secret on the real API.
    provider_id = nullplatform.add_provider(NRN, ecr_attributes())
    sent = as_read(ecr_attributes())
    status, _, _ = call(
        nullplatform.url, "PATCH", f"/provider/{provider_id}", {"attributes": sent}, token=token(nullplatform)
    )
    assert status == 200
    assert nullplatform.provider(provider_id)["attributes"]["ci"]["secret_key"] is None


@pytest.mark.parametrize(
    ("mode", "kept"),
    [
        ("deep", {"role_arn": "arn:aws:iam::123456789012:role/np", "region": "us-east-1"}),
        ("group", {}),  # the setup group sent replaces the stored one
        ("replace", {}),
    ],
)
def test_patch_modes_and_204(nullplatform: NullplatformApi, mode: str, kept: dict[str, str]) -> None:
    provider_id = nullplatform.add_provider(NRN, ecr_attributes())
    nullplatform.configure(merge_mode=mode, patch_status=204)
    status, body, _ = call(
        nullplatform.url,
        "PATCH",
        f"/provider/{provider_id}",
        {"attributes": {"setup": {"policy": POLICY}}},
        token=token(nullplatform),
    )
    assert (status, body) == (204, None)
    stored = nullplatform.provider(provider_id)["attributes"]
    assert stored["setup"] == {**kept, "policy": POLICY}
    if mode == "replace":
        assert "ci" not in stored  # every group not sent is lost: only tests use this mode
    else:
        assert stored["ci"] == ecr_attributes()["ci"]  # groups not sent are kept


def test_patch_refuses_unknown_keys_and_non_string_policy(nullplatform: NullplatformApi) -> None:
    provider_id = nullplatform.add_provider(NRN, ecr_attributes())
    access = token(nullplatform)
    refused = ({"setup": {"colour": "red"}}, {"extra": {}}, {"setup": {"policy": {"Version": "x"}}})
    for attributes in refused:
        status, _, _ = call(
            nullplatform.url, "PATCH", f"/provider/{provider_id}", {"attributes": attributes}, token=access
        )
        assert status == 400
    assert call(nullplatform.url, "PATCH", "/provider/nope", {"attributes": {}}, token=access)[0] == 404


def test_nullplatform_faults_and_counters(nullplatform: NullplatformApi) -> None:
    access = token(nullplatform)
    nullplatform.fail_next(429, 2, retry_after=1, routes={"GET /provider"})
    first = call(nullplatform.url, "GET", f"/provider?nrn={NRN}", token=access)
    assert first[0] == 429 and first[2]["Retry-After"] == "1"
    assert call(nullplatform.url, "GET", f"/provider?nrn={NRN}", token=access)[0] == 429
    assert call(nullplatform.url, "GET", f"/provider?nrn={NRN}", token=access)[0] == 200
    nullplatform.configure(error_rate=1.0)
    assert call(nullplatform.url, "GET", f"/provider?nrn={NRN}", token=access)[0] == 500
    stats = nullplatform.stats()
    assert stats["requests"] == {"POST /token": 1, "GET /provider": 4}
    assert stats["errors"] == {"GET /provider": 3}
    assert stats["statuses"] == {"200": 2, "429": 2, "500": 1}
    nullplatform.reset()
    assert nullplatform.stats()["total_requests"] == 0 and nullplatform.providers() == []
    assert nullplatform.config.error_rate == 0.0


# --- GitHub ---------------------------------------------------------------------------------------------

THREAD = "/repos/acme/policies/issues/7/comments"


def test_github_auth_bearer_token_and_bad_credentials(github: GithubApi) -> None:
    assert call(github.url, "GET", THREAD, token=github.token)[0] == 200
    assert call(github.url, "GET", THREAD, token=github.token, scheme="token")[0] == 200
    status, body, _ = call(github.url, "GET", THREAD, token="wrong")
    assert status == 401 and body["message"] == "Bad credentials"
    assert call(github.url, "GET", THREAD)[0] == 401


def test_github_create_update_and_python_view(github: GithubApi) -> None:
    status, created, _ = call(
        github.url, "POST", THREAD, {"body": "<!-- marker -->\nfirst"}, token=github.token
    )
    assert status == 201 and created["user"]["login"] == "github-actions[bot]"
    status, updated, _ = call(
        github.url,
        "PATCH",
        f"/repos/acme/policies/issues/comments/{created['id']}",
        {"body": "second"},
        github.token,
    )
    assert status == 200 and updated["body"] == "second"
    assert [c["body"] for c in github.comments("acme", "policies", 7)] == ["second"]
    assert (
        call(github.url, "PATCH", "/repos/acme/policies/issues/comments/1", {"body": "x"}, github.token)[0]
        == 404
    )


def test_github_pagination_with_link_header(github: GithubApi) -> None:
    for index in range(5):
        github.add_comment("acme", "policies", 7, f"comment {index}")
    status, page, headers = call(github.url, "GET", THREAD + "?per_page=2&page=2", token=github.token)
    assert status == 200 and [c["body"] for c in page] == ["comment 2", "comment 3"]
    link = headers["Link"]
    assert 'page=3>; rel="next"' in link and 'page=3>; rel="last"' in link and 'page=1>; rel="prev"' in link
    _, last, headers = call(github.url, "GET", THREAD + "?per_page=2&page=3", token=github.token)
    assert [c["body"] for c in last] == ["comment 4"] and 'rel="next"' not in headers["Link"]
    _, everything, headers = call(github.url, "GET", THREAD, token=github.token)
    assert len(everything) == 5 and "Link" not in headers


def test_github_rejects_bodies_over_65536_characters(github: GithubApi) -> None:
    assert call(github.url, "POST", THREAD, {"body": "x" * MAX_COMMENT_LENGTH}, github.token)[0] == 201
    status, body, _ = call(github.url, "POST", THREAD, {"body": "x" * (MAX_COMMENT_LENGTH + 1)}, github.token)
    assert status == 422 and body["message"] == "Validation Failed"
    assert "too long" in body["errors"][0]["message"]


def test_github_read_only_token_cannot_write(github: GithubApi) -> None:
    github.read_only_tokens.add("fork-token")
    try:
        assert call(github.url, "GET", THREAD, token="fork-token")[0] == 200
        assert call(github.url, "POST", THREAD, {"body": "hi"}, token="fork-token")[0] == 403
    finally:
        github.read_only_tokens.discard("fork-token")


def test_github_faults_then_ok_and_counters(github: GithubApi) -> None:
    github.fail_next(502, 2)
    assert [call(github.url, "GET", THREAD, token=github.token)[0] for _ in range(3)] == [502, 502, 200]
    github.fail_next(500, None)
    assert [call(github.url, "GET", THREAD, token=github.token)[0] for _ in range(2)] == [500, 500]
    stats = github.stats()
    assert stats["requests"] == {"GET /repos/{owner}/{repo}/issues/{number}/comments": 5}
    assert stats["total_errors"] == 4


ISSUES = "/repos/acme/policies/issues"


def test_github_issues_create_list_by_label_edit_and_close(github: GithubApi) -> None:
    github.add_pull_request("acme", "policies", 7)  # the issues listing shows pull requests too
    status, created, _ = call(
        github.url, "POST", ISSUES, {"title": "Drift", "body": "b", "labels": ["drift"]}, github.token
    )
    assert status == 201 and created["number"] == 8 and created["state"] == "open"
    assert created["labels"] == [{"name": "drift"}] and created["user"]["login"] == "github-actions[bot]"
    github.add_issue("acme", "policies", "unrelated", labels=("bug",))
    _, listed, _ = call(github.url, "GET", ISSUES + "?labels=drift", token=github.token)
    assert [i["number"] for i in listed] == [8]
    _, everything, _ = call(github.url, "GET", ISSUES, token=github.token)
    assert [i["number"] for i in everything] == [9, 8, 7]  # newest first, the pull request included
    assert "pull_request" in everything[2] and "_sequence" not in everything[0]
    path = f"{ISSUES}/8"
    status, edited, _ = call(github.url, "PATCH", path, {"body": "new"}, github.token)
    assert status == 200 and edited["body"] == "new" and edited["title"] == "Drift"
    status, closed, _ = call(github.url, "PATCH", path, {"state": "closed"}, github.token)
    assert closed["state"] == "closed" and closed["state_reason"] == "completed" and closed["closed_at"]
    assert call(github.url, "GET", ISSUES + "?labels=drift", token=github.token)[1] == []
    _, closed_list, _ = call(github.url, "GET", ISSUES + "?labels=drift&state=closed", token=github.token)
    assert [i["number"] for i in closed_list] == [8]
    assert [i["title"] for i in github.issues("acme", "policies")] == ["Drift", "unrelated"]
    assert call(github.url, "GET", f"{ISSUES}/99", token=github.token)[0] == 404
    assert call(github.url, "PATCH", f"{ISSUES}/99", {"body": "x"}, github.token)[0] == 404


def test_github_issues_paging_and_errors(github: GithubApi) -> None:
    for index in range(5):
        github.add_issue("acme", "policies", f"issue {index}", labels=("drift",))
    query = "?labels=drift&direction=asc&per_page=2"
    _, page, headers = call(github.url, "GET", ISSUES + query + "&page=2", token=github.token)
    assert [i["title"] for i in page] == ["issue 2", "issue 3"]
    assert "labels=drift" in headers["Link"] and 'page=3>; rel="next"' in headers["Link"]
    assert call(github.url, "POST", ISSUES, {"body": "no title"}, github.token)[0] == 422
    status, body, _ = call(
        github.url, "POST", ISSUES, {"title": "t", "body": "x" * (MAX_COMMENT_LENGTH + 1)}, github.token
    )
    assert status == 422 and "too long" in body["errors"][0]["message"]
    assert call(github.url, "PATCH", f"{ISSUES}/1", {"state": "gone"}, github.token)[0] == 422
    github.read_only_tokens.add("fork-token")
    try:
        assert call(github.url, "POST", ISSUES, {"title": "t"}, token="fork-token")[0] == 403
    finally:
        github.read_only_tokens.discard("fork-token")
    github.issues_enabled = False
    status, body, _ = call(github.url, "GET", ISSUES, token=github.token)
    assert status == 410 and body["message"] == "Issues are disabled for this repo"
    assert github.stats()["requests"]["GET /repos/{owner}/{repo}/issues"] == 2


def test_github_commit_of_a_branch_as_json_or_the_sha_alone(github: GithubApi) -> None:
    head = "c0ffee" + "0" * 34
    path = "/repos/acme/policies/commits/main"
    status, body, _ = call(github.url, "GET", path, token=github.token)
    assert status == 422 and body["message"] == "No commit found for SHA: main"  # no such branch yet
    github.set_branch("acme", "policies", "main", head)
    status, body, _ = call(github.url, "GET", path, token=github.token)
    assert status == 200 and body["sha"] == head
    by_sha = call(github.url, "GET", f"/repos/acme/policies/commits/{head}", token=github.token)
    assert by_sha[1]["sha"] == head
    assert call(github.url, "GET", "/repos/acme/other/commits/main", token=github.token)[0] == 422
    assert call(github.url, "GET", path)[0] == 401
    request = urllib.request.Request(
        github.url + path,
        headers={"Authorization": f"Bearer {github.token}", "Accept": "application/vnd.github.sha"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read().decode() == head  # what the workflows' head check reads
    github.set_branch("acme", "policies", "main", "d" * 40)  # a merge moves it
    assert call(github.url, "GET", path, token=github.token)[1]["sha"] == "d" * 40


def compare(github: GithubApi, basehead: str) -> tuple[int, Any]:
    status, body, _ = call(github.url, "GET", f"/repos/acme/policies/compare/{basehead}", token=github.token)
    return status, body


def test_github_compare_two_commits_of_main(github: GithubApi) -> None:
    """What the workflows' check reads: how main relates to a run's commit, and the files changed since."""
    a, b, c, d = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)
    github.set_branch("acme", "policies", "main", a)
    github.add_commit("acme", "policies", b, a, ["README.md"])
    github.add_commit("acme", "policies", c, b, ["policies/main.yaml", "README.md"])
    github.add_commit("acme", "policies", d, a, [], renamed={"old/main.yaml": "policies/main.yaml"})
    github.set_branch("acme", "policies", "main", c)

    status, body = compare(github, f"{a}...main")
    assert status == 200 and (body["status"], body["ahead_by"], body["behind_by"]) == ("ahead", 2, 0)
    assert [f["filename"] for f in body["files"]] == ["README.md", "policies/main.yaml"]
    assert [commit["sha"] for commit in body["commits"]] == [b, c]  # oldest first
    assert body["merge_base_commit"]["sha"] == a
    assert compare(github, f"{b}...{b}")[1]["status"] == "identical"
    behind = compare(github, f"{c}...{a}")[1]
    assert (behind["status"], behind["behind_by"], behind["files"]) == ("behind", 2, [])
    diverged = compare(github, f"{d}...main")[1]
    assert (diverged["status"], diverged["ahead_by"], diverged["behind_by"]) == ("diverged", 2, 1)
    assert [f["filename"] for f in diverged["files"]] == ["README.md", "policies/main.yaml"]  # from a
    (renamed,) = compare(github, f"{a}...{d}")[1]["files"]
    assert renamed == {
        "filename": "old/main.yaml",
        "status": "renamed",
        "previous_filename": "policies/main.yaml",
    }
    assert compare(github, f"{'e' * 40}...main")[0] == 404
    assert compare(github, "main")[0] == 404  # not base...head
    assert call(github.url, "GET", f"/repos/acme/policies/compare/{a}...main")[0] == 401


def test_github_compare_lists_the_net_change_like_github(github: GithubApi) -> None:
    """`files` is the diff from the merge base to head, not every file a commit in between touched: a file
    changed and changed back is not in it. As on GitHub, at most 300 files and the newest 250 commits."""
    a, b, c, d = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)
    github.add_commit("acme", "policies", a, "0" * 40, {"policies/main.yaml": "v1"})
    github.add_commit("acme", "policies", b, a, {"policies/main.yaml": "v2", "README.md": "new"})
    github.add_commit("acme", "policies", c, b, {"policies/main.yaml": "v1"})
    github.add_commit("acme", "policies", d, c, {"policies/main.yaml": "v1", "new.txt": "x"})
    github.set_branch("acme", "policies", "main", d)
    status, body = compare(github, f"{b}...main")
    assert status == 200 and body["status"] == "ahead"
    assert body["files"] == [
        {"filename": "new.txt", "status": "modified"},  # its content at the root is not known
        {"filename": "policies/main.yaml", "status": "modified"},
    ]
    # main.yaml changed by b, changed back by c: a...main does not list it.
    assert [f["filename"] for f in compare(github, f"{a}...main")[1]["files"]] == ["README.md", "new.txt"]
    github.add_commit("acme", "policies", "e" * 40, d, {"policies/main.yaml": None, "README.md": None})
    assert compare(github, f"{d}...{'e' * 40}")[1]["files"] == [
        {"filename": "README.md", "status": "removed"},
        {"filename": "policies/main.yaml", "status": "removed"},
    ]
    github.add_commit("acme", "policies", "f" * 40, "e" * 40, {"README.md": "back"})
    assert compare(github, f"{'e' * 40}...{'f' * 40}")[1]["files"] == [
        {"filename": "README.md", "status": "added"}
    ]

    parent = "f" * 40
    for index in range(260):  # 260 commits, 2 files each
        sha = f"1{index:039x}"
        github.add_commit("acme", "policies", sha, parent, [f"f/{index:03}.txt", f"g/{index:03}.txt"])
        parent = sha
    github.set_branch("acme", "policies", "main", parent)
    body = compare(github, f"{'f' * 40}...main")[1]
    assert (body["ahead_by"], body["total_commits"]) == (260, 260)
    assert len(body["files"]) == 300 and body["files"][-1]["filename"] == "g/039.txt"  # cut, by name
    assert len(body["commits"]) == 250 and body["commits"][-1]["sha"] == parent  # the newest ones


def test_github_answer_garbled_on_demand(github: GithubApi) -> None:
    github.set_branch("acme", "policies", "main", "a" * 40)
    github.garble_next(routes=["GET /repos/{owner}/{repo}/compare/{basehead}"])
    request = urllib.request.Request(
        f"{github.url}/repos/acme/policies/compare/{'a' * 40}...main",
        headers={"Authorization": f"Bearer {github.token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    assert response.status == 200 and text.startswith('{"status": "identical"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert compare(github, f"{'a' * 40}...main")[1]["status"] == "identical"  # the next one is whole
