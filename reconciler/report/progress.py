"""Progress for long runs: a bar on a terminal; on CI (no TTY) a plain line every few seconds."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        interval: float = 5.0,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._interval = interval if not self._tty else 0.1
        self._enabled = enabled and total > 0
        self._last = 0.0
        self._start = time.monotonic()
        self._lock = threading.Lock()

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self.done += count
            now = time.monotonic()
            if self._enabled and (now - self._last >= self._interval or self.done >= self.total):
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self._start
        if self._tty:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "." * (width - filled)
            end = "\n" if self.done >= self.total else ""
            self._stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s{end}")
        else:
            self._stream.write(f"{self.label}: {self.done}/{self.total} ({elapsed:.0f}s)\n")
        self._stream.flush()
