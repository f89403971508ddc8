"""Policy validation real ECR does and moto doesn't: the 10,240-character limit, no `Resource` elements,
principals that must exist (optionally with IAM eventual consistency: new principals take a while to be seen),
and no deleted principal (its ARN, or the unique id it reads back as: deleted.py).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError
from reconciler.sandbox.ecr.config import MAX_POLICY_LENGTH, EcrEmulatorConfig
from reconciler.sandbox.ecr.deleted import UNIQUE_ID, names_deleted

PRINCIPAL_NOT_FOUND = "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'"
INVALID_POLICY = (
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'"
)
POLICY_TOO_LONG = (
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
    f"'Member must have length less than or equal to {MAX_POLICY_LENGTH}'"
)

_ACCOUNT_RE = re.compile(r"\d{12}")
_IAM_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):.+")


class PolicyValidation:
    """The layer; it holds which accounts are still "new" to IAM (knob `eventual_consistency_failures`)."""

    def __init__(self, config: EcrEmulatorConfig) -> None:
        self._lock = threading.Lock()
        self.reset(config)

    def reset(self, config: EcrEmulatorConfig) -> None:
        with self._lock:
            self._ec_remaining = dict(config.eventual_consistency_failures)
            self._became_known: set[str] = set()

    def __call__(self, call: EcrCall, following: Handler) -> Answer:
        if call.action == "SetRepositoryPolicy":
            self._validate(call.config, call.params.get("policyText"))
        return following(call)

    def _validate(self, config: EcrEmulatorConfig, text: Any) -> None:
        if not isinstance(text, str):
            return  # moto answers for missing parameters
        if len(text) > config.max_policy_length:
            raise SandboxError("InvalidParameterException", POLICY_TOO_LONG)
        try:
            document = json.loads(text)
        except ValueError:
            return  # moto's own validator rejects malformed JSON
        if any(
            isinstance(s, dict) and ("Resource" in s or "NotResource" in s) for s in _statements(document)
        ):
            raise SandboxError("InvalidParameterException", INVALID_POLICY)
        deleted = names_deleted(document, config.deleted_principals)
        if deleted is not None:
            # A unique id is no principal ECR accepts; a deleted ARN names nobody.
            message = INVALID_POLICY if UNIQUE_ID.fullmatch(deleted) else PRINCIPAL_NOT_FOUND
            raise SandboxError("InvalidParameterException", message)
        accounts = principal_accounts(document, include_conditions=config.check_condition_accounts)
        with self._lock:
            pending = [a for a in accounts if self._ec_remaining.get(a, 0) > 0]
            for account in pending:
                self._ec_remaining[account] -= 1
                if self._ec_remaining[account] == 0:
                    self._became_known.add(account)
            if pending:
                raise SandboxError("InvalidParameterException", PRINCIPAL_NOT_FOUND)
            if config.known_accounts is not None:
                known = config.known_accounts | self._became_known
                if any(a not in known for a in accounts):
                    raise SandboxError("InvalidParameterException", PRINCIPAL_NOT_FOUND)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _statements(document: Any) -> list[Any]:
    return _as_list(document.get("Statement")) if isinstance(document, dict) else []


def principal_accounts(document: Any, *, include_conditions: bool = False) -> list[str]:
    """Account ids named in Principal.AWS / NotPrincipal.AWS (ids or IAM ARNs), optionally also
    aws:PrincipalAccount condition values; in order of appearance, without duplicates."""
    found: list[str] = []
    for statement in _statements(document):
        if not isinstance(statement, dict):
            continue
        for key in ("Principal", "NotPrincipal"):
            principal = statement.get(key)
            if not isinstance(principal, dict):
                continue
            for value in _as_list(principal.get("AWS")):
                if not isinstance(value, str):
                    continue
                if _ACCOUNT_RE.fullmatch(value):
                    found.append(value)
                elif match := _IAM_ARN_RE.fullmatch(value):
                    found.append(match.group(1))
        condition = statement.get("Condition")
        if include_conditions and isinstance(condition, dict):
            for block in condition.values():
                if not isinstance(block, dict):
                    continue
                for ckey, cvalue in block.items():
                    if ckey.lower() == "aws:principalaccount":
                        found.extend(v for v in _as_list(cvalue) if isinstance(v, str))
    return list(dict.fromkeys(found))
