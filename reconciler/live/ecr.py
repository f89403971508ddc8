"""The ECR side: list repositories, read, write and delete repository policies for ONE registry.

Every ECR call goes through one boto3 client whose `before-send` hook paces it (one adaptive `Pacer` per
action, shared by the worker threads: reconciler.live.ratelimit) and counts it, and whose
`response-received` hook tells the pacer how it went (throttled or not, and the latency). Both run once per
HTTP attempt, retries included, so the pacing and the counts cover exactly what ECR sees.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from reconciler.desired.model import Registry
from reconciler.live import stop
from reconciler.live.credentials import base_session
from reconciler.live.ecr_errors import RATE_CODES, EcrError, EcrWriteError, error_parts, failure
from reconciler.live.ratelimit import DEFAULT_MAX_CONCURRENCY, PerActionPacer, Ticket
from reconciler.live.roles import assume, session_name
from reconciler.live.state import LivePolicy
from reconciler.live.stop import EXPIRED_CODES

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

log = logging.getLogger(__name__)

# AWS publishes no rate quota for DescribeRepositories, GetRepositoryPolicy or SetRepositoryPolicy
# (docs/AWS.md, "Rates and quotas"): they are control-plane calls throttled per account and region, and that
# budget is shared with every other client in the account (nullplatform, CI, scanners, consoles). So the rate
# is found, per action, by the pacer (start at a safe rate, raise it while calls succeed, cut it on a
# ThrottlingException, settle just under where throttling began), and the calls in flight follow the rate
# (rate x latency, up to DEFAULT_MAX_CONCURRENCY) unless a fixed concurrency is given. DEFAULT_MAX_RPS is
# only a ceiling, high enough that the account's limit, not the ceiling, is what binds; `--max-rps` lowers
# it to leave a busy account's headroom to others.
DEFAULT_CONCURRENCY: int | None = None
DEFAULT_MAX_RPS = 1000.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 20.0
DEFAULT_MAX_ATTEMPTS = 10

# DescribeRepositories accepts at most 1000 per page (default 100): the largest page means fewest calls.
LIST_PAGE_SIZE = 1000


class EcrClient:
    """ECR access for one registry (account + region), paced and counted. Safe to share between threads.

    `write`: the client of a run that writes (apply, backfill, restore, self-heal) assumes the registry's
    `write_role_arn` for every call, reads included; any other (plan, access, the dry runs, drift) its
    `read_role_arn`. Without the role, the run's own credentials.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        write: bool = False,
        concurrency: int | None = DEFAULT_CONCURRENCY,
        max_rps: float | None = DEFAULT_MAX_RPS,
        adaptive: bool = True,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        session_factory: Callable[..., boto3.session.Session] | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.registry = registry
        # Worker threads: a fixed concurrency, or enough for the largest window the pacers may open.
        self.concurrency = concurrency or max(1, max_concurrency)
        # max_rps None: no pacing at all (tests); adaptive False: a fixed max_rps.
        self._pacers = PerActionPacer(
            max_rps, adaptive=adaptive, concurrency=concurrency, max_concurrency=self.concurrency
        )
        self._sending = threading.local()  # the ticket of this thread's request on the wire
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()

        factory = session_factory or base_session
        session = factory(region_name=registry.region)
        self.role_arn = registry.role_for(write=write)
        if self.role_arn:
            session = assume(session, self.role_arn, registry.region, session_name())
        config = Config(
            # Standard mode: retries with exponential backoff and jitter (throttles included), and no
            # client-side rate limiter. Adaptive mode would add botocore's own (CUBIC on the measured send
            # rate) next to our pacer: two limiters cutting on the same throttle, each reading the other's
            # pacing as the measured rate, ratchet each other down. Ours is per action and also sizes the
            # concurrency, so it is the only one.
            # total_max_attempts counts the first attempt; botocore's "max_attempts" key counts retries only.
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max(10, self.concurrency),
            user_agent_extra="ecr-policy-reconciler",
        )
        self._session, self._endpoint_url = session, endpoint_url
        # endpoint_url None lets boto3 apply the standard environment (AWS_ENDPOINT_URL[_ECR], config file).
        self._client: ECRClient = session.client(
            "ecr", region_name=registry.region, config=config, endpoint_url=endpoint_url
        )
        # before-send and response-received fire for every attempt, retries included, in the sending
        # thread (botocore sends synchronously); before-call fires once per API call.
        self._client.meta.events.register("before-send.ecr.*", self._before_send)
        self._client.meta.events.register("response-received.ecr.*", self._response_received)

    def _before_send(self, event_name: str, **_: Any) -> None:
        # A ticket still here is from an attempt whose response-received never fired (an exception got
        # out in between): give its place back, or the window shrinks by one for good.
        pending: tuple[str, Ticket] | None = getattr(self._sending, "ticket", None)
        if pending is not None:
            self._sending.ticket = None
            self._pacers.pacer(pending[0]).release(pending[1], throttled=False, answered=False)
        stop.check()
        action = event_name.rsplit(".", 1)[-1]
        pacer = self._pacers.pacer(action)
        ticket = pacer.acquire()
        if stop.reason() is not None:
            # Stopped while waiting for the slot (Ctrl-C, expired credentials): this call is not sent.
            pacer.release(ticket, throttled=False, answered=False)
            stop.check()
        self._sending.ticket = (action, ticket)
        with self._lock:
            self._calls[action] += 1
        # Returning None lets the request go out; a value would be taken as the response.

    def _response_received(
        self, parsed_response: dict[str, Any] | None = None, exception: Exception | None = None, **_: Any
    ) -> None:
        sending: tuple[str, Ticket] | None = getattr(self._sending, "ticket", None)
        if sending is None:
            return
        self._sending.ticket = None
        action, ticket = sending
        code = str(((parsed_response or {}).get("Error") or {}).get("Code") or "")
        if code in EXPIRED_CODES:
            stop.credentials_expired()  # the calls not yet sent stay unsent
        # A connection failure says nothing about the limit; any answer other than a throttle is a success
        # as far as the rate goes (ECR took the call), errors included.
        self._pacers.pacer(action).release(
            ticket, throttled=code in RATE_CODES, answered=exception is None and parsed_response is not None
        )

    def cloudtrail_client(self) -> Any:  # no type stubs for CloudTrail in the lock
        """A CloudTrail client with this registry's credentials, in its region (`plan --since`)."""
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 5}, user_agent_extra="ecr-policy-reconciler"
        )
        return self._session.client(
            "cloudtrail", region_name=self.registry.region, config=config, endpoint_url=self._endpoint_url
        )

    def pacing(self) -> dict[str, dict[str, float | int | None]]:
        """Per action: the rate the pacer is at, its window and latency, and throttles seen (for logs)."""
        return self._pacers.summary()

    @property
    def endpoint_url(self) -> str:
        return self._client.meta.endpoint_url

    def calls(self) -> dict[str, int]:
        """HTTP requests sent per ECR action by this client (retries included), for reports."""
        with self._lock:
            return dict(self._calls)

    def close(self) -> None:
        self._client.close()

    def _where(self, repository: str | None = None) -> str:
        place = f"registry {self.registry.name} ({self.registry.account_id}, {self.registry.region})"
        return f"repository {repository} in {place}" if repository else place

    def list_repositories(self) -> list[str]:
        """Every repository name in the registry, following nextToken with the largest page size."""
        names = [name for page in self.iter_repository_pages() for name in page]
        log.debug("listed %d repositories in %s", len(names), self._where())
        return names

    def iter_repository_pages(self) -> Iterator[list[str]]:
        """The repository names, one DescribeRepositories page (up to 1000) at a time, as they arrive: a
        streamed apply starts reading the first page while the next is being listed."""
        token: str | None = None
        while True:
            try:
                if token:
                    page = self._client.describe_repositories(
                        registryId=self.registry.account_id, maxResults=LIST_PAGE_SIZE, nextToken=token
                    )
                else:
                    page = self._client.describe_repositories(
                        registryId=self.registry.account_id, maxResults=LIST_PAGE_SIZE
                    )
            except (ClientError, BotoCoreError) as exc:
                raise failure(EcrError, exc, "DescribeRepositories", self._where()) from exc
            yield [repo["repositoryName"] for repo in page.get("repositories", [])]
            token = page.get("nextToken")
            if not token:
                return

    def read_policy(self, repository: str) -> LivePolicy:
        """One repository's policy; no policy gives text None, any failure an `error` (never raises)."""
        try:
            answer = self._client.get_repository_policy(
                registryId=self.registry.account_id, repositoryName=repository
            )
        except self._client.exceptions.RepositoryPolicyNotFoundException:
            return LivePolicy(repository=repository, text=None)
        except (ClientError, BotoCoreError) as exc:
            code, message, _ = error_parts(exc, "GetRepositoryPolicy")
            if code in EXPIRED_CODES:
                raise stop.credentials_expired() from exc  # not this repository's failure: the run's
            log.debug("GetRepositoryPolicy failed for %s: %s", repository, code)
            return LivePolicy(
                repository=repository,
                text=None,
                error=f"GetRepositoryPolicy failed for {self._where(repository)}: {code}: {message}",
                error_code=code,
            )
        return LivePolicy(repository=repository, text=answer.get("policyText"))

    def read_policies(
        self, repositories: Iterable[str], on_done: Callable[[LivePolicy], None] | None = None
    ) -> list[LivePolicy]:
        """Read many policies with at most `concurrency` in flight; results in input order.

        `on_done` is called in the calling thread as each read finishes (completion order), for progress.
        """
        names = list(repositories)
        by_name: dict[str, LivePolicy] = {}
        for result in self.iter_policies(names):
            by_name[result.repository] = result
            if on_done:
                on_done(result)
        return [by_name[name] for name in names]

    def iter_policies(self, repositories: Iterable[str]) -> Iterator[LivePolicy]:
        """Read many policies with at most `concurrency` in flight, yielding each as it finishes
        (completion order). At most twice `concurrency` reads are submitted and not yet taken, so a
        consumer that keeps only what it needs keeps memory flat however many repositories there are."""
        names = iter(repositories)
        if self.concurrency == 1:
            for name in names:
                yield self.read_policy(name)
            return
        # Daemon threads, not a ThreadPoolExecutor: when the run stops (Ctrl-C) the reads on the wire are
        # abandoned, and the process must not wait for them on its way out.
        todo: queue.Queue[str | None] = queue.Queue()
        done: queue.Queue[LivePolicy | BaseException] = queue.Queue()

        def work() -> None:
            while (name := todo.get()) is not None:
                try:
                    done.put(self.read_policy(name))  # never raises for API failures
                except BaseException as exc:  # a stop, or a bug: handed to the consumer to raise
                    done.put(exc)

        pending = 0
        for name in islice(names, 2 * self.concurrency):
            todo.put(name)
            pending += 1
        workers = [
            threading.Thread(target=work, name="ecr-read", daemon=True)
            for _ in range(min(pending, self.concurrency))
        ]
        for worker in workers:
            worker.start()
        try:
            while pending:
                result = done.get()
                pending -= 1
                if isinstance(result, BaseException):
                    raise result
                following = next(names, None)
                if following is not None:
                    todo.put(following)
                    pending += 1
                yield result
        finally:
            # Whatever is still queued is dropped; each worker ends after the read it is on.
            try:
                while True:
                    todo.get_nowait()
            except queue.Empty:
                pass
            for _ in workers:
                todo.put(None)
        log.info("%s: pacing %s", self._where(), self.pacing())

    def set_policy(self, repository: str, text: str) -> str:
        """Write a policy (never with `force`); returns the policy text as ECR answered it.

        A refusal is final: botocore does not retry an InvalidParameterException, and neither do we. Our
        own statements name no principal ARN (`"Principal": "*"` with conditions), so a refused principal
        ("Principal not found", "Invalid repository policy provided") is in a foreign statement, typically
        a deleted role or user ECR reads back as its unique id, and waiting for IAM will not bring it back.
        """
        try:
            answer = self._client.set_repository_policy(
                registryId=self.registry.account_id, repositoryName=repository, policyText=text
            )
        except (ClientError, BotoCoreError) as exc:
            raise failure(EcrWriteError, exc, "SetRepositoryPolicy", self._where(repository)) from exc
        log.debug("set the policy of %s", self._where(repository))
        return answer.get("policyText") or text

    # -- repository creation templates (reconciler.live.templates shapes the requests) --

    def _where_template(self, prefix: str) -> str:
        return f"creation template {prefix} in {self._where()}"

    def list_templates(self) -> list[dict[str, Any]]:
        """Every repository creation template of the registry, following nextToken with the largest page
        (DescribeRepositoryCreationTemplates: maxResults 1-1000, docs/AWS.md "Repository creation
        templates")."""
        templates: list[dict[str, Any]] = []
        token: str | None = None
        try:
            while True:
                extra = {"nextToken": token} if token else {}
                page = self._client.describe_repository_creation_templates(maxResults=LIST_PAGE_SIZE, **extra)
                templates.extend(dict(t) for t in page.get("repositoryCreationTemplates", []))
                token = page.get("nextToken")
                if not token:
                    break
        except (ClientError, BotoCoreError) as exc:
            raise failure(EcrError, exc, "DescribeRepositoryCreationTemplates", self._where()) from exc
        return templates

    def read_template(self, prefix: str) -> dict[str, Any] | None:
        """One template as ECR answers it, or None when there is no template with this prefix."""
        try:
            page = self._client.describe_repository_creation_templates(prefixes=[prefix])
        except (ClientError, BotoCoreError) as exc:
            where = self._where_template(prefix)
            raise failure(EcrError, exc, "DescribeRepositoryCreationTemplates", where) from exc
        found = [dict(t) for t in page.get("repositoryCreationTemplates", []) if t.get("prefix") == prefix]
        return found[0] if found else None

    def create_template(self, request: dict[str, Any]) -> None:
        """CreateRepositoryCreationTemplate; `request` as templates.create_request shapes it."""
        try:
            self._client.create_repository_creation_template(**request)
        except (ClientError, BotoCoreError) as exc:
            where = self._where_template(str(request.get("prefix")))
            raise failure(EcrWriteError, exc, "CreateRepositoryCreationTemplate", where) from exc

    def update_template(self, request: dict[str, Any]) -> None:
        """UpdateRepositoryCreationTemplate; `request` carries every field (templates.update_request)."""
        try:
            self._client.update_repository_creation_template(**request)
        except (ClientError, BotoCoreError) as exc:
            where = self._where_template(str(request.get("prefix")))
            raise failure(EcrWriteError, exc, "UpdateRepositoryCreationTemplate", where) from exc

    def delete_template(self, prefix: str) -> None:
        """DeleteRepositoryCreationTemplate (restore of a template an apply created)."""
        try:
            self._client.delete_repository_creation_template(prefix=prefix)
        except (ClientError, BotoCoreError) as exc:
            raise failure(
                EcrWriteError, exc, "DeleteRepositoryCreationTemplate", self._where_template(prefix)
            ) from exc

    def delete_policy(self, repository: str) -> None:
        """Remove a repository's policy; a policy that is already gone counts as success."""
        try:
            self._client.delete_repository_policy(
                registryId=self.registry.account_id, repositoryName=repository
            )
        except self._client.exceptions.RepositoryPolicyNotFoundException:
            log.debug("%s has no policy to delete", self._where(repository))
        except (ClientError, BotoCoreError) as exc:
            raise failure(EcrWriteError, exc, "DeleteRepositoryPolicy", self._where(repository)) from exc
