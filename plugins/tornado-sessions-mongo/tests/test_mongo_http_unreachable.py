"""Through real HTTP: an application whose MongoDB is a closed port, never opened at start-up.

The first request must get a 503 quickly (server selection takes half the store
timeout) and the log must name the host and the cause, not only "timeout".
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

STORE_TIMEOUT = 2.0


@pytest.fixture
def store_server(dead_url: str) -> tuple[str, str]:
    return dead_url, "app"


@pytest.fixture
def client_kind() -> str:
    """A URL the plugin builds its client from (a client handed over keeps its own timeouts)."""
    return "pymongo"


@pytest.fixture
def session_options() -> dict[str, Any]:
    return {"store_timeout": STORE_TIMEOUT}


@pytest.mark.gen_test(timeout=30)
async def test_mongo_first_request_on_a_closed_port_gets_503_quickly_and_the_log_names_the_cause(
    browser: Any, dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    host = dead_url.split("//")[1].rstrip("/")
    caplog.set_level(logging.ERROR, logger="tornado_sessions")
    reply = await browser.get("/get")
    assert reply.code == 503
    assert reply.elapsed < STORE_TIMEOUT * 0.75
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(host in line and "Connection refused" in line for line in errors), errors
    assert (await browser.get("/health")).code == 200
