"""Progress: a redrawn bar on a terminal, a plain line every few seconds on CI."""

from __future__ import annotations

import io

import pytest

from reconciler.report import progress as progress_module
from reconciler.report.progress import Progress


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ci_gets_a_line_every_interval_and_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.0, 1.0, 2.0, 6.0, 7.0])  # the start, then one reading per advance
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    bar = Progress("writing main", 5, stream=stream, interval=5.0)
    for _ in range(5):
        bar.advance()
    lines = stream.getvalue().splitlines()
    # t=0..2 are within the interval; t=6 prints; t=7 is within it again, but the last one always prints.
    assert lines == ["writing main: 4/5 (6s)", "writing main: 5/5 (7s)"]


def test_terminal_gets_a_redrawn_bar() -> None:
    stream = FakeTty()
    bar = Progress("reading main", 2, stream=stream)
    bar.advance()
    bar.advance()
    text = stream.getvalue()
    assert text.startswith("\rreading main [")
    assert "2/2" in text and text.endswith("\n")


def test_disabled_or_empty_progress_prints_nothing() -> None:
    stream = io.StringIO()
    Progress("x", 3, stream=stream, enabled=False).advance(3)
    Progress("y", 0, stream=stream).advance()
    assert stream.getvalue() == ""


def test_a_streamed_apply_counts_as_it_goes_and_echo_does_not_tear_the_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reconciler.report.progress import StreamProgress

    clock = iter([0.0, 0.0, 6.0, 6.5, 7.0])  # the start, then one reading per advance, then the close
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    stream, out = FakeTty(), io.StringIO()
    progress = StreamProgress("applying main", stream=stream, out=out, interval=5.0)
    progress.advance("listed", 3)  # t=0: within the first 0.1 s, not drawn
    progress.advance("read")  # t=6: drawn
    progress.echo("  ~ team-01/app: update, applied")
    progress.advance("written")  # t=6.5
    progress.close()  # t=7: the last line, ended
    text = stream.getvalue()
    assert "\r\033[Kapplying main: 3 listed, 1 read, 0 written, 0 unchanged (6s)" in text
    # echo clears the drawn line first, so the change line never lands in the middle of the bar.
    assert text.count("\r\033[K") == 4 and "failed" not in text  # drawn, cleared, drawn, drawn
    assert text.endswith("applying main: 3 listed, 1 read, 1 written, 0 unchanged (7s)\n")
    assert out.getvalue() == "  ~ team-01/app: update, applied\n"
