"""moto, the bookkeeping behind the layers: which account and region a request acts in, moto's ECR backends
(for the layers that call them directly), and moto's ECR app, where every call no layer answers goes."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler
from reconciler.sandbox.ecr.config import DEFAULT_ACCOUNT_ID, DEFAULT_REGION

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

_CREDENTIAL_RE = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/")


def caller(environ: WSGIEnvironment) -> tuple[str, str]:
    """(account, region) of a request, the way moto resolves them (see the package docstring)."""
    match = _CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    access_key, region = (match.group(1), match.group(2)) if match else ("", DEFAULT_REGION)
    account = os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if not account:
        from moto.iam.models import get_account_id_from

        account = str(get_account_id_from(access_key)) if access_key else DEFAULT_ACCOUNT_ID
    return account, region


def ecr_backend(account_id: str, region: str) -> Any:
    from moto.ecr.models import ecr_backends

    return ecr_backends[account_id][region]


def reset_moto_state() -> None:
    """Clear every moto backend of this process (what POST /moto-api/reset does)."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def moto_ecr(ecr_app: WSGIApplication) -> Handler:
    """The innermost handler: the call as moto's ECR app answers it."""

    def forward(call: EcrCall) -> Answer:
        environ = call.environ
        environ["wsgi.input"] = io.BytesIO(call.body)
        environ["CONTENT_LENGTH"] = str(len(call.body))
        answer = Answer()

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            answer.status, answer.headers = status, list(headers)
            return lambda _chunk: None

        result = ecr_app(environ, capture)
        try:
            answer.body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return answer

    return forward
