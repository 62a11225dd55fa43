"""``PeriodicPurge``: the background purge the SQL and MongoDB stores share."""

from __future__ import annotations

import asyncio
import contextvars
import logging

import pytest

from tornado_sessions.stores.purging import PeriodicPurge

log = logging.getLogger("tests.purging")
REQUEST = contextvars.ContextVar("request", default="none")


@pytest.mark.gen_test
async def test_runs_every_interval_survives_a_failure_and_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    passes: list[str] = []
    third = asyncio.get_running_loop().create_future()

    async def purge() -> int:
        passes.append(REQUEST.get())
        if len(passes) == 1:
            raise RuntimeError("backend down")
        if len(passes) == 3:
            third.set_result(None)
        return 0

    purger = PeriodicPurge(purge, interval=0.01, what="table t", logger=log)
    assert not purger.running
    REQUEST.set("a request")  # the opening request's context does not follow the task
    purger.start()
    purger.start()  # running already: still one task
    task = purger.task
    assert purger.running and task is not None
    await asyncio.wait_for(third, 5)
    assert passes == ["none", "none", "none"]
    assert "deleting expired sessions from table t failed" in caplog.text
    await purger.stop()
    assert task.done() and not purger.running
    await purger.stop()  # idempotent


@pytest.mark.gen_test
async def test_stop_without_start_is_allowed() -> None:
    async def purge() -> int:
        return 0

    purger = PeriodicPurge(purge, interval=60, what="t", logger=log)
    await purger.stop()
    assert not purger.running
