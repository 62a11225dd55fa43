"""``FileStore``: one JSON file per session in a directory, the example store of the guide.

Layout, for store key ``K`` in directory ``D``::

    D/<sha256 hex of K>.json    {"key": K, "expires_at": <float>, "owner": <str or null>,
                                 "meta": <base64>, "fields": {<name>: <base64>, ...}}
    D/owners/<sha256 hex of the owner>/<sha256 hex of K>
                                an empty file: K's session belongs to that owner

The file name is a hash so that any key is a safe file name; the key itself is
kept inside the file for :meth:`FileStore.keys`.  Bytes are base64-encoded,
because JSON holds text only.  The ``owners`` directory is the index behind
:meth:`FileStore.owner_sessions`: listing one owner's sessions reads one small
directory, never the whole store.

Nothing touches the disk before :meth:`FileStore.open`, which creates the
directories (the URL factory only parses the URL).  Files are written to a
temporary name and renamed into place (``os.replace``), so a reader never sees
half a file.  Blocking file calls run in a worker thread (:func:`asyncio.to_thread`)
to keep the event loop free.  Every call holds one :class:`threading.Lock`,
taken inside the worker thread, which makes the read-modify-write of ``touch``
and ``save_changes`` atomic within this process, even when the core's
``store_timeout`` cancels the coroutine waiting for it: the thread finishes the
whole step or never starts it.  Several processes sharing a directory are not
coordinated: use a store whose backend has atomic updates (Redis, MongoDB) for
that.

Expiry: files never expire by themselves.  An expired file is deleted when it is
read, and :meth:`FileStore.purge_expired` deletes every expired file; the
application calls it on a schedule (see ``docs/writing-a-store.md``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from tornado_sessions.errors import ConfigurationError
from tornado_sessions.record import Changes, OwnedSession, Record, apply_changes
from tornado_sessions.stores.base import Store

__all__ = ["FileStore"]

_SUFFIX = ".json"

T = TypeVar("T")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class FileStore(Store):
    """Sessions as files in ``directory``, created by :meth:`open` if missing.

    :param directory: where the session files live; nothing else should write there.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._owners = self.directory / "owners"
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> FileStore:
        """Build a store from ``filestore:///absolute/path`` or ``filestore:relative/path``.

        Parses the URL and nothing more: no file is touched before :meth:`open`.
        ``timeout`` is not needed: the core bounds every call by it, since this
        store leaves ``enforces_timeout`` false.
        """
        parts = urlsplit(url)
        if parts.netloc or not parts.path:
            raise ConfigurationError(
                f"a filestore URL names a directory, as filestore:///var/lib/sessions; got {url!r}"
            )
        return cls(parts.path)

    async def open(self) -> None:
        await asyncio.to_thread(self._owners.mkdir, parents=True, exist_ok=True)

    # -- required ---------------------------------------------------------------

    async def load(self, key: str) -> Record | None:
        return await asyncio.to_thread(self._locked, self._read, key)

    async def save(self, key: str, record: Record) -> None:
        await asyncio.to_thread(self._locked, self._write, key, record)

    async def destroy(self, key: str) -> None:
        await asyncio.to_thread(self._locked, self._delete, key)

    # -- optional capabilities --------------------------------------------------

    async def touch(self, key: str, expires_at: float) -> bool:
        return await asyncio.to_thread(self._locked, self._touch, key, expires_at)

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        return await asyncio.to_thread(
            self._locked, self._save_changes, key, changes, meta, expires_at
        )

    async def purge_expired(self) -> int:
        return await asyncio.to_thread(self._locked, self._purge_expired)

    async def owner_sessions(self, owner: str) -> list[OwnedSession]:
        return await asyncio.to_thread(self._locked, self._owner_sessions, owner)

    async def clear(self) -> None:
        await asyncio.to_thread(self._locked, self._clear)

    async def count(self) -> int:
        return len([key async for key in self.keys()])

    async def keys(self) -> AsyncIterator[str]:
        for path in await asyncio.to_thread(self._session_files):
            document = await asyncio.to_thread(self._read_path, path)
            if document is not None and document["expires_at"] > time.time():
                yield document["key"]

    # -- blocking helpers, run in a worker thread ---------------------------------

    def _locked(self, function: Callable[..., T], *args: object) -> T:
        with self._lock:
            return function(*args)

    def _path(self, key: str) -> Path:
        return self.directory / (_digest(key) + _SUFFIX)

    def _marker(self, owner: str, key: str) -> Path:
        return self._owners / _digest(owner) / _digest(key)

    def _session_files(self) -> list[Path]:
        return [path for path in self.directory.iterdir() if path.name.endswith(_SUFFIX)]

    def _read_path(self, path: Path) -> dict[str, Any] | None:
        try:
            with path.open("rb") as file:
                document: dict[str, Any] = json.load(file)
        except FileNotFoundError:
            return None
        return document

    def _read(self, key: str) -> Record | None:
        """The live record under ``key``; an expired one is deleted and reads as missing."""
        document = self._read_path(self._path(key))
        if document is None:
            return None
        if document["expires_at"] <= time.time():
            self._delete(key)
            return None
        fields = {name: base64.b64decode(data) for name, data in document["fields"].items()}
        meta = base64.b64decode(document["meta"])
        return Record(fields, meta, document["expires_at"], document.get("owner"))

    def _write(self, key: str, record: Record) -> None:
        previous = self._read_path(self._path(key))
        old_owner = None if previous is None else previous.get("owner")
        if old_owner is not None and old_owner != record.owner:
            self._marker(old_owner, key).unlink(missing_ok=True)
        if record.owner is not None:
            marker = self._marker(record.owner, key)
            marker.parent.mkdir(exist_ok=True)
            marker.touch()
        document = {
            "key": key,
            "expires_at": record.expires_at,
            "owner": record.owner,
            "meta": base64.b64encode(record.meta).decode(),
            "fields": {
                name: base64.b64encode(data).decode() for name, data in record.fields.items()
            },
        }
        # A temporary name that _session_files() does not list, then an atomic rename.
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(document, file)
            os.replace(temporary, self._path(key))
        except BaseException:
            os.unlink(temporary)
            raise

    def _delete(self, key: str) -> None:
        path = self._path(key)
        document = self._read_path(path)
        path.unlink(missing_ok=True)
        owner = None if document is None else document.get("owner")
        if owner is not None:
            self._marker(owner, key).unlink(missing_ok=True)

    def _touch(self, key: str, expires_at: float) -> bool:
        record = self._read(key)
        if record is None:
            return False  # never create a record: it was destroyed or expired
        self._write(key, Record(record.fields, record.meta, expires_at, record.owner))
        return True

    def _save_changes(self, key: str, changes: Changes, meta: bytes, expires_at: float) -> bool:
        record = self._read(key)
        if record is None:
            return False
        fields = apply_changes(record.fields, changes)
        self._write(key, Record(fields, meta, expires_at, changes.owner))
        return True

    def _purge_expired(self) -> int:
        now = time.time()
        purged = 0
        for path in self._session_files():
            document = self._read_path(path)
            if document is not None and document["expires_at"] <= now:
                self._delete(document["key"])
                purged += 1
        return purged

    def _owner_sessions(self, owner: str) -> list[OwnedSession]:
        index = self._owners / _digest(owner)
        if not index.is_dir():
            return []
        found = []
        for marker in index.iterdir():
            document = self._read_path(self.directory / (marker.name + _SUFFIX))
            if document is None or document.get("owner") != owner:
                marker.unlink(missing_ok=True)  # a stale entry
            elif document["expires_at"] > time.time():
                meta = base64.b64decode(document["meta"])
                found.append(OwnedSession(document["key"], meta, document["expires_at"]))
        return found

    def _clear(self) -> None:
        for path in self._session_files():
            path.unlink(missing_ok=True)
        for index in self._owners.iterdir() if self._owners.is_dir() else ():
            for marker in index.iterdir():
                marker.unlink(missing_ok=True)
