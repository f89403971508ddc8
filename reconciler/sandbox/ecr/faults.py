"""Injected faults: hangs (knobs `hang_actions`, `hang_repositories`, `hang_seconds`), a seeded rate of
HTTP 500 `ServerException` per action (`error_rate`), AccessDenied for chosen repositories (`access_denied`).
"""

from __future__ import annotations

import fnmatch
import random
import threading

from reconciler.sandbox.ecr.backend import caller
from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError
from reconciler.sandbox.ecr.counters import Counters


class Dice:
    """The seeded RNG behind error_rate and throttle storms: one for both, so a seed fixes what both do."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def roll(self, probability: float) -> bool:
        with self._lock:
            return self._rng.random() < probability


class Hangs:
    """The layer: a call of a hanging action (naming a hanging repository) waits `hang_seconds`, far beyond
    a client's read timeout; a reset releases it early."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters

    def __call__(self, call: EcrCall, following: Handler) -> Answer:
        config = call.config
        if (call.action in config.hang_actions or "*" in config.hang_actions) and (
            config.hang_repositories is None
            or any(fnmatch.fnmatchcase(n, p) for n in call.repository_names for p in config.hang_repositories)
        ):
            self._counters.injected_fault("hang")
            call.ticket.wait(config.hang_seconds)
        return following(call)


class Failures:
    """The layer: server errors at the configured rate, then AccessDenied for denied repositories."""

    def __init__(self, dice: Dice, counters: Counters) -> None:
        self._dice = dice
        self._counters = counters

    def __call__(self, call: EcrCall, following: Handler) -> Answer:
        config, action = call.config, call.action
        rate = config.error_rate.get(action, config.error_rate.get("*", 0.0))
        if rate > 0 and self._dice.roll(rate):
            self._counters.injected_fault("server_error")
            raise SandboxError("ServerException", "sandbox: injected internal failure", 500)
        denied_globs = config.access_denied
        names = call.repository_names
        denied = next((n for n in names if any(fnmatch.fnmatchcase(n, p) for p in denied_globs)), None)
        if denied is not None:
            self._counters.injected_fault("access_denied")
            account, region = caller(call.environ)
            registry = call.params.get("registryId") or account
            raise SandboxError(
                "AccessDeniedException",
                f"User: arn:aws:sts::{account}:assumed-role/sandbox/session is not authorized to perform: "
                f"ecr:{action} on resource: arn:aws:ecr:{region}:{registry}:repository/{denied} "
                f"because no resource-based policy allows the ecr:{action} action",
            )
        return following(call)
