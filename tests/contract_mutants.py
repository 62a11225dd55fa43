"""Small broken stores, one planted bug each, that the store contract suite must fail.

:class:`DictStore` is a minimal correct store (a dict; expired records stay in it
until purged, as rows in a SQL table do), and passes the suite.  Each mutant
below changes one thing in it, the way a real store gets it wrong:
``tests/test_contract_mutants.py`` runs the suite against each and checks that the
tests meant to catch the bug fail.
"""

from __future__ import annotations

import asyncio
import math
import time
import unicodedata
from collections.abc import AsyncIterator

from tornado_sessions.record import Changes, OwnedSession, Record, apply_changes
from tornado_sessions.stores.base import Store

__all__ = ["MUTANTS", "DictStore"]


class DictStore(Store):
    """A correct store: a dict, expired records kept until ``purge_expired``."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}

    def live(self, key: str) -> Record | None:
        record = self.records.get(key)
        if record is None or record.expires_at <= time.time():
            return None
        return record

    def stored_name(self, name: str) -> str:
        """How a field name is kept: exactly (the mutants change this)."""
        return name

    def stored_expiry(self, expires_at: float) -> float:
        """How an expiry is kept: exactly (the mutants change this)."""
        return expires_at

    def keep(self, key: str, record: Record) -> None:
        fields = {self.stored_name(name): value for name, value in record.fields.items()}
        self.records[key] = Record(
            fields, record.meta, self.stored_expiry(record.expires_at), record.owner
        )

    async def load(self, key: str) -> Record | None:
        return self.live(key)

    async def save(self, key: str, record: Record) -> None:
        self.keep(key, record)

    async def destroy(self, key: str) -> None:
        self.records.pop(key, None)

    async def touch(self, key: str, expires_at: float) -> bool:
        record = self.live(key)
        if record is None:
            return False
        self.keep(key, Record(record.fields, record.meta, expires_at, record.owner))
        return True

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        record = self.live(key)
        if record is None:
            return False
        fields = apply_changes(record.fields, changes)
        self.keep(key, Record(fields, meta, expires_at, changes.owner))
        return True

    async def purge_expired(self) -> int:
        now = time.time()
        expired = [key for key, record in self.records.items() if record.expires_at <= now]
        for key in expired:
            del self.records[key]
        return len(expired)

    async def owner_sessions(self, owner: str) -> list[OwnedSession]:
        # A scan: fine for a test double, not for a real store.
        return [
            OwnedSession(key, record.meta, record.expires_at)
            for key in list(self.records)
            if (record := self.live(key)) is not None and record.owner == owner
        ]

    async def clear(self) -> None:
        self.records.clear()

    async def count(self) -> int:
        return sum(1 for key in self.records if self.live(key) is not None)

    async def keys(self) -> AsyncIterator[str]:
        for key in list(self.records):
            if self.live(key) is not None:
                yield key


class DeleteEverywhere(DictStore):
    """``save_changes`` deletes the fields from every session (a forgotten ``WHERE key = ?``)."""

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        applied = await super().save_changes(key, changes, meta, expires_at)
        for other, record in list(self.records.items()):
            if other != key and changes.deleted:
                fields = {n: v for n, v in record.fields.items() if n not in changes.deleted}
                self.records[other] = Record(fields, record.meta, record.expires_at, record.owner)
        return applied


class TouchEverywhere(DictStore):
    """``touch`` moves the expiry of every session (the same slip)."""

    async def touch(self, key: str, expires_at: float) -> bool:
        if self.live(key) is None:
            return False
        for other, record in list(self.records.items()):
            self.records[other] = Record(record.fields, record.meta, expires_at, record.owner)
        return True


class CaseFoldedNames(DictStore):
    """Field names folded by case (a ``COLLATE NOCASE`` column): ``user`` and ``User`` merge."""

    def stored_name(self, name: str) -> str:
        return name.lower()


class TrimmedNames(DictStore):
    """Field names trimmed of whitespace (a ``CHAR`` column, a careless ``strip()``)."""

    def stored_name(self, name: str) -> str:
        return name.strip()


class NormalizedNames(DictStore):
    """Field names normalized to NFC (lossy for unusual Unicode)."""

    def stored_name(self, name: str) -> str:
        return unicodedata.normalize("NFC", name)


class RevivesExpired(DictStore):
    """``touch``/``save_changes`` check only that a record is present, not that it is live."""

    def live_or_expired(self, key: str) -> Record | None:
        return self.records.get(key)

    async def touch(self, key: str, expires_at: float) -> bool:
        record = self.live_or_expired(key)
        if record is None:
            return False
        self.keep(key, Record(record.fields, record.meta, expires_at, record.owner))
        return True

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        record = self.live_or_expired(key)
        if record is None:
            return False
        self.keep(key, Record(apply_changes(record.fields, changes), meta, expires_at))
        return True


class Connection:
    """A driver connection with transactions, like aiosqlite's: one at a time."""

    def __init__(self) -> None:
        self.in_transaction = False

    async def begin(self) -> None:
        if self.in_transaction:
            raise RuntimeError("cannot start a transaction within a transaction")
        self.in_transaction = True
        await asyncio.sleep(0)  # a round trip to the driver's thread

    async def commit(self) -> None:
        await asyncio.sleep(0)
        self.in_transaction = False


class NotCancellationSafe(DictStore):
    """Every call runs in a transaction on one shared connection, not rolled back on cancel."""

    def __init__(self) -> None:
        super().__init__()
        self.connection = Connection()

    async def _in_transaction(self) -> None:
        await self.connection.begin()
        await asyncio.sleep(0)
        await self.connection.commit()

    async def load(self, key: str) -> Record | None:
        await self._in_transaction()
        return await super().load(key)

    async def save(self, key: str, record: Record) -> None:
        await self._in_transaction()
        await super().save(key, record)

    async def destroy(self, key: str) -> None:
        await self._in_transaction()
        await super().destroy(key)


class WholeSeconds(DictStore):
    """Expiry kept in whole seconds (an ``INTEGER`` column)."""

    def stored_expiry(self, expires_at: float) -> float:
        return float(math.floor(expires_at))


class BlocksTheLoop(DictStore):
    """``load`` makes a blocking call (a synchronous driver) of 20 ms."""

    async def load(self, key: str) -> Record | None:
        time.sleep(0.02)
        return await super().load(key)


#: Each mutant, with the tests of the suite that must fail on it.
MUTANTS: dict[type[DictStore], tuple[str, ...]] = {
    DeleteEverywhere: ("test_save_changes_applies_the_delta",),
    TouchEverywhere: ("test_touch_moves_only_the_expiry",),
    CaseFoldedNames: (
        "test_field_names_are_kept_exactly",
        "test_save_changes_keeps_field_names_exactly",
    ),
    TrimmedNames: (
        "test_field_names_are_kept_exactly",
        "test_save_changes_keeps_field_names_exactly",
    ),
    NormalizedNames: ("test_field_names_are_kept_exactly",),
    RevivesExpired: (
        "test_touch_of_expired_but_present_record_brings_nothing_back",
        "test_save_changes_of_expired_but_present_record_brings_nothing_back",
    ),
    NotCancellationSafe: ("test_every_operation_survives_cancellation_at_each_await",),
    WholeSeconds: ("test_expiry_is_kept_to_the_millisecond", "test_save_then_load_round_trips"),
    BlocksTheLoop: ("test_no_operation_blocks_the_event_loop",),
}
