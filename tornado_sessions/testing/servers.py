"""Helpers for test harnesses that start real servers: free ports, polling, a missing server.

The store plugins' harnesses (``tornado_sessions_redis.testing``,
``tornado_sessions_postgres.testing``, ``tornado_sessions_mongo.testing``) start
their server as a subprocess on a free loopback port and wait until it answers.
What they share is here:

- :func:`free_port`: a port to give the server;
- :func:`poll`: wait for a condition that only the server's own state can tell
  (it answers, a node joined its cluster), failing with what was awaited;
- :func:`unavailable`: what to do when the server (or the browser, or a plugin)
  cannot be had at all.  Under CI (:func:`in_ci`) the test fails (a store test
  that skips in CI proves nothing); elsewhere it is skipped, saying why, so a
  contributor without the server can still run the rest.

Needs pytest (these are for test suites).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import NoReturn

import pytest

__all__ = ["POLL_INTERVAL", "free_port", "in_ci", "poll", "unavailable"]

#: Seconds between two checks of :func:`poll`.
POLL_INTERVAL = 0.02


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Call ``condition`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(POLL_INTERVAL)


def in_ci() -> bool:
    """Whether this run is CI's: ``$CI`` set to anything but empty or an explicit no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Nothing to test against: a failure under CI, a skip (with the reason) elsewhere."""
    if in_ci():
        pytest.fail(f"this test must run in CI, but {reason}", pytrace=False)
    pytest.skip(f"skipped: {reason} (under CI this is a failure)")
