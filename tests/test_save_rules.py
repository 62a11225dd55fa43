"""When the session is written and when the cookie is sent, rule by rule (express-session's)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import Client, CountingStore
from tornado_sessions import MemoryStore, Record, Store
from tornado_sessions.startup import PROBE_KEY


@pytest.mark.gen_test
async def test_new_unmodified_session_is_neither_stored_nor_sent(
    client: Client, store: CountingStore
) -> None:
    response = await client.fetch("/get")
    assert store.total() == 0
    assert response.raw_cookies == []
    assert await store.count() == 0


@pytest.mark.gen_test
@pytest.mark.options(save_uninitialized=True)
async def test_save_uninitialized_stores_and_sends_new_sessions(
    client: Client, store: CountingStore
) -> None:
    response = await client.fetch("/get")
    assert store.calls["save"] == 1
    assert response.cookie is not None
    assert await store.count() == 1


@pytest.mark.gen_test
async def test_modified_new_session_is_stored_and_sent(
    client: Client, store: CountingStore
) -> None:
    response = await client.fetch("/set?a=1")
    assert store.calls["save"] == 1
    assert response.cookie is not None
    assert (await client.fetch("/get")).json()["data"] == {"a": "1"}


@pytest.mark.gen_test
async def test_modified_existing_session_resends_cookie_because_its_expiry_moved(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    response = await client.fetch("/set?b=2")
    assert response.cookie is not None and "max-age" in response.cookie


@pytest.mark.gen_test
@pytest.mark.options(browser_session_cookie=True)
async def test_modified_browser_session_cookie_is_not_resent(client: Client) -> None:
    first = await client.fetch("/set?a=1")
    assert first.cookie is not None and "max-age" not in first.cookie
    assert "expires" not in first.cookie
    second = await client.fetch("/set?b=2")
    assert second.raw_cookies == []


@pytest.mark.gen_test
@pytest.mark.options(browser_session_cookie=True, rolling=True)
async def test_rolling_sends_the_cookie_on_every_response(client: Client) -> None:
    await client.fetch("/set?a=1")
    for _ in range(2):
        response = await client.fetch("/get")
        assert response.cookie is not None


@pytest.mark.gen_test
@pytest.mark.options(rolling=True)
async def test_rolling_does_not_create_cookies_for_uninitialized_sessions(client: Client) -> None:
    response = await client.fetch("/get")
    assert response.raw_cookies == []


@pytest.mark.gen_test
@pytest.mark.options(resave=True)
async def test_resave_writes_the_whole_session_on_every_request(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1&b=2")
    store.calls.clear()
    await client.fetch("/get")
    await client.fetch("/get")
    # Every key, every time, through the conditional write (never an upsert).
    assert store.calls["save_changes"] == 2
    assert [set(delta.updated) for delta in store.deltas[-2:]] == [{"a", "b"}] * 2
    assert store.calls["touch"] == 0 and store.calls["save"] == 0


@pytest.mark.gen_test
async def test_unmodified_session_within_touch_after_costs_only_the_load(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    store.calls.clear()
    response = await client.fetch("/get")
    assert dict(store.calls) == {"load": 1}
    assert response.raw_cookies == []


@pytest.mark.gen_test
@pytest.mark.options(touch_after=0)
async def test_touch_after_zero_touches_every_request_and_resends_the_cookie(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    stored_before = store._records[next(iter(store._records))].expires_at
    store.calls.clear()
    response = await client.fetch("/get")
    assert dict(store.calls) == {"load": 1, "touch": 1}
    assert store._records[next(iter(store._records))].expires_at > stored_before
    # The browser's cookie moves with the store: no drift.
    assert response.cookie is not None and int(response.cookie["max-age"]) > 0


@pytest.mark.gen_test
async def test_touch_happens_once_touch_after_has_passed(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    ((key, record),) = store._records.items()
    # Pretend the record was last written 61 s ago (touch_after is 60 s).
    from tornado_sessions import Record

    store._records[key] = Record(record.fields, record.meta, record.expires_at - 61)
    store.calls.clear()
    response = await client.fetch("/get")
    assert store.calls["touch"] == 1
    assert store._records[key].expires_at > record.expires_at - 1
    assert response.cookie is not None


@pytest.mark.gen_test
@pytest.mark.options(touch_after=0, browser_session_cookie=True)
async def test_touch_of_browser_session_cookie_sends_no_cookie(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    store.calls.clear()
    response = await client.fetch("/get")
    assert store.calls["touch"] == 1
    assert response.raw_cookies == []


class RequiredOnlyStore(Store):
    """A store with only the three required methods: the base class's fallbacks do the rest."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.calls: Counter[str] = Counter()

    async def load(self, key: str) -> Record | None:
        if key != PROBE_KEY:
            self.calls["load"] += 1
        return await self.inner.load(key)

    async def save(self, key: str, record: Record) -> None:
        self.calls["save"] += 1
        await self.inner.save(key, record)

    async def destroy(self, key: str) -> None:
        self.calls["destroy"] += 1
        await self.inner.destroy(key)


@pytest.mark.gen_test
@pytest.mark.options(touch_after=0)
@pytest.mark.store_class.with_args(RequiredOnlyStore)
async def test_store_with_only_the_required_methods_gets_read_check_write_fallbacks(
    client: Client, store: RequiredOnlyStore, caplog: pytest.LogCaptureFixture
) -> None:
    await client.fetch("/set?a=1")
    assert "does not implement touch and save_changes atomically" in caplog.text
    store.calls.clear()
    await client.fetch("/get")  # a touch: the fallback reads the record, then saves it whole
    assert dict(store.calls) == {"load": 2, "save": 1}
    await client.fetch("/set?b=2")
    assert (await client.fetch("/get")).json()["data"] == {"a": "1", "b": "2"}


@pytest.mark.gen_test
async def test_a_lifetime_change_alone_keeps_the_owner_in_the_store(
    client: Client, store: CountingStore
) -> None:
    # A delta write carries the owner whether or not it changed: a write that only
    # changes the lifetime (no key changed) must not leave the record, or the owner
    # index, without its owner (sessions_of and end_sessions would miss it).
    await client.fetch("/put?a=1")
    await client.fetch("/owner?owner=alice")
    (key,) = [key async for key in store.keys()]
    record = await store.load(key)
    owner = record.owner if record is not None else None
    assert owner is not None and [s.key for s in await store.owner_sessions(owner)] == [key]
    response = await client.fetch("/max-age?seconds=7200")
    assert response.code == 200 and store.deltas[-1].updated == {}
    assert store.deltas[-1].owner == owner
    record = await store.load(key)
    assert record is not None and record.owner == owner
    assert [s.key for s in await store.owner_sessions(owner)] == [key]
