"""regenerate, destroy, reload, save, touch, set_max_age and ``unset="destroy"``."""

from __future__ import annotations

import time

import pytest

from tests.conftest import Client, CountingStore
from tornado_sessions import Record
from tornado_sessions.meta import unpack_meta


@pytest.mark.gen_test
async def test_regenerate_gives_new_id_keeps_data_and_deletes_old_record(
    client: Client, store: CountingStore
) -> None:
    first = await client.fetch("/set?cart=3")
    old_cookie, old_id = client.value, first.json()["id"]
    response = await client.fetch("/regenerate?user=alice")
    body = response.json()
    assert body["id"] != old_id and body["new"] is True
    assert body["data"] == {"cart": "3", "user": "alice"}
    assert response.cookie is not None and response.cookie["value"] != old_cookie
    assert await store.count() == 1
    # The old cookie is dead; the new one carries everything.
    assert (await client.fetch("/get", cookie=old_cookie)).json()["data"] == {}
    assert (await client.fetch("/get")).json()["data"] == {"cart": "3", "user": "alice"}


@pytest.mark.gen_test
async def test_regenerate_keeps_created_at(
    client: Client,
    store: CountingStore,
) -> None:
    await client.fetch("/set?a=1")
    (record,) = store._records.values()
    await client.fetch("/regenerate")
    (regenerated,) = store._records.values()
    before = unpack_meta(record.meta, time.time())
    after = unpack_meta(regenerated.meta, time.time())
    assert (after.created_at, after.max_age) == (before.created_at, before.max_age)
    assert after.issued_at > before.issued_at  # a new id, issued now


@pytest.mark.gen_test
async def test_regenerate_of_empty_session_stores_nothing_and_clears_cookie(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    await client.fetch("/delete?a")
    response = await client.fetch("/regenerate")
    assert await store.count() == 0
    assert response.cookie is not None and response.cookie["max-age"] == "0"


@pytest.mark.gen_test
async def test_destroy_deletes_record_and_clears_cookie(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    old_cookie = client.value
    response = await client.fetch("/destroy")
    assert await store.count() == 0
    cookie = response.cookie
    assert cookie is not None and cookie["value"] == "" and cookie["max-age"] == "0"
    assert "1970" in cookie["expires"]
    assert cookie["path"] == "/" and "httponly" in cookie and cookie["samesite"] == "Lax"
    assert (await client.fetch("/get", cookie=old_cookie)).json()["data"] == {}


@pytest.mark.gen_test
async def test_writing_after_destroy_starts_a_new_session(
    client: Client, store: CountingStore
) -> None:
    first = await client.fetch("/set?a=1")
    response = await client.fetch("/destroy?then=fresh")
    body = response.json()
    assert body["data"] == {"then": "fresh"} and body["id"] != first.json()["id"]
    assert response.cookie is not None and response.cookie["max-age"] != "0"
    assert (await client.fetch("/get")).json()["data"] == {"then": "fresh"}
    assert await store.count() == 1


@pytest.mark.gen_test
async def test_reload_drops_unsaved_changes(client: Client) -> None:
    await client.fetch("/set?a=1")
    response = await client.fetch("/reload")
    assert response.json()["data"] == {"a": "1"}
    assert (await client.fetch("/get")).json()["data"] == {"a": "1"}


@pytest.mark.gen_test
async def test_reload_of_vanished_record_gives_an_empty_session(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    await store.clear()
    response = await client.fetch("/reload")
    assert response.json()["data"] == {} and response.json()["new"] is True


@pytest.mark.gen_test
async def test_save_writes_now_and_sends_the_cookie(client: Client, store: CountingStore) -> None:
    response = await client.fetch("/save")
    assert store.calls["save"] == 1
    assert response.cookie is not None
    assert await store.count() == 1
    assert (await client.fetch("/get")).json()["new"] is False


@pytest.mark.gen_test
async def test_touch_extends_expiry_inside_touch_after(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    store.calls.clear()
    response = await client.fetch("/touch")
    assert store.calls["touch"] == 1
    assert response.cookie is not None


@pytest.mark.gen_test
async def test_set_max_age_sets_cookie_and_store_lifetime(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    response = await client.fetch("/max-age?seconds=3600")
    assert response.cookie is not None
    assert 3590 <= int(response.cookie["max-age"]) <= 3600
    (record,) = store._records.values()
    import time

    assert 3590 <= record.expires_at - time.time() <= 3600
    # The lifetime is remembered: a later write keeps using it.
    response = await client.fetch("/set?b=2")
    assert response.cookie is not None and int(response.cookie["max-age"]) <= 3600


@pytest.mark.gen_test
async def test_set_max_age_none_gives_browser_session_cookie(
    client: Client, store: CountingStore
) -> None:
    await client.fetch("/set?a=1")
    response = await client.fetch("/max-age?seconds=none")
    assert response.cookie is not None
    assert "max-age" not in response.cookie and "expires" not in response.cookie
    (record,) = store._records.values()
    import time

    assert record.expires_at - time.time() > 13 * 24 * 3600  # server keeps the default idle limit


@pytest.mark.gen_test
@pytest.mark.options(unset="destroy")
async def test_unset_destroy_destroys_emptied_session(client: Client, store: CountingStore) -> None:
    await client.fetch("/set?a=1")
    response = await client.fetch("/delete?a")
    assert await store.count() == 0
    assert response.cookie is not None and response.cookie["max-age"] == "0"


@pytest.mark.gen_test
async def test_unset_keep_stores_the_emptied_session(client: Client, store: CountingStore) -> None:
    await client.fetch("/set?a=1")
    await client.fetch("/delete?a")
    assert await store.count() == 1
    assert (await client.fetch("/get")).json() | {"id": None} == {
        "data": {},
        "new": False,
        "id": None,
    }


class SlowLoadStore(CountingStore):
    """Holds one request after its load until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        import asyncio

        self.hold = False
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def load(self, key: str) -> Record | None:
        record = await super().load(key)
        if self.hold:
            self.hold = False
            self.held.set()
            await self.release.wait()
        return record


@pytest.mark.gen_test
@pytest.mark.options(resave=True)
@pytest.mark.store_class.with_args(SlowLoadStore)
async def test_a_concurrent_logout_is_not_undone_by_a_request_still_running(
    client: Client, store: SlowLoadStore
) -> None:
    import asyncio

    await client.fetch("/set?user=alice")
    cookie = client.value
    store.hold = True
    slow = asyncio.ensure_future(client.fetch("/set?late=1", cookie=cookie))
    await store.held.wait()  # the slow request has loaded the session
    await client.fetch("/destroy", cookie=cookie)  # logout completes meanwhile
    store.release.set()
    response = await slow
    assert await store.count() == 0  # the slow request's write did not resurrect it
    assert response.cookie is not None and response.cookie["max-age"] == "0"
    assert (await client.fetch("/get", cookie=cookie)).json()["data"] == {}


@pytest.mark.gen_test
@pytest.mark.parametrize("what", ["get_session", "set"])
async def test_using_the_session_after_finish_raises_instead_of_losing_the_change(
    client: Client, store: CountingStore, what: str
) -> None:
    from tests.handlers import AFTER_FINISH

    AFTER_FINISH.clear()
    response = await client.fetch(f"/after-finish?what={what}")
    assert response.code == 200 and response.body == b"done"
    (outcome,) = AFTER_FINISH
    assert "the response is finished" in outcome
    for record in store._records.values():
        assert "after" not in record.fields
    if what == "set":
        assert (await client.fetch("/get")).json()["data"] == {"before": "1"}
