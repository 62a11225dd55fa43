"""``python -m tornado_sessions``: the command line, the same as the ``tornado-sessions`` script."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
