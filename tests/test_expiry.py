"""Server-side expiry: ``max_age`` idleness and ``absolute_timeout``, whatever the cookie says."""

from __future__ import annotations

import time

import pytest

from tests.conftest import Client, CountingStore
from tornado_sessions import Record
from tornado_sessions.meta import Meta, pack_meta


def age(
    store: CountingStore, *, expires_in: float | None = None, created_ago: float | None = None
) -> None:
    """Rewrite the only stored record as if time had passed."""
    ((key, record),) = store._records.items()
    meta = record.meta
    if created_ago is not None:
        meta = pack_meta(Meta(time.time() - created_ago))
    expires = record.expires_at if expires_in is None else time.time() + expires_in
    store._records[key] = Record(record.fields, meta, expires)


class TrustingStore(CountingStore):
    """A store that forgets to check expiry: the core must still refuse old records."""

    async def load(self, key: str) -> Record | None:
        self.calls["load"] += 1
        return self._records.get(key)


@pytest.mark.gen_test
@pytest.mark.store_class.with_args(TrustingStore)
async def test_record_past_its_expiry_is_never_used_and_is_removed(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?user=alice")
    age(store, expires_in=-1)
    response = await client.fetch("/get")
    assert response.json()["data"] == {} and response.json()["new"] is True
    assert store._records == {}


@pytest.mark.gen_test
@pytest.mark.options(absolute_timeout=3600, touch_after=0)
async def test_absolute_timeout_ends_an_active_session(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?user=alice")
    age(store, created_ago=3601)
    response = await client.fetch("/get")
    assert response.json()["data"] == {}
    assert store._records == {}


@pytest.mark.gen_test
@pytest.mark.options(absolute_timeout=3600)
async def test_cookie_max_age_never_passes_the_absolute_timeout(
    client: Client, store: CountingStore
) -> None:
    response = await client.fetch("/set?user=alice")
    assert response.cookie is not None
    assert 3590 <= int(response.cookie["max-age"]) <= 3600
    (record,) = store._records.values()
    assert record.expires_at - time.time() <= 3600


@pytest.mark.gen_test
@pytest.mark.options(absolute_timeout=3600, touch_after=0)
async def test_touch_cannot_extend_past_the_absolute_timeout(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?user=alice")
    age(store, created_ago=3000, expires_in=10)
    store.calls.clear()
    response = await client.fetch("/get")
    assert store.calls["touch"] == 1
    (record,) = store._records.values()
    assert 590 <= record.expires_at - time.time() <= 600  # capped at created_at + 3600
    assert response.cookie is not None and 590 <= int(response.cookie["max-age"]) <= 600


@pytest.mark.gen_test
async def test_cookie_max_age_is_the_time_left_on_the_record(
    client: Client, store: CountingStore
) -> None:
    response = await client.fetch("/set?user=alice")
    assert response.cookie is not None
    (record,) = store._records.values()
    assert abs(int(response.cookie["max-age"]) - (record.expires_at - time.time())) <= 1


@pytest.mark.gen_test
@pytest.mark.options(max_age=600)
async def test_idle_timeout_is_max_age(client: Client, store: CountingStore) -> None:
    response = await client.fetch("/set?user=alice")
    assert response.cookie is not None and 595 <= int(response.cookie["max-age"]) <= 600
    (record,) = store._records.values()
    assert 595 <= record.expires_at - time.time() <= 600
