"""Reports, the progress bar, time and file helpers."""

from __future__ import annotations

import io
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from attest.errors import ConfigError
from attest.fsutil import atomic_write, write_new
from attest.logs import set_level
from attest.model import BaselineRef, DeviceIdentity, Finding, FindingKind, Result, Severity, Verdict
from attest.progress import LogProgress, TerminalProgress, format_rate
from attest.report import render_text, result_json
from attest.timeutil import format_time, parse_time


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    """A clock the test moves: the progress displays' timing rules, without sleeping (no race with a loaded machine)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_bar_only_on_a_terminal_and_only_after_a_delay() -> None:
    assert isinstance(TerminalProgress.for_stream(io.StringIO()), LogProgress)
    tty, clock = _Tty(), _Clock()
    bar = TerminalProgress(tty, delay=0.7, clock=clock)
    bar.start(100 << 20, "hashing")
    clock.now += 0.69
    bar.advance(1 << 20)
    assert tty.getvalue() == ""  # too early to draw
    clock.now += 0.02
    bar.advance(49 << 20)
    assert "hashing" in tty.getvalue() and "50%" in tty.getvalue()
    drawn = tty.getvalue()
    clock.now += 0.05
    bar.advance(1 << 20)
    assert tty.getvalue() == drawn  # at most 10 redraws a second
    bar.finish()
    assert tty.getvalue().endswith("\r\x1b[2K")


def test_rates_read_well_at_serial_speeds() -> None:
    assert format_rate(11_520) == "11.2 KiB/s"  # a 115,200-baud line, not "0.0 MiB/s"
    assert format_rate(870) == "870 B/s"
    assert format_rate(2.5 * (1 << 20)) == "2.5 MiB/s"
    tty, clock = _Tty(), _Clock()
    bar = TerminalProgress(tty, delay=0.0, clock=clock)
    bar.start(2 << 20, "flash")
    clock.now += 91.0  # 1 MiB of a 2 MiB flash in 91 s: a 115,200-baud line
    bar.advance(1 << 20)
    assert "50%" in tty.getvalue() and "1.0 MiB of 2.0 MiB" in tty.getvalue()
    assert "11.3 KiB/s" in tty.getvalue()  # the true rate


def test_off_a_terminal_progress_is_a_periodic_log_event(capsys: pytest.CaptureFixture[str]) -> None:
    set_level("info")
    clock = _Clock()
    try:
        progress = LogProgress(every=5.0, clock=clock)
        progress.start(1000, "fc/flash")
        clock.now += 4.9
        progress.advance(100)  # not yet due
        clock.now += 0.2
        progress.advance(400)  # due: 5.1 s after the start
        clock.now += 1.0
        progress.advance(100)  # 1 s after the last event: not due
        clock.now += 5.0
        progress.advance(600)  # due again; a total that was too low never shows past 100 %
        progress.finish()
    finally:
        set_level("warning")
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [e["event"] for e in events] == ["progress", "progress"]
    assert events[0]["what"] == "fc/flash" and events[0]["bytes"] == 500 and events[0]["percent"] == 50.0
    assert events[0]["seconds"] == 5.1 and events[0]["bytes_per_second"] == 98
    assert events[1]["bytes"] == 1200 and events[1]["percent"] == 100.0


def test_progress_events_cost_nothing_below_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    set_level("warning")
    progress = LogProgress(every=0.0)
    progress.start(None, "x")
    progress.advance(1)
    assert capsys.readouterr().err == ""


def _result(verdict: Verdict, findings: tuple[Finding, ...] = (), message: str | None = None) -> Result:
    dev = DeviceIdentity("directory", "/srv/rootfs", "rootfs")
    return Result(verdict, dev, BaselineRef("b", 3, "ab" * 32), findings, message)


def test_json_has_message_only_for_error_and_untrusted() -> None:
    assert "message" not in result_json(_result(Verdict.PASS))
    assert "message" not in result_json(_result(Verdict.DRIFT))
    assert result_json(_result(Verdict.ERROR, message="timeout"))["message"] == "timeout"
    obj = result_json(_result(Verdict.UNTRUSTED, message="expired"), log_index=7)
    assert obj["message"] == "expired" and obj["log_index"] == 7
    assert set(obj) >= {"verdict", "device", "baseline", "findings", "log_index"}
    json.dumps(obj)  # serialisable as it is


def test_text_table_truncates_long_values_and_rows() -> None:
    findings = tuple(
        Finding(
            f"usr/lib/{'x' * 60}{i}",
            FindingKind.MODIFIED,
            Severity.CRITICAL,
            "sha256:" + "a" * 64,
            "sha256:" + "b" * 64,
        )
        for i in range(60)
    )
    out = io.StringIO()
    render_text(_result(Verdict.DRIFT, findings), out, limit=5)
    lines = out.getvalue().splitlines()
    assert lines[0] == "DRIFT: rootfs against b v3"
    assert len(lines) == 1 + 1 + 5 + 1
    assert "… and 55 more (use --json for all)" in lines[-1]
    assert all(len(line) < 160 for line in lines)


def test_times_round_trip_and_need_a_zone() -> None:
    t = parse_time("2027-01-31T00:00:00Z")
    assert t == datetime(2027, 1, 31, tzinfo=UTC)
    assert format_time(t) == "2027-01-31T00:00:00Z"
    assert parse_time("2027-01-31T01:00:00+01:00") == t
    with pytest.raises(ValueError, match="time zone"):
        parse_time("2027-01-31T00:00:00")


def test_write_new_and_atomic_write(tmp_path: Path) -> None:
    p = tmp_path / "secret"
    old = os.umask(0)
    try:
        write_new(p, b"s", 0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match="already exists"):
        write_new(p, b"t", 0o600)
    atomic_write(p, b"new")
    assert p.read_bytes() == b"new"
    assert [x.name for x in tmp_path.iterdir()] == ["secret"]  # no temporary file left behind
    with pytest.raises(ConfigError):
        atomic_write(tmp_path / "missing-dir" / "f", b"x")
