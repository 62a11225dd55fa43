"""``smoke_run_with_floor``: a smoke run against one store, checked; for the plugins' tests.

A store plugin's test suite proves the benchmark works on its store by calling
this with a URL of its test server: it runs ``python -m benchmarks --smoke`` on
the default configuration, as a user would, and checks what does not depend on
timings (every phase answered, the client floor was measured without store
calls, a session read made one ``load``).  Timings are never checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["smoke_run_with_floor"]

ROOT = Path(__file__).resolve().parents[1]


def smoke_run_with_floor(store_url: str, out: Path) -> dict[str, Any]:
    """Run the smoke benchmark on ``store_url`` into ``out``; its result for that store."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--no-progress",
         "--config", "touch-default", "--store", store_url, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    scheme = store_url.split("://", 1)[0]
    [result] = [r for r in document["results"] if r["store"].startswith(f"{scheme}://")]
    phases = {(p["workload"], p["size"]): p for p in result["phases"]}
    for workload in ("floor-read", "floor-write", "read", "write"):
        assert any(w == workload for w, _ in phases), f"no {workload} phase"
    for phase in result["phases"]:
        assert phase["errors"] == 0, phase["workload"]
    # The floor calls the driver directly; the session routes go through the store.
    assert sum(phases[("floor-write", None)]["store_ops_per_request"].values()) == 0
    assert phases[("read", 100)]["store_ops_per_request"]["load"] == 1
    assert "client floor (driver calls only)" in (out / "results.md").read_text()
    found: dict[str, Any] = result
    return found
