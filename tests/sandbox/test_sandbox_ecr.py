"""The ECR emulator behaves like real ECR where moto doesn't (see reconciler/sandbox/ecr/)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from reconciler.sandbox.ecr import DEFAULT_ACCOUNT_ID, EcrEmulator, iter_pages
from reconciler.sandbox.ecr.readback import ecr_policy_text, jackson_dumps
from reconciler.sandbox.ecr.validation import PRINCIPAL_NOT_FOUND


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def pull(principal: Any, sid: str = "AllowPull", **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": ["ecr:BatchGetImage"], **extra}


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def admin(ecr: EcrEmulator, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ecr.url + path, data=data, method="GET" if data is None else "POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


# --- pagination -----------------------------------------------------------------------------------------


def test_describe_pages_2500_repositories_in_three_pages_of_1000(ecr: EcrEmulator) -> None:
    names = [f"team-{i // 50}/app-{i % 50}" for i in range(2500)]
    for name in names:
        ecr.create_repository(name)
    client = ecr.client(max_attempts=1)
    first = client.describe_repositories(maxResults=1000)
    assert len(first["repositories"]) == 1000 and first["nextToken"]
    pages = list(iter_pages(client, maxResults=1000))
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert [r["repositoryName"] for p in pages for r in p] == names  # creation order, nothing twice
    assert ecr.stats()["requests"] == {"DescribeRepositories": 4}


def test_describe_defaults_to_pages_of_100(ecr: EcrEmulator) -> None:
    for index in range(150):
        ecr.create_repository(f"repo-{index:03d}")
    client = ecr.client()
    first = client.describe_repositories()
    assert len(first["repositories"]) == 100
    second = client.describe_repositories(nextToken=first["nextToken"])
    assert len(second["repositories"]) == 50 and "nextToken" not in second


def test_a_deleted_repository_between_pages_skips_nothing(ecr: EcrEmulator) -> None:
    for index in range(6):
        ecr.create_repository(f"repo-{index}")
    client = ecr.client()
    first = client.describe_repositories(maxResults=3)
    client.delete_repository(repositoryName="repo-0")
    second = client.describe_repositories(maxResults=3, nextToken=first["nextToken"])
    assert [r["repositoryName"] for r in second["repositories"]] == ["repo-3", "repo-4", "repo-5"]


def test_boto3_paginator_works(ecr: EcrEmulator) -> None:
    for index in range(25):
        ecr.create_repository(f"repo-{index:02d}")
    paginator = ecr.client().get_paginator("describe_repositories")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 10}))
    assert [len(p["repositories"]) for p in pages] == [10, 10, 5]


@pytest.mark.parametrize("max_results", [1001, 5000])
def test_max_results_above_1000_is_a_validation_error(ecr: EcrEmulator, max_results: int) -> None:
    with pytest.raises(ClientError) as excinfo:
        ecr.client(max_attempts=1).describe_repositories(maxResults=max_results)
    assert error_code(excinfo) == "ValidationException"
    assert "less than or equal to 1000" in str(excinfo.value)


def test_max_results_below_1_is_a_validation_error(ecr: EcrEmulator) -> None:
    # botocore refuses 0 client-side, so send the raw request.
    body = json.dumps({"maxResults": 0}).encode()
    request = urllib.request.Request(
        ecr.url,
        data=body,
        headers={
            "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=5)
    assert excinfo.value.code == 400
    assert json.loads(excinfo.value.read())["__type"] == "ValidationException"


def test_max_results_with_repository_names_is_refused(ecr: EcrEmulator) -> None:
    ecr.create_repository("only")
    with pytest.raises(ClientError) as excinfo:
        ecr.client(max_attempts=1).describe_repositories(repositoryNames=["only"], maxResults=10)
    assert error_code(excinfo) == "InvalidParameterException"


def test_garbage_next_token_is_refused(ecr: EcrEmulator) -> None:
    with pytest.raises(ClientError) as excinfo:
        ecr.client(max_attempts=1).describe_repositories(nextToken="not-a-token")
    assert error_code(excinfo) == "InvalidParameterException"


def test_paged_answer_has_the_shape_moto_gives(ecr: EcrEmulator) -> None:
    # Pages are built by the middleware (for speed); repositoryNames answers still come from moto.
    client = ecr.client()
    client.create_repository(repositoryName="team-1/app-1", imageTagMutability="IMMUTABLE")
    paged = client.describe_repositories()["repositories"]
    by_name = client.describe_repositories(repositoryNames=["team-1/app-1"])["repositories"]
    assert paged == by_name


# --- throttling and latency -----------------------------------------------------------------------------


def test_throttling_is_a_throttling_exception_botocore_recognises(ecr: EcrEmulator) -> None:
    ecr.create_repository("repo", policy_text=policy(pull("*")))
    ecr.configure(tps={"GetRepositoryPolicy": 1.0})
    client = ecr.client(max_attempts=1)
    client.get_repository_policy(repositoryName="repo")
    with pytest.raises(ClientError) as excinfo:
        client.get_repository_policy(repositoryName="repo")
    assert error_code(excinfo) == "ThrottlingException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    stats = ecr.stats()
    assert stats["requests"]["GetRepositoryPolicy"] == 2
    assert stats["throttled"] == {"GetRepositoryPolicy": 1}
    assert stats["errors"] == {}  # throttles are counted apart from errors
    # Other actions have no limit configured.
    for _ in range(5):
        client.describe_repositories()


def test_botocore_retries_a_throttle(ecr: EcrEmulator) -> None:
    ecr.create_repository("repo", policy_text=policy(pull("*")))
    ecr.configure(tps={"GetRepositoryPolicy": 20.0}, burst={"GetRepositoryPolicy": 1.0})
    client = ecr.client(max_attempts=5)
    for _ in range(3):
        client.get_repository_policy(repositoryName="repo")
    assert ecr.stats()["throttled"].get("GetRepositoryPolicy", 0) >= 1


def test_default_tps_applies_to_every_action(ecr: EcrEmulator) -> None:
    ecr.configure(default_tps=1.0)
    client = ecr.client(max_attempts=1)
    client.describe_repositories()
    with pytest.raises(ClientError):
        client.describe_repositories()
    client.create_repository(repositoryName="separate-bucket")  # its own bucket per action


def test_throttle_storm_throttles_for_its_duration(ecr: EcrEmulator) -> None:
    client = ecr.client(max_attempts=1)
    ecr.throttle_storm(1.0, seconds=0.3, actions={"DescribeRepositories"})
    with pytest.raises(ClientError) as excinfo:
        client.describe_repositories()
    assert error_code(excinfo) == "ThrottlingException"
    time.sleep(0.35)
    client.describe_repositories()


def test_throttle_storm_by_count_covers_exactly_that_many_calls(ecr: EcrEmulator) -> None:
    client = ecr.client(max_attempts=1)
    client.create_repository(repositoryName="other-action")
    ecr.throttle_storm(1.0, calls=2, actions={"DescribeRepositories"})
    client.create_repository(repositoryName="not-counted")  # another action: not in the storm
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            client.describe_repositories()
        assert error_code(excinfo) == "ThrottlingException"
    client.describe_repositories()  # the third call: the storm is over, however long it took
    with pytest.raises(ValueError, match="either"):
        ecr.throttle_storm(1.0)


def test_latency_delays_and_concurrent_calls_overlap(ecr: EcrEmulator) -> None:
    ecr.configure(latency_ms=200)
    client = ecr.client()
    client.describe_repositories()  # open the connection pool outside the timing
    started = time.monotonic()
    threads = [threading.Thread(target=client.describe_repositories) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert elapsed >= 0.2  # the latency is real (a lower bound holds however busy the machine is)
    # At once, not one after the other: the emulator's own count, not a wall-time bound that a busy
    # machine would break.
    assert ecr.stats()["max_in_flight"] >= 2


# --- read-back rewriting --------------------------------------------------------------------------------


def test_policy_reads_back_rewritten_like_real_ecr(ecr: EcrEmulator) -> None:
    client = ecr.client()
    client.create_repository(repositoryName="repo")
    text = policy(pull({"AWS": ["111122223333"]}), pull({"AWS": ["444455556666", "111122223333"]}, sid="Two"))
    answer = client.set_repository_policy(repositoryName="repo", policyText=text)
    read = client.get_repository_policy(repositoryName="repo")["policyText"]
    assert answer["policyText"] == read
    assert read != text
    assert read.startswith('{\n  "Statement" : [ {\n    "Action" : "ecr:BatchGetImage",')
    document = json.loads(read)
    assert list(document) == ["Statement", "Version"]  # keys reordered
    one, two = document["Statement"]
    assert list(one) == ["Action", "Effect", "Principal", "Sid"]
    assert one["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}  # one-item list collapsed
    assert two["Principal"] == {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]}
    assert one["Action"] == "ecr:BatchGetImage"
    assert ecr.stored_policy("repo") == text  # stored as set; rewriting happens on the way out


def test_rendered_policy_conditions_collapse_but_keep_meaning(ecr: EcrEmulator) -> None:
    statement = pull(
        "*",
        Condition={"StringEquals": {"aws:PrincipalAccount": ["123456789012"]}},
    )
    read = json.loads(ecr_policy_text(policy(statement)))
    assert read["Statement"][0]["Condition"] == {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}
    assert read["Statement"][0]["Principal"] == "*"


def test_jackson_layout() -> None:
    assert (
        jackson_dumps({"a": [1, {"b": []}], "c": {}})
        == '{\n  "a" : [ 1, {\n    "b" : [ ]\n  } ],\n  "c" : { }\n}'
    )


def test_rewriting_can_be_switched_off(ecr: EcrEmulator) -> None:
    text = policy(pull("*"))
    ecr.create_repository("repo", policy_text=text)
    ecr.configure(rewrite_policies=False)
    assert ecr.client().get_repository_policy(repositoryName="repo")["policyText"] == text


# --- validation -----------------------------------------------------------------------------------------


def test_policy_over_10240_characters_is_rejected(ecr: EcrEmulator) -> None:
    client = ecr.client(max_attempts=1)
    client.create_repository(repositoryName="repo")
    base = policy(pull("*", sid=""))
    fits = policy(pull("*", sid="S" * (10_240 - len(base))))
    assert len(fits) == 10_240
    client.set_repository_policy(repositoryName="repo", policyText=fits)
    too_long = policy(pull("*", sid="S" * (10_241 - len(base))))
    with pytest.raises(ClientError) as excinfo:
        client.set_repository_policy(repositoryName="repo", policyText=too_long)
    assert error_code(excinfo) == "InvalidParameterException"
    assert "10240" in str(excinfo.value)


def test_unknown_principal_is_rejected_with_the_exact_message(ecr: EcrEmulator) -> None:
    ecr.configure(known_accounts={DEFAULT_ACCOUNT_ID, "111122223333"})
    client = ecr.client(max_attempts=1)
    client.create_repository(repositoryName="repo")
    client.set_repository_policy(
        repositoryName="repo",
        policyText=policy(pull({"AWS": ["111122223333", f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root"]})),
    )
    for principal in ("999999999999", "arn:aws:iam::999999999999:role/new-role"):
        with pytest.raises(ClientError) as excinfo:
            client.set_repository_policy(repositoryName="repo", policyText=policy(pull({"AWS": principal})))
        assert error_code(excinfo) == "InvalidParameterException"
        assert excinfo.value.response["Error"]["Message"] == PRINCIPAL_NOT_FOUND
    # Condition values are not principals (unless check_condition_accounts is on).
    conditioned = policy(pull("*", Condition={"StringEquals": {"aws:PrincipalAccount": ["999999999999"]}}))
    client.set_repository_policy(repositoryName="repo", policyText=conditioned)
    ecr.configure(check_condition_accounts=True)
    with pytest.raises(ClientError):
        client.set_repository_policy(repositoryName="repo", policyText=conditioned)


def test_principal_becomes_known_after_n_failures(ecr: EcrEmulator) -> None:
    ecr.configure(known_accounts={DEFAULT_ACCOUNT_ID}, eventual_consistency_failures={"111122223333": 2})
    client = ecr.client(max_attempts=1)
    client.create_repository(repositoryName="repo")
    text = policy(pull({"AWS": "111122223333"}))
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            client.set_repository_policy(repositoryName="repo", policyText=text)
        assert excinfo.value.response["Error"]["Message"] == PRINCIPAL_NOT_FOUND
    client.set_repository_policy(repositoryName="repo", policyText=text)
    assert ecr.stats()["errors"] == {"SetRepositoryPolicy": 2}


def test_resource_element_is_rejected(ecr: EcrEmulator) -> None:
    client = ecr.client(max_attempts=1)
    client.create_repository(repositoryName="repo")
    with pytest.raises(ClientError) as excinfo:
        client.set_repository_policy(repositoryName="repo", policyText=policy(pull("*", Resource="*")))
    assert error_code(excinfo) == "InvalidParameterException"


def test_missing_policy_is_repository_policy_not_found(ecr: EcrEmulator) -> None:
    ecr.create_repository("repo")
    with pytest.raises(ClientError) as excinfo:
        ecr.client().get_repository_policy(repositoryName="repo")
    assert error_code(excinfo) == "RepositoryPolicyNotFoundException"


# --- faults ---------------------------------------------------------------------------------------------


def test_error_rate_one_is_always_a_server_exception(ecr: EcrEmulator) -> None:
    ecr.configure(error_rate={"DescribeRepositories": 1.0})
    client = ecr.client(max_attempts=1)
    with pytest.raises(ClientError) as excinfo:
        client.describe_repositories()
    assert error_code(excinfo) == "ServerException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    client.create_repository(repositoryName="unaffected")
    stats = ecr.stats()
    assert stats["errors"] == {"DescribeRepositories": 1}
    assert stats["injected"] == {"server_error": 1}


def test_error_rate_is_deterministic_for_a_seed(ecr: EcrEmulator) -> None:
    def outcomes() -> list[bool]:
        ecr.reset_knobs()
        ecr.configure(error_rate={"*": 0.5}, seed=3)
        client = ecr.client(max_attempts=1)
        results = []
        for _ in range(12):
            try:
                client.describe_repositories()
                results.append(True)
            except ClientError:
                results.append(False)
        return results

    first = outcomes()
    assert first == outcomes()
    assert True in first and False in first


def test_access_denied_for_chosen_repositories_only(ecr: EcrEmulator) -> None:
    for name in ("open", "secret/one"):
        ecr.create_repository(name, policy_text=policy(pull("*")))
    ecr.configure(access_denied={"secret/*"})
    client = ecr.client(max_attempts=1)
    client.get_repository_policy(repositoryName="open")
    for call in (client.get_repository_policy, client.delete_repository_policy):
        with pytest.raises(ClientError) as excinfo:
            call(repositoryName="secret/one")
        assert error_code(excinfo) == "AccessDeniedException"
        assert "secret/one" in str(excinfo.value)
    with pytest.raises(ClientError):
        client.set_repository_policy(repositoryName="secret/one", policyText=policy(pull("*")))
    assert ecr.stored_policy("secret/one") == policy(pull("*"))


def test_hang_outlasts_the_client_read_timeout(ecr: EcrEmulator) -> None:
    ecr.create_repository("slow", policy_text=policy(pull("*")))
    ecr.create_repository("fast", policy_text=policy(pull("*")))
    ecr.configure(hang_actions={"GetRepositoryPolicy"}, hang_repositories={"slow"}, hang_seconds=30)
    client = ecr.client(max_attempts=1, read_timeout=0.3, connect_timeout=1)
    client.get_repository_policy(repositoryName="fast")
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        client.get_repository_policy(repositoryName="slow")
    assert time.monotonic() - started < 15  # the client's 0.3 s, not the hang's 30 s (loose: a busy machine)
    assert ecr.stats()["injected"] == {"hang": 1}
    ecr.reset_knobs()  # releases the hung server thread


# --- counters, reset, admin endpoints, accounts ---------------------------------------------------------


def test_counters_and_reset(ecr: EcrEmulator) -> None:
    client = ecr.client()
    client.create_repository(repositoryName="repo")
    client.describe_repositories()
    assert ecr.stats()["requests"] == {"CreateRepository": 1, "DescribeRepositories": 1}
    ecr.reset_stats()
    assert ecr.stats()["total_requests"] == 0
    assert ecr.repository_names() == ["repo"]
    ecr.reset()
    assert ecr.repository_names() == []


def test_bypass_client_is_not_counted_nor_throttled(ecr: EcrEmulator) -> None:
    ecr.configure(default_tps=0.001, burst={"*": 1.0}, latency_ms=5000)
    client = ecr.client(bypass=True)
    started = time.monotonic()
    for _ in range(3):
        client.describe_repositories()
    assert time.monotonic() - started < 5  # one call with the latency would take 5 s
    stats = ecr.stats()
    assert stats["total_requests"] == 0 and stats["other_requests"] == 0


def test_admin_endpoints(ecr: EcrEmulator) -> None:
    ecr.create_repository("repo")
    ecr.client().describe_repositories()
    assert admin(ecr, "/_sandbox/stats")["requests"] == {"DescribeRepositories": 1}
    config = admin(ecr, "/_sandbox/config", {"tps": {"DescribeRepositories": 5}, "access_denied": ["x"]})
    assert config["tps"] == {"DescribeRepositories": 5} and config["access_denied"] == ["x"]
    assert ecr.config.access_denied == {"x"}
    assert admin(ecr, "/_sandbox/reset-stats", {})["total_requests"] == 0
    admin(ecr, "/_sandbox/reset", {"knobs": True})
    assert ecr.repository_names() == [] and ecr.config.tps == {}
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        admin(ecr, "/_sandbox/config", {"no_such_knob": 1})
    assert excinfo.value.code == 400


def test_unknown_knob_is_an_error(ecr: EcrEmulator) -> None:
    with pytest.raises(ValueError, match="no_such_knob"):
        ecr.configure(no_such_knob=1)


def test_several_accounts_through_header_and_assume_role(ecr: EcrEmulator) -> None:
    ecr.create_repository("mine")
    ecr.create_repository("theirs", account_id="210987654321", region="eu-west-1")
    assert [r["repositoryName"] for r in ecr.client().describe_repositories()["repositories"]] == ["mine"]
    by_header = ecr.client("eu-west-1", account_id="210987654321").describe_repositories()
    assert [r["repositoryName"] for r in by_header["repositories"]] == ["theirs"]
    assumed = ecr.assumed_client("arn:aws:iam::210987654321:role/reconciler", region="eu-west-1")
    repositories = assumed.describe_repositories()["repositories"]
    assert [r["repositoryArn"] for r in repositories] == [
        "arn:aws:ecr:eu-west-1:210987654321:repository/theirs"
    ]


def test_environment_points_boto3_at_the_emulator(aws_env: EcrEmulator) -> None:
    aws_env.create_repository("repo")
    client = boto3.client("ecr", config=Config(retries={"total_max_attempts": 1}))
    assert client.meta.endpoint_url == aws_env.url
    assert [r["repositoryName"] for r in client.describe_repositories()["repositories"]] == ["repo"]
    sts = boto3.client("sts")
    assert sts.get_caller_identity()["Account"] == DEFAULT_ACCOUNT_ID


def test_reset_cuts_short_a_slow_request_so_it_writes_nothing(ecr: EcrEmulator) -> None:
    # A client that died mid-call must not write into the next test's state when the latency ends.
    ecr.create_repository("repo")
    ecr.configure(action_latency_ms={"SetRepositoryPolicy": 5000})
    client = ecr.client(max_attempts=1)
    errors: list[ClientError] = []

    def write() -> None:
        try:
            client.set_repository_policy(repositoryName="repo", policyText=policy(pull("*")))
        except ClientError as exc:
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    deadline = time.monotonic() + 2
    while ecr.stats()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    ecr.reset()
    ecr.create_repository("repo")
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert ecr.stored_policy("repo") is None
    assert [e.response["Error"]["Code"] for e in errors] == ["ServerException"]


def test_direct_backend_calls_answer_like_moto_over_http(ecr: EcrEmulator) -> None:
    ecr.create_repository("with-policy", policy_text=policy(pull({"AWS": "111122223333"})))
    ecr.create_repository("without")
    client = ecr.client(max_attempts=1)

    def outcomes() -> list[Any]:
        results: list[Any] = []
        calls = [
            lambda: client.get_repository_policy(repositoryName="with-policy"),
            lambda: client.get_repository_policy(repositoryName="without"),
            lambda: client.get_repository_policy(repositoryName="missing"),
            lambda: client.set_repository_policy(repositoryName="without", policyText="{not json"),
            lambda: client.set_repository_policy(repositoryName="missing", policyText=policy(pull("*"))),
        ]
        for call in calls:
            try:
                answer = call()
                answer.pop("ResponseMetadata")
                results.append(answer)
            except ClientError as exc:
                results.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"]))
        return results

    direct = outcomes()
    ecr.configure(direct_backend_calls=False)
    assert outcomes() == direct
    assert direct[1][0] == "RepositoryPolicyNotFoundException"
    assert direct[2][0] == "RepositoryNotFoundException"
