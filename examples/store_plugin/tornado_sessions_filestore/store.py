"""``FileStore``: one JSON file per session in a directory, the example store of the guide.

Layout, for store key ``K`` in directory ``D``::

    D/<sha256 hex of K>.json    {"key": K, "expires_at": <float>,
                                 "meta": <base64>, "fields": {<name>: <base64>, ...}}

The file name is a hash so that any key is a safe file name; the key itself is
kept inside the file for :meth:`FileStore.keys`.  Bytes are base64-encoded,
because JSON holds text only.

Files are written to a temporary name and renamed into place (``os.replace``),
so a reader never sees half a file.  Blocking file calls run in a worker thread
(:func:`asyncio.to_thread`) to keep the event loop free.  Every write holds one
:class:`threading.Lock`, taken inside the worker thread, which makes the
read-modify-write of ``touch`` and ``save_changes`` atomic within this process,
even when the core's ``store_timeout`` cancels the coroutine waiting for it.
Several processes sharing a directory are not coordinated: use a store whose
backend has atomic updates (Redis, MongoDB) for that.

Expired files are deleted when they are read; nothing sweeps the directory.
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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tornado_sessions.errors import ConfigurationError
from tornado_sessions.record import Changes, Record
from tornado_sessions.stores.base import Store

__all__ = ["FileStore"]

_SUFFIX = ".json"


class FileStore(Store):
    """Sessions as files in ``directory``, created if missing.

    :param directory: where the session files live; nothing else should write there.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> FileStore:
        """Build a store from ``filestore:///absolute/path`` or ``filestore:relative/path``.

        ``timeout`` is not needed: the core bounds every call by it, since this
        store leaves ``enforces_timeout`` false.
        """
        parts = urlsplit(url)
        if parts.netloc or not parts.path:
            raise ConfigurationError(
                f"a filestore URL names a directory, as filestore:///var/lib/sessions; got {url!r}"
            )
        return cls(parts.path)

    # -- required ---------------------------------------------------------------

    async def load(self, key: str) -> Record | None:
        return await asyncio.to_thread(self._load, key)

    async def save(self, key: str, record: Record) -> None:
        await asyncio.to_thread(self._locked_write, key, record)

    async def destroy(self, key: str) -> None:
        await asyncio.to_thread(self._locked_unlink, key)

    # -- optional capabilities --------------------------------------------------

    async def touch(self, key: str, expires_at: float) -> bool:
        return await asyncio.to_thread(self._touch, key, expires_at)

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        return await asyncio.to_thread(self._save_changes, key, changes, meta, expires_at)

    async def clear(self) -> None:
        await asyncio.to_thread(self._clear)

    async def count(self) -> int:
        return len([key async for key in self.keys()])

    async def keys(self) -> AsyncIterator[str]:
        for path in await asyncio.to_thread(self._session_files):
            document = await asyncio.to_thread(self._read_path, path)
            if document is not None and document["expires_at"] > time.time():
                yield document["key"]

    # -- blocking helpers, run in a worker thread ---------------------------------

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode()).hexdigest() + _SUFFIX)

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
            self._unlink_path(self._path(key))
            return None
        fields = {name: base64.b64decode(data) for name, data in document["fields"].items()}
        return Record(fields, base64.b64decode(document["meta"]), document["expires_at"])

    def _load(self, key: str) -> Record | None:
        with self._lock:
            return self._read(key)

    def _write(self, key: str, record: Record) -> None:
        document = {
            "key": key,
            "expires_at": record.expires_at,
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

    def _locked_write(self, key: str, record: Record) -> None:
        with self._lock:
            self._write(key, record)

    def _unlink_path(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def _locked_unlink(self, key: str) -> None:
        with self._lock:
            self._unlink_path(self._path(key))

    def _clear(self) -> None:
        with self._lock:
            for path in self._session_files():
                self._unlink_path(path)

    def _touch(self, key: str, expires_at: float) -> bool:
        with self._lock:
            record = self._read(key)
            if record is None:
                return False  # never create a record: it was destroyed or expired
            self._write(key, Record(record.fields, record.meta, expires_at))
            return True

    def _save_changes(self, key: str, changes: Changes, meta: bytes, expires_at: float) -> bool:
        with self._lock:
            record = self._read(key)
            if record is None:
                return False
            fields = dict(record.fields)
            fields.update(changes.updated)
            for name in changes.deleted:
                fields.pop(name, None)
            self._write(key, Record(fields, meta, expires_at))
            return True
