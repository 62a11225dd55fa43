"""Reaching a store from the command line: its URL, opening it, one first read, closing it.

The URL comes from the command's argument or, without one, from the
``TORNADO_SESSIONS_STORE`` environment variable (better for a URL with a password:
the process list shows arguments to every user).  :func:`opened_store` builds the
store through the plugin registry (:func:`~tornado_sessions.registry.create_store`),
awaits its ``open()``, makes one round trip (a read of a key no session has) and,
whatever happens, awaits its ``close()``.  What fails where decides the exit code:
a URL the plugins refuse is ``CONFIGURATION``, a store that cannot be opened or does
not answer is ``UNREACHABLE``.  Error messages are scrubbed of the URL's password
even when a driver repeats it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigurationError, CorruptRecordError
from ..options import redact_url
from ..registry import create_store
from ..startup import PROBE_KEY
from ..stores.base import Store
from .exits import CommandError, ExitCode

__all__ = ["URL_VARIABLE", "Connection", "opened_store", "operation_failed", "resolve_url", "scrub"]

#: Query options whose values are secrets (as ``options.redact_url`` redacts them).
_SECRET_KEYS = frozenset({"password", "pass", "pwd", "secret", "token", "auth"})

#: The environment variable read when a command is given no store URL.
URL_VARIABLE = "TORNADO_SESSIONS_STORE"


def resolve_url(argument: str | None) -> str:
    """The store URL: the argument, else ``$TORNADO_SESSIONS_STORE``, else a usage error."""
    url = argument or os.environ.get(URL_VARIABLE, "")
    if not url:
        raise CommandError(
            ExitCode.USAGE,
            f"no store URL: pass one (e.g. redis://127.0.0.1:6379/0) or set ${URL_VARIABLE}",
        )
    return url


def _secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [parts.password] if parts.password else []
    found += [value for name, value in parse_qsl(parts.query) if name.lower() in _SECRET_KEYS]
    return [text for secret in found if secret for text in {secret, unquote(secret)}]


def scrub(text: str, url: str) -> str:
    """``text`` with the URL redacted and any password of ``url`` replaced by ``***``."""
    text = text.replace(url, redact_url(url))
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


@dataclass
class Connection:
    """An opened store, its URL as it may be shown, and what opening it took."""

    store: Store
    shown_url: str
    open_seconds: float
    round_trip_seconds: float


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


#: Seconds ``close()`` may take on the way out.
CLOSE_TIMEOUT = 3.0


@contextlib.asynccontextmanager
async def opened_store(url: str, *, timeout: float) -> AsyncIterator[Connection]:
    """Build, open and probe the store at ``url``; close it on the way out.

    ``open()`` and the first read are each bounded by ``timeout`` seconds.

    :raises CommandError: ``CONFIGURATION`` for a refused URL, ``UNREACHABLE`` for a
        store that could not be opened or read.
    """
    shown = redact_url(url)
    try:
        store = create_store(url, timeout=timeout)
    except ConfigurationError as exc:
        raise CommandError(ExitCode.CONFIGURATION, scrub(str(exc), url)) from None
    try:
        started = time.perf_counter()
        step = "open"
        try:
            async with asyncio.timeout(timeout):
                await store.open()
            opened = time.perf_counter()
            step = "read"
            async with asyncio.timeout(timeout):
                with contextlib.suppress(CorruptRecordError):  # an answer all the same
                    await store.load(PROBE_KEY)
            read = time.perf_counter()
        except TimeoutError:
            raise CommandError(
                ExitCode.UNREACHABLE,
                f"{shown} did not answer the first {step} within {timeout:g}s (--timeout)",
            ) from None
        except Exception as exc:
            raise CommandError(
                ExitCode.UNREACHABLE,
                f"{shown} is unreachable ({step} failed): "
                f"{type(exc).__name__}: {scrub(_describe(exc), url)}",
            ) from None
        yield Connection(store, shown, opened - started, read - opened)
    finally:
        # Closing gets a few seconds at most: after Ctrl-C, or on a store that never
        # answered, a close stuck on a half-open connection must not hold the exit.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(min(timeout, CLOSE_TIMEOUT)):
                await store.close()


def operation_failed(exc: BaseException, what: str, url: str) -> CommandError:
    """The error for a store call that failed after the store was reached."""
    return CommandError(
        ExitCode.FAILURE,
        f"{what} failed on {redact_url(url)}: {type(exc).__name__}: {scrub(_describe(exc), url)}",
    )
