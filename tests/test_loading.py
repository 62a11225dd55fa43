"""Lazy loading: no store call unless a handler asks; ``preload_session``; ``self.session``."""

from __future__ import annotations

import pytest

from tests.conftest import Client, CountingStore


@pytest.mark.gen_test
async def test_handler_that_never_asks_makes_no_store_call_and_sends_no_cookie(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    assert client.value is not None
    store.calls.clear()
    response = await client.fetch("/health")
    assert response.code == 200 and response.body == b"ok"
    assert store.total() == 0
    assert response.raw_cookies == []
    assert "Cookie" not in response.headers.get_list("Vary")


@pytest.mark.gen_test
async def test_session_is_loaded_once_per_request(client: Client, store: CountingStore) -> None:
    await client.fetch("/set?a=1")
    store.calls.clear()
    await client.fetch("/get")
    assert store.calls["load"] == 1


@pytest.mark.gen_test
async def test_new_visitor_costs_no_store_read(client: Client, store: CountingStore) -> None:
    response = await client.fetch("/get")
    assert response.json()["new"] is True
    assert store.total() == 0


@pytest.mark.gen_test
async def test_preload_session_loads_in_prepare(client: Client, store: CountingStore) -> None:
    response = await client.fetch("/preloaded")
    assert response.code == 200
    assert response.json()["data"] == {"seen": "yes"}
    assert response.cookie is not None


@pytest.mark.gen_test
async def test_session_property_before_loading_says_what_to_do(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.fetch("/not-loaded")
    assert response.code == 500
    assert "await self.get_session()" in caplog.text
    assert "preload_session = True" in caplog.text
