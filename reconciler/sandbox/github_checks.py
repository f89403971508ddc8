"""What the GitHub double accepts in a request body, and the errors GitHub answers otherwise (a missing
field, a wrong type, a body over 65,536 characters: 422 "Validation Failed")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.sandbox.github_pages import DOCS, ISSUES_DOCS
from reconciler.sandbox.rest import json_response

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

MAX_COMMENT_LENGTH = 65_536


def _error(status: int, message: str) -> Response:
    return json_response({"message": message, "documentation_url": DOCS}, status)


def comment_body(request: Request) -> str | Response:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("body"), str):
        return _error(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
    body = str(payload["body"])
    if len(body) > MAX_COMMENT_LENGTH:
        return json_response(
            {
                "message": "Validation Failed",
                "errors": [
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": f"body is too long (maximum is {MAX_COMMENT_LENGTH} characters)",
                    }
                ],
                "documentation_url": DOCS,
            },
            422,
        )
    return body


def issue_fields(request: Request, *, creating: bool) -> dict[str, Any] | Response:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return _error(400, "Problems parsing JSON")
    if creating and not isinstance(payload.get("title"), str | int):
        return _error(422, 'Invalid request.\n\n"title" wasn\'t supplied.')
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        return _error(422, "Validation Failed")
    if isinstance(body, str) and len(body) > MAX_COMMENT_LENGTH:
        return json_response(
            {
                "message": "Validation Failed",
                "errors": [
                    {
                        "resource": "Issue",
                        "code": "custom",
                        "field": "body",
                        "message": f"body is too long (maximum is {MAX_COMMENT_LENGTH} characters)",
                    }
                ],
                "documentation_url": ISSUES_DOCS,
            },
            422,
        )
    state = payload.get("state")
    if state is not None and state not in ("open", "closed"):
        return _error(422, "Validation Failed")
    labels = payload.get("labels")
    if labels is not None and not (
        isinstance(labels, list) and all(isinstance(label, str) for label in labels)
    ):
        return _error(422, "Validation Failed")
    return payload
