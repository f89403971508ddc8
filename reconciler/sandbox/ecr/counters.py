"""Counters of the ECR calls: requests, throttled and failed answers per action, injected faults, calls in
flight (and their peak), other requests (STS, moto's own API)."""

from __future__ import annotations

import threading
from typing import Any

from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self._clear()

    def _clear(self) -> None:
        self.requests: dict[str, int] = {}
        self.throttled: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.injected: dict[str, int] = {}
        self.other_requests = 0
        self.max_in_flight = 0

    def count(self, call: EcrCall, following: Handler) -> Answer:
        """The layer, outermost: counts the call and its answer, and turns a SandboxError into its answer."""
        with self._lock:
            self._bump(self.requests, call.action)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            try:
                answer = following(call)
            except SandboxError as error:
                answer = error.answer()
                if error.code == "ThrottlingException":
                    with self._lock:
                        self._bump(self.throttled, call.action)
                    return answer
            if answer.code >= 400:
                with self._lock:
                    self._bump(self.errors, call.action)
            return answer
        finally:
            with self._lock:
                self.in_flight -= 1

    def other_request(self) -> None:
        with self._lock:
            self.other_requests += 1

    def injected_fault(self, kind: str) -> None:
        with self._lock:
            self._bump(self.injected, kind)

    @staticmethod
    def _bump(table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1

    def reset(self) -> None:
        """Zero every counter but the calls in flight (they are still running)."""
        with self._lock:
            self._clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "throttled": dict(self.throttled),
                "errors": dict(self.errors),
                "injected": dict(self.injected),
                "total_requests": sum(self.requests.values()),
                "total_throttled": sum(self.throttled.values()),
                "total_errors": sum(self.errors.values()),
                "other_requests": self.other_requests,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
            }
