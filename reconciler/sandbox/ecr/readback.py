"""Read-back rewriting: policies come back the way real ECR writes them (Jackson pretty printing, account ids
as root ARNs, one-item lists collapsed, keys reordered), not as they were set."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler
from reconciler.sandbox.ecr.deleted import show_deleted

# The answers that carry a policyText.
_POLICY_ANSWERS = frozenset({"GetRepositoryPolicy", "SetRepositoryPolicy", "DeleteRepositoryPolicy"})
_ACCOUNT_RE = re.compile(r"\d{12}")


def read_back(call: EcrCall, following: Handler) -> Answer:
    """The layer: a successful answer's policyText rewritten (knob `rewrite_policies`), deleted principals
    shown as their unique ids (knob `deleted_principals`)."""
    answer = following(call)
    deleted = call.config.deleted_principals
    if answer.code >= 400 or call.action not in _POLICY_ANSWERS:
        return answer
    if not (call.config.rewrite_policies or deleted):
        return answer
    payload = json.loads(answer.body)
    text = payload.get("policyText")
    if isinstance(text, str):
        if deleted:
            with contextlib.suppress(ValueError):  # unparsable text is handed back as stored
                text = json.dumps(show_deleted(json.loads(text), deleted))
        payload["policyText"] = ecr_policy_text(text) if call.config.rewrite_policies else text
    return answer.with_payload(payload)


def _collapse(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _rewrite_principal(principal: Any) -> Any:
    if not isinstance(principal, dict):
        return principal
    out: dict[str, Any] = {}
    for kind, value in principal.items():
        values = value if isinstance(value, list) else [value]
        if kind == "AWS":
            values = [
                f"arn:aws:iam::{v}:root" if isinstance(v, str) and _ACCOUNT_RE.fullmatch(v) else v
                for v in values
            ]
        # Real ECR reorders principals; sorting is one stable way to "reorder".
        values = sorted(values, key=str) if all(isinstance(v, str) for v in values) else values
        out[kind] = _collapse(values)
    return out


def _rewrite_statement(statement: Any) -> Any:
    if not isinstance(statement, dict):
        return statement
    out: dict[str, Any] = {}
    for key, value in statement.items():
        if key in ("Principal", "NotPrincipal"):
            value = _rewrite_principal(value)
        elif key in ("Action", "NotAction"):
            value = _collapse(value)
        elif key == "Condition" and isinstance(value, dict):
            value = {
                op: {k: _collapse(v) for k, v in block.items()} if isinstance(block, dict) else block
                for op, block in value.items()
            }
        out[key] = value
    return out


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def rewrite_policy_document(document: Any) -> Any:
    """The document as ECR hands it back: account principals as root ARNs, one-item lists as strings,
    principals sorted, keys sorted (so "Statement" comes before "Version")."""
    if not isinstance(document, dict):
        return document
    rewritten = dict(document)
    statements = rewritten.get("Statement")
    if isinstance(statements, list):
        rewritten["Statement"] = [_rewrite_statement(s) for s in statements]
    elif isinstance(statements, dict):
        rewritten["Statement"] = [_rewrite_statement(statements)]
    return _sorted_keys(rewritten)


def jackson_dumps(value: Any) -> str:
    """JSON the way AWS's Java services pretty-print it (Jackson's DefaultPrettyPrinter): objects one entry
    a line with `"key" : value` and 2-space indentation, arrays inline `[ a, b ]`, `[ {` ... `} ]`."""
    parts: list[str] = []

    def write(item: Any, nesting: int) -> None:
        if isinstance(item, dict):
            if not item:
                parts.append("{ }")
                return
            parts.append("{")
            inner = "\n" + "  " * (nesting + 1)
            for index, (key, child) in enumerate(item.items()):
                parts.append(
                    ("," if index else "") + inner + json.dumps(str(key), ensure_ascii=False) + " : "
                )
                write(child, nesting + 1)
            parts.append("\n" + "  " * nesting + "}")
        elif isinstance(item, list):
            if not item:
                parts.append("[ ]")
                return
            parts.append("[ ")
            for index, child in enumerate(item):
                if index:
                    parts.append(", ")
                write(child, nesting)
            parts.append(" ]")
        else:
            parts.append(json.dumps(item, ensure_ascii=False))

    write(value, 0)
    return "".join(parts)


def ecr_policy_text(policy_text: str) -> str:
    """What GetRepositoryPolicy returns for a policy set as `policy_text` (unparsable text unchanged)."""
    try:
        document = json.loads(policy_text)
    except ValueError:
        return policy_text
    return jackson_dumps(rewrite_policy_document(document))
