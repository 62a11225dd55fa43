"""Measuring one configuration on one store: phases, the race, and the figures derived from them.

For each (store, configuration) pair the runner starts a fresh server process,
seeds one session per connection and per size, warms every route up, then runs
``rounds`` interleaved rounds: every phase once per round, the order rotated from
round to round so that no phase always runs first or last.  Around each phase it
reads the server's CPU time and store counters, so every figure is a difference
over exactly that phase's requests.

Overhead ratios compare a phase's server CPU per request with the bare route's
*in the same round of the same process*, and the reported ratio is the median
over rounds: drift in machine speed over the run cancels out.

The race: ``race_clients`` connections share one freshly seeded session and each
sends ``race_requests`` sequential requests to ``/race``.  In the own-key variant
client *i* increments key ``k<i>``, so nothing conflicts in the data and every
increment should survive; in the same-key variant all increment ``shared``, a
read-modify-write that no session library serializes.  The final state is read
back and compared with what should be there; the difference is the lost updates.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .counting import OPERATIONS
from .payloads import make_payload
from .plan import Config, Mode, Phase, phases
from .processes import ChildError, LoadGeneratorProcess, ServerProcess
from .progress import Progress

__all__ = ["RunSettings", "measure", "percentile", "steps_per_server"]

WRITES = ("save", "save_changes", "touch", "destroy")


@dataclass(frozen=True)
class RunSettings:
    """What every server of one run shares."""

    mode: Mode
    race_io: float
    server_cpu: int | None
    out: Path
    profile: bool = False


@dataclass
class Sample:
    """One phase in one round: what the load generator saw and what the server spent."""

    requests: int
    wall: float
    cpu: float
    client_cpu: float
    latencies: list[float]
    calls: dict[str, int]
    bytes_written: int
    store_seconds: float
    errors: int
    involuntary_switches: int
    gc_collections: list[int]


@dataclass
class PhaseSamples:
    phase: Phase
    samples: list[Sample] = field(default_factory=list)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (``fraction`` in 0..1)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def steps_per_server(mode: Mode) -> int:
    """Progress steps one server accounts for: warm-up, every phase of every round, 2 races."""
    return 1 + mode.rounds * len(phases(mode.sizes)) + 2


def _delta(before: dict[str, Any], after: dict[str, Any], result: dict[str, Any]) -> Sample:
    statuses = {int(code): count for code, count in result["statuses"].items()}
    requests = sum(statuses.values())
    return Sample(
        requests=requests,
        wall=result["wall"],
        cpu=after["cpu"] - before["cpu"],
        client_cpu=result["client_cpu"],
        latencies=result["latencies"],
        calls={op: after["calls"][op] - before["calls"][op] for op in OPERATIONS},
        bytes_written=after["bytes_written"] - before["bytes_written"],
        store_seconds=sum(after["seconds"][op] - before["seconds"][op] for op in OPERATIONS),
        errors=requests - statuses.get(200, 0),
        involuntary_switches=after["involuntary_switches"] - before["involuntary_switches"],
        gc_collections=[
            late - early
            for early, late in zip(before["gc_collections"], after["gc_collections"], strict=True)
        ],
    )


def _summarize(entry: PhaseSamples, bare: PhaseSamples) -> dict[str, Any]:
    samples = entry.samples
    requests = sum(s.requests for s in samples)
    wall = sum(s.wall for s in samples)
    cpu = sum(s.cpu for s in samples)
    latencies = [value for s in samples for value in s.latencies]
    ratios = [
        (s.cpu / s.requests) / (b.cpu / b.requests)
        for s, b in zip(samples, bare.samples, strict=True)
        if s.requests and b.requests and b.cpu > 0
    ]
    ops = {op: sum(s.calls[op] for s in samples) / requests for op in OPERATIONS}
    return {
        "workload": entry.phase.workload,
        "size": entry.phase.size,
        "requests": requests,
        "errors": sum(s.errors for s in samples),
        "requests_per_second": statistics.median(
            s.requests / s.wall for s in samples if s.wall > 0
        ),
        "latency_ms": {
            name: 1000 * percentile(latencies, fraction)
            for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
        },
        "server_cpu_us_per_request": 1e6 * cpu / requests,
        "cpu_ratio_to_bare": statistics.median(ratios) if ratios else None,
        "cpu_ratio_per_round": ratios,
        "cpu_ratio_spread": [min(ratios), max(ratios)] if ratios else None,
        "requests_per_second_per_round": [s.requests / s.wall for s in samples if s.wall > 0],
        "store_ops_per_request": ops,
        "store_writes_per_request": sum(ops[op] for op in WRITES),
        "bytes_written_per_request": sum(s.bytes_written for s in samples) / requests,
        "store_ms_per_request": 1000 * sum(s.store_seconds for s in samples) / requests,
        "load_generator_busy": sum(s.client_cpu for s in samples) / wall if wall else 0.0,
        "server_preempted_per_1000_requests": 1000
        * sum(s.involuntary_switches for s in samples)
        / requests,
        "gc_collections_per_1000_requests": [
            1000 * sum(s.gc_collections[generation] for s in samples) / requests
            for generation in range(len(samples[0].gc_collections))
        ],
    }


def _race(loadgen: LoadGeneratorProcess, mode: Mode, size: int, same_key: bool) -> dict[str, Any]:
    cookie = loadgen.call("seed", path=f"/_bench/seed?size={size}", count=1)["cookies"][0]
    clients, each = mode.race_clients, mode.race_requests
    result = loadgen.call("race", cookie=cookie, clients=clients, requests=each, same_key=same_key)
    state = loadgen.call("get", path="/_bench/state", cookie=cookie)
    if state["status"] != 200:
        raise ChildError(f"reading the race's session answered {state['status']}")
    values: dict[str, Any] = json.loads(state["body"])["values"]
    expected = clients * each
    if same_key:
        applied = int(values.get("shared", 0))
        race_keys = {"shared"}
    else:
        race_keys = {f"k{i}" for i in range(clients)}
        applied = sum(min(int(values.get(key, 0)), each) for key in race_keys)
    seeded = make_payload(size)
    intact = all(values.get(key) == value for key, value in seeded.items())
    statuses = {int(code): count for code, count in result["statuses"].items()}
    return {
        "variant": "same-key" if same_key else "own-key",
        "clients": clients,
        "requests_per_client": each,
        "expected": expected,
        "applied": applied,
        "lost": expected - applied,
        "lost_fraction": (expected - applied) / expected,
        "other_keys_intact": intact and set(values) <= set(seeded) | race_keys,
        "errors": sum(statuses.values()) - statuses.get(200, 0),
        "wall_seconds": result["wall"],
    }


def measure(
    store: str,
    config: Config,
    settings: RunSettings,
    loadgen: LoadGeneratorProcess,
    progress: Progress,
) -> dict[str, Any]:
    """Run every phase and both races of ``config`` on ``store``; return the figures."""
    mode = settings.mode
    slug = f"{store.split(':', 1)[0]}-{config.key}"
    spec: dict[str, Any] = {
        "store": store,
        "config": config.options,
        "race_io": settings.race_io,
        "cpu": settings.server_cpu,
    }
    if settings.profile:
        spec["profile"] = str(settings.out / f"profile-{slug}.prof")
    server = ServerProcess(spec, settings.out / f"server-{slug}.log")
    try:
        loadgen.call("connect", port=server.port, count=max(mode.concurrency, mode.race_clients))
        cookies = {
            size: loadgen.call("seed", path=f"/_bench/seed?size={size}", count=mode.concurrency)[
                "cookies"
            ]
            for size in mode.sizes
        }
        plan = phases(mode.sizes, floor=server.floor)

        def run(phase: Phase, requests: int) -> dict[str, Any]:
            return loadgen.call(
                "run",
                path=phase.path,
                cookies=cookies[phase.size or mode.sizes[0]],
                requests=requests,
                concurrency=mode.concurrency,
            )

        for phase in plan:
            run(phase, mode.warmup)
        progress.step(f"{slug}: warm")
        entries = {phase.key: PhaseSamples(phase) for phase in plan}
        for round_number in range(mode.rounds):
            shift = round_number % len(plan)
            for phase in plan[shift:] + plan[:shift]:
                before = server.stats()
                result = run(phase, mode.requests)
                after = server.stats()
                entries[phase.key].samples.append(_delta(before, after, result))
                progress.step(f"{slug}: {phase.key}")
        races = []
        for same_key in (False, True):
            races.append(_race(loadgen, mode, mode.sizes[0], same_key))
            progress.step(f"{slug}: race")
        loadgen.call("disconnect")
    finally:
        server.stop()
    bare = entries["bare"]
    return {
        "store": store,
        "config": config.key,
        "label": config.label,
        "options": config.options,
        "phases": [_summarize(entry, bare) for entry in entries.values()],
        "race": races,
    }
