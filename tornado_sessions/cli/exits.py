"""The command line's exit codes, and the error that carries one.

Scripts and cron jobs can tell the cases apart without reading the message:

====  ===============  =================================================================
code  name             meaning
====  ===============  =================================================================
0     ``OK``           done
1     ``FAILURE``      the store was reached but the operation failed part-way
2     ``USAGE``        the command line is wrong (unknown option, no store URL)
3     ``UNREACHABLE``  the store could not be opened or did not answer a first read
4     ``CONFIGURATION``  the URL is refused: unknown scheme, plugin not installed, bad
                       option (the message says what to write instead)
5     ``UNSUPPORTED``  the store does not implement the operation (e.g. ``purge`` on
                       a store with native expiry, ``end-owner`` without an owner index)
6     ``NOT_CONFIRMED``  ``clear`` was not confirmed (answer ``yes`` or pass ``--yes``)
130   ``INTERRUPTED``  stopped by Ctrl-C (SIGINT); the store was closed
====  ===============  =================================================================

``docs/operating.md`` repeats this table; a test keeps the two equal.
"""

from __future__ import annotations

import enum

__all__ = ["CommandError", "ExitCode"]


class ExitCode(enum.IntEnum):
    """Exit status of ``tornado-sessions``; see the module docstring."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    UNREACHABLE = 3
    CONFIGURATION = 4
    UNSUPPORTED = 5
    NOT_CONFIRMED = 6
    INTERRUPTED = 130


class CommandError(Exception):
    """A command could not do its job: the message for the user and the exit code."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
