"""`reconciler sandbox`: the ECR emulator and the nullplatform API double on 127.0.0.1 until Ctrl-C.

It seeds one registry (account 123456789012, us-east-1) with repositories in mixed states against a
sample desired policy, adds one nullplatform ECR provider holding an older policy (its CI credentials
secret: they read as null, as on the real API), prints the environment
to export (`export NAME=value` lines, for `eval`) and waits. Ctrl-C or SIGTERM stops it with exit code 0.

`Sandbox` is the same thing as a Python context manager, for the demo and end-to-end tests.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from reconciler.desired.model import PullAccess
from reconciler.errors import ReconcilerError
from reconciler.policy.render import policy_text, render_policy

if TYPE_CHECKING:
    from reconciler.sandbox.ecr.organizations import OrganizationSpec

SAMPLE_ACCOUNT = "123456789012"  # moto's default account: clients without a role land here
SAMPLE_REGION = "us-east-1"
# The same registry as the example policies/main.yaml, so `reconciler plan` works against it as shipped.
SAMPLE_NRN = "organization=1:account=2"
SAMPLE_ACCESS = PullAccess(("o-a1b2c3d4e5/*/ou-ab12-cdef3456/*",), ("111122223333", "444455556666"))
SAMPLE_OLD_ACCESS = PullAccess(accounts=("111122223333",))
SAMPLE_ROLE_ARN = f"arn:aws:iam::{SAMPLE_ACCOUNT}:role/nullplatform-ecr"


def sample_desired_policy_text(account_id: str = SAMPLE_ACCOUNT) -> str:
    return policy_text(render_policy(account_id, SAMPLE_ACCESS))


def sample_old_policy_text(account_id: str = SAMPLE_ACCOUNT) -> str:
    return policy_text(render_policy(account_id, SAMPLE_OLD_ACCESS))


def sample_provider_attributes(policy: str, region: str = SAMPLE_REGION) -> dict[str, Any]:
    """Realistic ECR provider attributes (dummy credentials; `setup.policy` is a JSON string)."""
    return {
        "ci": {"region": region, "access_key": "AKIASANDBOXEXAMPLE00", "secret_key": "sandbox-secret-key"},
        "setup": {
            "region": region,
            "role_arn": SAMPLE_ROLE_ARN,
            "naming_rule": "<namespace>/<application>",
            "policy": policy,
        },
    }


@dataclass
class Sandbox:
    """ECR emulator (seeded) + nullplatform double (+ GitHub double when asked), started together."""

    repositories: int = 200
    latency_ms: float = 0.0
    tps: dict[str, float] = field(default_factory=dict)
    ecr_port: int = 0
    nullplatform_port: int = 0
    github: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        from reconciler.sandbox.ecr import EcrEmulator, EcrEmulatorConfig
        from reconciler.sandbox.github import GithubApi
        from reconciler.sandbox.nullplatform import NullplatformApi, NullplatformConfig

        self.ecr = EcrEmulator(EcrEmulatorConfig(seed=self.seed), port=self.ecr_port)
        # As the real API: the provider's CI credentials read as null (stored intact).
        self.nullplatform = NullplatformApi(
            NullplatformConfig(mask_secrets=True), port=self.nullplatform_port
        )
        self.github_api = GithubApi() if self.github else None
        self.provider_id = ""
        self.nrn = SAMPLE_NRN
        self.summary: Any = None

    def start(self) -> Sandbox:
        from reconciler.sandbox.seed import seed_registry

        try:
            self.ecr.start()
            self.nullplatform.start()
            if self.github_api is not None:
                self.github_api.start()
        except OSError as exc:
            self.stop()
            raise ReconcilerError(f"sandbox: cannot listen: {exc}") from exc
        # Seed before the knobs apply: seeding goes straight into moto, knobs only shape HTTP calls.
        self.ecr.reset()
        self.summary = seed_registry(
            self.ecr,
            repositories=self.repositories,
            desired_policy_text=sample_desired_policy_text(),
            account_id=SAMPLE_ACCOUNT,
            region=SAMPLE_REGION,
            drifted_policy=sample_old_policy_text(),
            seed=self.seed,
        )
        # The organization the shipped policies/ names (its `organization:` check passes against it).
        self.ecr.seed_organization()
        self.ecr.configure(latency_ms=self.latency_ms, tps=dict(self.tps))
        self.provider_id = self.nullplatform.add_provider(
            self.nrn, sample_provider_attributes(sample_old_policy_text())
        )
        return self

    def stop(self) -> None:
        for server in (self.github_api, self.nullplatform, self.ecr):
            if server is not None:
                server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        env = self.ecr.environment(SAMPLE_REGION) | self.nullplatform.environment()
        if self.github_api is not None:
            env |= self.github_api.environment()
        return env


def _tps(value: str) -> tuple[str, float]:
    action, sep, number = value.partition("=")
    try:
        rate = float(number)
    except ValueError:
        rate = -1.0
    if not sep or not action or rate <= 0:
        raise argparse.ArgumentTypeError(
            f"expected Action=N with N > 0 (e.g. GetRepositoryPolicy=20), got {value!r}"
        )
    return action, rate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "show",
        nargs="?",
        choices=("org",),
        help="org: print the emulated AWS organization (OU ids and paths, accounts) and exit",
    )
    parser.add_argument(
        "--repos", type=int, default=200, metavar="N", help="repositories to seed (default 200)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="MS", help="delay of every ECR call")
    parser.add_argument(
        "--tps",
        type=_tps,
        action="extend",
        nargs="+",
        default=[],
        metavar="ACTION=N",
        help="ECR rate limits: calls/second per action ('*' for every action), e.g. GetRepositoryPolicy=20",
    )
    parser.add_argument("--port", type=int, default=0, help="ECR emulator port (default: a free one)")
    parser.add_argument(
        "--nullplatform-port", type=int, default=0, help="nullplatform API port (default: free)"
    )
    parser.add_argument("--github", action="store_true", help="also run the GitHub comments double")
    parser.add_argument("--seed", type=int, default=0, help="seed of the repository states (default 0)")
    parser.add_argument(
        "--exit-after", type=float, default=None, metavar="SECONDS", help="stop by itself (for scripts)"
    )


def organization_lines(spec: OrganizationSpec | None = None) -> list[str]:
    """The emulated organization as a tree: each OU with its id and the path a grant names it by
    (`organization_paths`), each account with its name, under its parent."""
    from reconciler.sandbox.ecr.organizations import DEFAULT_ORGANIZATION, ORG_READ_ROLE

    org = spec or DEFAULT_ORGANIZATION
    lines = [
        f"organization {org.id}, managed from account {org.management_account} "
        f"(read it through {ORG_READ_ROLE})",
        f"root {org.root}  path {org.id}/{org.root}/",
    ]

    def walk(parent: str, path: str, depth: int) -> None:
        indent = "  " * depth
        if parent == org.root:
            lines.append(f"{indent}account {org.management_account} (management)")
        for account in (a for a in org.accounts if a.parent == parent):
            state = "" if account.state == "ACTIVE" else f", {account.state}"
            lines.append(f"{indent}account {account.id} ({account.name}{state})")
        for unit in (u for u in org.units if u.parent == parent):
            here = f"{path}{unit.id}/"
            lines.append(f"{indent}{unit.id} {unit.name}  path {here}")
            walk(unit.id, here, depth + 1)

    walk(org.root, f"{org.id}/{org.root}/", 1)
    example = next((u.id for u in org.units if u.parent != org.root), org.units[0].id)
    lines.append(
        f'grant an OU and all under it: organization_paths: ["<its path>*"], or "{org.id}/*/{example}/*"'
    )
    return lines


def run(args: argparse.Namespace) -> int:
    if args.show == "org":
        print("\n".join(organization_lines()))
        return 0
    if args.repos < 0:
        raise ReconcilerError("--repos must be >= 0")
    sandbox = Sandbox(
        repositories=args.repos,
        latency_ms=args.latency_ms,
        tps=dict(args.tps),
        ecr_port=args.port,
        nullplatform_port=args.nullplatform_port,
        github=args.github,
        seed=args.seed,
    )
    stop = threading.Event()
    previous = _install_handlers(stop)
    try:
        with sandbox:
            _print_banner(sandbox)
            deadline = None if args.exit_after is None else time.monotonic() + args.exit_after
            try:
                # Short waits keep the main thread responsive to signals.
                while not stop.wait(0.2):
                    if deadline is not None and time.monotonic() >= deadline:
                        break
            except KeyboardInterrupt:
                pass
        print("# sandbox stopped", flush=True)
    finally:
        _restore_handlers(previous)
    return 0


def _print_banner(sandbox: Sandbox) -> None:
    from reconciler.sandbox.ecr.organizations import ORG_READ_ROLE

    summary = sandbox.summary
    counts = " ".join(f"{state}={count}" for state, count in summary.counts.items())
    lines = [
        f"# ECR emulator: {sandbox.ecr.url} (ECR, STS and AWS Organizations; any credentials work)",
        f"# seeded {summary.total} repositories in {summary.account_id}/{summary.region}: {counts}",
        f"# seeded organization o-a1b2c3d4e5 (managed from 210987654321; read it through {ORG_READ_ROLE})",
        f"# nullplatform API: {sandbox.nullplatform.url}",
        f"# nullplatform ECR provider {sandbox.provider_id} at {sandbox.nrn}",
        "# (its ci.access_key and ci.secret_key read as null, as on the real API; stored intact)",
        f"# stats: curl {sandbox.ecr.url}/_sandbox/stats",
        f'# create-on-push: curl -d \'{{"repository": "team-a/new"}}\' {sandbox.ecr.url}/_sandbox/push',
    ]
    lines += [f"#   {line}" for line in organization_lines()]
    if sandbox.github_api is not None:
        lines.append(f"# GitHub API: {sandbox.github_api.url}")
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sandbox.environment().items()]
    lines.append("# Ctrl-C to stop")
    print("\n".join(lines), flush=True)


_Handlers = dict[int, Any]


def _install_handlers(stop: threading.Event) -> _Handlers:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: _Handlers = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread: Ctrl-C arrives as KeyboardInterrupt instead
            break
    return previous


def _restore_handlers(previous: _Handlers) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
