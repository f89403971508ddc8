"""The emulator's repository creation templates (moto has none of the four calls), and create-on-push."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.sandbox.ecr import DEFAULT_ACCOUNT_ID, EcrEmulator
from reconciler.sandbox.ecr.call import SandboxError
from reconciler.sandbox.ecr.readback import ecr_policy_text

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowPull",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["ecr:BatchGetImage"],
                "Condition": {"StringEquals": {"aws:PrincipalAccount": ["111122223333"]}},
            }
        ],
    }
)
LIFECYCLE = '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed",'
LIFECYCLE += '"countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}'


def code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_create_describe_update_delete(ecr: EcrEmulator) -> None:
    client = ecr.client(max_attempts=1)
    created = client.create_repository_creation_template(
        prefix="ROOT", appliedFor=["REPLICATION", "CREATE_ON_PUSH"], repositoryPolicy=POLICY
    )["repositoryCreationTemplate"]
    assert created["prefix"] == "ROOT" and created["appliedFor"] == ["REPLICATION", "CREATE_ON_PUSH"]
    # ECR's defaults for the fields not given.
    assert created["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert created["imageTagMutability"] == "MUTABLE"

    described = client.describe_repository_creation_templates(prefixes=["ROOT"])
    assert described["registryId"] == DEFAULT_ACCOUNT_ID
    (template,) = described["repositoryCreationTemplates"]
    # The policy reads back the way ECR writes policies; stored as sent.
    assert template["repositoryPolicy"] == ecr_policy_text(POLICY)
    assert ecr.stored_templates()["ROOT"]["repositoryPolicy"] == POLICY

    client.update_repository_creation_template(prefix="ROOT", appliedFor=["PULL_THROUGH_CACHE"])
    (updated,) = client.describe_repository_creation_templates()["repositoryCreationTemplates"]
    assert updated["appliedFor"] == ["PULL_THROUGH_CACHE"]
    # The strict reading of Update: a field not sent is cleared.
    assert "repositoryPolicy" not in updated

    client.delete_repository_creation_template(prefix="ROOT")
    assert client.describe_repository_creation_templates()["repositoryCreationTemplates"] == []
    assert ecr.stats()["requests"] == {
        "CreateRepositoryCreationTemplate": 1,
        "DescribeRepositoryCreationTemplates": 3,
        "UpdateRepositoryCreationTemplate": 1,
        "DeleteRepositoryCreationTemplate": 1,
    }


def test_ecr_errors(ecr: EcrEmulator) -> None:
    client = ecr.client(max_attempts=1)
    client.create_repository_creation_template(prefix="team-a", appliedFor=["REPLICATION"])
    with pytest.raises(ClientError) as exists:
        client.create_repository_creation_template(prefix="team-a", appliedFor=["REPLICATION"])
    assert code(exists) == "TemplateAlreadyExistsException"
    for call in (
        lambda: client.update_repository_creation_template(prefix="team-b", appliedFor=["REPLICATION"]),
        lambda: client.delete_repository_creation_template(prefix="team-b"),
    ):
        with pytest.raises(ClientError) as missing:
            call()
        assert code(missing) == "TemplateNotFoundException"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"prefix": "team-a/*", "appliedFor": ["REPLICATION"]}, "ValidationException"),
        ({"prefix": "Team-A", "appliedFor": ["REPLICATION"]}, "ValidationException"),
        ({"prefix": "a" * 257, "appliedFor": ["REPLICATION"]}, "ValidationException"),
        ({"prefix": "team", "appliedFor": ["PUSH"]}, "ValidationException"),
        ({"prefix": "team", "appliedFor": []}, "InvalidParameterException"),
        (
            {"prefix": "team", "appliedFor": ["REPLICATION"], "repositoryPolicy": "x" * 10_241},
            "ValidationException",
        ),
        (
            {"prefix": "team", "appliedFor": ["REPLICATION"], "repositoryPolicy": "{not json"},
            "InvalidParameterException",
        ),
        (
            {"prefix": "team", "appliedFor": ["REPLICATION"], "lifecyclePolicy": "x" * 30_721},
            "ValidationException",
        ),
        ({"prefix": "team", "appliedFor": ["REPLICATION"], "description": "x" * 257}, "ValidationException"),
        (
            {"prefix": "team", "appliedFor": ["REPLICATION"], "imageTagMutability": "SOMETIMES"},
            "ValidationException",
        ),
        (
            {
                "prefix": "team",
                "appliedFor": ["REPLICATION"],
                "customRoleArn": "arn:aws:iam::999999999999:role/x",
            },
            "InvalidParameterException",
        ),
    ],
)
def test_validation(ecr: EcrEmulator, arguments: dict[str, Any], expected: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        ecr.client(max_attempts=1).create_repository_creation_template(**arguments)
    assert code(excinfo) == expected
    assert ecr.stored_templates() == {}


def test_a_policy_within_the_limit_and_a_role_of_the_account_are_accepted(ecr: EcrEmulator) -> None:
    padded = POLICY[:-1] + " " * (10_240 - len(POLICY)) + "}"
    ecr.client(max_attempts=1).create_repository_creation_template(
        prefix="team",
        appliedFor=["REPLICATION"],
        repositoryPolicy=padded,
        customRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/ecr-templates",
    )
    assert ecr.stored_templates()["team"]["repositoryPolicy"] == padded


def test_describe_pages_and_follows_next_token(ecr: EcrEmulator) -> None:
    client = ecr.client(max_attempts=1)
    prefixes = [f"team-{index:02d}" for index in range(7)]
    for prefix in prefixes:
        client.create_repository_creation_template(prefix=prefix, appliedFor=["REPLICATION"])
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.describe_repository_creation_templates(
            maxResults=3, **({"nextToken": token} if token else {})
        )
        seen += [t["prefix"] for t in page["repositoryCreationTemplates"]]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert seen == prefixes and pages == 3
    with pytest.raises(ClientError) as excinfo:
        client.describe_repository_creation_templates(nextToken="garbage")
    assert code(excinfo) == "InvalidParameterException"


def test_moto_reset_clears_templates(ecr: EcrEmulator) -> None:
    ecr.put_template({"prefix": "ROOT", "appliedFor": ["REPLICATION"]})
    ecr.reset()
    assert ecr.stored_templates() == {}


def test_create_on_push_uses_the_longest_matching_prefix_else_root(ecr: EcrEmulator) -> None:
    def grant(account: str) -> str:
        return POLICY.replace("111122223333", account)

    ecr.put_template(
        {"prefix": "ROOT", "appliedFor": ["CREATE_ON_PUSH"], "repositoryPolicy": grant("000000000001")}
    )
    ecr.put_template(
        {
            "prefix": "team",
            "appliedFor": ["CREATE_ON_PUSH"],
            "repositoryPolicy": grant("000000000002"),
            "lifecyclePolicy": LIFECYCLE,
            "resourceTags": [{"Key": "team", "Value": "a"}],
        }
    )
    ecr.put_template(
        {"prefix": "team/deep", "appliedFor": ["CREATE_ON_PUSH"], "repositoryPolicy": grant("000000000003")}
    )
    # Not applied for pushes: never used by one.
    ecr.put_template(
        {"prefix": "team/replicas", "appliedFor": ["REPLICATION"], "repositoryPolicy": grant("000000000004")}
    )

    assert ecr.push_image("team/app") == "team"
    assert ecr.push_image("team/deep/app") == "team/deep"
    assert ecr.push_image("teamx/app") == "ROOT"  # a / is assumed after a prefix
    assert ecr.push_image("team/replicas/app") == "team"
    assert ecr.push_image("team/app") is None  # exists: nothing to create

    assert ecr.stored_policy("team/app") == grant("000000000002")
    assert ecr.stored_policy("team/deep/app") == grant("000000000003")
    assert ecr.stored_policy("teamx/app") == grant("000000000001")
    assert ecr.stored_policy("team/replicas/app") == grant("000000000002")
    client = ecr.client(bypass=True)
    assert client.get_lifecycle_policy(repositoryName="team/app")["lifecyclePolicyText"] == LIFECYCLE
    arn = client.describe_repositories(repositoryNames=["team/app"])["repositories"][0]["repositoryArn"]
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "team", "Value": "a"}]


def test_a_push_with_no_template_for_it_is_refused(ecr: EcrEmulator) -> None:
    ecr.put_template({"prefix": "ROOT", "appliedFor": ["REPLICATION"]})
    with pytest.raises(SandboxError) as excinfo:
        ecr.push_image("team/app")
    assert excinfo.value.code == "RepositoryNotFoundException"
    assert ecr.repository_names() == []


def test_push_route(ecr: EcrEmulator) -> None:
    ecr.put_template({"prefix": "ROOT", "appliedFor": ["CREATE_ON_PUSH"], "repositoryPolicy": POLICY})

    def push(body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(
            ecr.url + "/_sandbox/push", data=json.dumps(body).encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    assert push({"repository": "team/app"}) == (200, {"repository": "team/app", "template": "ROOT"})
    assert ecr.stored_policy("team/app") == POLICY
    status, answer = push({"repository": "other/app", "region": "eu-west-1"})
    assert (status, answer["__type"]) == (400, "RepositoryNotFoundException")
    assert ecr.stats()["total_requests"] == 0  # the route is not an ECR call
