"""Repository creation templates, which moto does not implement: `DescribeRepositoryCreationTemplates`,
`CreateRepositoryCreationTemplate`, `UpdateRepositoryCreationTemplate`, `DeleteRepositoryCreationTemplate`,
with ECR's validation and errors, and a sandbox-only create-on-push that creates a repository through the
matching template.

Shapes and limits are the botocore `ecr` model's (docs/AWS.md, "Repository creation templates"): `prefix`
1-256 characters matching ECR's pattern, or `ROOT`; `appliedFor` (required on create) of REPLICATION,
PULL_THROUGH_CACHE, CREATE_ON_PUSH; `repositoryPolicy` at most 10,240 characters, `lifecyclePolicy` 30,720,
`description` 256; `imageTagMutability` and `encryptionType` enums; 1-5 exclusion filters. Create answers
`TemplateAlreadyExistsException` for a prefix that exists, Update and Delete `TemplateNotFoundException` for
one that doesn't. Describe pages like DescribeRepositories (`maxResults` 1-1000, default 100, opaque
`nextToken`), in creation order.

Whether Update clears the fields it is not given is not documented; the emulator takes the strict reading
(a field left out is reset to ECR's default), so a client that does not send every field back loses them
here, visibly. `repositoryPolicy` comes back rewritten as real ECR writes policies (`readback.py`) when
`rewrite_policies` is on; every other field byte for byte as set.

The templates live on moto's ECR backend of the account and region, so moto's reset clears them with the
repositories.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.ecr.backend import caller, ecr_backend
from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError, json_answer
from reconciler.sandbox.ecr.config import MAX_POLICY_LENGTH
from reconciler.sandbox.ecr.readback import ecr_policy_text

ROOT = "ROOT"
ACTIONS = frozenset(
    {
        "DescribeRepositoryCreationTemplates",
        "CreateRepositoryCreationTemplate",
        "UpdateRepositoryCreationTemplate",
        "DeleteRepositoryCreationTemplate",
    }
)
PREFIX_PATTERN = r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$"
APPLIED_FOR = ("REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH")
MUTABILITY = ("MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")
ENCRYPTION = ("AES256", "KMS", "KMS_DSSE")
MAX_PREFIX = 256
MAX_DESCRIPTION = 256
MAX_LIFECYCLE_POLICY = 30_720
MAX_ROLE_ARN = 2048
DESCRIBE_DEFAULT_PAGE = 100
DESCRIBE_MAX_PAGE = 1000
_PREFIX = re.compile(PREFIX_PATTERN)
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/.+")
# The optional fields, and what a template holds when they are not set (ECR's defaults).
DEFAULTS: dict[str, Any] = {
    "encryptionConfiguration": {"encryptionType": "AES256"},
    "resourceTags": [],
    "imageTagMutability": "MUTABLE",
}
_OPTIONAL = (
    "description",
    "encryptionConfiguration",
    "resourceTags",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "repositoryPolicy",
    "lifecyclePolicy",
    "customRoleArn",
)
_STORE = "_sandbox_repository_creation_templates"


def store(account: str, region: str) -> dict[str, dict[str, Any]]:
    """The templates of one registry, by prefix, in creation order (kept on moto's backend: see above)."""
    backend = ecr_backend(account, region)
    templates: dict[str, dict[str, Any]] | None = getattr(backend, _STORE, None)
    if templates is None:
        templates = {}
        setattr(backend, _STORE, templates)
    return templates


def creation_templates(call: EcrCall, following: Handler) -> Answer:
    """The layer: answers the four template calls; hands every other call on."""
    if call.action not in ACTIONS:
        return following(call)
    account, region = caller(call.environ)
    templates = store(account, region)
    params = call.params
    if call.action == "DescribeRepositoryCreationTemplates":
        payload = {"registryId": account, **_describe(templates, params)}
    else:
        prefix = _prefix(params.get("prefix"))
        if call.action == "CreateRepositoryCreationTemplate":
            template = _create(templates, prefix, params, account)
        elif call.action == "UpdateRepositoryCreationTemplate":
            template = _update(templates, prefix, params, account)
        else:
            template = _delete(templates, prefix)
        payload = {"registryId": account, "repositoryCreationTemplate": template}
    return json_answer(_rewritten(payload, call.config.rewrite_policies))


# -- the calls --


def _describe(templates: dict[str, dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    prefixes = params.get("prefixes")
    if prefixes is not None:
        if not isinstance(prefixes, list):
            raise _invalid("prefixes", prefixes, "Member must be a list")
        wanted = {_prefix(p) for p in prefixes}
        found = [t for t in templates.values() if t["prefix"] in wanted]
    else:
        found = list(templates.values())
    limit = params.get("maxResults", DESCRIBE_DEFAULT_PAGE)
    if not isinstance(limit, int) or not 1 <= limit <= DESCRIBE_MAX_PAGE:
        bound = (
            "greater than or equal to 1"
            if isinstance(limit, int) and limit < 1
            else "less than or equal to 1000"
        )
        raise _invalid("maxResults", limit, f"Member must have value {bound}")
    start = _decode_token(params["nextToken"]) if "nextToken" in params else 0
    page = found[start : start + limit]
    payload: dict[str, Any] = {"repositoryCreationTemplates": [dict(t) for t in page]}
    if start + limit < len(found):
        payload["nextToken"] = _encode_token(start + limit)
    return payload


def _create(
    templates: dict[str, dict[str, Any]], prefix: str, params: dict[str, Any], account: str
) -> dict[str, Any]:
    if "appliedFor" not in params:
        raise SandboxError(
            "ValidationException",
            "1 validation error detected: Value null at 'appliedFor' failed to satisfy constraint: "
            "Member must not be null",
        )
    _check(params, account)
    if prefix in templates:
        raise SandboxError(
            "TemplateAlreadyExistsException",
            f"The repository creation template with prefix '{prefix}' already exists in the registry with id "
            f"'{account}'",
        )
    now = time.time()
    template = {"prefix": prefix, **_fields(params), "createdAt": now, "updatedAt": now}
    templates[prefix] = template
    return dict(template)


def _update(
    templates: dict[str, dict[str, Any]], prefix: str, params: dict[str, Any], account: str
) -> dict[str, Any]:
    _check(params, account)
    old = _existing(templates, prefix, account)
    # The strict reading: what is not sent is reset (see the module docstring); appliedFor can't be empty.
    fields = _fields(params)
    fields.setdefault("appliedFor", old["appliedFor"])
    template = {"prefix": prefix, **fields, "createdAt": old["createdAt"], "updatedAt": time.time()}
    templates[prefix] = template
    return dict(template)


def _delete(templates: dict[str, dict[str, Any]], prefix: str) -> dict[str, Any]:
    template = _existing(templates, prefix, "")
    del templates[prefix]
    return dict(template)


def _existing(templates: dict[str, dict[str, Any]], prefix: str, account: str) -> dict[str, Any]:
    if prefix not in templates:
        raise SandboxError(
            "TemplateNotFoundException",
            f"The repository creation template with prefix '{prefix}' does not exist in the registry"
            + (f" with id '{account}'" if account else ""),
        )
    return templates[prefix]


def _fields(params: dict[str, Any]) -> dict[str, Any]:
    """A template's fields from a request: the ones given, ECR's defaults for the others."""
    fields: dict[str, Any] = {}
    for name in _OPTIONAL:
        if name in params:
            fields[name] = params[name]
        elif name in DEFAULTS:
            fields[name] = json.loads(json.dumps(DEFAULTS[name]))
    if "appliedFor" in params:
        fields["appliedFor"] = list(dict.fromkeys(params["appliedFor"]))
    return fields


# -- validation --


def _invalid(field: str, value: Any, constraint: str) -> SandboxError:
    return SandboxError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
        + constraint,
    )


def _prefix(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid("prefix", value, "Member must not be null")
    if not 1 <= len(value) <= MAX_PREFIX:
        raise _invalid("prefix", value, f"Member must have length between 1 and {MAX_PREFIX}")
    if not _PREFIX.fullmatch(value):
        raise _invalid("prefix", value, f"Member must satisfy regular expression pattern: {PREFIX_PATTERN}")
    return value


def _length(params: dict[str, Any], field: str, limit: int) -> None:
    value = params.get(field)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        shown = f"{len(value)} characters" if isinstance(value, str) else value
        raise _invalid(field, shown, f"Member must have length less than or equal to {limit}")


def _check(params: dict[str, Any], account: str) -> None:
    applied = params.get("appliedFor")
    if "appliedFor" in params:
        if not isinstance(applied, list) or not applied:
            raise SandboxError(
                "InvalidParameterException",
                "Invalid parameter at 'appliedFor' failed to satisfy constraint: 'must not be empty'",
            )
        for value in applied:
            if value not in APPLIED_FOR:
                raise _invalid(
                    "appliedFor", value, f"Member must satisfy enum value set: [{', '.join(APPLIED_FOR)}]"
                )
    _length(params, "description", MAX_DESCRIPTION)
    _length(params, "repositoryPolicy", MAX_POLICY_LENGTH)
    _length(params, "lifecyclePolicy", MAX_LIFECYCLE_POLICY)
    _length(params, "customRoleArn", MAX_ROLE_ARN)
    policy = params.get("repositoryPolicy")
    if isinstance(policy, str) and policy:
        _check_policy(policy)
    mutability = params.get("imageTagMutability")
    if mutability is not None and mutability not in MUTABILITY:
        raise _invalid(
            "imageTagMutability", mutability, f"Member must satisfy enum value set: [{', '.join(MUTABILITY)}]"
        )
    filters = params.get("imageTagMutabilityExclusionFilters")
    if filters is not None and (not isinstance(filters, list) or not 1 <= len(filters) <= 5):
        raise _invalid(
            "imageTagMutabilityExclusionFilters", filters, "Member must have length between 1 and 5"
        )
    encryption = params.get("encryptionConfiguration")
    if encryption is not None:
        kind = encryption.get("encryptionType") if isinstance(encryption, dict) else None
        if kind not in ENCRYPTION:
            raise _invalid(
                "encryptionConfiguration.encryptionType",
                kind,
                f"Member must satisfy enum value set: [{', '.join(ENCRYPTION)}]",
            )
    role = params.get("customRoleArn")
    if isinstance(role, str) and role:
        match = _ROLE_ARN.fullmatch(role)
        if match is None or match.group(1) != account:
            raise SandboxError(
                "InvalidParameterException",
                "Invalid parameter at 'customRoleArn' failed to satisfy constraint: 'must be a role in the "
                "registry's account'",
            )


def _check_policy(text: str) -> None:
    invalid = SandboxError(
        "InvalidParameterException",
        "Invalid parameter at 'repositoryPolicy' failed to satisfy constraint: "
        "'Invalid repository policy provided'",
    )
    try:
        document = json.loads(text)
    except ValueError:
        raise invalid from None
    statements = document.get("Statement") if isinstance(document, dict) else None
    if not isinstance(statements, list | dict):
        raise invalid
    for statement in statements if isinstance(statements, list) else [statements]:
        # A repository policy names no Resource (ECR refuses it, docs/AWS.md "Repository policies").
        if not isinstance(statement, dict) or "Resource" in statement or "NotResource" in statement:
            raise invalid


def _rewritten(payload: dict[str, Any], rewrite: bool) -> dict[str, Any]:
    if not rewrite:
        return payload
    items = payload.get("repositoryCreationTemplates") or [payload.get("repositoryCreationTemplate")]
    for template in items:
        if isinstance(template, dict) and template.get("repositoryPolicy"):
            template["repositoryPolicy"] = ecr_policy_text(template["repositoryPolicy"])
    return payload


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"templates": offset}).encode()).decode()


