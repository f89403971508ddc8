"""The fast path: GetRepositoryPolicy and SetRepositoryPolicy (the hot per-repository calls) go to moto's
ECR backend methods without moto's HTTP layer (Flask, request parsing, response serialization: ~2 ms a
call, GIL-bound in this process). Same backend, same validation, same errors; `direct_backend_calls=False`
turns it off (tests compare both)."""

from __future__ import annotations

from reconciler.sandbox.ecr.backend import caller, ecr_backend
from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError, json_answer

_DIRECT_ACTIONS = frozenset({"GetRepositoryPolicy", "SetRepositoryPolicy"})


def direct_policy_calls(call: EcrCall, following: Handler) -> Answer:
    """The layer: answers the policy calls it can from moto's backend, hands on the others."""
    params = call.params
    if not (
        call.config.direct_backend_calls
        and call.action in _DIRECT_ACTIONS
        and isinstance(params.get("repositoryName"), str)
    ):
        return following(call)
    from moto.core.exceptions import ServiceException

    account, region = caller(call.environ)
    backend = ecr_backend(account, region)
    registry_id, name = params.get("registryId"), params["repositoryName"]
    try:
        if call.action == "GetRepositoryPolicy":
            result = backend.get_repository_policy(registry_id, name)
        elif isinstance(params.get("policyText"), str):
            result = backend.set_repository_policy(registry_id, name, params["policyText"])
        else:
            raise SandboxError("ValidationException", "policyText is required")
    except ServiceException as exc:
        raise SandboxError(str(exc.code), str(exc.message)) from exc
    return json_answer(result)
