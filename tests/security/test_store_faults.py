"""Store outages: a store that raises, hangs past ``store_timeout``, or fails halfway.

Owns the "store outages" evidence of SECURITY.md.  The contract under test: the
client gets a 503 (never a silent 200 whose write was lost), the 503 carries no
``Set-Cookie``, the error page does not leak the store's error, and nothing is left
half written that a later request could read as a valid (let alone authenticated)
session.  The halfway cases follow a login: ``regenerate()`` deletes the old record,
then the new record's save fails, hangs, or lands but reports an error.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tornado_sessions import Changes, MemoryStore, Record, SessionOptions

SECRET = "security-suite-secret-0123456789abcdef"
STORE_TIMEOUT = 0.3
LEAK = "db-password-in-driver-message"


class FaultyStore(MemoryStore):
    """A memory store whose operations can be made to fail on demand.

    ``faults[operation]`` is one of ``"raise"``, ``"hang"`` (never answers),
    ``"write_then_raise"`` and ``"write_then_hang"`` (the write lands, the reply does
    not).  The core must bound hangs itself, so ``enforces_timeout`` is false.
    """

    enforces_timeout = False

    def __init__(self) -> None:
        super().__init__()
        self.faults: dict[str, str] = {}
        self.attempts: dict[str, int] = {}

    async def _fault(self, operation: str, write: Any) -> Any:
        self.attempts[operation] = self.attempts.get(operation, 0) + 1
        fault = self.faults.get(operation)
        result = None
        if fault is None or fault.startswith("write_then"):
            result = await write()
        if fault is None:
            return result
        if fault.endswith("raise"):
            raise ConnectionError(f"store down ({LEAK})")
        await asyncio.Event().wait()  # hang: nobody ever sets it

    async def load(self, key: str) -> Record | None:
        result: Record | None = await self._fault(
            "load", lambda: super(FaultyStore, self).load(key)
        )
        return result

    async def save(self, key: str, record: Record) -> None:
        await self._fault("save", lambda: super(FaultyStore, self).save(key, record))

    async def destroy(self, key: str) -> None:
        await self._fault("destroy", lambda: super(FaultyStore, self).destroy(key))

    async def touch(self, key: str, expires_at: float) -> bool:
        result: bool = await self._fault(
            "touch", lambda: super(FaultyStore, self).touch(key, expires_at)
        )
        return result

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        result: bool = await self._fault(
            "save_changes",
            lambda: super(FaultyStore, self).save_changes(key, changes, meta, expires_at),
        )
        return result


@pytest.fixture
def store() -> FaultyStore:
    return FaultyStore()


@pytest.fixture
def session_options(store: FaultyStore) -> SessionOptions:
    return SessionOptions(secret=SECRET, store=store, store_timeout=STORE_TIMEOUT, touch_after=0)


def _assert_503(reply: Any) -> None:
    assert reply.status == 503, reply.body
    assert reply.set_cookies == [], f"Set-Cookie on a 503: {reply.set_cookies}"
    assert LEAK.encode() not in reply.body  # the driver's message stays in the log


async def _session(client: Any, **data: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in data.items())
    reply = await client.get(f"/put?{query}")
    assert reply.status == 200 and reply.session_cookie
    return reply.session_cookie


async def _records(store: FaultyStore) -> list[dict[str, bytes]]:
    return [dict(r.fields) for r in store._records.values()]


# -- every operation, raising or hanging -------------------------------------------

# operation -> (the request that triggers it, whether it needs an existing session)
TRIGGERS = {
    "load": ("/peek", True),
    "save": ("/put?a=2", False),
    "save_changes": ("/put?a=2", True),
    "touch": ("/peek", True),
    "destroy": ("/logout", True),
}


@pytest.mark.gen_test(timeout=10)
@pytest.mark.parametrize("mode", ["raise", "hang"])
@pytest.mark.parametrize("operation", list(TRIGGERS))
async def test_a_failing_store_operation_is_a_503_without_set_cookie(
    client: Any, store: FaultyStore, operation: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    path, existing = TRIGGERS[operation]
    cookie = await _session(client, a="1") if existing else None
    before = await _records(store)
    store.faults[operation] = mode
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await client.get(path, cookie=cookie)
    elapsed = loop.time() - started
    assert store.attempts.get(operation, 0) >= 1
    _assert_503(reply)
    if mode == "hang":
        assert STORE_TIMEOUT <= elapsed < STORE_TIMEOUT + 2.0
        assert f"took longer than {STORE_TIMEOUT}s" in caplog.text
    else:
        assert LEAK in caplog.text  # the store's own error is logged (chained)
    # Nothing changed in the store, and once it recovers the old state is intact.
    assert await _records(store) == before
    store.faults.clear()
    after = await client.get("/peek", cookie=cookie)
    if existing:
        assert after.json["data"] == {"a": "1"} and after.json["new"] is False
    else:
        assert after.json["new"] is True and await store.count() == 0


# -- failing halfway through a login -------------------------------------------------


@pytest.mark.gen_test(timeout=10)
@pytest.mark.parametrize("mode", ["raise", "hang"])
async def test_login_whose_new_record_cannot_be_saved_leaves_no_session_logged_in(
    client: Any, store: FaultyStore, mode: str
) -> None:
    cookie = await _session(client, cart="3")
    store.attempts.clear()
    store.faults["save"] = mode  # regenerate's destroy succeeds; the new record's save fails
    reply = await client.get("/login?user=alice", cookie=cookie)
    _assert_503(reply)
    assert store.attempts["destroy"] == 1 and store.attempts["save"] == 1
    assert await store.count() == 0  # old record gone, new one never written
    store.faults.clear()
    # The browser still holds the pre-login cookie: it is dead, not half logged in.
    after = (await client.get("/peek", cookie=cookie)).json
    assert after["new"] is True and after["data"] == {}


@pytest.mark.gen_test(timeout=10)
@pytest.mark.parametrize("mode", ["write_then_raise", "write_then_hang"])
async def test_login_whose_save_lands_but_fails_to_answer_stays_unreachable(
    client: Any, store: FaultyStore, mode: str
) -> None:
    cookie = await _session(client, cart="3")
    store.attempts.clear()
    store.faults["save"] = mode
    reply = await client.get("/login?user=alice", cookie=cookie)
    _assert_503(reply)
    # The new record landed, but its id was never sent to anyone: no cookie reaches it.
    (orphan,) = await _records(store)
    assert set(orphan) == {"cart", "user"}
    store.faults.clear()
    after = (await client.get("/peek", cookie=cookie)).json
    assert after["new"] is True and after["data"] == {}


@pytest.mark.gen_test(timeout=10)
@pytest.mark.parametrize("mode", ["raise", "hang"])
async def test_login_whose_old_record_cannot_be_deleted_does_not_log_in(
    client: Any, store: FaultyStore, mode: str
) -> None:
    cookie = await _session(client, cart="3")
    store.attempts.clear()
    store.faults["destroy"] = mode
    reply = await client.get("/login?user=alice", cookie=cookie)
    _assert_503(reply)
    assert store.attempts.get("save", 0) == 0  # nothing written after the failed delete
    store.faults.clear()
    after = (await client.get("/peek", cookie=cookie)).json
    # The pre-login session is untouched and still anonymous.
    assert after["new"] is False and after["data"] == {"cart": "3"}


@pytest.mark.gen_test(timeout=10)
async def test_logout_that_fails_is_reported_not_pretended(client: Any, store: FaultyStore) -> None:
    cookie = await _session(client, user="alice")
    store.faults["destroy"] = "raise"
    reply = await client.get("/logout", cookie=cookie)
    _assert_503(reply)  # the user learns logout failed; no cookie clearing pretends otherwise
    store.faults.clear()
    assert (await client.get("/peek", cookie=cookie)).json["data"] == {"user": "alice"}
    reply = await client.get("/logout", cookie=cookie)  # retried once the store is back
    assert reply.status == 200 and reply.clears_cookie
    assert (await client.get("/peek", cookie=cookie)).json["new"] is True


@pytest.mark.gen_test(timeout=10)
async def test_the_store_recovers_without_a_restart(client: Any, store: FaultyStore) -> None:
    store.faults["save"] = "hang"
    for _ in range(3):
        _assert_503(await client.get("/put?a=1"))
    store.faults.clear()
    reply = await client.get("/put?a=1")
    assert reply.status == 200 and reply.session_cookie
    assert (await client.get("/peek", cookie=reply.session_cookie)).json["data"] == {"a": "1"}
