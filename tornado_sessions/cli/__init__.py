"""The ``tornado-sessions`` command line (also ``python -m tornado_sessions``).

Commands, one module per group:

- :mod:`~tornado_sessions.cli.plugins`: ``plugins``;
- :mod:`~tornado_sessions.cli.health`: ``check URL``;
- :mod:`~tornado_sessions.cli.admin`: ``count URL``, ``purge URL``, ``clear URL``,
  ``end-owner URL OWNER``;
- :mod:`~tornado_sessions.cli.rotation`: ``reencrypt URL``.

Shared pieces: :mod:`~tornado_sessions.cli.connect` (the URL, opening and closing
the store), :mod:`~tornado_sessions.cli.output` (text or ``--json``, progress) and
:mod:`~tornado_sessions.cli.exits` (the documented exit codes).  :func:`main` parses
the arguments, runs the command in its own event loop and turns every outcome
into an exit code; store passwords never reach the output.  ``docs/operating.md``
is the user's page.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from .. import __version__
from . import admin, health, plugins, rotation
from .exits import CommandError, ExitCode
from .output import Output

__all__ = ["CommandError", "ExitCode", "build_parser", "main"]

DEFAULT_TIMEOUT = 5.0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 300 seconds: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", help="print one JSON object (also on failure)"
    )
    common.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"bound opening the store and its first read (default {DEFAULT_TIMEOUT:g})",
    )
    common.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress of long operations on stderr (default: when stderr is a terminal)",
    )
    parser = argparse.ArgumentParser(
        prog="tornado-sessions",
        description="Inspect and administer tornado-sessions stores. Exit codes: 0 ok, "
        "1 failure, 2 usage, 3 store unreachable, 4 configuration, 5 unsupported by the "
        "store, 6 not confirmed, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    plugins.add_parser(commands, common)
    health.add_parser(commands, common)
    admin.add_parsers(commands, common)
    rotation.add_parser(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (see :class:`ExitCode`)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on a usage error
    if args.progress is None:
        args.progress = sys.stderr.isatty()
    output = Output(json_mode=args.json)
    try:
        if args.asynchronous:
            code: ExitCode = _run_interruptible(args.run(args, output))
        else:
            code = args.run(args, output)
    except CommandError as exc:
        output.error(exc.message, exc.code, {"command": args.command})
        return int(exc.code)
    except KeyboardInterrupt:
        output.error("interrupted", ExitCode.INTERRUPTED, {"command": args.command})
        return int(ExitCode.INTERRUPTED)
    return int(code)


#: Seconds a command has to wind down after Ctrl-C before it is abandoned.
INTERRUPT_GRACE = 2.0


def _run_interruptible(command: Coroutine[Any, Any, ExitCode]) -> ExitCode:
    """``asyncio.run(command)``, where Ctrl-C ends the command whatever a driver does.

    Ctrl-C cancels the command.  A driver can lose a cancellation that lands while
    it connects, so a command still running ``INTERRUPT_GRACE`` seconds later is
    cancelled again, and one still running after that is abandoned with
    :class:`KeyboardInterrupt`, as a second Ctrl-C would.
    """
    loop = asyncio.new_event_loop()
    task = loop.create_task(command)
    tries = [0]

    def press_again() -> None:
        if task.done():
            return
        tries[0] += 1
        if tries[0] > 2:
            raise KeyboardInterrupt  # escapes the loop: asyncio re-raises it
        task.cancel()
        loop.call_later(INTERRUPT_GRACE, press_again)

    def interrupted(signum: int, frame: object) -> None:
        loop.call_soon_threadsafe(task.cancel)
        loop.call_soon_threadsafe(loop.call_later, INTERRUPT_GRACE, press_again)

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        signal.signal(signal.SIGINT, previous)
        if task.done():
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
