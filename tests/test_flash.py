"""Flash messages: ``session.flash()`` before a redirect, ``session.flashes()`` once after."""

from __future__ import annotations

from typing import Any

import pytest
import tornado.web

from tests.conftest import Client, CountingStore
from tornado_sessions import SessionMixin
from tornado_sessions.session import FLASH_KEY


class Flash(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        session.flash(self.get_argument("m"), self.get_argument("c", "info"))
        self.redirect("/show")


class Show(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        only = self.get_argument("c", None)
        self.write({"flashes": session.flashes(only), "keys": sorted(session)})


@pytest.fixture
def handlers() -> list[Any]:
    return [(r"/flash", Flash), (r"/show", Show)]


@pytest.mark.gen_test
async def test_a_flashed_message_is_shown_once(client: Client, store: CountingStore) -> None:
    response = await client.fetch("/flash?m=Saved")
    assert response.code == 302 and response.cookie is not None
    assert (await client.fetch("/show")).json() == {"flashes": [["info", "Saved"]], "keys": []}
    assert (await client.fetch("/show")).json()["flashes"] == []
    (record,) = store._records.values()
    assert FLASH_KEY not in record.fields


@pytest.mark.gen_test
async def test_flashes_keep_their_order_and_can_be_read_by_category(client: Client) -> None:
    await client.fetch("/flash?m=one")
    await client.fetch("/flash?m=oops&c=error")
    await client.fetch("/flash?m=two")
    assert (await client.fetch("/show?c=error")).json()["flashes"] == [["error", "oops"]]
    assert (await client.fetch("/show")).json()["flashes"] == [["info", "one"], ["info", "two"]]
