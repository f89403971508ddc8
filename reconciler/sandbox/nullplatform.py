"""A double of the nullplatform API endpoints the reconciler uses (see docs/NULLPLATFORM.md):

- `POST /token` with `{"apikey": ...}` (or `{"refresh_token": ...}`) -> `{"access_token", "refresh_token",
  "token_expires_at"}`; 401 for an unknown key. Every other call needs `Authorization: Bearer <token>`
  and answers 401 when it is missing or unknown. An expired token is answered 401 "Unauthorized" by
  default; nullplatform documents no answer of its own (docs/NULLPLATFORM.md), so `expired_status` and
  `expired_message` can make it, say, 403 "jwt expired". With `jwt_tokens`, access tokens are JWT-shaped
  with an `exp` claim (unsigned: clients only read it), as nullplatform's are.
- `GET /provider?nrn=...&specification_slug=ecr&limit=&offset=` -> `{"results": [...], "paging": {...}}`.
- `GET /provider/{id}` (`?no_merge=true`: the provider's own attributes; without it, attributes deep-merged
  from providers of the same specification at parent NRNs, as the real API does).
- `PATCH /provider/{id}` with `{"attributes": {...}}`. How the real API combines a partial `attributes` is
  not documented beyond "groups not sent are kept", so the mode is a knob (`merge_mode`): "deep" (objects
  merge key by key, the default), "group" (each top-level group sent replaces the stored group; groups not
  sent are kept), or "replace" (the whole `attributes` is replaced, dropping every group not sent: not how
  the API behaves, only tests use it to prove a lost group is noticed). The success status is a knob too
  (`patch_status`: 200 with the record, or 204 with no body).

Secrets: a provider specification marks some properties secret; reads (GET, the list, PATCH's answer)
give `null` for them while the stored value stays intact (`mask_secrets`, on by default, as the real API
does). `provider()` returns the stored record, unmasked, for tests to check.

Provider attributes are checked against their specification's keys (it forbids unknown keys): the ECR
specification `ci` {region, access_key*, secret_key*}, `setup` {region, role_arn, naming_rule, policy (a JSON
string)}, `read` {region, role_arn}; docker-server `setup` {server, path, username, password*,
use_namespace} (* secret).
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.nullplatform_specs import (
    ECR_SLUG,
    SPEC_NAMESPACE,
    attribute_problem,
    deep_merge,
    masked,
    specification_id,
)
from reconciler.sandbox.rest import RestService, json_response
from reconciler.sandbox.server import LOCALHOST

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

DEFAULT_API_KEY = "sandbox-api-key"
MERGE_MODES = ("deep", "group", "replace")


@dataclass
class NullplatformConfig:
    """Knobs of the nullplatform double."""

    token_ttl_seconds: float = 3600.0
    merge_mode: str = "deep"  # how PATCH combines attributes: "deep", "group" or "replace" (tests only)
    mask_secrets: bool = True  # secret properties read as null (stored intact), as the real API does
    patch_status: int = 200  # 200 (answers with the record) or 204 (no body)
    default_limit: int = 30
    max_limit: int = 200
    validate_attributes: bool = True  # refuse keys the ECR specification doesn't know
    latency_ms: float = 0.0
    error_rate: float = 0.0  # fraction of requests answered with `error_status` (seeded RNG)
    error_status: int = 500
    seed: int = 0
    expired_status: int = 401  # how an expired access token is answered
    expired_message: str = "Unauthorized"
    jwt_tokens: bool = False  # access tokens shaped as JWTs with an `exp` claim

    def __post_init__(self) -> None:
        if self.merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode must be one of {', '.join(MERGE_MODES)}")
        if self.patch_status not in (200, 204):
            raise ValueError("patch_status must be 200 or 204")


def _parent_nrns(nrn: str) -> list[str]:
    """'organization=1:account=2:namespace=3' -> its ancestors, outermost first."""
    parts = nrn.split(":")
    return [":".join(parts[:n]) for n in range(1, len(parts))]


class NullplatformApi(RestService):
    """The nullplatform API double; a context manager. Route keys for counters and `fail_next`:
    "POST /token", "GET /provider", "GET /provider/{provider_id}", "PATCH /provider/{provider_id}"."""

    service_name = "nullplatform"

    def __init__(
        self,
        config: NullplatformConfig | None = None,
        *,
        api_key: str = DEFAULT_API_KEY,
        host: str = LOCALHOST,
        port: int = 0,
    ) -> None:
        self._lock = threading.Lock()
        self._initial = copy.deepcopy(config or NullplatformConfig())
        self.config = copy.deepcopy(self._initial)
        self.api_keys = {api_key}
        self.api_key = api_key
        self._providers: dict[str, dict[str, Any]] = {}
        self._access_tokens: dict[str, float] = {}  # token -> expiry (time.monotonic())
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> api key
        self._sequence = 0
        super().__init__(host=host, port=port, seed=self.config.seed)
        self._apply_config()

    def routes(self) -> list[tuple[str, str, Callable[..., Response]]]:
        return [
            ("/token", "POST", self._token),
            ("/provider", "GET", self._list),
            ("/provider/<provider_id>", "GET", self._get),
            ("/provider/<provider_id>", "PATCH", self._patch),
        ]

    def environment(self) -> dict[str, str]:
        """What the reconciler reads to reach this double."""
        return {"NULLPLATFORM_HOST": self.url, "NULLPLATFORM_API_KEY": self.api_key}

    # -- knobs and state --

    def configure(self, **knobs: Any) -> None:
        """Change NullplatformConfig knobs at runtime."""
        with self._lock:
            values = {**vars(self.config), **knobs}
            unknown = sorted(set(knobs) - set(vars(self.config)))
            if unknown:
                raise ValueError(f"unknown nullplatform knob(s): {', '.join(unknown)}")
            self.config = NullplatformConfig(**values)
        self._apply_config()

    def reset_knobs(self) -> None:
        """Back to the configuration given at construction; scripted faults dropped."""
        with self._lock:
            self.config = copy.deepcopy(self._initial)
        self.faults.reset()
        self._apply_config()

    def _apply_config(self) -> None:
        self.latency_ms = self.config.latency_ms
        self.faults.error_rate = self.config.error_rate
        self.faults.error_status = self.config.error_status

    def reset(self) -> None:
        """No providers, no tokens, default knobs, no scripted faults, zeroed counters."""
        with self._lock:
            self._providers.clear()
            self._access_tokens.clear()
            self._refresh_tokens.clear()
            self._sequence = 0
        self.reset_knobs()
        self.reset_stats()

    def expire_tokens(self) -> None:
        """Expire every access token now (refresh tokens and API keys keep working)."""
        with self._lock:
            self._access_tokens = dict.fromkeys(self._access_tokens, 0.0)

    def issue_token(self) -> str:
        """A valid access token without calling /token (for tests of other endpoints)."""
        return str(self._new_tokens(self.api_key)["access_token"])

    def add_provider(
        self,
        nrn: str,
        attributes: dict[str, Any],
        provider_id: str | None = None,
        slug: str = ECR_SLUG,
    ) -> str:
        """Create a provider record; returns its id (a UUID unless given)."""
        with self._lock:
            self._sequence += 1
            provider_id = provider_id or str(uuid.uuid5(SPEC_NAMESPACE, f"{nrn}#{self._sequence}"))
            if provider_id in self._providers:
                raise ValueError(f"provider {provider_id} exists")
            now = _timestamp()
            self._providers[provider_id] = {
                "id": provider_id,
                "nrn": nrn,
                "specification_id": specification_id(slug),
                "specification_slug": slug,
                "dimensions": {},
                "attributes": copy.deepcopy(attributes),
                "created_at": now,
                "updated_at": now,
            }
        return provider_id

    def provider(self, provider_id: str) -> dict[str, Any]:
        """The stored record (a copy), own attributes only."""
        with self._lock:
            return copy.deepcopy(self._providers[provider_id])

    def providers(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._providers.values()))

    def set_attributes(self, provider_id: str, attributes: dict[str, Any]) -> None:
        """Replace a provider's attributes directly (simulating a change made in the nullplatform UI)."""
        with self._lock:
            record = self._providers[provider_id]
            record["attributes"] = copy.deepcopy(attributes)
            record["updated_at"] = _timestamp()

    # -- HTTP --

    def error(self, status: int, message: str, headers: Any = ()) -> Response:
        return json_response({"statusCode": status, "message": message}, status, headers)

    def _new_tokens(self, api_key: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        ttl = self.config.token_ttl_seconds
        if self.config.jwt_tokens:
            claims = {"sub": "sandbox", "exp": int(time.time() + ttl), "jti": access}
            access = (
                ".".join(
                    base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                    for part in ({"alg": "none", "typ": "JWT"}, claims)
                )
                + "."
                + secrets.token_urlsafe(16)
            )
        with self._lock:
            self._access_tokens[access] = time.monotonic() + ttl
            self._refresh_tokens[refresh] = api_key
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_expires_at": int((time.time() + ttl) * 1000),
        }

    def _refused(self, request: Request) -> Response | None:
        """The answer to a request without a valid token (missing, unknown, expired), or None."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self.error(401, "Unauthorized")
        with self._lock:
            expiry = self._access_tokens.get(token.strip())
        if expiry is None:
            return self.error(401, "Unauthorized")
        if time.monotonic() >= expiry:
            return self.error(self.config.expired_status, self.config.expired_message)
        return None

    def _token(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.error(400, "expected a JSON body with apikey or refresh_token")
        if "apikey" in body:
            if body["apikey"] not in self.api_keys:
                return self.error(401, "Invalid API key")
            return json_response(self._new_tokens(str(body["apikey"])))
        if "refresh_token" in body:
            with self._lock:
                api_key = self._refresh_tokens.pop(str(body["refresh_token"]), None)
            if api_key is None:
                return self.error(401, "Invalid refresh token")
            return json_response(self._new_tokens(api_key))
        return self.error(400, "expected apikey or refresh_token")

    def _list(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        nrn = request.args.get("nrn")
        if not nrn:
            return self.error(400, "nrn is required")
        slug = request.args.get("specification_slug")
        try:
            limit = int(request.args.get("limit", self.config.default_limit))
            offset = int(request.args.get("offset", 0))
        except ValueError:
            return self.error(400, "limit and offset must be integers")
        if not 1 <= limit <= self.config.max_limit or offset < 0:
            return self.error(400, f"limit must be 1..{self.config.max_limit}, offset >= 0")
        with self._lock:
            matching = [
                copy.deepcopy(p)
                for p in self._providers.values()
                if p["nrn"] == nrn and (slug is None or p["specification_slug"] == slug)
            ]
        return json_response(
            {
                "results": [self._shown(p) for p in matching[offset : offset + limit]],
                "paging": {"limit": limit, "offset": offset, "total": len(matching)},
            }
        )

    def _get(self, request: Request, provider_id: str) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        with self._lock:
            record = copy.deepcopy(self._providers.get(provider_id))
            if record is not None and request.args.get("no_merge", "false").lower() != "true":
                record["attributes"] = self._merged_attributes(record)
        if record is None:
            return self.error(404, f"provider {provider_id} not found")
        return json_response(self._shown(record))

    def _shown(self, record: dict[str, Any]) -> dict[str, Any]:
        return masked(record) if self.config.mask_secrets else record

    def _merged_attributes(self, record: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for parent in _parent_nrns(record["nrn"]):
            for other in self._providers.values():
                if other["nrn"] == parent and other["specification_id"] == record["specification_id"]:
                    merged = deep_merge(merged, other["attributes"])
        return deep_merge(merged, record["attributes"])

    def _patch(self, request: Request, provider_id: str) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("attributes"), dict):
            return self.error(400, "expected a JSON body with an attributes object")
        with self._lock:
            found = self._providers.get(provider_id)
            slug = str(found["specification_slug"]) if found is not None else ECR_SLUG
        if found is None:
            return self.error(404, f"provider {provider_id} not found")
        problem = self._attribute_problem(body["attributes"], slug)
        if problem is not None:
            return self.error(400, problem)
        with self._lock:
            record = self._providers.get(provider_id)
            if record is None:
                return self.error(404, f"provider {provider_id} not found")
            record["attributes"] = self._combined(record["attributes"], body["attributes"])
            record["updated_at"] = _timestamp()
            answer = self._shown(record)
        if self.config.patch_status == 204:
            from werkzeug.wrappers import Response

            return Response(status=204)
        return json_response(answer)

    def _combined(self, stored: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
        if self.config.merge_mode == "deep":
            return deep_merge(stored, sent)
        if self.config.merge_mode == "group":
            return {**copy.deepcopy(stored), **copy.deepcopy(sent)}
        return copy.deepcopy(sent)  # "replace": groups not sent are lost

    def _attribute_problem(self, attributes: dict[str, Any], slug: str = ECR_SLUG) -> str | None:
        if not self.config.validate_attributes:
            return None
        return attribute_problem(attributes, slug)


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
