"""`EcrEmulator`: moto's server behind the ECR middleware, served on 127.0.0.1, with boto3 clients for it and
direct access to moto's state."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.ecr.backend import ecr_backend, reset_moto_state
from reconciler.sandbox.ecr.call import ACCOUNT_HEADER, BYPASS_HEADER
from reconciler.sandbox.ecr.config import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, EcrEmulatorConfig
from reconciler.sandbox.ecr.deleted import unique_id
from reconciler.sandbox.ecr.middleware import EcrMiddleware
from reconciler.sandbox.ecr.organizations import DEFAULT_ORGANIZATION, OrganizationSpec, seed_organization
from reconciler.sandbox.ecr.sessions import OIDC_PATH, REQUEST_TOKEN
from reconciler.sandbox.ecr.sts import AssumedRole
from reconciler.sandbox.ecr.templates import DEFAULTS as TEMPLATE_DEFAULTS
from reconciler.sandbox.ecr.templates import store as template_store
from reconciler.sandbox.server import LOCALHOST, BackgroundServer, Served

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_sts import STSClient

DUMMY_ACCESS_KEY = "testing"
DUMMY_SECRET_KEY = "testing"  # noqa: S105 (moto accepts any credentials)


class EcrEmulator(Served):
    """moto's server plus the ECR middleware, on 127.0.0.1 in a background thread; a context manager.

    Use `client()` for boto3 clients, `environment()` for the variables a subprocess needs, the knob
    methods (`configure`, `throttle_storm`, `reset_knobs`) to shape behaviour, `stats()` for counters, and
    the direct methods (`create_repository`, `put_policy`, `stored_policy`, `repository_names`) to reach
    into moto's state without going through HTTP (no latency, no throttling, not counted).
    """

    def __init__(
        self, config: EcrEmulatorConfig | None = None, *, host: str = LOCALHOST, port: int = 0
    ) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self._middleware = EcrMiddleware(
            DomainDispatcherApplication(create_backend_app),
            config or EcrEmulatorConfig(),
            create_backend_app("ecr"),
        )
        self._server = BackgroundServer(self._middleware, host=host, port=port, name="ecr-emulator")

    def stop(self) -> None:
        self._middleware.release_hangs()
        super().stop()

    # -- knobs, counters, state --

    @property
    def config(self) -> EcrEmulatorConfig:
        """The knobs in force (a copy: change them with configure())."""
        return self._middleware.config.copy()

    def configure(self, **knobs: Any) -> None:
        """Change knobs (EcrEmulatorConfig field names) at runtime; the others keep their values."""
        self._middleware.configure(**knobs)

    def throttle_storm(
        self,
        fraction: float,
        seconds: float | None = None,
        actions: Iterable[str] | None = None,
        *,
        calls: int | None = None,
    ) -> None:
        """Throttle `fraction` of calls (to `actions`, default all), whatever the TPS: for `seconds`, or for
        the next `calls` such calls (by count: a test's storm then does not depend on the machine's speed)."""
        if (seconds is None) == (calls is None):
            raise ValueError("a storm lasts either `seconds` or `calls`")
        self.configure(
            throttle_storm_fraction=fraction,
            throttle_storm_until=time.monotonic() + (seconds or 0.0),
            throttle_storm_calls=calls,
            throttle_storm_actions=None if actions is None else set(actions),
        )

    def delete_principal(self, arn: str) -> str:
        """IAM deletes this role or user: policies naming it read back with its unique id from now on, and
        SetRepositoryPolicy refuses to store either. Returns the unique id (knob `deleted_principals`)."""
        self.configure(deleted_principals=self._middleware.config.deleted_principals | {arn})
        return unique_id(arn)

    def reset_knobs(self) -> None:
        """Back to the configuration the emulator was created with (and release hanging requests)."""
        self._middleware.reset_knobs()

    def reset_stats(self) -> None:
        self._middleware.reset_stats()

    def reset(self) -> None:
        """Clear moto's state (every account and region), the counters and the CloudTrail event history;
        knobs stay (see reset_knobs)."""
        self._middleware.release_hangs()
        reset_moto_state()
        self._middleware.trail.reset()
        self._middleware.reset_stats()
        self._middleware.sessions.reset()

    def age_events(self, seconds: float) -> int:
        """Move the CloudTrail events recorded so far `seconds` into the past (a registry seeded long
        before a snapshot); returns how many there are."""
        return self._middleware.trail.age(seconds)

    def delete_repository(
        self, name: str, *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION
    ) -> None:
        """Delete a repository straight in moto (recorded as DeleteRepository)."""
        ecr_backend(account_id, region).repositories.pop(name)
        self._middleware.trail.record("DeleteRepository", account_id, region, name)

    def stats(self) -> dict[str, Any]:
        """Counters: requests/throttled/errors per action, injected faults, in-flight peak, totals."""
        return self._middleware.stats()

    def assumed_roles(self) -> list[AssumedRole]:
        """Every STS AssumeRole* request since the last reset (of the counters or of the state), in order:
        the role ARN and session name each asked for. Also `GET /_sandbox/assumed-roles`."""
        return self._middleware.assumed_roles.snapshot()

    # -- clients --

    def environment(self, region: str = DEFAULT_REGION) -> dict[str, str]:
        """Environment variables pointing AWS SDKs and the reconciler at this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
            "AWS_DEFAULT_REGION": region,
        }

    def actions_environment(self, role_arn: str) -> dict[str, str]:
        """What a GitHub Actions job with `id-token: write` has (the OIDC token request URL and token,
        here this emulator's endpoint), plus AWS_ROLE_ARN: the reconciler then gets its credentials by
        AssumeRoleWithWebIdentity (see sessions.py)."""
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}{OIDC_PATH}?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
            "AWS_ROLE_ARN": role_arn,
        }

    def session_environment(self, role_arn: str, region: str = DEFAULT_REGION) -> dict[str, str]:
        """Session credentials of `role_arn` as configure-aws-credentials exports them (no expiry time):
        they expire as the knobs `session_lifetime_seconds` / `session_calls` say."""
        credentials = self.sts_client(region).assume_role(RoleArn=role_arn, RoleSessionName="sandbox-job")[
            "Credentials"
        ]
        return {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }

    def client(
        self,
        region: str = DEFAULT_REGION,
        *,
        account_id: str | None = None,
        bypass: bool = False,
        max_attempts: int | None = None,
        **config: Any,
    ) -> ECRClient:
        """A boto3 ECR client for this emulator with dummy credentials. `account_id` picks the registry
        account (moto's header); `bypass` skips knobs and counters; `max_attempts` sets botocore's standard
        retry mode with that many attempts in all (1: no retries); other keyword arguments go to
        botocore.config.Config."""
        import boto3
        from botocore.config import Config

        if max_attempts is not None:
            config.setdefault("retries", {"mode": "standard", "total_max_attempts": max_attempts})
        client = boto3.client(
            "ecr",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=DUMMY_ACCESS_KEY,
            aws_secret_access_key=DUMMY_SECRET_KEY,
            config=Config(**config),
        )
        headers = {}
        if account_id is not None:
            headers[ACCOUNT_HEADER] = account_id
        if bypass:
            headers[BYPASS_HEADER] = "1"
        if headers:
            client.meta.events.register("before-sign.ecr.*", _add_headers(headers))
        return client

    def sts_client(self, region: str = DEFAULT_REGION) -> STSClient:
        import boto3

        return boto3.client(
            "sts",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=DUMMY_ACCESS_KEY,
            aws_secret_access_key=DUMMY_SECRET_KEY,
        )

    def assumed_client(self, role_arn: str, region: str = DEFAULT_REGION, **config: Any) -> ECRClient:
        """An ECR client with credentials from STS AssumeRole on the emulator: it acts in the role's
        account (how the reconciler reaches a registry through its role_arn)."""
        import boto3
        from botocore.config import Config

        credentials = self.sts_client(region).assume_role(RoleArn=role_arn, RoleSessionName="sandbox")[
            "Credentials"
        ]
        return boto3.client(
            "ecr",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            config=Config(**config),
        )

    # -- direct state access (in-process, bypasses HTTP) --

    def create_repository(
        self,
        name: str,
        *,
        policy_text: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
    ) -> None:
        """Create a repository straight in moto (fast: seeding 10,000 takes well under a second)."""
        backend = ecr_backend(account_id, region)
        repository = backend.create_repository(name, None, None, None, None, [])
        self._middleware.trail.record("CreateRepository", account_id, region, name)
        if policy_text is not None:
            repository.policy = policy_text
            self._middleware.trail.record("SetRepositoryPolicy", account_id, region, name)

    def put_policy(
        self,
        name: str,
        policy_text: str | None,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
    ) -> None:
        """Set (None: delete) a repository's policy text as stored, without validation (recorded in the
        CloudTrail event history as the call that would do it)."""
        ecr_backend(account_id, region)._get_repository(name).policy = policy_text
        action = "DeleteRepositoryPolicy" if policy_text is None else "SetRepositoryPolicy"
        self._middleware.trail.record(action, account_id, region, name)

    def stored_policy(
        self, name: str, *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION
    ) -> str | None:
        """The policy text as stored (as last set, before read-back rewriting); None when there is none."""
        policy = ecr_backend(account_id, region)._get_repository(name).policy
        return None if policy is None else str(policy)

    def seed_organization(self, spec: OrganizationSpec = DEFAULT_ORGANIZATION) -> None:
        """An AWS Organization with nested OUs and member accounts (default: the one the shipped policies/
        names), managed from `spec.management_account` (see organizations.py)."""
        seed_organization(spec)

    def push_image(
        self, name: str, *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION
    ) -> str | None:
        """Sandbox-only create-on-push: a push to a missing repository creates it through the matching
        creation template applied for CREATE_ON_PUSH (longest prefix, else ROOT), with the template's
        policy; returns that template's prefix (None: the repository existed). No template: SandboxError
        RepositoryNotFoundException, as ECR refuses the push. Also `POST /_sandbox/push`."""
        return self._middleware.push(account_id, region, name)

    def put_template(
        self, template: dict[str, Any], *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION
    ) -> None:
        """Store a creation template as given (ECR's JSON shape, `prefix` included), without validation;
        the fields it leaves out hold ECR's defaults, as after a create."""
        templates = template_store(account_id, region)
        now = time.time()
        defaults = copy.deepcopy(TEMPLATE_DEFAULTS) | {"createdAt": now, "updatedAt": now}
        templates[template["prefix"]] = defaults | copy.deepcopy(template)

    def stored_templates(
        self, *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION
    ) -> dict[str, dict[str, Any]]:
        """The creation templates as stored (before read-back rewriting), by prefix: a deep copy."""
        return copy.deepcopy(template_store(account_id, region))

    def repository_names(
        self, *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION
    ) -> list[str]:
        return [str(name) for name in ecr_backend(account_id, region).repositories]


def _add_headers(headers: dict[str, str]) -> Callable[..., None]:
    def handler(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    return handler


def iter_pages(client: ECRClient, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
    """DescribeRepositories page by page (a tiny helper for tests and benchmarks)."""
    token: str | None = None
    while True:
        arguments = dict(kwargs, **({"nextToken": token} if token else {}))
        response = client.describe_repositories(**arguments)
        yield [dict(r) for r in response["repositories"]]
        token = response.get("nextToken")
        if not token:
            return
