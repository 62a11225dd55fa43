"""The handlers the core HTTP tests drive, one per behaviour under test.

Each handler reads what it should do from the query string, so tests stay short:
``/set?k=v`` sets keys, ``/get`` returns the session as JSON, and so on.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web

from tornado_sessions import SessionFinishedError, SessionMixin


class _Base(SessionMixin, tornado.web.RequestHandler):
    def dump(self, session: Any) -> None:
        self.write(json.dumps({"data": dict(session), "new": session.is_new, "id": session.id}))


class Health(SessionMixin, tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


class Get(_Base):
    async def get(self) -> None:
        self.dump(await self.get_session())


class Set(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        for key, values in self.request.query_arguments.items():
            session[key] = values[-1].decode()
        self.dump(session)


class Put(_Base):
    """Sets keys without reading any: ``/put?k=v`` (or POSTed form fields)."""

    async def get(self) -> None:
        session = await self.get_session()
        for key, values in self.request.query_arguments.items():
            session[key] = values[-1].decode()
        self.write("ok")

    async def post(self) -> None:
        session = await self.get_session()
        for key, values in self.request.body_arguments.items():
            session[key] = values[-1].decode()
        self.write("ok")


class Delete(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        for key in self.request.query_arguments:
            del session[key]
        self.dump(session)


class Append(_Base):
    """Mutates a list in place: ``/append?item=x`` does ``session["items"].append("x")``."""

    async def get(self) -> None:
        session = await self.get_session()
        session.setdefault("items", [])
        session["items"].append(self.get_argument("item"))
        self.dump(session)


class Modified(_Base):
    """Reports ``session.modified`` before and after an in-place append (``?item=x``)."""

    async def get(self) -> None:
        session = await self.get_session()
        before = session.modified
        items = session.get("items", [])
        if self.get_argument("item", None):
            items.append(self.get_argument("item"))
        self.write({"before": before, "after": session.modified})


class Regenerate(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        await session.regenerate()
        if self.get_argument("user", None):
            session["user"] = self.get_argument("user")
        self.dump(session)


class Destroy(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        await session.destroy()
        if self.get_argument("then", None):
            session["then"] = self.get_argument("then")
        self.dump(session)


class Reload(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["unsaved"] = "x"
        await session.reload()
        self.dump(session)


class Save(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        await session.save()
        self.dump(session)


class Touch(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        session.touch()
        self.dump(session)


class MaxAge(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        seconds = self.get_argument("seconds")
        session.set_max_age(None if seconds == "none" else float(seconds))
        self.dump(session)


class Owner(_Base):
    """Gives the session an owner: ``/owner?owner=alice``."""

    async def get(self) -> None:
        session = await self.get_session()
        session.owner = self.get_argument("owner")
        self.dump(session)


class Preloaded(_Base):
    preload_session = True

    def get(self) -> None:
        self.session["seen"] = "yes"
        self.dump(self.session)


class NotLoaded(_Base):
    def get(self) -> None:
        self.write(str(len(self.session)))


class Stream(_Base):
    """Sets a key, flushes the headers, then sets another key after the flush."""

    async def get(self) -> None:
        session = await self.get_session()
        session["before"] = "1"
        self.write("part1;")
        await self.flush()
        session["after"] = "2"
        self.write("part2")


class StreamRegenerate(_Base):
    """Regenerates after the headers went out: the new cookie can no longer be sent."""

    async def get(self) -> None:
        session = await self.get_session()
        self.write("part1;")
        await self.flush()
        await session.regenerate()
        session["late"] = "1"
        self.write("part2")


class Unserializable(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        bad: Any = object()
        if self.get_argument("value", "") == "itself":  # a list that contains itself
            bad = []
            bad.append(bad)
        session["bad"] = bad
        self.write("should not be sent")


class Redirect(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["flash"] = "saved before redirect"
        self.redirect("/get")


#: What ``/after-finish`` saw when it used its session after finish().
AFTER_FINISH: list[str] = []


class AfterFinish(_Base):
    """Finishes the response, then uses the session: ``?what=get_session`` or ``?what=set``."""

    async def get(self) -> None:
        what = self.get_argument("what")
        if what == "set":
            session = await self.get_session()
            session["before"] = "1"
        await self.finish("done")
        try:
            if what == "get_session":
                await self.get_session()
            else:
                self.session["after"] = "2"
        except SessionFinishedError as exc:
            AFTER_FINISH.append(str(exc))
        else:
            AFTER_FINISH.append("no error")


class Fail(_Base):
    async def get(self) -> None:
        session = await self.get_session()
        session["x"] = "1"
        raise RuntimeError("handler failed")


HANDLERS: list[Any] = [
    (r"/health", Health),
    (r"/get", Get),
    (r"/set", Set),
    (r"/put", Put),
    (r"/delete", Delete),
    (r"/append", Append),
    (r"/modified", Modified),
    (r"/regenerate", Regenerate),
    (r"/destroy", Destroy),
    (r"/reload", Reload),
    (r"/save", Save),
    (r"/touch", Touch),
    (r"/max-age", MaxAge),
    (r"/owner", Owner),
    (r"/preloaded", Preloaded),
    (r"/not-loaded", NotLoaded),
    (r"/stream", Stream),
    (r"/stream-regenerate", StreamRegenerate),
    (r"/unserializable", Unserializable),
    (r"/redirect", Redirect),
    (r"/fail", Fail),
    (r"/after-finish", AfterFinish),
]
