"""The benchmark suite on PostgreSQL: ``python -m benchmarks --store postgresql://...``.

A smoke run (a few seconds) against the test server: every phase answers, the
client floor is measured beside the session routes, and the floor's table is
gone afterwards.  Timings are never checked here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from tornado_sessions_postgres.testing import PostgresServer

from benchmarks.smoke import smoke_run_with_floor


def test_a_smoke_run_measures_the_store_and_its_client_floor(
    postgres_server: PostgresServer, table: str, tmp_path: Path
) -> None:
    smoke_run_with_floor(f"{postgres_server.url}?table={table}", tmp_path)

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
