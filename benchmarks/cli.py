"""The command line, ``python -m benchmarks``, and the orchestration of one run.

::

    python -m benchmarks                  # full run on the memory store (a few minutes)
    python -m benchmarks --quick          # under a minute on 2 cores
    python -m benchmarks --smoke          # a few seconds: checks the machinery, not the numbers
    python -m benchmarks --store redis://127.0.0.1:6379/15 --store mongodb://127.0.0.1/bench
    python -m benchmarks --quick --targets   # also the project's internal overhead targets

The memory store is always measured; each ``--store`` adds a row per
configuration (the URL's plugin must be installed).  One load-generator process
serves the whole run; each (store, configuration) pair gets a fresh server
process.  Results go to ``--out`` (default ``benchmarks/results/``):
``results.json``, ``results.md`` (also printed on stdout), three PNG charts and
the child processes' logs.  ``--render results.json`` prints and charts a saved
run again without measuring.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tornado_sessions.options import redact_url
from tornado_sessions.registry import store_schemes

from .charts import write_charts
from .counting import wrapper_overhead_us
from .machine import describe_machine
from .plan import CONFIGS, MODES
from .processes import ChildError, LoadGeneratorProcess, pick_cpus
from .progress import Progress
from .report import build_document, markdown, write_json
from .runner import RunSettings, measure, steps_per_server
from .serializer_bench import bench_serializers

__all__ = ["main"]

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure what resave, touch_after and rolling cost, store by store.",
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--quick", action="store_true", help="a shorter run (under a minute)")
    length.add_argument(
        "--smoke",
        action="store_true",
        help="the shortest run: checks the suite works; numbers are noise",
    )
    parser.add_argument(
        "--store",
        action="append",
        default=[],
        metavar="URL",
        help="also measure this store (repeatable); memory:// always runs",
    )
    parser.add_argument(
        "--config",
        action="append",
        choices=[c.key for c in CONFIGS],
        help="measure only this configuration (repeatable)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="results folder (default: benchmarks/results)"
    )
    parser.add_argument(
        "--race-io-ms",
        type=float,
        default=1.0,
        metavar="MS",
        help="simulated I/O between read and write in the race (default 1)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the server and the load generator to separate CPUs",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the servers under cProfile (logs/profile-*.prof in the "
        "results folder); the ratios of such a run are not meaningful",
    )
    parser.add_argument(
        "--targets",
        action="store_true",
        help="also print the project's internal overhead targets (for developers)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="print and chart a saved results.json instead of measuring",
    )
    return parser


def _check_stores(urls: list[str]) -> list[str]:
    stores = list(dict.fromkeys(["memory://", *urls]))
    known = store_schemes()
    for url in stores:
        scheme = url.split("://", 1)[0].lower()
        if "://" not in url or scheme not in known:
            names = ", ".join(sorted(f"{name}://" for name in known))
            raise SystemExit(
                f"error: no installed store plugin serves {url!r} (known: {names}); install "
                "the plugin, e.g. pip install -e plugins/tornado-sessions-redis"
            )
    return stores


def _emit(document: dict[str, Any], out: Path, targets: bool) -> None:
    text = markdown(document, targets=targets)
    (out / "results.md").write_text(text, encoding="utf-8")
    charts = write_charts(document, out)
    sys.stdout.write(text)
    sys.stdout.flush()
    written = ", ".join(str(p) for p in [out / "results.json", out / "results.md", *charts])
    print(f"wrote {written}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; the exit status is 0 unless a child process failed."""
    args = _parser().parse_args(argv)
    out: Path = args.out
    if args.render:
        out.mkdir(parents=True, exist_ok=True)
        _emit(json.loads(args.render.read_text(encoding="utf-8")), out, args.targets)
        return 0
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    stores = _check_stores(args.store)
    out.mkdir(parents=True, exist_ok=True)
    configs = [c for c in CONFIGS if not args.config or c.key in args.config]
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    server_cpu, loadgen_cpu = pick_cpus(not args.no_pin)
    settings = RunSettings(
        mode=mode,
        race_io=args.race_io_ms / 1000,
        server_cpu=server_cpu,
        out=logs,
        profile=args.profile,
    )
    machine = describe_machine()
    progress = Progress(
        len(stores) * len(configs) * steps_per_server(mode) + 1, enabled=not args.no_progress
    )
    results = []
    loadgen = LoadGeneratorProcess(loadgen_cpu, logs / "loadgen.log")
    try:
        for store in stores:
            for config in configs:
                result = measure(store, config, settings, loadgen, progress)
                result["store"] = redact_url(store)
                results.append(result)
    except ChildError as exc:
        progress.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        loadgen.stop()
    serializers = bench_serializers(mode.sizes, mode.serializer_seconds)
    overhead = wrapper_overhead_us(2_000 if mode.name == "smoke" else 50_000)
    progress.step("serializers")
    progress.close()
    document = build_document(
        mode=mode,
        machine=machine,
        results=results,
        serializers=serializers,
        wrapper_overhead_us=overhead,
        settings={
            "race_io": settings.race_io,
            "server_cpu": server_cpu,
            "loadgen_cpu": loadgen_cpu,
            "profiled": args.profile,
            "stores": [redact_url(s) for s in stores],
        },
    )
    write_json(document, out / "results.json")
    _emit(document, out, args.targets)
    return 0
