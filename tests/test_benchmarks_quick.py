"""The benchmark suite end to end: ``python -m benchmarks --smoke`` writes well-formed outputs.

The suite runs as a user runs it, in a subprocess from the repository root, in
its quickest mode (a few seconds).  The checks are about shape and about the
store operations the suite counts, which are deterministic on the memory store;
never about timings, which on a shared machine mean nothing here.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.report import not_different

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"resave", "touch-always", "touch-default", "rolling", "encrypted"}
SIZES = [100, 4096, 65536]
OPERATIONS = {"load", "save", "save_changes", "touch", "destroy"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("bench")
    completed = _run("--smoke", "--no-progress", "--out", str(out))
    assert completed.returncode == 0, completed.stderr[-3000:]
    return out, completed.stdout


@pytest.fixture(scope="module")
def document(smoke: tuple[Path, str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((smoke[0] / "results.json").read_text(encoding="utf-8"))
    return data


def _phase(result: dict[str, Any], workload: str, size: int | None) -> dict[str, Any]:
    matches = [p for p in result["phases"] if p["workload"] == workload and p["size"] == size]
    assert len(matches) == 1, (workload, size)
    found: dict[str, Any] = matches[0]
    return found


def _result(document: dict[str, Any], config: str) -> dict[str, Any]:
    matches = [r for r in document["results"] if r["config"] == config]
    assert len(matches) == 1, config
    found: dict[str, Any] = matches[0]
    return found


def test_writes_the_three_outputs(smoke: tuple[Path, str]) -> None:
    out, stdout = smoke
    assert (out / "results.json").is_file()
    assert (out / "results.md").read_text(encoding="utf-8") == stdout
    for name in ("throughput.png", "writes_per_request.png", "touch-vs-resave.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 5000, name


def test_json_records_machine_versions_and_settings(document: dict[str, Any]) -> None:
    assert document["schema"] == 1
    assert document["mode"]["name"] == "smoke"
    assert document["mode"]["sizes"] == SIZES
    machine = document["machine"]
    for field in ("date", "platform", "cpu_model", "cpu_count", "python"):
        assert machine[field], field
    assert machine["packages"]["tornado"]
    assert machine["packages"]["tornado-sessions"]
    assert document["settings"]["stores"] == ["memory://"]
    assert {c["key"] for c in document["configurations"]} == CONFIGS


def test_every_configuration_measures_every_phase(document: dict[str, Any]) -> None:
    assert {r["config"] for r in document["results"]} == CONFIGS
    expected: set[tuple[str, int | None]] = {("bare", None), ("untouched", None)}
    expected |= {("floor-read", None), ("floor-write", None)}
    expected |= {(w, s) for w in ("read", "write") for s in SIZES}
    for result in document["results"]:
        assert result["store"] == "memory://"
        assert {(p["workload"], p["size"]) for p in result["phases"]} == expected
        for phase in result["phases"]:
            assert phase["errors"] == 0, (result["config"], phase["workload"])
            assert phase["requests"] == document["mode"]["requests_per_phase"]
            assert set(phase["store_ops_per_request"]) == OPERATIONS
            assert set(phase["latency_ms"]) == {"p50", "p95", "p99"}
            numbers = [
                phase["requests_per_second"],
                phase["server_cpu_us_per_request"],
                *phase["latency_ms"].values(),
            ]
            assert all(math.isfinite(n) and n > 0 for n in numbers)
            assert phase["cpu_ratio_to_bare"] > 0
            low, high = phase["cpu_ratio_spread"]
            assert low <= phase["cpu_ratio_to_bare"] <= high
            assert len(phase["requests_per_second_per_round"]) == document["mode"]["rounds"]
        assert _phase(result, "bare", None)["cpu_ratio_to_bare"] == 1.0


def test_requests_that_never_ask_make_no_store_call(document: dict[str, Any]) -> None:
    # The client floor calls its driver directly, never the session store.
    for result in document["results"]:
        for workload in ("bare", "untouched", "floor-read", "floor-write"):
            phase = _phase(result, workload, None)
            assert sum(phase["store_ops_per_request"].values()) == 0
            assert phase["bytes_written_per_request"] == 0


def test_store_operations_follow_the_configuration(document: dict[str, Any]) -> None:
    for size in SIZES:
        for config in CONFIGS:
            read = _phase(_result(document, config), "read", size)
            write = _phase(_result(document, config), "write", size)
            assert read["store_ops_per_request"]["load"] == 1
            assert write["store_ops_per_request"]["load"] == 1
            assert write["store_writes_per_request"] == 1
        resave = _phase(_result(document, "resave"), "read", size)
        assert resave["store_writes_per_request"] == 1
        assert resave["bytes_written_per_request"] >= size
        touch = _phase(_result(document, "touch-always"), "read", size)
        assert touch["store_ops_per_request"]["touch"] == 1
        assert touch["bytes_written_per_request"] == 8  # the expiry alone
        for config in ("touch-default", "rolling", "encrypted"):
            assert _phase(_result(document, config), "read", size)["store_writes_per_request"] == 0
        delta = _phase(_result(document, "touch-default"), "write", size)
        assert delta["store_ops_per_request"]["save_changes"] == 1
        assert delta["bytes_written_per_request"] < 100


def test_race_compares_final_state(document: dict[str, Any]) -> None:
    for result in document["results"]:
        assert [r["variant"] for r in result["race"]] == ["own-key", "same-key"]
        for race in result["race"]:
            assert race["expected"] == race["clients"] * race["requests_per_client"]
            assert race["applied"] + race["lost"] == race["expected"]
            assert 0 <= race["lost"] <= race["expected"]
            assert race["errors"] == 0
            assert race["other_keys_intact"]
        if result["config"] != "resave":
            # Delta writes: clients changing different keys lose nothing.
            assert result["race"][0]["lost"] == 0


def test_targets_and_serializers(document: dict[str, Any]) -> None:
    assert [(t["workload"], t["size"]) for t in document["targets"]] == [
        ("untouched", None),
        ("read", 100),
        ("write", 100),
    ]
    for target in document["targets"]:
        assert target["ratio"] > 0 and isinstance(target["met"], bool)
        assert target["reference"] == "bare"
        assert target["fraction"] == pytest.approx(1 / target["ratio"])
        assert target["met"] == (target["fraction"] >= target["goal"])
    assert [t["goal"] for t in document["targets"]] == [0.97, 0.90, 0.85]
    assert [row["size"] for row in document["serializers"]] == SIZES
    for row in document["serializers"]:
        assert row["msgpack"]["bytes"] == row["size"]
        assert row["json"]["bytes"] > 0
        for serializer in ("msgpack", "json"):
            assert row[serializer]["dumps_us"] > 0 and row[serializer]["loads_us"] > 0


def test_markdown_has_every_table(smoke: tuple[Path, str]) -> None:
    stdout = smoke[1]
    for heading in (
        "## Server CPU per request",
        "## Throughput, latency and store work",
        "## Race: concurrent requests on one session",
        "## Serializers",
        "## Recommendation",
    ):
        assert heading in stdout
    table_rows = [line for line in stdout.splitlines() if line.startswith("| memory |")]
    # One overhead row, 10 detail rows and 2 race rows per configuration, and the
    # client-floor row of the overhead table.
    assert len(table_rows) == len(CONFIGS) * (1 + 10 + 2) + 1
    assert "| memory | client floor (driver calls only) |" in stdout
    # Targets are for developers: only with --targets.
    assert "Internal targets" not in stdout and "missed" not in stdout


def test_every_ratio_is_shown_with_its_spread(smoke: tuple[Path, str]) -> None:
    overhead = smoke[1].split("## Server CPU per request", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in overhead.splitlines() if line.startswith("| memory | resave")]
    assert len(rows) == 1
    cells = rows[0].strip("| ").split(" | ")[3:]
    assert len(cells) == 7
    for cell in cells:
        assert "(" in cell and "-" in cell, cell


def test_recommendation_is_computed_from_the_figures(
    smoke: tuple[Path, str], document: dict[str, Any]
) -> None:
    text = smoke[1].split("## Recommendation", 1)[1]
    assert "**memory store.**" in text
    assert text.count("\n- ") >= len(CONFIGS) - 1  # every other configuration has a line
    resave = _result(document, "resave")["race"][0]
    if resave["lost"]:
        # The race it measured, in its own numbers.
        assert f"lost {resave['lost']} of {resave['expected']} concurrent updates" in text
    read = _phase(_result(document, "resave"), "read", 100)["cpu_ratio_to_bare"]
    assert f"{read:.2f}x per read" in text


def test_targets_are_printed_on_request(smoke: tuple[Path, str], tmp_path: Path) -> None:
    completed = _run(
        "--render", str(smoke[0] / "results.json"), "--targets", "--out", str(tmp_path)
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "## Internal targets (developers)" in completed.stdout
    assert "memory, read 100 B: " in completed.stdout
    assert "of bare Tornado (goal ≥ 0.90)" in completed.stdout


def test_not_different_marks_overlapping_neighbours() -> None:
    medians: list[float | None] = [1.0, 1.5, 1.6, 3.0, None]
    spreads: list[tuple[float, float] | None] = [
        (0.9, 1.1),
        (1.4, 1.55),
        (1.5, 1.7),
        (2.9, 3.1),
        None,
    ]
    assert not_different(medians, spreads) == [False, True, True, False, False]
    # Order of the inputs does not matter, only the values' order.
    assert not_different(medians[::-1], spreads[::-1]) == [False, False, True, True, False]


def test_make_passes_store_to_the_benchmark() -> None:
    for target in ("bench", "bench-quick"):
        completed = subprocess.run(
            ["make", "-n", "-o", ".venv/.installed", target, "STORE=redis://127.0.0.1:1/15"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        assert "-m benchmarks" in completed.stdout
        assert "--store redis://127.0.0.1:1/15" in completed.stdout


def test_render_reprints_a_saved_run(smoke: tuple[Path, str], tmp_path: Path) -> None:
    out, stdout = smoke
    completed = _run("--render", str(out / "results.json"), "--out", str(tmp_path))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout == stdout
    assert (tmp_path / "touch-vs-resave.png").read_bytes().startswith(PNG_MAGIC)


def test_unknown_store_scheme_is_refused_before_anything_runs(tmp_path: Path) -> None:
    completed = _run("--smoke", "--store", "nosuch://localhost", "--out", str(tmp_path), timeout=60)
    assert completed.returncode != 0
    assert "nosuch" in completed.stderr
    assert not (tmp_path / "results.json").exists()
