"""The benchmark suite on SQLite: ``python -m benchmarks --store sqlite:///...``.

A smoke run (a few seconds) on a database file: every phase answers, the client
floor is measured beside the session routes, and the floor's table is gone
afterwards.  Timings are never checked here.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_smoke_run_measures_the_store_and_its_client_floor(
    sqlite_path: Path, sqlite_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--no-progress",
         "--config", "touch-default", "--store", sqlite_url, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    [result] = [r for r in document["results"] if r["store"].startswith("sqlite://")]
    phases = {(p["workload"], p["size"]): p for p in result["phases"]}
    for workload in ("floor-read", "floor-write", "read", "write"):
        assert any(w == workload for w, _ in phases), f"no {workload} phase"
    for phase in result["phases"]:
        assert phase["errors"] == 0, phase["workload"]
    assert sum(phases[("floor-write", None)]["store_ops_per_request"].values()) == 0
    assert phases[("read", 100)]["store_ops_per_request"]["load"] == 1
    assert "client floor (driver calls only)" in (out / "results.md").read_text()

    with sqlite3.connect(sqlite_path) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
    assert not [name for name in tables if "_floor_" in name], tables
