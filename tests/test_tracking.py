"""Per-key change tracking: the store is told exactly which keys a request set and deleted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import tornado.web

from tests.conftest import Client, CountingStore
from tornado_sessions import Changes, SessionMixin


@pytest.mark.gen_test
async def test_delta_names_only_the_keys_set_and_deleted(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1&b=2&c=3")
    await client.fetch("/set?a=10")
    await client.fetch("/delete?b")
    assert [dict(d.updated) for d in store.deltas] == [{"a": b"\xa210"}, {}]
    assert [d.deleted for d in store.deltas] == [frozenset(), frozenset({"b"})]
    assert (await client.fetch("/get")).json()["data"] == {"a": "10", "c": "3"}


@pytest.mark.gen_test
async def test_mutating_a_nested_value_in_place_counts_as_a_change(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/append?item=x")
    await client.fetch("/append?item=y")
    assert list(store.deltas[-1].updated) == ["items"]
    assert (await client.fetch("/get")).json()["data"] == {"items": ["x", "y"]}


@pytest.mark.gen_test
async def test_reading_a_mutable_value_without_changing_it_writes_nothing(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/append?item=x")
    store.calls.clear()
    await client.fetch("/get")  # reads every value, including the list
    assert dict(store.calls) == {"load": 1}


@pytest.mark.gen_test
async def test_setting_a_key_to_its_current_value_is_still_written(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    await client.fetch("/set?a=1")
    assert store.deltas == [Changes({"a": b"\xa11"}, frozenset())]


class Gate:
    """Lets two requests load the same session before either saves."""

    def __init__(self) -> None:
        self.loaded = 0
        self.both_loaded = asyncio.Event()


class SetAfterBothLoaded(SessionMixin, tornado.web.RequestHandler):
    def initialize(self, gate: Gate) -> None:
        self.gate = gate

    async def get(self) -> None:
        session = await self.get_session()
        self.gate.loaded += 1
        if self.gate.loaded == 2:
            self.gate.both_loaded.set()
        await self.gate.both_loaded.wait()
        session[self.get_argument("key")] = self.get_argument("value")


@pytest.fixture
def handlers() -> list[Any]:
    from tests.handlers import HANDLERS

    return [*HANDLERS, (r"/race", SetAfterBothLoaded, {"gate": Gate()})]


@pytest.mark.gen_test
async def test_concurrent_requests_changing_different_keys_lose_nothing(client: Client) -> None:
    await client.fetch("/set?start=1")
    await asyncio.gather(
        client.fetch("/race?key=cart&value=3"), client.fetch("/race?key=theme&value=dark")
    )
    assert (await client.fetch("/get")).json()["data"] == {
        "start": "1",
        "cart": "3",
        "theme": "dark",
    }


@pytest.mark.gen_test
@pytest.mark.options(resave=True)
async def test_resave_writes_every_key_yet_concurrent_changes_to_other_keys_survive(
    client: Client, store: CountingStore
) -> None:
    """resave sends every key, through the store's conditional merge: nothing else is lost."""
    await client.fetch("/set?start=1")
    await asyncio.gather(
        client.fetch("/race?key=cart&value=3"), client.fetch("/race?key=theme&value=dark")
    )
    assert set(store.deltas[-1].updated) >= {"start"}
    assert (await client.fetch("/get")).json()["data"] == {
        "start": "1",
        "cart": "3",
        "theme": "dark",
    }


@pytest.mark.gen_test
async def test_concurrent_changes_to_the_same_key_last_write_wins(client: Client) -> None:
    await client.fetch("/set?start=1")
    await asyncio.gather(
        client.fetch("/race?key=theme&value=light"), client.fetch("/race?key=theme&value=dark")
    )
    assert (await client.fetch("/get")).json()["data"]["theme"] in {"light", "dark"}


@pytest.mark.gen_test
async def test_modified_reflects_in_place_changes_and_nothing_else(client: Client) -> None:
    await client.fetch("/append?item=x")
    assert (await client.fetch("/modified")).json() == {"before": False, "after": False}
    assert (await client.fetch("/modified?item=y")).json() == {"before": False, "after": True}
