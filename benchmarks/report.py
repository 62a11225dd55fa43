"""The outputs: the results document (written as JSON) and its Markdown rendering.

:func:`build_document` assembles everything a run measured, with the machine, the
settings and the targets, into one JSON-serializable dict; :func:`markdown`
renders it as the tables printed on stdout.  Both take only the document, so a
saved JSON file can be rendered again (``python -m benchmarks --render FILE``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .counting import OPERATIONS
from .payloads import size_label
from .plan import CONFIGS, TARGET_CONFIG, TARGETS, Mode

__all__ = ["SCHEMA", "build_document", "find_phase", "markdown", "write_json"]

#: Version of the JSON layout; bumped when a field changes meaning.
SCHEMA = 1

CONFIG_LABELS = {config.key: config.label for config in CONFIGS}


def find_phase(result: dict[str, Any], workload: str, size: int | None) -> dict[str, Any] | None:
    """The summary of ``workload`` at ``size`` in one (store, configuration) result."""
    for phase in result["phases"]:
        if phase["workload"] == workload and phase["size"] == size:
            found: dict[str, Any] = phase
            return found
    return None


def _targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for result in results:
        if not result["store"].startswith("memory:") or result["config"] != TARGET_CONFIG:
            continue
        for workload, size, limit in TARGETS:
            phase = find_phase(result, workload, size)
            ratio = None if phase is None else phase["cpu_ratio_to_bare"]
            rows.append(
                {
                    "store": result["store"],
                    "config": result["config"],
                    "workload": workload,
                    "size": size,
                    "limit": limit,
                    "ratio": ratio,
                    "met": None if ratio is None else ratio <= limit,
                }
            )
    return rows


def build_document(
    *,
    mode: Mode,
    machine: dict[str, Any],
    settings: dict[str, Any],
    results: list[dict[str, Any]],
    serializers: list[dict[str, Any]],
    wrapper_overhead_us: float,
) -> dict[str, Any]:
    """Everything one run measured, as plain data."""
    return {
        "schema": SCHEMA,
        "mode": {
            "name": mode.name,
            "requests_per_phase": mode.requests,
            "rounds": mode.rounds,
            "concurrency": mode.concurrency,
            "warmup_requests": mode.warmup,
            "race_clients": mode.race_clients,
            "race_requests_per_client": mode.race_requests,
            "sizes": list(mode.sizes),
        },
        "machine": machine,
        "settings": settings,
        "configurations": [
            {"key": c.key, "label": c.label, "options": c.options, "summary": c.summary}
            for c in CONFIGS
        ],
        "results": results,
        "targets": _targets(results),
        "serializers": serializers,
        "counting_wrapper_overhead_us_per_call": wrapper_overhead_us,
    }


def write_json(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")


# -- Markdown --------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---:" if i else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ops(value: float) -> str:
    return "0" if value == 0 else f"{value:.2f}"


def _phase_name(workload: str, size: int | None) -> str:
    return workload if size is None else f"{workload} {size_label(size)}"


def _store_name(url: str) -> str:
    return url.split("://", 1)[0]


def _overhead(document: dict[str, Any]) -> list[str]:
    sizes = document["mode"]["sizes"]
    columns = [("untouched", None)] + [("read", s) for s in sizes] + [("write", s) for s in sizes]
    header = ["store", "configuration", "bare µs/req"] + [_phase_name(*c) for c in columns]
    rows = []
    for result in document["results"]:
        bare = find_phase(result, "bare", None)
        row = [
            _store_name(result["store"]),
            CONFIG_LABELS.get(result["config"], result["config"]),
            _num(None if bare is None else bare["server_cpu_us_per_request"]),
        ]
        for workload, size in columns:
            phase = find_phase(result, workload, size)
            row.append(_ratio(None if phase is None else phase["cpu_ratio_to_bare"]))
        rows.append(row)
    lines = [
        "## Server CPU per request, as a multiple of bare Tornado",
        "",
        "Each ratio divides the server process's CPU time per request by that of a plain "
        "`RequestHandler` measured in the same process, interleaved round by round "
        "(median over rounds). 1.000 means no overhead.",
        "",
        *_table(header, rows),
        "",
    ]
    targets = document["targets"]
    if targets:
        lines.append(
            f"Targets ({_store_name(targets[0]['store'])} store, "
            f"{CONFIG_LABELS[TARGET_CONFIG]}, {size_label(sizes[0])} session):"
        )
        lines.append("")
        for target in targets:
            verdict = {True: "met", False: "**missed**", None: "not measured"}[target["met"]]
            lines.append(
                f"- {_phase_name(target['workload'], target['size'])}: "
                f"{_ratio(target['ratio'])} (target ≤ {target['limit']:.2f}): {verdict}"
            )
        lines.append("")
    return lines


def _detail(document: dict[str, Any]) -> list[str]:
    header = [
        "store",
        "configuration",
        "workload",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "CPU µs/req",
        "x bare",
        *OPERATIONS,
        "bytes written/req",
        "errors",
    ]
    rows = []
    for result in document["results"]:
        for phase in result["phases"]:
            latency = phase["latency_ms"]
            ops = phase["store_ops_per_request"]
            rows.append(
                [
                    _store_name(result["store"]),
                    CONFIG_LABELS.get(result["config"], result["config"]),
                    _phase_name(phase["workload"], phase["size"]),
                    _num(phase["requests_per_second"]),
                    _num(latency["p50"], 2),
                    _num(latency["p95"], 2),
                    _num(latency["p99"], 2),
                    _num(phase["server_cpu_us_per_request"]),
                    _ratio(phase["cpu_ratio_to_bare"]),
                    *(_ops(ops[op]) for op in OPERATIONS),
                    _num(phase["bytes_written_per_request"]),
                    str(phase["errors"]),
                ]
            )
    return [
        "## Throughput, latency and store work per request",
        "",
        "req/s is the median over rounds; latencies are over every request of every round. "
        "Store operations are counted by a wrapper around the store; bytes written are "
        "what `save` (the whole record), `save_changes` (the changed keys and meta) and "
        "`touch` carry, each write counting 8 bytes for the expiry.",
        "",
        *_table(header, rows),
        "",
    ]


def _race(document: dict[str, Any]) -> list[str]:
    header = [
        "store",
        "configuration",
        "variant",
        "updates sent",
        "kept",
        "lost",
        "lost %",
        "other keys intact",
        "errors",
    ]
    rows = []
    for result in document["results"]:
        for race in result["race"]:
            rows.append(
                [
                    _store_name(result["store"]),
                    CONFIG_LABELS.get(result["config"], result["config"]),
                    race["variant"],
                    str(race["expected"]),
                    str(race["applied"]),
                    str(race["lost"]),
                    f"{100 * race['lost_fraction']:.0f}%",
                    "yes" if race["other_keys_intact"] else "**no**",
                    str(race["errors"]),
                ]
            )
    first = document["results"][0]["race"][0] if document["results"] else None
    who = f"{first['clients']} clients x {first['requests_per_client']} requests" if first else ""
    return [
        "## Race: concurrent requests on one session",
        "",
        f"{who} on one session; each request reads a counter, waits "
        f"{1000 * document['settings']['race_io']:.1f} ms (a stand-in for the handler's own I/O) "
        "and writes it back incremented. own-key: every client has its own counter; "
        "same-key: all share one.",
        "",
        *_table(header, rows),
        "",
    ]


def _serializers(document: dict[str, Any]) -> list[str]:
    header = [
        "session",
        "msgpack bytes",
        "JSON bytes",
        "msgpack dumps µs",
        "JSON dumps µs",
        "msgpack loads µs",
        "JSON loads µs",
    ]
    rows = [
        [
            size_label(row["size"]),
            _num(row["msgpack"]["bytes"]),
            _num(row["json"]["bytes"]),
            _num(row["msgpack"]["dumps_us"], 1),
            _num(row["json"]["dumps_us"], 1),
            _num(row["msgpack"]["loads_us"], 1),
            _num(row["json"]["loads_us"], 1),
        ]
        for row in document["serializers"]
    ]
    return [
        "## Serializers: msgpack against JSON, per whole session",
        "",
        *_table(header, rows),
        "",
    ]


def markdown(document: dict[str, Any]) -> str:
    """The run's tables, as GitHub-flavoured Markdown."""
    machine = document["machine"]
    packages = machine["packages"]
    settings = document["settings"]
    pinning = (
        "server pinned to CPU {}, load generator to CPU {}".format(
            settings["server_cpu"], settings["loadgen_cpu"]
        )
        if settings["server_cpu"] is not None
        else "processes not pinned"
    )
    lines = [
        f"# tornado-sessions benchmarks ({document['mode']['name']} run, {machine['date']})",
        "",
        f"{machine['cpu_model']}, {machine['cpus_usable']} usable CPUs; Python "
        f"{machine['python']}, Tornado {packages['tornado']}, tornado-sessions "
        f"{packages['tornado-sessions']} ({machine['git_revision'] or 'no git revision'}); "
        f"{pinning}; {document['mode']['concurrency']} concurrent keep-alive connections, "
        f"{document['mode']['rounds']} rounds of {document['mode']['requests_per_phase']} "
        "requests per phase.",
        "",
        *_overhead(document),
        *_detail(document),
        *_race(document),
        *_serializers(document),
        f"The counting store wrapper adds about "
        f"{document['counting_wrapper_overhead_us_per_call']:.2f} µs per store call.",
        "",
    ]
    return "\n".join(lines)
