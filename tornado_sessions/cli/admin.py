"""The administration commands: ``count``, ``purge``, ``clear`` and ``end-owner``.

Each one reaches the store through :func:`~tornado_sessions.cli.connect.opened_store`
and uses only the store contract's optional methods (``Store.capabilities`` says
which a store has); a store without the one a command needs gives exit code 5
(``UNSUPPORTED``) and a sentence saying why, never a traceback.

- ``count``: live sessions, from ``count()``, or by walking ``keys()`` (with progress).
- ``purge``: ``purge_expired()``, for stores without native expiry (SQL tables,
  files, the memory store).  Redis and MongoDB expire records themselves.
- ``clear``: every session ends.  Asks first (the answer is read from standard
  input: ``yes`` goes on) unless ``--yes``; uses ``clear()``, or ``keys()`` and
  ``destroy()`` with progress.
- ``end-owner``: every session of one user (``Session.owner``), from the store's
  owner index (``owner_sessions()``); the owner is hashed as the core hashes it
  unless ``--plain-owner`` (for an application with ``hash_ids=False``).

Long operations show progress on standard error (``--progress``, on by default
when standard error is a terminal).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..ids import owner_key
from ..stores.base import Store
from .connect import Connection, opened_store, operation_failed, resolve_url
from .exits import CommandError, ExitCode
from .output import Output, Progress

__all__ = ["add_parsers"]


def _progress(args: argparse.Namespace, output: Output, label: str, unit: str = "") -> Progress:
    return Progress(label, enabled=args.progress, unit=unit, stream=output.stderr)


def _unsupported(store: Store, needs: str, why: str) -> CommandError:
    return CommandError(
        ExitCode.UNSUPPORTED, f"{type(store).__name__} does not implement {needs}(): {why}"
    )


async def _count(connection: Connection, args: argparse.Namespace, output: Output) -> int:
    store = connection.store
    if "count" in store.capabilities:
        return await store.count()
    if "keys" in store.capabilities:
        async with _progress(args, output, "count", "sessions") as progress:
            async for _ in store.keys():
                progress.advance()
        return progress.count
    raise _unsupported(store, "count", "it cannot count or list its sessions")


async def run_count(args: argparse.Namespace, output: Output) -> ExitCode:
    url = resolve_url(args.url)
    async with opened_store(url, timeout=args.timeout) as connection:
        try:
            live = await _count(connection, args, output)
        except CommandError:
            raise
        except Exception as exc:
            raise operation_failed(exc, "count", url) from exc
        output.result(
            {"url": connection.shown_url, "sessions": live},
            [f"{live} live session{'s' if live != 1 else ''} in {connection.shown_url}"],
        )
    return ExitCode.OK


async def run_purge(args: argparse.Namespace, output: Output) -> ExitCode:
    url = resolve_url(args.url)
    async with opened_store(url, timeout=args.timeout) as connection:
        store = connection.store
        if "purge_expired" not in store.capabilities:
            raise _unsupported(
                store,
                "purge_expired",
                "stores that expire records themselves (Redis TTLs, MongoDB's TTL index) "
                "have nothing to purge",
            )
        try:
            async with _progress(args, output, "purge"):
                purged = await store.purge_expired()
        except Exception as exc:
            raise operation_failed(exc, "purge", url) from exc
        output.result(
            {"url": connection.shown_url, "purged": purged},
            [
                f"purged {purged} expired record{'s' if purged != 1 else ''} from "
                f"{connection.shown_url}"
            ],
        )
    return ExitCode.OK


def _confirmed(args: argparse.Namespace, output: Output, what: str) -> bool:
    if args.yes:
        return True
    output.stderr.write(f"{what}\nType 'yes' to go on: ")
    output.stderr.flush()
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():  # the answer was not echoed: end the question's line
        output.note("")
    return answer.strip().lower() == "yes"


async def run_clear(args: argparse.Namespace, output: Output) -> ExitCode:
    url = resolve_url(args.url)
    async with opened_store(url, timeout=args.timeout) as connection:
        store = connection.store
        can_clear = "clear" in store.capabilities
        if not can_clear and "keys" not in store.capabilities:
            raise _unsupported(store, "clear", "it can neither clear nor list its sessions")
        try:
            before: int | None = await store.count() if "count" in store.capabilities else None
        except Exception as exc:
            raise operation_failed(exc, "count", url) from exc
        how_many = "every session" if before is None else f"all {before} live sessions"
        if not _confirmed(
            args,
            output,
            f"This deletes {how_many} in {connection.shown_url}: everyone is logged out.",
        ):
            raise CommandError(
                ExitCode.NOT_CONFIRMED,
                "not confirmed; nothing was deleted (pass --yes to skip the question)",
            )
        try:
            if can_clear:
                async with _progress(args, output, "clear"):
                    await store.clear()
                cleared = before
            else:
                async with _progress(args, output, "clear", "sessions") as progress:
                    async for key in store.keys():
                        await store.destroy(key)
                        progress.advance()
                cleared = progress.count
        except Exception as exc:
            raise operation_failed(exc, "clear", url) from exc
        shown = "every session" if cleared is None else f"{cleared} sessions"
        output.result(
            {"url": connection.shown_url, "cleared": cleared},
            [f"cleared {shown} from {connection.shown_url}"],
        )
    return ExitCode.OK


async def run_end_owner(args: argparse.Namespace, output: Output) -> ExitCode:
    url = resolve_url(args.url)
    async with opened_store(url, timeout=args.timeout) as connection:
        store = connection.store
        if "owner_sessions" not in store.capabilities:
            raise _unsupported(store, "owner_sessions", "it keeps no index of sessions by owner")
        key = owner_key(args.owner, hashed=not args.plain_owner)
        try:
            sessions = await store.owner_sessions(key)
            async with _progress(args, output, "end-owner", "sessions") as progress:
                for session in sessions:
                    await store.destroy(session.key)
                    progress.advance()
        except Exception as exc:
            raise operation_failed(exc, "end-owner", url) from exc
        ended = progress.count
        output.result(
            {"url": connection.shown_url, "ended": ended},
            [
                f"ended {ended} session{'s' if ended != 1 else ''} of that owner in "
                f"{connection.shown_url}"
            ],
        )
    return ExitCode.OK


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    url_help = "store URL (default: $TORNADO_SESSIONS_STORE)"

    count = commands.add_parser(
        "count", parents=[common], help="how many live sessions the store holds"
    )
    count.add_argument("url", nargs="?", help=url_help)
    count.set_defaults(run=run_count, asynchronous=True)

    purge = commands.add_parser(
        "purge",
        parents=[common],
        help="delete expired records (stores without native expiry)",
    )
    purge.add_argument("url", nargs="?", help=url_help)
    purge.set_defaults(run=run_purge, asynchronous=True)

    clear = commands.add_parser(
        "clear", parents=[common], help="delete every session (asks first unless --yes)"
    )
    clear.add_argument("url", nargs="?", help=url_help)
    clear.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    clear.set_defaults(run=run_clear, asynchronous=True)

    end_owner = commands.add_parser(
        "end-owner",
        parents=[common],
        help="end every session of one owner (Session.owner): log out everywhere",
    )
    end_owner.add_argument("url", nargs="?", help=url_help)
    end_owner.add_argument("owner", help="the owner, as the application set Session.owner")
    end_owner.add_argument(
        "--plain-owner",
        action="store_true",
        help="the application runs with hash_ids=False: the store indexes owners unhashed",
    )
    end_owner.set_defaults(run=run_end_owner, asynchronous=True)
