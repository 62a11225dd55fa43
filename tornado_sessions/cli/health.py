"""``tornado-sessions check URL``: can this process reach the store, and how fast.

Opens the store the way the application does (the plugin registry, then
``open()``), makes one round trip (a read of a key no session has, as
``open_sessions`` does at start-up) and reports both times and what the store
implements.  Exit 0 when it answered, 3 (``UNREACHABLE``) with the cause when it
did not, 4 (``CONFIGURATION``) for a URL no plugin accepts.  Good for a deploy's
pre-flight step or a container's readiness probe.
"""

from __future__ import annotations

import argparse
from typing import Any

from .connect import opened_store, resolve_url
from .exits import ExitCode
from .output import Output

__all__ = ["add_parser"]


async def run(args: argparse.Namespace, output: Output) -> ExitCode:
    url = resolve_url(args.url)
    async with opened_store(url, timeout=args.timeout) as connection:
        store = connection.store
        capabilities = sorted(store.capabilities)
        data = {
            "url": connection.shown_url,
            "store": type(store).__name__,
            "open_ms": round(connection.open_seconds * 1000, 3),
            "round_trip_ms": round(connection.round_trip_seconds * 1000, 3),
            "capabilities": capabilities,
            "atomic_conditional_writes": store.atomic_conditional_writes,
        }
        lines = [
            f"ok: {connection.shown_url} ({type(store).__name__}) answered in "
            f"{data['round_trip_ms']:.1f} ms (opened in {data['open_ms']:.1f} ms)",
            f"implements: {', '.join(capabilities) or 'the required methods only'}",
        ]
        if not store.atomic_conditional_writes:
            lines.append(
                "warning: touch and save_changes are not atomic on this store: a logout "
                "racing another request can be undone (see docs/writing-a-store.md)"
            )
        output.result(data, lines)
    return ExitCode.OK


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "check",
        parents=[common],
        help="open the store, make one round trip, report the latency",
        description="Open the store, make one round trip and report the latency; exit 3 "
        "with the cause when it does not answer.",
    )
    parser.add_argument("url", nargs="?", help="store URL (default: $TORNADO_SESSIONS_STORE)")
    parser.set_defaults(run=run, asynchronous=True)
