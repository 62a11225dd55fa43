"""The MongoDB session store, :class:`MongoStore`: one document per session.

Document layout (``_id`` is the core's store key)::

    {
        "_id": "<store key>",
        "expires": ISODate(...),          # BSON date, millisecond precision
        "meta": BinData(...),             # the core's bytes, kept untouched
        "data": {"<escaped key>": BinData(...), ...},
    }

Session keys are escaped into field names by :mod:`tornado_sessions_mongo.fields`,
so a request that changed two keys sends ``$set``/``$unset`` for exactly those two
paths, in one atomic ``update_one`` that also requires the document to be live:
two requests that changed different keys both keep their change, and a session
destroyed meanwhile is not brought back.  A server whose updates are not atomic
(FerretDB 1.x reads a document and writes it back as two steps) is detected on
the first call; the store then serializes its own writes to each session, which
keeps the guarantee among the requests of one process.  Every server gets the
same conditional ``update_one`` (so the tests, which run on FerretDB, exercise
the write MongoDB gets).

Reading: ``load`` fetches the document by ``_id`` and checks it before handing
anything over: ``meta`` and every ``data`` value must be binary data (BSON binary
subtype 0, which PyMongo decodes as :class:`bytes`), ``expires`` a date the store
could have written.  Anything else (a field of another BSON type, a missing
field, a document the driver cannot decode) raises
:class:`~tornado_sessions.errors.CorruptRecordError`, so the core deletes it and
starts a fresh session.  Nothing is converted or allocated from a stored value
(``bytes(800_000_000)`` would be 800 MB of zeros): the values are handed over as
the driver decoded them, within MongoDB's 16 MB document limit, and the core
checks their total size before decoding any of it.

Expiry: ``load`` returns no document whose ``expires`` has passed, and the
conditional writes (``touch``, ``save_changes``) filter on ``expires > now``, so an
expired document is never returned nor brought back, whether or not it has been
reclaimed yet.  Reclaiming is the server's job through a TTL index on ``expires``
(created by :meth:`MongoStore.open`, idempotently); MongoDB's TTL monitor runs
every 60 s, and :meth:`MongoStore.purge_expired` deletes expired documents at
once.  A server that refuses TTL indexes (FerretDB 1.x, some managed offerings)
gets a logged warning and a background task that calls ``purge_expired`` every
``cleanup_interval`` seconds; :meth:`MongoStore.close` stops it.

The driver is PyMongo's asyncio API (:class:`pymongo.AsyncMongoClient`).  A Motor
client, database or collection is accepted as well: Motor is optional and never
imported here; its objects are recognised once Motor has been loaded by the caller.
This module imports PyMongo; the package imports it only when a store is built.

Timeouts and unreachable servers: with ``timeout`` set (the core passes
``SessionOptions.store_timeout``), every call is bounded by it, with one timer for
all calls (:class:`~tornado_sessions.stores.timeouts.SharedTimeout`).
A client the store creates from a URL gets ``serverSelectionTimeoutMS`` and
``connectTimeoutMS`` of half that, so a server that cannot be reached fails in
half the store timeout with an error that names the host and the cause
("127.0.0.1:27017: Connection refused"), the driver's own error chained.  A call
that hits the store's deadline raises :class:`TimeoutError` naming the hosts and
the last error the driver saw.  So the store sets ``enforces_timeout``; the
driver keeps monitoring the server, and calls succeed again as soon as it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

import pymongo
from bson.datetime_ms import DatetimeMS
from bson.errors import InvalidBSON
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import ConfigurationError as DriverConfigurationError
from pymongo.errors import InvalidName, OperationFailure, ServerSelectionTimeoutError
from pymongo.results import DeleteResult, UpdateResult

from tornado_sessions.errors import ConfigurationError, CorruptRecordError
from tornado_sessions.record import Changes, OwnedSession, Record
from tornado_sessions.stores.base import Store
from tornado_sessions.stores.purging import PeriodicPurge
from tornado_sessions.stores.timeouts import SharedTimeout

from .fields import escape_field, unescape_field
from .urls import DEFAULT_COLLECTION, DEFAULT_DATABASE, parse_store_url, timeout_options

__all__ = ["MongoStore"]

logger = logging.getLogger("tornado_sessions.mongo")

T = TypeVar("T")

#: Name of the TTL index the store creates on ``expires``.
TTL_INDEX_NAME = "expires_ttl"
#: The index ``owner_sessions`` reads.
OWNER_INDEX_NAME = "owner_1_expires_1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The latest instant a Python datetime (and so the store) can hold: 9999-12-31T23:59:59.999Z.
_MAX_MILLIS = 253_402_300_799_999
#: ``[Errno 111] ...`` in a driver message: the operating system's error number.
_ERRNO = re.compile(r"\[Errno (\d+)\]")


class _Cursor(Protocol):
    def __aiter__(self) -> AsyncIterator[Mapping[str, Any]]: ...


class _Database(Protocol):
    async def command(self, command: str, /) -> Mapping[str, Any]: ...


class _Collection(Protocol):
    """What the store uses of a collection: PyMongo's async API and Motor's agree on it."""

    @property
    def name(self) -> str: ...

    @property
    def full_name(self) -> str: ...

    @property
    def database(self) -> _Database: ...

    async def find_one(self, filter: Mapping[str, Any], /) -> Mapping[str, Any] | None: ...

    def find(self, filter: Mapping[str, Any], projection: Mapping[str, Any], /) -> _Cursor: ...

    async def replace_one(
        self, filter: Mapping[str, Any], replacement: Mapping[str, Any], /, *, upsert: bool
    ) -> UpdateResult: ...

    async def update_one(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], /
    ) -> UpdateResult: ...

    async def delete_one(self, filter: Mapping[str, Any], /) -> DeleteResult: ...

    async def delete_many(self, filter: Mapping[str, Any], /) -> DeleteResult: ...

    async def count_documents(self, filter: Mapping[str, Any], /) -> int: ...

    async def create_index(self, keys: list[tuple[str, int]], /, **kwargs: Any) -> str: ...

    async def index_information(self) -> Mapping[str, Mapping[str, Any]]: ...


def _is_motor(obj: object, kind: str) -> bool:
    """True if ``obj`` is a Motor ``AgnosticClient``/``AgnosticDatabase``/``AgnosticCollection``.

    Motor is not a dependency: if ``motor.core`` was never imported, nothing can be
    a Motor object, and nothing is imported here.
    """
    core = sys.modules.get("motor.core")
    cls = getattr(core, kind, None) if core is not None else None
    return isinstance(cls, type) and isinstance(obj, cls)


def _to_date(timestamp: float) -> datetime:
    """A Unix time as a UTC datetime, truncated to BSON's millisecond precision.

    Truncating means a record may expire up to a millisecond early, never late.
    """
    if math.isnan(timestamp):
        raise ValueError("expires_at is NaN")
    if timestamp <= 0:
        millis = 0
    elif timestamp >= _MAX_MILLIS / 1000:
        millis = _MAX_MILLIS
    else:
        millis = math.floor(timestamp * 1000)
    return _EPOCH + timedelta(milliseconds=millis)


_NAIVE_EPOCH = datetime(1970, 1, 1)


def _from_date(value: object) -> float:
    """The Unix time of a stored ``expires`` value, however the client decodes dates.

    :raises CorruptRecordError: not a date the store could have written.
    """
    if type(value) is datetime:
        if value.tzinfo is None:  # PyMongo's default: naive datetimes in UTC
            return (value - _NAIVE_EPOCH).total_seconds()
        return value.timestamp()
    if isinstance(value, DatetimeMS):  # a client with datetime_conversion=DATETIME_AUTO...
        millis = int(value)
        if 0 <= millis <= _MAX_MILLIS:
            return millis / 1000
        raise CorruptRecordError("the session document's expires is outside the years 1970-9999")
    if isinstance(value, datetime):
        return _from_date(datetime.fromtimestamp(value.timestamp(), UTC))
    raise CorruptRecordError(
        f"the session document's expires is {_bson_type(value)}, not a date"
    )


def _bson_type(value: object) -> str:
    """How a decoded value reads in a message: ``an int``, ``a str``, ``missing``."""
    if value is None:
        return "missing (or null)"
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def _record_of(doc: Mapping[str, Any], now: float) -> Record | None:
    """The record in a fetched document, ``None`` if it has expired.

    Types are checked before anything is built; nothing is converted, so no
    allocation depends on a value read from the server.

    :raises CorruptRecordError: not a document the store wrote.
    """
    expires_at = _from_date(doc.get("expires"))
    meta = doc.get("meta")
    if type(meta) is not bytes:
        raise CorruptRecordError(
            f"the session document's meta is {_bson_type(meta)}, not binary data"
        )
    data = doc.get("data")
    if type(data) is not dict:
        raise CorruptRecordError(
            f"the session document's data is {_bson_type(data)}, not a sub-document"
        )
    for name, value in data.items():
        if type(value) is not bytes:
            raise CorruptRecordError(
                f"the session document's data field {name[:64]!r} is {_bson_type(value)}, "
                "not binary data"
            )
    # Most names need no unescaping (no "%" in any): the decoded sub-document is the
    # fields as they are, a dict nothing else holds.
    fields = (
        data
        if "%" not in "".join(data)
        else {unescape_field(name): value for name, value in data.items()}
    )
    owner = doc.get("owner")
    if owner is not None and (type(owner) is not str or not 0 < len(owner) <= 128):
        raise CorruptRecordError(
            f"the session document's owner is {_bson_type(owner)}, not a short string"
        )
    if expires_at <= now:
        return None
    return Record(
        fields=fields,
        meta=meta,
        expires_at=expires_at,
        owner=owner,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _live(key: str, now: datetime) -> dict[str, Any]:
    return {"_id": key, "expires": {"$gt": now}}


def _address(address: object) -> str:
    if isinstance(address, tuple) and len(address) == 2:
        host, port = address
        host = f"[{host}]" if ":" in str(host) else str(host)
        return host if port is None else f"{host}:{port}"
    return str(address)


def _cause(error: object, address: str) -> str:
    """What a driver error says went wrong, without the address and timeouts it repeats."""
    text = str(error)
    if text.startswith(f"{address}: "):
        text = text[len(address) + 2 :]
    text = text.split(" (configured timeouts:", 1)[0]
    match = _ERRNO.search(text)
    if match:
        return os.strerror(int(match.group(1)))
    return text


class _KeyLocks:
    """One :class:`asyncio.Lock` per store key, held only while the key is being written.

    :class:`asyncio.Lock` gives what the writers of a key need: an uncontended
    ``acquire`` returns without suspending, waiters get the lock in arrival order,
    and one cancelled after its turn came passes it on.  A key's lock is dropped
    when nobody holds or awaits it, so the table holds only the keys being written.
    """

    def __init__(self) -> None:
        #: key -> its lock and how many writers hold or await it
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    async def acquire(self, key: str) -> None:
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            await lock.acquire()
        except BaseException:
            self._leave(key, users)
            raise

    def release(self, key: str) -> None:
        lock, users = self._locks[key]
        lock.release()
        self._leave(key, users)

    def _leave(self, key: str, users: list[int]) -> None:
        users[0] -= 1
        if not users[0]:
            del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


class MongoStore(Store):
    """Sessions in a MongoDB collection, one document each.

    :param target: a ``mongodb://``/``mongodb+srv://`` URL, or an
        :class:`~pymongo.AsyncMongoClient`, ``AsyncDatabase`` or ``AsyncCollection``,
        or their Motor counterparts.  The store closes a client only if it made it
        (from a URL).
    :param database: database name, for a URL or a client.  Default: the URL's
        path, else the client's default database, else ``"tornado_sessions"``.
    :param collection: collection name, for a URL, client or database.  Default:
        the URL's ``collection`` option, else ``"sessions"``.
    :param timeout: seconds every store call may take (``None``: leave it to the
        client's own settings, and to the core).
    :param cleanup_interval: seconds between two deletions of expired documents,
        used only when the server refuses TTL indexes.
    :param client_options: extra keyword arguments for the client made from a URL.
    :param serialize_writes: run this store's writes to one session one at a time.
        Needed only on servers whose updates are not atomic (FerretDB 1.x applies
        an update as a read and a separate write), and it helps there only within
        one process.  ``None`` (default): decided by :meth:`open` by asking the
        server (``buildInfo``).

    A URL is checked here (an unknown option is a ``ConfigurationError``); nothing
    connects before :meth:`open` (or the first call, if ``open`` was never awaited).
    An ``AsyncMongoClient`` (and so the store, if it made one) is bound to the
    event loop it is first used on.
    """

    def __init__(
        self,
        target: str | object,
        *,
        database: str | None = None,
        collection: str | None = None,
        timeout: float | None = 2.0,
        cleanup_interval: float | None = None,
        client_options: Mapping[str, Any] | None = None,
        serialize_writes: bool | None = None,
    ) -> None:
        if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
            raise ConfigurationError(
                f"the store timeout must be a positive number of seconds, not {timeout!r}"
            )
        #: Seconds every store call may take; ``None`` if unbounded by the store.
        self.timeout = timeout
        self.enforces_timeout = timeout is not None
        #: Bounds every call, with one timer for all of them.
        self._shared_timeout = SharedTimeout(timeout) if timeout is not None else None
        self._owned_client: AsyncMongoClient[dict[str, Any]] | None = None
        #: The URL's hosts (no credentials), for messages; ``None`` for a client.
        self._seeds: str | None = None

        if isinstance(target, str):
            parsed = parse_store_url(target)
            self._seeds = parsed.hosts
            options = {**timeout_options(parsed, timeout), **(client_options or {})}
            try:
                client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                    parsed.client_url, **options
                )
            except (DriverConfigurationError, ValueError, TypeError) as exc:
                raise ConfigurationError(f"bad MongoDB store URL or option: {exc}") from exc
            self._owned_client = client
            target = client
            database = database or parsed.database
            collection = collection or parsed.collection
            if cleanup_interval is None:
                cleanup_interval = parsed.cleanup_interval
        elif client_options:
            raise ConfigurationError("client_options apply only to a store made from a URL")

        if cleanup_interval is not None and not cleanup_interval > 0:
            raise ConfigurationError(
                f"cleanup_interval must be positive, not {cleanup_interval!r}"
            )
        #: Seconds between two cleanups, when the server has no TTL index.
        self.cleanup_interval = cleanup_interval or 60.0
        try:
            #: The collection the sessions live in (PyMongo's or Motor's).
            self.collection: Any = self._resolve(target, database, collection)
        except InvalidName as exc:
            raise ConfigurationError(f"bad MongoDB database or collection name: {exc}") from exc
        self._coll = cast(_Collection, self.collection)
        #: ``True`` once the TTL index exists, ``False`` if the server refused it
        #: (the cleanup task runs instead), ``None`` before :meth:`open`.
        self.ttl_index: bool | None = None
        #: Whether the server applies a single-document update atomically (MongoDB
        #: does, FerretDB 1.x does not); ``None`` before :meth:`open`.
        self.atomic_updates: bool | None = None
        #: Whether writes to one session are serialized in this process; see above.
        self.serialize_writes = serialize_writes
        self._prepared = False
        self._prepare_lock = asyncio.Lock()
        self._key_locks = _KeyLocks()
        self._cleanup = PeriodicPurge(
            self.purge_expired,
            interval=self.cleanup_interval,
            what=self._coll.full_name,
            logger=logger,
        )

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> MongoStore:
        """The store factory registered for ``mongodb://`` and ``mongodb+srv://``."""
        return cls(url, timeout=timeout)

    @staticmethod
    def _resolve(target: object, database: str | None, collection: str | None) -> object:
        if isinstance(target, Collection | Database | pymongo.MongoClient):
            raise ConfigurationError(
                "MongoStore needs an asyncio client: pymongo.AsyncMongoClient (or a Motor "
                f"client), not the synchronous {type(target).__name__}"
            )
        if isinstance(target, AsyncCollection) or _is_motor(target, "AgnosticCollection"):
            if database is not None or collection is not None:
                raise ConfigurationError(
                    "database and collection cannot be given with a collection object"
                )
            return _with_dict_documents(target)
        collection = collection or DEFAULT_COLLECTION
        if isinstance(target, AsyncDatabase) or _is_motor(target, "AgnosticDatabase"):
            if database is not None:
                raise ConfigurationError("database cannot be given with a database object")
            return _with_dict_documents(cast(Any, target)[collection])
        if isinstance(target, AsyncMongoClient) or _is_motor(target, "AgnosticClient"):
            client = cast(Any, target)
            db = client[database] if database else client.get_default_database(DEFAULT_DATABASE)
            return _with_dict_documents(db[collection])
        raise ConfigurationError(
            "MongoStore takes a mongodb:// URL, or a pymongo.AsyncMongoClient, AsyncDatabase "
            f"or AsyncCollection (or a Motor one), not {type(target).__name__}"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._coll.full_name} at {self.hosts}>"

    @property
    def hosts(self) -> str:
        """The servers the client knows (the URL's hosts before it connects), for messages."""
        addresses = [_address(address) for address, _ in self._server_errors(all_servers=True)]
        return ",".join(addresses) or self._seeds or "?"

    def _server_errors(self, *, all_servers: bool = False) -> list[tuple[object, object]]:
        """``(address, error)`` of the servers the driver last failed to reach."""
        try:
            description = self.collection.database.client.topology_description
            servers: Iterable[tuple[object, Any]] = description.server_descriptions().items()
        except Exception:  # a client type we do not know: messages only lose detail
            return []
        return [
            (address, server.error)
            for address, server in servers
            if all_servers or server.error is not None
        ]

    def _unreachable(self, error: ServerSelectionTimeoutError) -> ServerSelectionTimeoutError:
        """The driver's server selection error, restated: the hosts and why each failed."""
        failures = [
            f"{_address(address)}: {_cause(cause, _address(address))}"
            for address, cause in self._server_errors()
        ]
        if failures:
            message = f"MongoDB unreachable: {'; '.join(failures)}"
        else:
            message = f"no suitable MongoDB server at {self.hosts}"
        return ServerSelectionTimeoutError(f"{message} (server selection timed out)")

    def _no_answer(self) -> TimeoutError:
        failures = [
            f"{_address(address)}: {_cause(cause, _address(address))}"
            for address, cause in self._server_errors()
        ]
        message = f"MongoDB at {self.hosts} did not answer within {self.timeout}s (store timeout)"
        if failures:
            message += f"; the driver's last errors: {'; '.join(failures)}"
        return TimeoutError(message)

    # -- plumbing ---------------------------------------------------------------

    async def _call(
        self, operation: Callable[[], Awaitable[T]], *, write_to: str | None = None
    ) -> T:
        """Run one store operation within the timeout, once the store is prepared.

        ``write_to``: the key a write goes to, for :attr:`serialize_writes`.
        """
        try:
            if self._shared_timeout is None:
                return await self._when_prepared(operation, write_to)
            return await self._shared_timeout.run(self._when_prepared(operation, write_to))
        except ServerSelectionTimeoutError as exc:
            raise self._unreachable(exc) from exc
        except TimeoutError as exc:
            raise self._no_answer() from exc

    async def _when_prepared(
        self, operation: Callable[[], Awaitable[T]], write_to: str | None
    ) -> T:
        if not self._prepared:
            await self._prepare()
        if write_to is None or not self.serialize_writes:
            return await operation()
        locks = self._key_locks
        await locks.acquire(write_to)
        try:
            return await operation()
        finally:
            locks.release(write_to)

    async def _prepare(self) -> None:
        """Learn what the server can do, and create the TTL index (once)."""
        async with self._prepare_lock:
            if self._prepared:
                return
            if self.atomic_updates is None:
                self.atomic_updates = await self._probe_atomic_updates()
            if self.serialize_writes is None:
                self.serialize_writes = not self.atomic_updates
            if self.ttl_index is None:
                await self._create_indexes()
            self._prepared = True

    async def open(self) -> None:
        """Connect: probe the server and create the TTL index.  Idempotent.

        The core awaits it once, in ``open_sessions(app)``.  A store used without
        it does the same on its first call.  If the server refuses TTL indexes,
        logs a warning and starts the cleanup task.  Driver errors (server
        unreachable...) propagate, and the next call tries again.
        """
        self._check_selection_timeout()
        await self._call(_noop)

    def _check_selection_timeout(self) -> None:
        """Warn when the client waits for a server as long as a whole store call may take."""
        if self.timeout is None:
            return
        try:
            options = self.collection.database.client.options
            selection = options.timeout or options.server_selection_timeout
        except Exception:
            return
        if isinstance(selection, int | float) and selection >= self.timeout:
            logger.warning(
                "the MongoDB client waits up to %g s for a server, not less than the store "
                "timeout of %g s: an unreachable server will show as a timeout rather than "
                "fail at once with its cause; give the client serverSelectionTimeoutMS=%d",
                selection,
                self.timeout,
                max(1, round(self.timeout * 500)),
            )

    async def _probe_atomic_updates(self) -> bool:
        try:
            info = await self._coll.database.command("buildInfo")
        except OperationFailure:  # not allowed to ask: assume a MongoDB
            return True
        version = str(info.get("ferretdbVersion") or "")
        if not re.match(r"v?1\.", version):
            return True
        logger.warning(
            "FerretDB %s applies an update as a read and a separate write, so two writes "
            "to one session at the same time can lose one's changes; %s",
            version,
            "this store serializes its writes to each session (which protects only "
            "the requests of this process)"
            if self.serialize_writes is not False
            else "serialize_writes=False was asked for, so they are not serialized",
        )
        return False

    async def _create_indexes(self) -> None:
        coll = self._coll
        # Listing an owner's sessions reads this index only (never a scan).
        await coll.create_index([("owner", 1), ("expires", 1)], name=OWNER_INDEX_NAME)
        try:
            await coll.create_index([("expires", 1)], expireAfterSeconds=0, name=TTL_INDEX_NAME)
        except OperationFailure as exc:
            if await self._has_ttl_index():
                self.ttl_index = True
                return
            logger.warning(
                "the server refused a TTL index on %s.expires (%s); expired sessions are "
                "never returned, and a task in this process will delete them every %g s",
                coll.full_name,
                (exc.details or {}).get("errmsg") or exc,
                self.cleanup_interval,
            )
            with contextlib.suppress(OperationFailure):
                await coll.create_index([("expires", 1)], name="expires_1")
            self.ttl_index = False
            self._cleanup.start()
        else:
            self.ttl_index = True

    async def _has_ttl_index(self) -> bool:
        """Whether a TTL index on ``expires`` alone exists already (say, under another name)."""
        try:
            indexes = await self._coll.index_information()
        except OperationFailure:
            return False
        return any(
            list(spec.get("key", ())) == [("expires", 1)] and "expireAfterSeconds" in spec
            for spec in indexes.values()
        )

    @property
    def cleanup_running(self) -> bool:
        """Whether the cleanup task (the fallback for a missing TTL index) is running."""
        return self._cleanup.running

    # -- the contract -----------------------------------------------------------

    async def load(self, key: str) -> Record | None:
        try:
            doc = await self._call(lambda: self._coll.find_one({"_id": key}))
        except InvalidBSON as exc:  # a date past 9999, invalid UTF-8...
            raise CorruptRecordError(f"the session document cannot be decoded: {exc}") from exc
        if doc is None:
            return None
        return _record_of(doc, time.time())

    async def save(self, key: str, record: Record) -> None:
        expires = _to_date(record.expires_at)
        if expires <= _now():
            # Already expired: what is stored under the key must go, and nothing is written.
            await self._call(lambda: self._coll.delete_one({"_id": key}), write_to=key)
            return
        doc = {
            "_id": key,
            "expires": expires,
            "meta": bytes(record.meta),
            "data": {escape_field(name): bytes(value) for name, value in record.fields.items()},
        }
        if record.owner is not None:
            doc["owner"] = record.owner
        await self._call(
            lambda: self._coll.replace_one({"_id": key}, doc, upsert=True), write_to=key
        )

    async def destroy(self, key: str) -> None:
        await self._call(lambda: self._coll.delete_one({"_id": key}), write_to=key)

    async def touch(self, key: str, expires_at: float) -> bool:
        expires = _to_date(expires_at)
        return await self._update_live(key, expires, {"$set": {"expires": expires}})

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        updates: dict[str, Any] = {
            f"data.{escape_field(name)}": bytes(value) for name, value in changes.updated.items()
        }
        expires = _to_date(expires_at)
        updates["meta"] = bytes(meta)
        updates["expires"] = expires
        unset = {f"data.{escape_field(name)}": "" for name in changes.deleted}
        if changes.owner is not None:
            updates["owner"] = changes.owner
        else:
            unset["owner"] = ""
        update: dict[str, Any] = {"$set": updates, "$unset": unset}
        return await self._update_live(key, expires, update)

    async def _update_live(self, key: str, expires: datetime, update: Mapping[str, Any]) -> bool:
        """Apply ``update`` to the live document under ``key``; ``False`` if there is none.

        A new expiry (``expires``) in the past deletes the document instead.
        """
        now = _now()
        if expires <= now:
            deleted = await self._call(
                lambda: self._coll.delete_one(_live(key, now)), write_to=key
            )
            return deleted.deleted_count == 1
        result = await self._call(
            lambda: self._coll.update_one(_live(key, now), update), write_to=key
        )
        return result.matched_count == 1

    async def owner_sessions(self, owner: str) -> list[OwnedSession]:
        """The live sessions of ``owner``, from the ``owner_1_expires_1`` index: one query."""

        async def run() -> list[OwnedSession]:
            found = []
            cursor = self._coll.find(
                {"owner": owner, "expires": {"$gt": _now()}}, {"meta": 1, "expires": 1}
            )
            async for doc in cursor:
                meta, key = doc.get("meta"), doc.get("_id")
                if type(meta) is bytes and type(key) is str:
                    found.append(OwnedSession(key, meta, _from_date(doc.get("expires"))))
            return found

        try:
            return await self._call(run)
        except CorruptRecordError:
            return []

    async def purge_expired(self) -> int:
        """Delete the documents whose expiry has passed, now; return how many.

        With a TTL index the server does it on its own, but its TTL monitor runs
        only every 60 s (expired documents are never returned meanwhile); without
        one, the cleanup task calls this every ``cleanup_interval`` seconds.
        """

        async def run() -> int:
            result = await self._coll.delete_many({"expires": {"$lte": _now()}})
            return result.deleted_count

        return await self._call(run)

    async def clear(self) -> None:
        await self._call(lambda: self._coll.delete_many({}))

    async def count(self) -> int:
        return await self._call(lambda: self._coll.count_documents({"expires": {"$gt": _now()}}))

    async def keys(self) -> AsyncIterator[str]:
        # Documents are fetched in batches; each batch is bounded by the client's
        # own timeouts.
        await self._call(_noop)
        cursor = self._coll.find({"expires": {"$gt": _now()}}, {"_id": 1})
        async for doc in cursor:
            yield str(doc["_id"])

    async def close(self) -> None:
        """Stop the cleanup task, and close the client if the store made it.

        Idempotent, and allowed on a store that was never opened.
        """
        await self._cleanup.stop()
        client, self._owned_client = self._owned_client, None
        if client is not None:
            await client.close()


def _with_dict_documents(collection: Any) -> Any:
    """``collection``, decoding documents as plain dicts whatever the client's document class."""
    codec_options = collection.codec_options
    if codec_options.document_class is dict:
        return collection
    return collection.with_options(codec_options=codec_options.with_options(document_class=dict))


async def _noop() -> None:
    return None
