"""``python -m benchmarks.observability --smoke`` runs and writes well-formed figures.

About shape only, never timings (on a shared machine they mean nothing here).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ["off", "metrics", "metrics+tracing"]


def test_the_observability_benchmark_runs_and_reports_every_mode(tmp_path: Path) -> None:
    out = tmp_path / "observability.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.observability", "--smoke", "--no-progress",
         "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert list(result["modes"]) == MODES
    assert list(result["hook_ns"]) == MODES
    for figures in result["modes"].values():
        assert set(figures) == {"bare_us", "read_us", "ratio", "extra_read_us"}
        assert figures["read_us"]["median"] > 0
    for mode in MODES:
        assert f"| {mode} |" in done.stdout
