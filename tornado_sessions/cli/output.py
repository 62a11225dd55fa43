"""What the command line prints: plain lines or one JSON object, and progress on stderr.

Results go to standard output: lines for people, or with ``--json`` exactly one
JSON object per run (also on failure, with ``"ok": false``, the message and the
exit code), so a script can parse it.  Errors and progress go to standard error.
Nothing printed here ever holds a store password: URLs pass through
:func:`~tornado_sessions.options.redact_url` before they reach an :class:`Output`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Output", "Progress"]

#: Seconds between two progress lines.
PROGRESS_INTERVAL = 0.5


class Output:
    """Where one command's results and errors go."""

    def __init__(
        self, *, json_mode: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.json_mode = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def result(self, data: Mapping[str, Any], lines: list[str]) -> None:
        """The command's result: ``data`` as JSON, or ``lines`` as text."""
        if self.json_mode:
            self.stdout.write(json.dumps({"ok": True, **data}, sort_keys=True) + "\n")
        else:
            for line in lines:
                self.stdout.write(line + "\n")
        self.stdout.flush()

    def error(self, message: str, code: int, data: Mapping[str, Any] | None = None) -> None:
        """A failure: the message on stderr, and the JSON object on stdout with ``--json``."""
        self.stderr.write(f"tornado-sessions: error: {message}\n")
        self.stderr.flush()
        if self.json_mode:
            body = {**(data or {}), "ok": False, "error": message, "exit_code": code}
            self.stdout.write(json.dumps(body, sort_keys=True) + "\n")
            self.stdout.flush()

    def note(self, message: str) -> None:
        """A remark for people (stderr), never part of the result."""
        self.stderr.write(message + "\n")
        self.stderr.flush()


class Progress:
    """``async with Progress(...) as progress:`` a line on stderr every half second.

    It shows what is being done, how many items so far (``progress.advance(n)``,
    when the operation can count them) and the time spent; a last line says how it
    ended.  Disabled (``enabled=False``), it prints nothing.
    """

    def __init__(self, label: str, *, enabled: bool, unit: str = "", stream: TextIO) -> None:
        self.label = label
        self.enabled = enabled
        self.unit = unit
        self.stream = stream
        self.count = 0
        self._started = 0.0
        self._ticker: asyncio.Task[None] | None = None

    def advance(self, items: int = 1) -> None:
        self.count += items

    def _line(self, state: str) -> str:
        elapsed = time.monotonic() - self._started
        done = f", {self.count:,} {self.unit}" if self.unit else ""
        return f"{self.label}: {state}{done}, {elapsed:.1f}s"

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            self.stream.write(self._line("running") + "\n")
            self.stream.flush()

    async def __aenter__(self) -> Progress:
        self._started = time.monotonic()
        if self.enabled:
            self._ticker = asyncio.create_task(self._tick())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self.enabled:
            state = "done" if exc_type is None else "stopped"
            self.stream.write(self._line(state) + "\n")
            self.stream.flush()
