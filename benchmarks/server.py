"""The server process: ``python -m benchmarks.server SPEC``, one configuration on one store.

``SPEC`` is a JSON object: ``store`` (a URL), ``config`` (``SessionOptions``
fields), ``race_io`` (seconds), and optionally ``cpu`` (a CPU to pin the process
to) and ``profile`` (a path: run under :mod:`cProfile` and dump the statistics
there).

The process builds the store inside its event loop, wraps it in a
:class:`~benchmarks.counting.CountingStore`, listens on an ephemeral port of
127.0.0.1 and only then prints one JSON line, ``{"port": ..., "pid": ...}``: the
parent reads that line, so it never has to wait for readiness by sleeping.

It also builds the *client floor* for the store's kind (:class:`benchmarks.app.Floor`):
the raw calls a session needs, made through the store's own driver without the
session layer (memory: a dict; Redis: ``HGETALL`` and ``HSET`` on the store's
client; MongoDB: ``find_one`` and ``update_one`` in the store's collection,
through its PyMongo client; PostgreSQL and SQLite: a ``SELECT`` and an ``UPDATE``
merging one field, on a one-row table with the sessions table's ``key`` and
``fields`` columns, through the store's asyncpg pool or aiosqlite connection).  The
ready line says whether the store has a floor (``"floor": true``); a store of
another kind has none, and a floor that cannot be set up is left out.

It runs until its standard input is closed (so it cannot outlive the suite),
then deletes the sessions it seeded from the store (it never calls ``clear()``:
the store may be shared) and the floor's record or table, and closes the store;
an interrupt or an error does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import os
import secrets
import sys
from typing import Any

import tornado.httpserver
import tornado.netutil

from tornado_sessions import MsgpackSerializer, Store, create_store
from tornado_sessions.stores.json_fields import encode_fields

from .app import BenchState, Floor, MemoryFloor, make_app
from .counting import CountingStore
from .payloads import SIZES, make_payload

__all__ = ["serve"]


def _stdin_closed() -> asyncio.Event:
    closed = asyncio.Event()
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not os.read(fd, 4096):
            loop.remove_reader(fd)
            closed.set()

    loop.add_reader(fd, readable)
    return closed


class RedisFloor:
    """Redis: ``HGETALL`` (read) and ``HGETALL`` + ``HSET`` (write) on the store's client.

    The client is whichever the store uses (its own ``MultiplexedClient`` on a single
    node, redis-py with ``?client=redis-py`` or on a cluster), through the one method
    both have, ``execute_command``: replies are raw RESP2 in both cases.
    """

    def __init__(self, client: Any, key: bytes) -> None:
        self.client = client
        self.key = key

    async def seed(self, fields: dict[str, bytes]) -> None:
        await self.client.execute_command("DEL", self.key)
        pairs = [part for item in fields.items() for part in item]
        await self.client.execute_command("HSET", self.key, *pairs)
        await self.client.execute_command("PEXPIRE", self.key, 3_600_000)

    async def read(self) -> object:
        return await self.client.execute_command("HGETALL", self.key)

    async def write(self, field: str, value: bytes) -> None:
        await self.client.execute_command("HSET", self.key, field, value)

    async def close(self) -> None:
        await self.client.execute_command("DEL", self.key)


class MongoFloor:
    """MongoDB: ``find_one`` (read) and ``find_one`` + ``update_one`` (write), via PyMongo.

    The document lives in the store's own collection, beside the sessions, so a
    server whose lookups cost more in a bigger collection charges the floor the
    same (FerretDB 1.x with SQLite reads every document of the collection to find
    one by ``_id``: its query does not match its own index on ``_id``).  The
    document has no ``expires`` and no ``owner``, so no store query (count, keys,
    purge, an owner's sessions) ever matches it.
    """

    def __init__(self, collection: Any, key: str) -> None:
        self.collection = collection
        self.key = key

    async def seed(self, fields: dict[str, bytes]) -> None:
        await self.collection.replace_one({"_id": self.key}, {"fields": fields}, upsert=True)

    async def read(self) -> object:
        return await self.collection.find_one({"_id": self.key})

    async def write(self, field: str, value: bytes) -> None:
        await self.collection.update_one({"_id": self.key}, {"$set": {f"fields.{field}": value}})

    async def close(self) -> None:
        await self.collection.delete_one({"_id": self.key})


def _floor_table(sessions_table: str) -> str:
    """A quoted name for a SQL floor's own table, next to the sessions table and unique."""
    return f'"{sessions_table}_floor_{secrets.token_hex(4)}"'


class PostgresFloor:
    """PostgreSQL: ``SELECT`` (read) and ``SELECT`` + ``UPDATE`` of one field (write).

    Through the store's asyncpg pool, on a table of its own with the sessions
    table's ``key`` and ``fields`` columns (``jsonb``, the same JSON encoding of the
    fields), created by :meth:`seed` and dropped by :meth:`close`.  The write
    merges one field as the store's delta write does (``fields || $2``), without
    its expiry, meta and owner columns.
    """

    def __init__(self, pool: Any, table: str) -> None:
        self.pool = pool
        self.table = _floor_table(table)

    async def seed(self, fields: dict[str, bytes]) -> None:
        await self.pool.execute(
            f"CREATE TABLE {self.table} (key text PRIMARY KEY, fields jsonb NOT NULL)"
        )
        await self.pool.execute(
            f"INSERT INTO {self.table} VALUES ('floor', $1::jsonb)", encode_fields(fields)
        )

    async def read(self) -> object:
        return await self.pool.fetchrow(
            f"SELECT fields::text FROM {self.table} WHERE key = 'floor'"
        )

    async def write(self, field: str, value: bytes) -> None:
        await self.pool.execute(
            f"UPDATE {self.table} SET fields = fields || $1::jsonb WHERE key = 'floor'",
            encode_fields({field: value}),
        )

    async def close(self) -> None:
        await self.pool.execute(f"DROP TABLE IF EXISTS {self.table}")


class SQLiteFloor:
    """SQLite: ``SELECT`` (read) and ``SELECT`` + ``UPDATE`` of one field (write).

    Through the store's aiosqlite connection, on a table of its own with the
    sessions table's ``key`` and ``fields`` columns, created by :meth:`seed` and
    dropped by :meth:`close`; the write applies a one-field JSON merge patch
    (``json_patch``), as the store's delta write does.
    """

    def __init__(self, connection: Any, table: str) -> None:
        self.connection = connection
        self.table = _floor_table(table)

    async def seed(self, fields: dict[str, bytes]) -> None:
        await self.connection.execute(
            f"CREATE TABLE {self.table} (key TEXT PRIMARY KEY, fields TEXT NOT NULL)"
        )
        await self.connection.execute(
            f"INSERT INTO {self.table} VALUES ('floor', ?)", (encode_fields(fields),)
        )

    async def read(self) -> object:
        async with self.connection.execute(
            f"SELECT fields FROM {self.table} WHERE key = 'floor'"
        ) as cursor:
            return await cursor.fetchone()

    async def write(self, field: str, value: bytes) -> None:
        # Executed and closed, as the store runs its statements (two trips to
        # aiosqlite's thread, not one).
        async with self.connection.execute(
            f"UPDATE {self.table} SET fields = json_patch(fields, ?) WHERE key = 'floor'",
            (encode_fields({field: value}),),
        ) as cursor:
            assert cursor.rowcount == 1

    async def close(self) -> None:
        await self.connection.execute(f"DROP TABLE IF EXISTS {self.table}")


def make_floor(store: Store, scheme: str) -> Floor | None:
    """The client floor for ``store``'s kind, or ``None`` for a kind the suite does not know."""
    key = f"bench-floor-{secrets.token_hex(8)}"
    driver: Any = store  # the plugin's own public attributes, not the Store ABC's
    if scheme == "memory":
        return MemoryFloor()
    if scheme.startswith("redis") or scheme.startswith("valkey"):
        return RedisFloor(driver.client, driver.redis_key(key))
    if scheme.startswith("mongodb"):
        return MongoFloor(driver.collection, key)
    if scheme in ("postgresql", "postgres"):
        return PostgresFloor(driver.pool, driver.table)
    if scheme == "sqlite":
        return SQLiteFloor(driver.connection, driver.table)
    return None


async def _seeded_floor(store: Store, scheme: str) -> Floor | None:
    """The store's client floor, seeded; ``None`` if its kind has none or it cannot be set up.

    A floor that cannot be set up (a database user without the right to create a
    table, say) is left out with a warning in the server's log: the run measures
    the store without it rather than not at all.
    """
    floor = make_floor(store, scheme)
    if floor is None:
        return None
    # The same record as a seeded session of the smallest size, one field per key.
    dumps = MsgpackSerializer().dumps
    fields = {f"f:{k}": dumps(v) for k, v in make_payload(SIZES[0]).items()}
    try:
        await floor.seed(fields)
    except Exception as exc:
        print(f"warning: no client floor for this store: {exc!r}", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            await floor.close()
        return None
    return floor


async def serve(spec: dict[str, Any]) -> None:
    """Serve the benchmark application as ``spec`` says, until stdin closes.

    Whatever ends it (stdin closed, an interrupt, an error), the sessions it seeded
    and the floor's record or table are deleted and the store is closed, each even
    if another of these steps fails.
    """
    inner = create_store(spec["store"], timeout=2.0)
    state = BenchState(CountingStore(inner), race_io=float(spec.get("race_io", 0.001)))
    async with contextlib.AsyncExitStack() as cleanup:
        cleanup.push_async_callback(inner.close)
        await state.store.open()  # now: the SQL stores' floors use their pool or connection
        floor = await _seeded_floor(inner, spec["store"].split("://", 1)[0].lower())
        if floor is not None:
            cleanup.push_async_callback(floor.close)
            state.floor = floor
        cleanup.push_async_callback(_destroy_seeded, inner, state.seeded)
        app = make_app(state, spec["config"])
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        cleanup.callback(server.stop)
        closed = _stdin_closed()
        port = sockets[0].getsockname()[1]
        ready = {"port": port, "pid": os.getpid(), "floor": floor is not None}
        print(json.dumps(ready), flush=True)
        await closed.wait()


async def _destroy_seeded(store: Store, keys: set[str]) -> None:
    for key in keys:
        await store.destroy(key)


def main(argv: list[str]) -> None:
    spec: dict[str, Any] = json.loads(argv[0])
    cpu = spec.get("cpu")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})
    profile_path = spec.get("profile")
    if not profile_path:
        asyncio.run(serve(spec))
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(serve(spec))
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


if __name__ == "__main__":
    main(sys.argv[1:])
