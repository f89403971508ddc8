"""An ECR emulator: moto's server behind a WSGI middleware that behaves like the real service where moto
doesn't (docs/AWS.md, "moto versus real ECR").

moto does the bookkeeping (repositories, policies, STS credentials, accounts); the middleware
(`middleware.py`, where the layers are composed) adds, for the ECR JSON protocol (POST with
`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Action>`), one layer a module:

- `counters.py`: counters, read (and knobs changed at runtime) through `/_sandbox/...` endpoints;
- `sts.py` (on every request that is not ECR's or Organizations'): a record of each STS AssumeRole* (role
  ARN, session name), `EcrEmulator.assumed_roles()` or `GET /_sandbox/assumed-roles`;
- `latency.py`: per-request latency;
- `faults.py`: hangs, a seeded rate of HTTP 500 per action, AccessDenied for chosen repositories;
- `throttling.py`: per-action token buckets (HTTP 400 `ThrottlingException`, which botocore retries) and a
  throttle storm;
- `paging.py`: DescribeRepositories paging: `maxResults` 1..1000 (default 100), opaque `nextToken`, refusal
  of `maxResults`/`nextToken` together with `repositoryNames`. Order: creation order (stable);
- `validation.py`: validation moto skips: 10,240-character limit, `Resource` elements, unknown principals
  (with optional IAM eventual consistency), deleted principals (`deleted.py`: read back as unique ids);
- `readback.py`: policy read-back as real ECR writes it (Jackson pretty printing, account ids as root ARNs,
  one-item lists collapsed, keys reordered), see `ecr_policy_text`;
- `fastpath.py`: the hot policy calls answered from moto's backend directly;
- `templates.py`: repository creation templates (moto has none of the four calls), with ECR's validation
  and errors, and a sandbox-only create-on-push (`EcrEmulator.push_image`, `POST /_sandbox/push`) that
  creates a repository through the matching template.

AWS Organizations calls (`X-Amz-Target: AWSOrganizationsV20161128.<Action>`) are counted with the ECR
calls and pass `organizations.py` (who may ask, injected faults) on their way to moto's organizations;
`EcrEmulator.seed_organization()` creates an organization with fixed ids.

`call.py` holds what the layers share (the call, its answer, how layers chain), `backend.py` what they
need of moto, `config.py` the knobs, `emulator.py` the `EcrEmulator` to start and use.

Accounts: moto's state is process-global and keyed by account and region, so one emulator serves any number
of registries. moto picks the account of a request from, in order: the MOTO_ACCOUNT_ID environment
variable (don't set it: it pins everything to one account), an `x-moto-account-id` header (what
`EcrEmulator.client(account_id=...)` sends), the access key (credentials from an STS AssumeRole against
the emulator belong to the role's account: this is how the reconciler reaches other registries through
`role_arn`), else 123456789012. A consequence: two emulators in one process share their repositories.

Requests with the header `x-sandbox-bypass: 1` skip every knob and counter (for inspecting state).

Speed (it matters to benchmarks of 10,000 repositories): ECR calls go to moto's ECR Flask app directly,
not through moto's dispatcher; DescribeRepositories pages and Get/SetRepositoryPolicy call moto's backend
methods directly instead of moto's HTTP layer (same state, validation and errors; tests compare both).
A call then costs ~2 ms in all, most of it botocore's own client-side work.
"""

from reconciler.sandbox.ecr.config import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, EcrEmulatorConfig
from reconciler.sandbox.ecr.emulator import EcrEmulator, iter_pages

__all__ = ["DEFAULT_ACCOUNT_ID", "DEFAULT_REGION", "EcrEmulator", "EcrEmulatorConfig", "iter_pages"]
