"""``python -m benchmarks``: run the suite (see :mod:`benchmarks.cli` for the options)."""

import sys

from .cli import main

sys.exit(main())