def _decode_token(token: Any) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        offset = int(data["templates"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise SandboxError("InvalidParameterException", "Invalid parameter at 'nextToken'") from None
    if offset < 0:
        raise SandboxError("InvalidParameterException", "Invalid parameter at 'nextToken'")
    return offset


# -- create-on-push (sandbox only) --


@dataclass(frozen=True)
class Created:
    """A repository ECR created itself: through which template (None: there was no matching template)."""

    repository: str
    template: str | None


def matching_template(
    templates: dict[str, dict[str, Any]], repository: str, applied_for: str
) -> dict[str, Any] | None:
    """The template ECR uses for a repository it creates: the longest prefix applied for that kind of
    creation (a `/` is assumed after a prefix: `team` covers `team/app`, not `teamx/app`), else ROOT."""
    best: dict[str, Any] | None = None
    for prefix, template in templates.items():
        if applied_for not in template.get("appliedFor", ()) or prefix == ROOT:
            continue
        stem = prefix.rstrip("/") + "/"
        if repository.startswith(stem) and (best is None or len(prefix) > len(best["prefix"])):
            best = template
    root = templates.get(ROOT)
    if best is None and root is not None and applied_for in root.get("appliedFor", ()):
        return root
    return best


def create_through_template(
    account: str, region: str, repository: str, applied_for: str = "CREATE_ON_PUSH"
) -> Created:
    """What ECR does when a push (or replication, or a pull through cache) meets a missing repository:
    create it with the matching template's policy, tags, tag mutability and lifecycle policy. An existing
    repository is left as it is. No matching template: ECR refuses the push (RepositoryNotFoundException)."""
    backend = ecr_backend(account, region)
    if repository in backend.repositories:
        return Created(repository, None)
    template = matching_template(store(account, region), repository, applied_for)
    if template is None:
        raise SandboxError(
            "RepositoryNotFoundException",
            f"The repository with name '{repository}' does not exist in the registry with id '{account}' and "
            f"no repository creation template applies to {applied_for}",
        )
    mutability = template.get("imageTagMutability", "MUTABLE")
    created = backend.create_repository(
        repository,
        None,
        None,
        None,
        mutability if mutability in ("MUTABLE", "IMMUTABLE") else "MUTABLE",
        [dict(tag) for tag in template.get("resourceTags", [])],
    )
    if template.get("repositoryPolicy"):
        created.policy = template["repositoryPolicy"]
    if template.get("lifecyclePolicy"):
        created.lifecycle_policy = template["lifecyclePolicy"]
    return Created(repository, str(template["prefix"]))
