"""Per-request latency (knobs `latency_ms`, `action_latency_ms`), and the end of requests a reset cut short
while they waited (see `Releaser`)."""

from __future__ import annotations

from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError


def latency(call: EcrCall, following: Handler) -> Answer:
    """The layer: waits the call's latency first (a reset ends the wait)."""
    config = call.config
    delay = config.action_latency_ms.get(call.action, config.latency_ms)
    if delay > 0:
        call.ticket.wait(delay / 1000.0)
    return following(call)


def cut_short(call: EcrCall, following: Handler) -> Answer:
    """The layer after every wait: a call released by a reset answers ServerException and changes nothing
    (its client may be gone, and the state it would write to is the next test's)."""
    if call.ticket.released:
        raise SandboxError("ServerException", "sandbox: request cut short by a reset", 500)
    return following(call)
