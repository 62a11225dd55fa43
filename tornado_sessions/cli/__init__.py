"""The ``tornado-sessions`` command line (also ``python -m tornado_sessions``).

Commands, one module per group:

- :mod:`~tornado_sessions.cli.plugins`: ``plugins``;
- :mod:`~tornado_sessions.cli.health`: ``check URL``;
- :mod:`~tornado_sessions.cli.admin`: ``count URL``, ``purge URL``, ``clear URL``,
  ``end-owner URL OWNER``.

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
import sys
from collections.abc import Sequence

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
            code: ExitCode = asyncio.run(args.run(args, output))
        else:
            code = args.run(args, output)
    except CommandError as exc:
        output.error(exc.message, exc.code, {"command": args.command})
        return int(exc.code)
    except KeyboardInterrupt:
        output.error("interrupted", ExitCode.INTERRUPTED, {"command": args.command})
        return int(ExitCode.INTERRUPTED)
    return int(code)
