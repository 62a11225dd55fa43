"""Floods of new visitors: nothing stored for noise, a bounded store when storing.

Owns the "store flooding" evidence of SECURITY.md (Django CVE-2015-5143: a record
per cookie-less request fills the store).  A million real HTTP requests take too
long, so the million goes through the runtime's own request path (``load`` ->
``plan`` -> ``Commit.run`` -> ``cookie_header``, exactly what the mixin calls), and a
few hundred go through real HTTP.

Quick form by default (20,000 visitors, 300 HTTP requests); the full form (a
million visitors, 2,000 HTTP requests) runs with ``TORNADO_SESSIONS_FULL=1``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from types import SimpleNamespace
from typing import Any

import pytest
import tornado.web
from tornado.httputil import HTTPHeaders

from tornado_sessions import SessionOptions, open_sessions
from tornado_sessions.commit import cookie_headers, plan_commit, run_write
from tornado_sessions.loading import load_session
from tornado_sessions.runtime import SessionRuntime
from tornado_sessions.signing import Signer

FULL = os.environ.get("TORNADO_SESSIONS_FULL", "") not in ("", "0")
VISITORS = 1_000_000 if FULL else 20_000
HTTP_VISITORS = 2_000 if FULL else 300
MAX_ENTRIES = 1_000
SECRET = b"flood-secret-0123456789abcdef0123"
FORGER = Signer([b"attacker-key-0123456789abcdef01234"], "sessionid")


def _visitor(i: int) -> Any:
    """A distinct new visitor: no cookie, a random value, or a forged signed cookie."""
    headers = HTTPHeaders()
    kind = i % 3
    if kind == 1:
        headers.add("Cookie", f"sessionid={secrets.token_urlsafe(16)}")
    elif kind == 2:
        headers.add("Cookie", f"sessionid={FORGER.sign(secrets.token_urlsafe(32))}")
    return SimpleNamespace(request=SimpleNamespace(headers=headers, protocol="http", host="x"))


async def _runtime(options: SessionOptions) -> SessionRuntime:
    """The runtime an application with ``options`` serves its requests with."""
    return await open_sessions(tornado.web.Application([], sessions=options), probe=False)


async def _flood(runtime: SessionRuntime, store: Any, visitors: int) -> dict[str, int]:
    """Run ``visitors`` requests through the runtime; count what each one did."""
    seen = {"cookies": 0, "writes": 0, "max_records": 0, "ids": 0}
    ids: set[str] = set()
    for i in range(visitors):
        visitor = _visitor(i)
        session = await load_session(runtime, visitor)
        assert session.is_new
        ids.add(session.id)
        pending = plan_commit(runtime, session)
        if pending is not None:
            await run_write(runtime, pending)
            seen["writes"] += 1
        if cookie_headers(runtime, session, visitor.request):
            seen["cookies"] += 1
        if i % 1000 == 0:
            seen["max_records"] = max(seen["max_records"], len(store._records))
    seen["max_records"] = max(seen["max_records"], len(store._records))
    seen["ids"] = len(ids)
    return seen


@pytest.mark.gen_test(timeout=3600)
async def test_a_flood_of_new_visitors_stores_nothing_by_default(store: Any) -> None:
    runtime = await _runtime(SessionOptions(secret=SECRET, store=store))
    seen = await _flood(runtime, store, VISITORS)
    assert seen["ids"] == VISITORS  # every visitor really was distinct
    assert seen == {"cookies": 0, "writes": 0, "max_records": 0, "ids": VISITORS}
    assert store.calls == {}  # not one store call: no load for a bad cookie, no save
    assert await store.count() == 0


@pytest.mark.gen_test(timeout=3600)
async def test_a_flood_with_save_uninitialized_stays_within_max_entries(store: Any) -> None:
    store.max_entries = MAX_ENTRIES
    options = SessionOptions(secret=SECRET, store=store, save_uninitialized=True)
    runtime = await _runtime(options)
    seen = await _flood(runtime, store, VISITORS)
    assert seen["writes"] == seen["cookies"] == VISITORS
    assert seen["max_records"] == MAX_ENTRIES
    assert await store.count() == MAX_ENTRIES
    assert store.evictions == VISITORS - MAX_ENTRIES
    # The expiry heap is rebuilt on a sweep: what it holds stays proportional to max_entries.
    store._next_sweep = 0.0
    await store.count()
    assert len(store._deadlines) <= 2 * MAX_ENTRIES + 1024
    # The sessions kept are the most recent ones; the first visitors were evicted.
    assert store.calls.get("load", 0) == 0


async def _http_flood(client: Any, count: int) -> list[Any]:
    replies: list[Any] = []
    for start in range(0, count, 50):
        batch = []
        for i in range(start, min(start + 50, count)):
            cookie = None
            if i % 3 == 1:
                cookie = secrets.token_urlsafe(16)
            elif i % 3 == 2:
                cookie = FORGER.sign(secrets.token_urlsafe(32))
            batch.append(client.get("/peek", cookie=cookie))
        replies.extend(await asyncio.gather(*batch))
    return replies


@pytest.mark.gen_test(timeout=600)
async def test_a_flood_over_http_stores_nothing_and_sets_no_cookie(client: Any, store: Any) -> None:
    replies = await _http_flood(client, HTTP_VISITORS)
    assert {r.status for r in replies} == {200}
    assert all(r.json["new"] for r in replies)
    assert [r for r in replies if r.set_cookies] == []
    assert store.calls == {}
    assert await store.count() == 0


@pytest.fixture
def session_options(request: pytest.FixtureRequest, store: Any) -> SessionOptions:
    store.max_entries = 50
    return SessionOptions(
        secret="security-suite-secret-0123456789abcdef",
        store=store,
        save_uninitialized=getattr(request, "param", False),
    )


@pytest.mark.gen_test(timeout=600)
@pytest.mark.parametrize("session_options", [True], indirect=True)
async def test_a_flood_over_http_with_save_uninitialized_stays_within_max_entries(
    client: Any, store: Any, session_options: SessionOptions
) -> None:
    replies = await _http_flood(client, HTTP_VISITORS)
    assert {r.status for r in replies} == {200}
    assert all(r.session_cookie for r in replies)  # each visitor got a stored session
    assert await store.count() == 50
    assert store.evictions == HTTP_VISITORS - 50
    # The survivors are real, loadable sessions: the last visitor's still works.
    last = replies[-1]
    again = await client.get("/peek", cookie=last.session_cookie)
    assert again.json["id"] == last.json["id"] and again.json["new"] is False
