"""FailureLog: an outage reads as one cause, not a flood, even when the store flaps."""

from __future__ import annotations

import logging

import pytest

from tornado_sessions.errorlog import FailureLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tornado_sessions"]


def test_an_outage_logs_its_cause_once_then_a_line_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    failures = FailureLog(10.0, clock=clock)
    error = ConnectionError("connection refused by db:6379")
    with caplog.at_level(logging.INFO, "tornado_sessions"):
        for _ in range(100):
            failures.failed(error, status=503)
            clock.now += 0.05  # 100 requests over 5 s
        clock.now += 6
        failures.failed(error, status=503)
        clock.now += 2
        failures.succeeded()
    lines = _lines(caplog)
    assert len(lines) == 3
    assert "answering 503 until it recovers" in lines[0] and "db:6379" in lines[0]
    assert lines[1].startswith("session store still failing: 100 more requests")
    assert lines[2] == "session store recovered after 101 failed requests"
    assert caplog.records[0].exc_info is not None and caplog.records[1].exc_info is None


def test_a_store_failing_in_part_does_not_flood_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One cluster master down: requests alternate between failing and succeeding.
    clock = Clock()
    failures = FailureLog(10.0, clock=clock)
    with caplog.at_level(logging.INFO, "tornado_sessions"):
        for _ in range(500):  # 25 s of flapping
            failures.failed(ConnectionError("node 10.0.0.3:7002 down"), status=503)
            clock.now += 0.025
            failures.succeeded()
            clock.now += 0.025
    lines = _lines(caplog)
    assert 1 <= len(lines) <= 4, lines  # a first line, then one per 10 s; no recoveries
    assert not any("recovered" in line for line in lines)


def test_a_new_outage_after_a_real_recovery_is_logged_with_its_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    failures = FailureLog(10.0, clock=clock)
    with caplog.at_level(logging.INFO, "tornado_sessions"):
        failures.failed(ConnectionError("first"), status=503)
        clock.now += 5
        failures.succeeded()
        clock.now += 60
        failures.failed(ConnectionError("second"), status=503)
    lines = _lines(caplog)
    assert [line.split(";")[0] for line in lines] == [
        "session store failed",
        "session store recovered after 1 failed requests",
        "session store failed",
    ]
    assert "second" in lines[2]
