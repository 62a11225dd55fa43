"""The store contract suite (version 2): the tests every store must pass, reusable by plugins.

A store plugin proves itself with a few lines in its own tests::

    import pytest
    from tornado_sessions.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture(autouse=True)
        def _server(self, my_server_url):       # any fixture of yours
            self.url = my_server_url

        async def create_store(self):
            return MyStore.from_url(self.url, timeout=2.0)   # not opened yet

How each test runs:

1. :meth:`StoreContract.create_store` builds the store, inside the test's own event
   loop (a fresh :class:`asyncio.Runner` per test: the suite needs ``pytest`` only,
   not pytest-tornado, and emits no deprecation warning);
2. the suite awaits ``store.open()``, then :meth:`StoreContract.reset_store` (by
   default ``clear()`` when the store has it) so the store starts empty;
3. it saves three *neighbour* sessions (keys ``K1``, ``k10`` and ``k``, next to the
   ``k1`` most tests use) and, once the test's own checks passed, checks that they
   are exactly as saved: an operation on one key must never reach another;
4. it awaits ``store.close()``.

Hooks a test class may override:

- :meth:`~StoreContract.create_store` (required);
- :meth:`~StoreContract.reset_store`: empty the store after ``open()``;
- :meth:`~StoreContract.plant_expired`: put a record whose expiry has passed into
  the backend, as if the backend had not reclaimed it yet.  The default saves it
  with ``store.save()``; see the method for when to override it;
- ``max_blocking_seconds`` (default 0.005): the longest a store call may hold the
  event loop in one step;
- ``max_test_seconds`` (default 60): seconds a single test may take.

Failures are plain :class:`AssertionError` messages that carry the values (no
pytest assertion rewriting is needed).  Tests of an optional capability the store
does not implement are skipped, naming it.  The owed expiry precision is
:data:`PRECISION` (one millisecond); see :data:`ROUNDING`.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Mapping,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from ..record import Changes, OwnedSession, Record
from ..stores.base import Store

__all__ = [
    "FIELD_NAMES",
    "NEIGHBOURS",
    "PRECISION",
    "ROUNDING",
    "StoreContract",
    "record",
]

T = TypeVar("T")

#: The expiry precision a store owes: a millisecond.
PRECISION = 0.001
#: What the suite allows between the ``expires_at`` asked for and the one ``load``
#: returns: one :data:`PRECISION` of rounding when writing and one when reading,
#: plus the duration of the calls themselves (for stores that keep a TTL relative
#: to the server's clock).  A whole-second store is off by up to a second.
ROUNDING = 2 * PRECISION

#: Field names a store must keep apart and exactly: case pairs, whitespace,
#: Unicode normalization and case-folding pairs, long names, characters that mean
#: something to some backend.  Each value names its field, so a mix-up shows.
FIELD_NAMES: dict[str, bytes] = {
    "user": b"lower",
    "User": b"title case",
    "USER": b"upper case",
    " user": b"leading space",
    "user ": b"trailing space",
    "us er": b"inner space",
    "user\t": b"trailing tab",
    "user\n": b"trailing newline",
    "\u00e9": b"e acute, composed (NFC)",
    "e\u0301": b"e + combining acute (NFD)",
    "stra\u00dfe": b"sharp s",
    "strasse": b"sharp s case-folded",
    "\u0130": b"capital I with dot",
    "i\u0307": b"i + combining dot",
    "\ufb01": b"fi ligature",
    "fi": b"f i",
    "\u65e5\u672c\u8a9e": b"CJK",
    "\U0001f600": b"astral plane",
    "\u200b": b"zero width space",
    "": b"empty name",
    "a.b": b"dot",
    "$set": b"dollar",
    "x$.y": b"dollar and dot",
    "_id": b"mongo id",
    "m": b"one letter",
    "f:x": b"colon",
    "%": b"percent",
    "'\"\\": b"quotes and backslash",
    "n" * 1024: b"1024 characters",
    "\u00e9" * 300: b"300 non-ASCII characters",
}


def record(
    fields: Mapping[str, bytes] | None = None,
    *,
    ttl: float = 600.0,
    meta: bytes = b"m",
    owner: str | None = None,
) -> Record:
    """A record expiring ``ttl`` seconds from now (``{"a": b"1"}`` unless ``fields``)."""
    return Record(dict({"a": b"1"} if fields is None else fields), meta, time.time() + ttl, owner)


def _neighbours() -> dict[str, Record]:
    now = time.time()
    return {
        # "K1": the case pair of "k1", and fields named like those the tests change.
        "K1": Record(
            {
                "a": b"K1-a",
                "user": b"K1-user",
                "User": b"K1-User",
                "gone": b"K1-gone",
                "old": b"K1-old",
                "keep": b"K1-keep",
                "b": b"K1-b",
                "key0": b"K1-key0",
            },
            b"K1-meta",
            now + 5000.375,
            "neighbour-owner",
        ),
        # "k10": "k1" is a prefix of it (a LIKE 'k1%' or a glob would catch it).
        "k10": Record(
            {"a": b"k10-a", "gone": b"k10-gone", " user": b"k10-space"},
            b"k10-meta",
            now + 6000.625,
            "neighbour-owner",
        ),
        "k": Record({}, b"k-meta", now + 7000.125, None),
    }


#: The keys of the neighbour sessions every test runs beside (see the module docstring).
NEIGHBOURS = ("K1", "k10", "k")


# -- readable failures ---------------------------------------------------------------


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 12]}...({len(text)} chars)"


def _fail(message: str) -> None:
    __tracebackhide__ = True
    raise AssertionError(message)


def _expect(condition: bool, message: str) -> None:
    __tracebackhide__ = True
    if not condition:
        raise AssertionError(message)


def _name(name: str) -> str:
    """A field name as Python would write it, escaped to ASCII: ``'e\\u0301'`` shows."""
    text = ascii(name)
    return text if len(text) <= 40 else f"{text[:28]}...({len(name)} chars)"


def _fields_diff(actual: Mapping[str, bytes], expected: Mapping[str, bytes]) -> str:
    parts = []
    missing = [name for name in expected if name not in actual]
    extra = [name for name in actual if name not in expected]
    changed = [n for n in expected if n in actual and actual[n] != expected[n]]
    if missing:
        parts.append("missing " + ", ".join(_name(n) for n in missing))
    if extra:
        parts.append("unexpected " + ", ".join(_name(n) for n in extra))
    for name in changed:
        parts.append(
            f"{_name(name)} holds {_short(actual[name], 40)}, expected {_short(expected[name], 40)}"
        )
    return "; ".join(parts)


def _check_fields(what: str, actual: Mapping[str, bytes], expected: Mapping[str, bytes]) -> None:
    __tracebackhide__ = True
    actual = dict(actual)
    if actual != dict(expected):
        _fail(f"{what}: fields differ: {_fields_diff(actual, expected)}")


def _check_expiry(what: str, actual: float, expected: float, slack: float) -> None:
    __tracebackhide__ = True
    allowed = ROUNDING + slack
    if not abs(actual - expected) <= allowed:
        _fail(
            f"{what}: expires_at is {actual:.6f}, asked for {expected:.6f}: off by "
            f"{(actual - expected) * 1000:+.3f} ms, more than the {allowed * 1000:.3f} ms "
            f"allowed (a store keeps expiry to the millisecond)"
        )


def _check_record(what: str, loaded: Record | None, expected: Record, slack: float = 0.0) -> Record:
    __tracebackhide__ = True
    if loaded is None:
        _fail(f"{what}: load returned None, expected the record {_short(dict(expected.fields))}")
    assert loaded is not None
    _check_fields(what, loaded.fields, expected.fields)
    _expect(
        loaded.meta == expected.meta,
        f"{what}: meta is {_short(loaded.meta)}, expected {_short(expected.meta)}",
    )
    _check_expiry(what, loaded.expires_at, expected.expires_at, slack)
    return loaded


# -- measuring how long a call holds the event loop ------------------------------------


class _Steps:
    """Awaits an awaitable step by step, timing each step (the time it holds the loop)."""

    def __init__(self, awaitable: Awaitable[T]) -> None:
        self._awaitable = awaitable
        self.longest = 0.0

    def _note(self, started: float) -> None:
        self.longest = max(self.longest, time.perf_counter() - started)

    def __await__(self) -> Generator[Any, Any, Any]:
        iterator = self._awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        while True:
            started = time.perf_counter()
            try:
                yielded = iterator.send(value) if error is None else iterator.throw(error)
            except StopIteration as stop:
                self._note(started)
                return stop.value
            except BaseException:
                self._note(started)
                raise
            self._note(started)
            try:
                value, error = (yield yielded), None
            except BaseException as exc:  # cancellation, passed on to the store's call
                value, error = None, exc


@dataclass
class _Seeded:
    records: dict[str, Record]
    slack: float


class StoreContract:
    """Mix into a test class and implement :meth:`create_store`; see the module docstring."""

    #: The longest a store call may hold the event loop in one step, in seconds.
    max_blocking_seconds: float = 0.005
    #: Seconds one test may take before it fails.
    max_test_seconds: float = 60.0

    # -- hooks for the author --------------------------------------------------------

    async def create_store(self) -> Store:
        """Build the store as its URL factory would: not opened.  Called once per test."""
        raise NotImplementedError("a StoreContract test class implements create_store()")

    async def reset_store(self, store: Store) -> None:
        """Empty the store; called right after ``open()``.

        The default calls ``clear()`` when the store has it and does nothing
        otherwise (then ``create_store`` must give an empty store, e.g. on a fresh
        directory or key prefix).
        """
        if "clear" in store.capabilities:
            await store.clear()

    async def plant_expired(self, store: Store, key: str, record: Record) -> None:
        """Make the backend hold ``record``, whose ``expires_at`` has passed, under ``key``.

        This simulates a record that has expired but that the backend has not
        reclaimed yet, which ``load`` must not return and ``touch``/``save_changes``
        must not bring back.  The default saves it with ``store.save(key, record)``,
        which plants it in any store whose ``save`` writes what it is given (a SQL
        row, a file).  A store whose ``save`` deletes already-expired records
        instead (as the Redis store does) plants nothing with the default: the
        tests then check the missing case, which is right for a backend that
        reclaims records the moment they expire (a Redis TTL).  Override it when
        the backend can hold expired records that ``save`` does not write: write
        one directly (an ``UPDATE`` that sets the expiry column in the past).
        """
        await store.save(key, record)

    # -- running a test ----------------------------------------------------------------

    def _run(self, test: Callable[[], Coroutine[Any, Any, None]]) -> None:
        __tracebackhide__ = True

        skipped: list[BaseException] = []

        async def bounded() -> None:
            deadline = asyncio.timeout(self.max_test_seconds)
            try:
                async with deadline:
                    await test()
            except TimeoutError:
                if not deadline.expired():
                    raise  # the store's own timeout
                _fail(f"the test took longer than {self.max_test_seconds}s (max_test_seconds)")
            except pytest.skip.Exception as skip:  # raised outside the loop, below
                skipped.append(skip)

        with asyncio.Runner() as runner:
            runner.run(bounded())
        if skipped:
            raise skipped[0]

    @asynccontextmanager
    async def _store(self, *needs: str, neighbours: bool = True) -> AsyncIterator[Store]:
        store = await self.create_store()
        try:
            missing = [name for name in needs if name not in store.capabilities]
            if missing:
                pytest.skip(f"{type(store).__name__} does not implement {', '.join(missing)}")
            await store.open()
            await self.reset_store(store)
            seeded = await self._seed(store) if neighbours else None
            yield store
            if seeded is not None:
                await self._check_neighbours(store, seeded)
        finally:
            await store.close()

    async def _seed(self, store: Store) -> _Seeded:
        records = _neighbours()
        started = time.perf_counter()
        for key, neighbour in records.items():
            await store.save(key, neighbour)
        return _Seeded(records, time.perf_counter() - started)

    async def _check_neighbours(self, store: Store, seeded: _Seeded) -> None:
        __tracebackhide__ = True
        for key, expected in seeded.records.items():
            started = time.perf_counter()
            loaded = await store.load(key)
            slack = seeded.slack + time.perf_counter() - started
            _check_record(
                f"the neighbour session {key!r}, saved before the test, was changed by it",
                loaded,
                expected,
                slack,
            )
        if "owner_sessions" in store.capabilities:
            owned = await store.owner_sessions("neighbour-owner")
            _expect(
                sorted(session.key for session in owned) == ["K1", "k10"],
                f"owner_sessions('neighbour-owner') lists {sorted(s.key for s in owned)}, "
                "expected ['K1', 'k10'] (the neighbour sessions, saved before the test)",
            )

    # == required methods ==============================================================

    def test_load_missing_returns_none(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                loaded = await store.load("missing-key")
                _expect(loaded is None, f"load('missing-key') returned {loaded!r}, not None")

        self._run(test)

    def test_save_then_load_round_trips(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                saved = record(
                    {"user": b"\x01\x02", "cart": b"\x93\x01\x02\x03"}, meta=b"\x00meta\xff"
                )
                started = time.perf_counter()
                await store.save("k1", saved)
                loaded = await store.load("k1")
                slack = time.perf_counter() - started
                _check_record("load('k1') after save", loaded, saved, slack)

        self._run(test)

    def test_save_replaces_the_whole_record(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await store.save("k1", record({"a": b"1", "b": b"2"}, meta=b"old"))
                replacement = record({"c": b"3"}, meta=b"new", ttl=900)
                started = time.perf_counter()
                await store.save("k1", replacement)
                loaded = await store.load("k1")
                _check_record(
                    "load('k1') after a second save",
                    loaded,
                    replacement,
                    time.perf_counter() - started,
                )

        self._run(test)

    def test_empty_record_round_trips(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                empty = Record({}, b"m", time.time() + 600)
                started = time.perf_counter()
                await store.save("k1", empty)
                loaded = await store.load("k1")
                _check_record(
                    "a record with no fields", loaded, empty, time.perf_counter() - started
                )

        self._run(test)

    def test_destroy_removes_only_that_record_and_tolerates_missing(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await store.save("k1", record({"a": b"one"}))
                await store.save("k2", record({"a": b"two"}))
                await store.destroy("k1")
                loaded = await store.load("k1")
                _expect(loaded is None, f"load('k1') after destroy returned {loaded!r}")
                other = await store.load("k2")
                _expect(
                    other is not None and dict(other.fields) == {"a": b"two"},
                    f"destroy('k1') changed 'k2': load('k2') returned {other!r}",
                )
                await store.destroy("k1")  # twice: not an error
                await store.destroy("never-existed")

        self._run(test)

    def test_field_names_are_kept_exactly(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                saved = record(FIELD_NAMES)
                await store.save("k1", saved)
                loaded = await store.load("k1")
                _expect(loaded is not None, "load('k1') returned None after save")
                assert loaded is not None
                _check_fields(
                    "field names (case, whitespace, Unicode, long) after save",
                    loaded.fields,
                    FIELD_NAMES,
                )

        self._run(test)

    def test_values_are_binary_safe(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                fields = {
                    "empty": b"",
                    "nul": b"\x00",
                    "nuls": b"\x00\xff\x00",
                    "every byte": bytes(range(256)),
                    "utf8": "\u00fcn\u00ef".encode(),
                    "not utf8": b"\xc3\x28\xff\xfe",
                    "big": bytes(range(256)) * 1024,  # 256 KiB
                }
                await store.save("k1", record(fields, meta=b"\x00\xff"))
                loaded = await store.load("k1")
                _expect(loaded is not None, "load('k1') returned None after save")
                assert loaded is not None
                _check_fields("binary values after save", loaded.fields, fields)
                _expect(loaded.meta == b"\x00\xff", f"meta came back as {loaded.meta!r}")

        self._run(test)

    # -- expiry ------------------------------------------------------------------------

    def test_expired_record_is_never_returned(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await store.save("k1", record(ttl=-0.002))
                loaded = await store.load("k1")
                _expect(
                    loaded is None,
                    "load('k1') returned a record saved with an expires_at 2 ms in the "
                    f"past: {loaded!r}",
                )
                await self.plant_expired(store, "k2", record(ttl=-10))
                loaded = await store.load("k2")
                _expect(
                    loaded is None,
                    f"load('k2') returned a record that expired 10 s ago: {loaded!r}",
                )

        self._run(test)

    def test_expiry_is_kept_to_the_millisecond(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                now = time.time()
                # Half-way between two whole seconds, and a few milliseconds off any
                # whole millisecond count, so rounding of any kind shows.
                for ttl_key, expires_at in (
                    ("k1", math.floor(now) + 600.5),
                    ("k2", now + 5.25),
                    ("k3", math.floor(now) + 86_400 * 30 + 0.2505),
                ):
                    saved = Record({"a": b"1"}, b"m", expires_at)
                    started = time.perf_counter()
                    await store.save(ttl_key, saved)
                    loaded = await store.load(ttl_key)
                    _check_record(
                        f"load({ttl_key!r}) of a record expiring at {expires_at:.4f}",
                        loaded,
                        saved,
                        time.perf_counter() - started,
                    )

        self._run(test)

    # == conditional writes ============================================================

    def test_touch_moves_only_the_expiry(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                saved = record({"a": b"1", "User": b"2"}, ttl=60, meta=b"meta")
                await store.save("k1", saved)
                later = math.floor(time.time()) + 3600.5
                started = time.perf_counter()
                touched = await store.touch("k1", later)
                _expect(touched is True, f"touch('k1') of a live record returned {touched!r}")
                loaded = await store.load("k1")
                _check_record(
                    "load('k1') after touch",
                    loaded,
                    Record(saved.fields, saved.meta, later),
                    time.perf_counter() - started,
                )

        self._run(test)

    def test_touch_into_the_past_expires(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await store.save("k1", record())
                await store.touch("k1", time.time() - 0.002)
                loaded = await store.load("k1")
                _expect(
                    loaded is None,
                    f"load('k1') after touch to 2 ms in the past returned {loaded!r}",
                )

        self._run(test)

    def test_touch_of_missing_record_creates_nothing(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                touched = await store.touch("ghost", time.time() + 600)
                _expect(touched is False, f"touch('ghost') of no record returned {touched!r}")
                await store.save("k1", record())
                await store.destroy("k1")
                touched = await store.touch("k1", time.time() + 600)
                _expect(touched is False, f"touch('k1') after destroy returned {touched!r}")
                for key in ("ghost", "k1"):
                    loaded = await store.load(key)
                    _expect(loaded is None, f"touch({key!r}) created a record: {loaded!r}")

        self._run(test)

    def test_touch_of_expired_but_present_record_brings_nothing_back(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await self.plant_expired(store, "k1", record({"a": b"old"}, ttl=-10))
                touched = await store.touch("k1", time.time() + 600)
                _expect(
                    touched is False,
                    f"touch('k1') of a record that expired 10 s ago returned {touched!r}",
                )
                loaded = await store.load("k1")
                _expect(
                    loaded is None,
                    f"touch('k1') brought back a record that had expired: {loaded!r}",
                )

        self._run(test)

    def test_save_changes_applies_the_delta(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await store.save("k1", record({"keep": b"k", "old": b"o", "gone": b"g"}))
                later = math.floor(time.time()) + 3600.5
                changes = Changes(
                    updated={"old": b"new", "added": b"a"}, deleted=frozenset({"gone"})
                )
                started = time.perf_counter()
                applied = await store.save_changes("k1", changes, b"meta2", later)
                _expect(applied is True, f"save_changes('k1') returned {applied!r}, not True")
                loaded = await store.load("k1")
                expected = Record({"keep": b"k", "old": b"new", "added": b"a"}, b"meta2", later)
                _check_record(
                    "load('k1') after save_changes",
                    loaded,
                    expected,
                    time.perf_counter() - started,
                )

        self._run(test)

    def test_save_changes_keeps_field_names_exactly(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await store.save("k1", record(FIELD_NAMES))
                deleted = {"User", " user", "e\u0301", "strasse", "\ufb01", "a.b", "n" * 1024}
                updated = {
                    "USER": b"USER updated",
                    "user\t": b"tab updated",
                    "\u0130": b"dotted I updated",
                    "$set": b"dollar updated",
                    "new \u00e9 " + "x" * 500: b"added",
                    "USER ": b"added, trailing space",
                }
                changes = Changes(updated=updated, deleted=frozenset(deleted))
                applied = await store.save_changes("k1", changes, b"m", time.time() + 600)
                _expect(applied is True, f"save_changes('k1') returned {applied!r}, not True")
                expected = {k: v for k, v in FIELD_NAMES.items() if k not in deleted}
                expected.update(updated)
                loaded = await store.load("k1")
                _expect(loaded is not None, "load('k1') returned None after save_changes")
                assert loaded is not None
                _check_fields(
                    "field names after a delta that deleted some of a case or Unicode pair",
                    loaded.fields,
                    expected,
                )

        self._run(test)

    def test_save_changes_with_no_field_changes_replaces_meta_and_expiry(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await store.save("k1", record({"a": b"1"}, meta=b"old"))
                later = math.floor(time.time()) + 1800.5
                started = time.perf_counter()
                applied = await store.save_changes("k1", Changes(), b"new", later)
                _expect(applied is True, f"save_changes('k1', Changes()) returned {applied!r}")
                loaded = await store.load("k1")
                _check_record(
                    "load('k1') after save_changes with empty Changes",
                    loaded,
                    Record({"a": b"1"}, b"new", later),
                    time.perf_counter() - started,
                )

        self._run(test)

    def test_save_changes_deleting_an_absent_field_is_not_an_error(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await store.save("k1", record({"a": b"1"}))
                changes = Changes(updated={"b": b"2"}, deleted=frozenset({"never-there"}))
                applied = await store.save_changes("k1", changes, b"m", time.time() + 600)
                _expect(applied is True, f"save_changes('k1') returned {applied!r}")
                loaded = await store.load("k1")
                _expect(loaded is not None, "load('k1') returned None after save_changes")
                assert loaded is not None
                _check_fields(
                    "after deleting an absent field", loaded.fields, {"a": b"1", "b": b"2"}
                )

        self._run(test)

    def test_changes_never_name_a_field_both_updated_and_deleted(self) -> None:
        # The rule a store relies on: Changes refuses a name in both sets, so a store
        # may apply deletions and updates in either order.
        with pytest.raises(ValueError, match="both updated and deleted"):
            Changes(updated={"a": b"1"}, deleted=frozenset({"a"}))

    def test_save_changes_on_missing_record_creates_nothing(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                changes = Changes(updated={"a": b"1"})
                applied = await store.save_changes("ghost", changes, b"m", time.time() + 600)
                _expect(applied is False, f"save_changes('ghost') returned {applied!r}")
                await store.save("k1", record())
                await store.destroy("k1")
                applied = await store.save_changes("k1", changes, b"m", time.time() + 600)
                _expect(applied is False, f"save_changes('k1') after destroy returned {applied!r}")
                for key in ("ghost", "k1"):
                    loaded = await store.load(key)
                    _expect(loaded is None, f"save_changes({key!r}) created a record: {loaded!r}")

        self._run(test)

    def test_save_changes_of_expired_but_present_record_brings_nothing_back(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await self.plant_expired(store, "k1", record({"a": b"old"}, ttl=-10))
                changes = Changes(updated={"b": b"new"})
                applied = await store.save_changes("k1", changes, b"m", time.time() + 600)
                _expect(
                    applied is False,
                    f"save_changes('k1') of a record that expired 10 s ago returned {applied!r}",
                )
                loaded = await store.load("k1")
                _expect(
                    loaded is None,
                    f"save_changes('k1') brought back a record that had expired: {loaded!r}",
                )

        self._run(test)

    def test_concurrent_deltas_to_different_keys_all_survive(self) -> None:
        async def test() -> None:
            async with self._store("save_changes") as store:
                await store.save("k1", record({}))
                expires = time.time() + 600
                writes = [
                    store.save_changes(
                        "k1", Changes(updated={f"key{i}": str(i).encode()}), b"m", expires
                    )
                    for i in range(20)
                ]
                results = await asyncio.gather(*writes)
                _expect(all(results), f"concurrent save_changes returned {results}")
                loaded = await store.load("k1")
                _expect(loaded is not None, "load('k1') returned None")
                assert loaded is not None
                _check_fields(
                    "after 20 concurrent deltas, each setting its own key",
                    loaded.fields,
                    {f"key{i}": str(i).encode() for i in range(20)},
                )

        self._run(test)

    def test_conditional_writes_racing_a_destroy_never_bring_it_back(self) -> None:
        async def test() -> None:
            async with self._store("touch", "save_changes") as store:
                for round_ in range(10):
                    await store.save("k1", record({"a": b"1"}))
                    calls: list[Awaitable[object]] = [
                        store.touch("k1", time.time() + 600),
                        store.save_changes("k1", Changes({"b": b"2"}), b"m", time.time() + 600),
                    ]
                    calls.insert(round_ % 3, store.destroy("k1"))
                    await asyncio.gather(*calls)
                    loaded = await store.load("k1")
                    _expect(
                        loaded is None,
                        f"round {round_}: touch/save_changes racing destroy('k1') brought "
                        f"the record back: {loaded!r}",
                    )

        self._run(test)

    # == robustness ====================================================================

    def _operations(self, store: Store) -> list[tuple[str, Callable[[str], Awaitable[Any]]]]:
        """Every method of ``store`` with arguments, each given a key to work on."""
        later = time.time() + 1200
        changes = Changes(updated={"a": b"new", "d": b"4"}, deleted=frozenset({"b"}))
        operations: list[tuple[str, Callable[[str], Awaitable[Any]]]] = [
            ("load", store.load),
            ("save", lambda key: store.save(key, Record({"z": b"26"}, b"saved", later))),
            ("destroy", store.destroy),
            ("touch", lambda key: store.touch(key, later)),
            ("save_changes", lambda key: store.save_changes(key, changes, b"changed", later)),
        ]
        caps = store.capabilities
        if "count" in caps:
            operations.append(("count", lambda key: store.count()))
        if "keys" in caps:
            operations.append(("keys", lambda key: _collect(store.keys())))
        if "owner_sessions" in caps:
            operations.append(("owner_sessions", lambda key: store.owner_sessions("alice")))
        if "purge_expired" in caps:
            operations.append(("purge_expired", lambda key: store.purge_expired()))
        return operations

    def test_every_operation_survives_cancellation_at_each_await(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                for name, operation in self._operations(store):
                    await self._cancel_at_each_await(store, name, operation)

        self._run(test)

    async def _cancel_at_each_await(
        self, store: Store, name: str, operation: Callable[[str], Awaitable[Any]]
    ) -> None:
        __tracebackhide__ = True
        before = Record({"a": b"1", "b": b"2", "c": b"3"}, b"before", time.time() + 600, "alice")
        states = [(dict(before.fields), before.meta)]
        if name == "save":
            states.append(({"z": b"26"}, b"saved"))
        elif name == "save_changes":
            states.append(({"a": b"new", "c": b"3", "d": b"4"}, b"changed"))
        schedule = list(range(40))
        while schedule[-1] < 20_000:
            schedule.append(int(schedule[-1] * 1.3))
        for attempt, steps in enumerate(schedule):
            key = f"cancel-{name}-{attempt}"
            await store.save(key, before)
            task = asyncio.ensure_future(operation(key))
            for _ in range(steps):
                if task.done():
                    break
                await asyncio.sleep(0)  # one turn of the loop: the call reaches its next await
            completed = task.done()
            turns = f"{steps} turn{'' if steps == 1 else 's'} of the event loop"
            where = f"after {name} was cancelled after {turns}"
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                _fail(
                    f"{name}, cancelled after {turns}, raised {exc!r} instead of letting "
                    "CancelledError through"
                )
            try:
                async with asyncio.timeout(10):
                    await store.save("cancel-probe", Record({"p": b"1"}, b"p", time.time() + 60))
                    probe = await store.load("cancel-probe")
                    await store.destroy("cancel-probe")
            except Exception as exc:
                _fail(f"{where}, the store no longer works: {exc!r}")
            _expect(
                probe is not None and dict(probe.fields) == {"p": b"1"},
                f"{where}, save then load of another key returned {probe!r}",
            )
            loaded = await store.load(key)
            if loaded is not None and (dict(loaded.fields), loaded.meta) not in states:
                _fail(
                    f"{where}, its record is half-written: fields {dict(loaded.fields)!r} "
                    f"and meta {loaded.meta!r}, expected one of {states!r}"
                )
            if loaded is None and name != "destroy":
                _fail(f"{where}, its record {key!r} is gone")
            await store.destroy(key)
            if completed:
                return

    def test_no_operation_blocks_the_event_loop(self) -> None:
        async def test() -> None:
            async with self._store() as store:
                await store.save("k1", record(FIELD_NAMES))  # warm up connections
                await store.load("k1")
                for name, operation in self._operations(store):
                    fastest = math.inf
                    for attempt in range(5):
                        key = f"blocking-{name}-{attempt}"
                        await store.save(key, record({"a": b"1", "b": b"2"}, owner="alice"))
                        steps = _Steps(operation(key))
                        await steps
                        fastest = min(fastest, steps.longest)
                    _expect(
                        fastest <= self.max_blocking_seconds,
                        f"{name} held the event loop for {fastest * 1000:.1f} ms in one step "
                        f"(the least of 5 calls), more than max_blocking_seconds = "
                        f"{self.max_blocking_seconds * 1000:.1f} ms: run blocking work in a "
                        "thread (asyncio.to_thread) or use an asyncio driver",
                    )

        self._run(test)

    # == optional methods ==============================================================

    def test_open_prepares_a_store_that_works(self) -> None:
        async def test() -> None:
            async with self._store("open") as store:
                await store.save("k1", record({"a": b"1"}))
                loaded = await store.load("k1")
                _expect(loaded is not None, "load('k1') after open() and save returned None")

        self._run(test)

    def test_close_is_idempotent_and_allowed_without_open(self) -> None:
        async def test() -> None:
            store = await self.create_store()
            await store.close()  # never opened: the core closes a store whose open() failed
            await store.close()
            store = await self.create_store()
            await store.open()
            await store.load("k1")
            await store.close()
            await store.close()

        self._run(test)

    def test_purge_expired_deletes_only_expired_records(self) -> None:
        async def test() -> None:
            async with self._store("purge_expired") as store:
                await store.save("k1", record({"a": b"live"}))
                for i in range(3):
                    await self.plant_expired(store, f"dead{i}", record(ttl=-10 - i))
                purged = await store.purge_expired()
                _expect(
                    isinstance(purged, int) and 0 <= purged <= 3,
                    f"purge_expired() returned {purged!r}: expected the number of expired "
                    "records it deleted (3 were planted)",
                )
                again = await store.purge_expired()
                _expect(again == 0, f"a second purge_expired() returned {again!r}, not 0")
                loaded = await store.load("k1")
                _expect(
                    loaded is not None and dict(loaded.fields) == {"a": b"live"},
                    f"purge_expired() changed the live record 'k1': {loaded!r}",
                )

        self._run(test)

    def test_owner_sessions_lists_the_live_sessions_of_that_owner(self) -> None:
        async def test() -> None:
            async with self._store("owner_sessions") as store:
                saved = {
                    "k1": record({"a": b"1"}, meta=b"m1", owner="alice"),
                    "k2": record({"a": b"2"}, meta=b"m2", owner="alice", ttl=900),
                    "k3": record({"a": b"3"}, meta=b"m3", owner="Alice"),
                    "k4": record({"a": b"4"}, meta=b"m4", owner=None),
                }
                started = time.perf_counter()
                for key, value in saved.items():
                    await store.save(key, value)
                await self.plant_expired(store, "dead", record(ttl=-10, owner="alice"))
                owned = await store.owner_sessions("alice")
                slack = time.perf_counter() - started
                _expect(
                    isinstance(owned, list) and all(isinstance(s, OwnedSession) for s in owned),
                    f"owner_sessions() returned {owned!r}, not a list of OwnedSession",
                )
                by_key = {session.key: session for session in owned}
                _expect(
                    sorted(by_key) == ["k1", "k2"] and len(owned) == 2,
                    f"owner_sessions('alice') lists {sorted(s.key for s in owned)}, "
                    "expected ['k1', 'k2'] (owners are case-sensitive; expired sessions "
                    "are not listed)",
                )
                for key in ("k1", "k2"):
                    _expect(
                        by_key[key].meta == saved[key].meta,
                        f"owner_sessions('alice') gives {key!r} meta {by_key[key].meta!r}",
                    )
                    _check_expiry(
                        f"owner_sessions('alice'), session {key!r}",
                        by_key[key].expires_at,
                        saved[key].expires_at,
                        slack,
                    )

        self._run(test)

    def test_owner_sessions_follows_changes_and_destroy(self) -> None:
        async def test() -> None:
            async with self._store("owner_sessions") as store:

                async def listed(owner: str) -> list[str]:
                    return sorted(session.key for session in await store.owner_sessions(owner))

                for key in ("k1", "k2", "k3"):
                    await store.save(key, record(owner="alice"))
                await store.destroy("k1")
                await store.touch("k2", time.time() + 900)  # keeps the owner
                later = time.time() + 600
                await store.save_changes("k3", Changes({"b": b"2"}, owner="bob"), b"m", later)
                _expect(
                    await listed("alice") == ["k2"],
                    f"after destroy('k1'), touch('k2') and a change of k3's owner to 'bob', "
                    f"owner_sessions('alice') lists {await listed('alice')}, expected ['k2']",
                )
                _expect(
                    await listed("bob") == ["k3"],
                    f"owner_sessions('bob') lists {await listed('bob')}, expected ['k3']",
                )
                await store.save_changes("k2", Changes(owner=None), b"m", later)
                await store.save("k3", record(owner=None))
                _expect(
                    await listed("alice") == [] and await listed("bob") == [],
                    "after the owners were removed, owner_sessions lists "
                    f"alice: {await listed('alice')}, bob: {await listed('bob')}",
                )
                _expect(await listed("nobody") == [], "owner_sessions('nobody') lists sessions")

        self._run(test)

    def test_clear_deletes_every_session(self) -> None:
        async def test() -> None:
            async with self._store("clear", neighbours=False) as store:
                _expect(
                    inspect.iscoroutinefunction(type(store).clear),
                    "clear must be a coroutine function (async def)",
                )
                seeded = await self._seed(store)
                for i in range(3):
                    await store.save(f"k{i}", record())
                await self.plant_expired(store, "dead", record(ttl=-10))
                await store.clear()
                for key in [*seeded.records, "k0", "k1", "k2", "dead"]:
                    loaded = await store.load(key)
                    _expect(loaded is None, f"load({key!r}) after clear() returned {loaded!r}")
                await store.save("k1", record({"a": b"after"}))
                loaded = await store.load("k1")
                _expect(loaded is not None, "the store does not work after clear()")

        self._run(test)

    def test_count_counts_live_sessions(self) -> None:
        async def test() -> None:
            async with self._store("count") as store:
                _expect(
                    inspect.iscoroutinefunction(type(store).count),
                    "count must be a coroutine function (async def)",
                )
                for i in range(3):
                    await store.save(f"k{i}", record())
                await self.plant_expired(store, "dead", record(ttl=-10))
                await store.save("short", record(ttl=-0.002))
                counted = await store.count()
                _expect(
                    counted == 3 + len(NEIGHBOURS),
                    f"count() returned {counted!r}, expected {3 + len(NEIGHBOURS)} "
                    f"(3 saved, {len(NEIGHBOURS)} neighbours; expired records are not counted)",
                )
                await store.destroy("k0")
                counted = await store.count()
                _expect(
                    counted == 2 + len(NEIGHBOURS),
                    f"count() after destroy returned {counted!r}, expected {2 + len(NEIGHBOURS)}",
                )

        self._run(test)

    def test_keys_is_a_plain_method_returning_an_async_iterator(self) -> None:
        async def test() -> None:
            async with self._store("keys") as store:
                _expect(
                    not inspect.iscoroutinefunction(type(store).keys),
                    "keys must be a plain method returning an async iterator (an "
                    "`async def` generator), not a coroutine function",
                )
                iterator = store.keys()
                _expect(
                    hasattr(iterator, "__aiter__") and hasattr(iterator, "__anext__"),
                    f"keys() returned {iterator!r}, not an async iterator",
                )
                # Stopping early must leave the store usable.
                async for _ in iterator:
                    break
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    await aclose()
                loaded = await store.load("K1")
                _expect(loaded is not None, "the store does not work after a keys() abandoned")

        self._run(test)

    def test_keys_lists_each_live_session_once(self) -> None:
        async def test() -> None:
            async with self._store("keys") as store:
                await store.save("k1", record())
                await store.save("k2", record())
                await store.save("gone", record())
                await store.destroy("gone")
                await self.plant_expired(store, "dead", record(ttl=-10))
                await store.save("short", record(ttl=-0.002))
                listed = await _collect(store.keys())
                expected = sorted(["k1", "k2", *NEIGHBOURS])
                _expect(
                    sorted(listed) == expected,
                    f"keys() yielded {sorted(listed)}, expected {expected} (live sessions, "
                    "each once; expired and destroyed ones skipped)",
                )

        self._run(test)


async def _collect(iterator: AsyncIterator[str]) -> list[str]:
    return [key async for key in iterator]
