"""The benchmark suite on PostgreSQL: ``python -m benchmarks --store postgresql://...``.

A smoke run (a few seconds) against the test server: every phase answers, the
client floor is measured beside the session routes, and the floor's table is
gone afterwards.  Timings are never checked here.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import asyncpg
from tornado_sessions_postgres.testing import PostgresServer

ROOT = Path(__file__).resolve().parents[3]


def test_a_smoke_run_measures_the_store_and_its_client_floor(
    postgres_server: PostgresServer, table: str, tmp_path: Path
) -> None:
    url = f"{postgres_server.url}?table={table}"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--no-progress",
         "--config", "touch-default", "--store", url, "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    [result] = [r for r in document["results"] if r["store"].startswith("postgresql://")]
    phases = {(p["workload"], p["size"]): p for p in result["phases"]}
    for workload in ("floor-read", "floor-write", "read", "write"):
        assert any(w == workload for w, _ in phases), f"no {workload} phase"
    for phase in result["phases"]:
        assert phase["errors"] == 0, phase["workload"]
    # The floor calls the driver directly; the session routes go through the store.
    assert sum(phases[("floor-write", None)]["store_ops_per_request"].values()) == 0
    assert phases[("read", 100)]["store_ops_per_request"]["load"] == 1
    assert "client floor (driver calls only)" in (tmp_path / "results.md").read_text()

    async def floor_tables() -> list[str]:
        conn = await asyncpg.connect(postgres_server.url)
        try:
            rows = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE $1", f"{table}_floor_%"
            )
        finally:
            await conn.close()
        return [row[0] for row in rows]

    assert asyncio.run(floor_tables()) == [], "the floor's table was left behind"
