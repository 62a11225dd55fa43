"""The application under test: the benchmark routes, and the control routes the suite uses.

Measured routes (every one answers a short plain-text body):

- ``/bare``: a plain :class:`tornado.web.RequestHandler`; no session code runs;
- ``/untouched``: a :class:`~tornado_sessions.SessionMixin` handler that never asks;
- ``/read``: loads the session, reads ``user`` and ``roles``;
- ``/write``: loads the session, increments ``counter``;
- ``/floor-read``, ``/floor-write``: the *client floor*, a plain ``RequestHandler``
  making the raw store calls a session read (or write) needs, through the store's
  own client and without the session layer (see :class:`Floor`);
- ``/race?key=K``: loads the session, reads ``K``, waits ``race_io`` seconds (a
  stand-in for the database call a real handler makes between reading and
  writing), then stores ``K + 1``.

Control routes, under ``/_bench/`` and never measured:

- ``seed?size=N``: starts a session holding a payload of ``N`` bytes (sets the cookie);
- ``state``: the session's values, as JSON (to check the race's outcome);
- ``stats``: the server's CPU seconds so far (:func:`time.process_time`), its
  involuntary context switches (how often another process took its CPU), the
  garbage collector's collections per generation, and the store counters.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import tornado.web

from tornado_sessions import SessionMixin, SessionOptions

from .counting import CountingStore
from .payloads import make_payload

__all__ = ["BenchState", "Floor", "MemoryFloor", "make_app"]

SECRET = "benchmark-secret-not-for-production-0123456789"
#: Sessions outlive any run but not by much: a store left with them cleans itself.
MAX_AGE = 3600.0


class Floor(Protocol):
    """The raw store calls a session needs, without the session layer: the *client floor*.

    ``read`` is what loading a session costs the driver (one fetch of the stored
    record); ``write`` is a read plus the write of one changed field.  Each store
    kind has its own (see :mod:`benchmarks.server`); ``seed`` stores the record
    both use, ``close`` removes it.
    """

    async def seed(self, fields: dict[str, bytes]) -> None: ...

    async def read(self) -> object: ...

    async def write(self, field: str, value: bytes) -> None: ...

    async def close(self) -> None: ...


class MemoryFloor:
    """The memory store's floor: a dict get (read), a dict get and set (write)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, bytes]] = {}

    async def seed(self, fields: dict[str, bytes]) -> None:
        self.records["floor"] = dict(fields)

    async def read(self) -> object:
        return self.records.get("floor")

    async def write(self, field: str, value: bytes) -> None:
        record = self.records.get("floor")
        if record is not None:
            record[field] = value

    async def close(self) -> None:
        self.records.clear()


@dataclass
class BenchState:
    """What the control routes share: the counting store, the floor and the sessions seeded."""

    store: CountingStore
    race_io: float
    floor: Floor = field(default_factory=MemoryFloor)
    seeded: set[str] = field(default_factory=set)
    #: How many writes the floor made: each writes a value it never wrote before.
    floor_writes: int = 0


class Bare(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


class Untouched(SessionMixin, tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


class Read(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        if session.get("user") and "member" in session.get("roles", ()):
            self.write("ok")
        else:
            self.write("no")


class Write(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        session["counter"] = session.get("counter", 0) + 1
        self.write("ok")


class FloorRead(tornado.web.RequestHandler):
    async def get(self) -> None:
        record = await self.settings["bench"].floor.read()
        self.write("ok" if record else "no")


class FloorWrite(tornado.web.RequestHandler):
    async def get(self) -> None:
        state: BenchState = self.settings["bench"]
        record = await state.floor.read()
        # A new value every time, as /write stores: a server may skip an update that
        # changes nothing (MongoDB and FerretDB do: no journal, no fsync), and a
        # floor that never writes would flatter the driver.
        state.floor_writes += 1
        await state.floor.write("f:counter", b"%d" % state.floor_writes if record else b"")
        self.write("ok")


class Race(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        key = self.get_argument("key")
        session = await self.get_session()
        value = session.get(key, 0)
        await asyncio.sleep(self.settings["bench"].race_io)
        session[key] = value + 1
        self.write("ok")


class Seed(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        session.update(make_payload(int(self.get_argument("size"))))
        self.settings["bench"].seeded.add(session.key)
        self.write("ok")


class State(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        self.write({"values": dict(session), "new": session.is_new})


class Stats(tornado.web.RequestHandler):
    def get(self) -> None:
        cpu = time.process_time()
        switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
        collections = [generation["collections"] for generation in gc.get_stats()]
        state: BenchState = self.settings["bench"]
        self.write(
            {
                "cpu": cpu,
                "involuntary_switches": switches,
                "gc_collections": collections,
                **state.store.snapshot(),
            }
        )


def make_app(state: BenchState, config: dict[str, Any]) -> tornado.web.Application:
    """The application, with sessions configured by ``config`` on the counting store."""
    options = SessionOptions(secret=SECRET, store=state.store, max_age=MAX_AGE, **config)
    return tornado.web.Application(
        [
            (r"/bare", Bare),
            (r"/untouched", Untouched),
            (r"/read", Read),
            (r"/write", Write),
            (r"/floor-read", FloorRead),
            (r"/floor-write", FloorWrite),
            (r"/race", Race),
            (r"/_bench/seed", Seed),
            (r"/_bench/state", State),
            (r"/_bench/stats", Stats),
        ],
        sessions=options,
        bench=state,
    )
