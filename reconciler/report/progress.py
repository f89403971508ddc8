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


class StreamProgress:
    """Progress of a streamed apply, where the total is not known up front (the listing is still going):
    counters (listed, read, written, unchanged, ...) shown as they move. A line redrawn in place on a
    terminal; on CI a plain line every few seconds. `echo` prints a line on `out` without tearing the bar.
    """

    FIELDS = ("listed", "read", "written", "unchanged", "to write", "gone", "in line", "stale", "failed")
    ALWAYS = frozenset(FIELDS[:4])  # the others only once they happen

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        out: TextIO | None = None,
        interval: float = 5.0,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.counts = dict.fromkeys(self.FIELDS, 0)
        self._stream = stream or sys.stderr
        self._out = out or sys.stdout
        self._tty = self._stream.isatty()
        self._interval = interval if not self._tty else 0.1
        self._enabled = enabled
        self._drawn = False
        self._last = 0.0
        self._start = time.monotonic()
        self._lock = threading.Lock()

    def advance(self, name: str, count: int = 1) -> None:
        with self._lock:
            self.counts[name] += count
            now = time.monotonic()
            if self._enabled and now - self._last >= self._interval:
                self._last = now
                self._draw(now)

    def echo(self, line: str) -> None:
        with self._lock:
            if self._drawn and self._tty:
                self._stream.write("\r\033[K")
                self._stream.flush()
                self._drawn = False
            self._out.write(line + "\n")
            self._out.flush()

    def close(self) -> None:
        with self._lock:
            if self._enabled:
                self._draw(time.monotonic(), final=True)

    def text(self, elapsed: float) -> str:
        counts = ", ".join(
            f"{value} {name}" for name, value in self.counts.items() if value or name in self.ALWAYS
        )
        return f"{self.label}: {counts} ({elapsed:.0f}s)"

    def _draw(self, now: float, final: bool = False) -> None:
        text = self.text(now - self._start)
        if self._tty:
            self._stream.write(f"\r\033[K{text}" + ("\n" if final else ""))
            self._drawn = not final
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
