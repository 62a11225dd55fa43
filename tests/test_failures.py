"""What the client sees when saving goes wrong, and how saving fits Tornado's response cycle.

A store failure or timeout is a 503 and never a 200 whose write was lost; a value
that cannot be serialized is a 500 naming the key; neither sends a cookie for a
record that was not written.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import tornado.web

from tests.conftest import SECRET, Client, CountingStore
from tests.handlers import HANDLERS
from tornado_sessions import Record, SessionOptions, Store, open_sessions
from tornado_sessions.errors import StoreTimeoutError


@pytest.mark.gen_test
async def test_failed_save_is_a_503_without_cookie(
    client: Client, store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.fail.add("save")
    response = await client.fetch("/set?a=1")
    assert response.code == 503
    assert response.raw_cookies == []
    assert "simulated save failure" in caplog.text  # the store's own error is chained
    assert await store.count() == 0


@pytest.mark.gen_test
async def test_failed_delta_write_is_a_503(client: Client, store: CountingStore) -> None:
    await client.fetch("/set?a=1")
    store.fail.add("save_changes")
    response = await client.fetch("/set?a=2")
    assert response.code == 503 and response.raw_cookies == []
    store.fail.clear()
    assert (await client.fetch("/get")).json()["data"] == {"a": "1"}


@pytest.mark.gen_test
async def test_failed_load_is_a_503(client: Client, store: CountingStore) -> None:
    await client.fetch("/set?a=1")
    store.fail.add("load")
    response = await client.fetch("/get")
    assert response.code == 503 and response.raw_cookies == []


@pytest.mark.gen_test
async def test_failed_touch_is_a_503(client: Client, store: CountingStore) -> None:
    await client.fetch("/set?a=1")
    store.fail.add("touch")
    assert (await client.fetch("/touch")).code == 503


@pytest.mark.gen_test
async def test_failed_regenerate_sends_no_cookie(client: Client, store: CountingStore) -> None:
    await client.fetch("/set?a=1")
    old = client.value
    store.fail.add("destroy")
    response = await client.fetch("/regenerate?user=mallory")
    assert response.code == 503 and response.raw_cookies == []
    store.fail.clear()
    assert (await client.fetch("/get", cookie=old)).json()["data"] == {"a": "1"}


class HangingStore(Store):
    """Never answers: every call waits on an event nobody sets."""

    def __init__(self) -> None:
        self.never = asyncio.Event()

    async def load(self, key: str) -> Record | None:
        await self.never.wait()
        return None

    async def save(self, key: str, record: Record) -> None:
        await self.never.wait()

    async def destroy(self, key: str) -> None:
        await self.never.wait()


@pytest.fixture
def hanging_app() -> tornado.web.Application:
    options = SessionOptions(secret=SECRET, store=HangingStore(), store_timeout=0.2)
    return tornado.web.Application(HANDLERS, sessions=options)


@pytest.mark.gen_test
async def test_store_slower_than_store_timeout_is_a_503(
    http_server: Any,
    base_url: str,
    app: tornado.web.Application,
    hanging_app: tornado.web.Application,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app.settings["sessions"] = hanging_app.settings["sessions"]
    client = Client(app, base_url)
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.fetch("/set?a=1")
    assert response.code == 503
    assert loop.time() - started < 2.0
    assert "took longer than 0.2s" in caplog.text


class SelfTimingStore(HangingStore):
    """Bounds its own calls (``enforces_timeout``) and gives up with ``TimeoutError``."""

    enforces_timeout = True

    async def load(self, key: str) -> Record | None:
        raise TimeoutError


@pytest.mark.gen_test
async def test_a_store_that_bounds_its_own_calls_names_store_timeout_when_it_gives_up() -> None:
    options = SessionOptions(secret=SECRET, store=SelfTimingStore(), store_timeout=0.3)
    app = tornado.web.Application(HANDLERS, sessions=options)
    runtime = await open_sessions(app, probe=False)
    with pytest.raises(StoreTimeoutError, match=r"took longer than 0\.3s \(store_timeout\)"):
        await runtime.call("load", runtime.store.load("key"), None)


@pytest.mark.parametrize("value", ["object", "itself"])
@pytest.mark.gen_test
async def test_unserializable_value_is_a_500_naming_the_key(
    client: Client, store: CountingStore, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    response = await client.fetch(f"/unserializable?value={value}")
    assert response.code == 500
    assert b"should not be sent" not in response.body
    assert response.raw_cookies == []
    assert "session key 'bad'" in caplog.text
    assert await store.count() == 0


@pytest.mark.gen_test
async def test_handler_exception_saves_nothing(client: Client, store: CountingStore) -> None:
    response = await client.fetch("/fail")
    assert response.code == 500
    assert response.raw_cookies == [] and await store.count() == 0


@pytest.mark.gen_test
async def test_write_is_done_before_a_redirect_is_sent(
    client: Client, store: CountingStore
) -> None:
    response = await client.fetch("/redirect")
    assert response.code == 302 and response.cookie is not None
    # The very next request sees the data: the write finished before the 302 went out.
    follow = await client.fetch(response.headers["Location"])
    assert follow.json()["data"] == {"flash": "saved before redirect"}


class SlowStore(CountingStore):
    """Saves complete only when the test allows it."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.saving = asyncio.Event()

    async def save(self, key: str, record: Record) -> None:
        self.saving.set()
        await self.gate.wait()
        await super().save(key, record)


@pytest.mark.gen_test
@pytest.mark.store_class.with_args(SlowStore)
async def test_response_is_held_until_the_store_write_completes(
    client: Client, store: SlowStore
) -> None:
    request = asyncio.ensure_future(client.fetch("/set?a=1"))
    await store.saving.wait()
    assert not request.done()
    store.gate.set()
    response = await request
    assert response.code == 200 and response.cookie is not None
    assert await store.count() == 1


@pytest.mark.gen_test
async def test_streamed_response_carries_cookie_and_late_changes_reach_the_store(
    client: Client, store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.fetch("/stream")
    assert response.body == b"part1;part2"
    assert response.cookie is not None  # sent with the first flush
    assert (await client.fetch("/get")).json()["data"] == {"before": "1", "after": "2"}


@pytest.mark.gen_test
async def test_store_failure_after_headers_were_sent_cuts_the_response_short(
    client: Client, store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    # A new session: the first flush saves it whole; the late change is a delta, which fails.
    store.fail.add("save_changes")
    with pytest.raises(Exception) as failure:
        response = await client.session_client.http_client.fetch(
            client.session_client.url("/stream")
        )
        raise AssertionError(f"a complete response was delivered: {response.code}")
    assert not isinstance(failure.value, AssertionError)
    assert store.calls["save"] == 1 and store.calls["save_changes"] == 1
    assert "closing the connection so that it does not look complete" in caplog.text


@pytest.mark.gen_test
async def test_cookie_change_after_headers_were_sent_is_logged(
    client: Client, store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    await client.fetch("/set?a=1")
    response = await client.fetch("/stream-regenerate")
    assert response.code == 200 and response.body == b"part1;part2"
    assert response.raw_cookies == []
    assert "changed after the response headers were sent" in caplog.text
    # The regenerated record was still written, even though its cookie could not be sent.
    (record,) = store._records.values()
    assert set(record.fields) == {"a", "late"}
