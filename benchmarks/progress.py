"""The progress bar on stderr: tqdm when it is installed, a plain one-line bar otherwise.

The suite needs nothing beyond the project's own dependencies and matplotlib, so
tqdm is optional; the fallback prints the same information with ``\\r``.
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any

__all__ = ["Progress"]


class Progress:
    """Counts steps towards ``total``; ``enabled=False`` prints nothing."""

    def __init__(self, total: int, *, enabled: bool = True) -> None:
        self.total = total
        self.done = 0
        self.enabled = enabled
        self._started = time.monotonic()
        self._bar: Any = None
        if enabled:
            try:
                tqdm = importlib.import_module("tqdm")
            except ImportError:
                pass
            else:
                self._bar = tqdm.tqdm(
                    total=total, file=sys.stderr, unit="step", dynamic_ncols=True, leave=True
                )

    def step(self, description: str) -> None:
        """One step finished; ``description`` says what runs now."""
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_description_str(description, refresh=False)
            self._bar.update(1)
            return
        width = 30
        filled = width * self.done // max(self.total, 1)
        elapsed = time.monotonic() - self._started
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
            f"{elapsed:5.0f}s {description[:40]:<40}"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            sys.stderr.write("\n")
            sys.stderr.flush()
