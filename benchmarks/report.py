"""The outputs: the results document (written as JSON) and its Markdown rendering.

:func:`build_document` assembles everything a run measured, with the machine, the
settings and the targets, into one JSON-serializable dict; :func:`markdown`
renders it as the tables printed on stdout, ending with a recommendation in
words computed from the figures of each store measured (:func:`recommendation`).
The project's internal overhead targets are printed only on request
(``--targets``).  Both take only the document, so a saved JSON file can be
rendered again (``python -m benchmarks --render FILE``).

Every CPU ratio is shown with its spread, the lowest and highest value over the
rounds; :func:`not_different` marks a figure whose spread overlaps that of its
nearest neighbour in value (the tables' ``≈``, the charts' hatching): this run
cannot tell the two apart.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from pathlib import Path
from typing import Any

from .counting import OPERATIONS
from .payloads import size_label
from .plan import CONFIGS, FLOOR_WORKLOADS, TARGET_CONFIG, TARGETS, Mode, store_kind

__all__ = [
    "SCHEMA",
    "build_document",
    "find_phase",
    "floor_figures",
    "markdown",
    "not_different",
    "recommendation",
    "write_json",
]

#: Version of the JSON layout; bumped when a field changes meaning.
SCHEMA = 1

CONFIG_LABELS = {config.key: config.label for config in CONFIGS}
CONFIG_SUMMARIES = {config.key: config.summary for config in CONFIGS}


def find_phase(result: dict[str, Any], workload: str, size: int | None) -> dict[str, Any] | None:
    """The summary of ``workload`` at ``size`` in one (store, configuration) result."""
    for phase in result["phases"]:
        if phase["workload"] == workload and phase["size"] == size:
            found: dict[str, Any] = phase
            return found
    return None


Spread = tuple[float, float]


def not_different(medians: list[float | None], spreads: list[Spread | None]) -> list[bool]:
    """For each figure, whether its spread overlaps that of a neighbour in value order.

    Figures are sorted by median; a figure is *not different* when its min-max
    range overlaps the range of the next lower or the next higher figure.  A
    figure without a spread is never marked.
    """
    known = [
        i for i, (m, sp) in enumerate(zip(medians, spreads, strict=True)) if m is not None and sp
    ]
    known.sort(key=lambda i: medians[i] or 0.0)
    marks = [False] * len(medians)
    for left, right in itertools.pairwise(known):
        low, high = spreads[left], spreads[right]
        assert low is not None and high is not None
        if low[1] >= high[0] and high[1] >= low[0]:
            marks[left] = marks[right] = True
    return marks


def _spread(phase: dict[str, Any] | None) -> Spread | None:
    if phase is None or not phase.get("cpu_ratio_spread"):
        return None
    low, high = phase["cpu_ratio_spread"]
    return float(low), float(high)


def floor_figures(document: dict[str, Any], store: str, workload: str) -> dict[str, Any] | None:
    """The client floor of ``store`` for ``workload`` pooled over its servers' rounds.

    Every configuration's server measures the floor; the rounds of all of them
    are pooled: the median ratio to bare, its min-max spread and the bare
    request's CPU in µs.
    """
    ratios: list[float] = []
    for result in document["results"]:
        if result["store"] != store:
            continue
        phase = find_phase(result, workload, None)
        if phase is not None:
            ratios += phase.get("cpu_ratio_per_round", [])
    if not ratios:
        return None
    return {"ratio": statistics.median(ratios), "spread": (min(ratios), max(ratios))}


def _targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each store's overhead goals (:data:`~benchmarks.plan.TARGETS`) against this run."""
    rows = []
    for result in results:
        if result["config"] != TARGET_CONFIG:
            continue
        store = result["store"]
        for target in TARGETS.get(store_kind(store), ()):
            phase = find_phase(result, target.workload, target.size)
            ratio = None if phase is None else phase["cpu_ratio_to_bare"]
            reference: float | None = 1.0
            if target.reference == "floor":
                floor = floor_figures({"results": results}, store, f"floor-{target.workload}")
                reference = None if floor is None else floor["ratio"]
            fraction = None if ratio is None or reference is None else reference / ratio
            rows.append(
                {
                    "store": store,
                    "config": result["config"],
                    "workload": target.workload,
                    "size": target.size,
                    "reference": target.reference,
                    "goal": target.goal,
                    "ratio": ratio,
                    "fraction": fraction,
                    "met": None if fraction is None else fraction >= target.goal,
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


def _cell(ratio: float | None, spread: Spread | None, mark: bool) -> str:
    if ratio is None:
        return "n/a"
    text = f"{ratio:.2f}"
    if spread is not None:
        text += f" ({spread[0]:.2f}-{spread[1]:.2f})"
    return text + (" ≈" if mark else "")


def _stores(document: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(result["store"] for result in document["results"]))


def _overhead(document: dict[str, Any]) -> list[str]:
    sizes = document["mode"]["sizes"]
    columns = [("untouched", None)] + [("read", s) for s in sizes] + [("write", s) for s in sizes]
    header = ["store", "configuration", "bare µs/req"] + [_phase_name(*c) for c in columns]
    rows: list[list[str]] = []
    for store in _stores(document):
        results = [r for r in document["results"] if r["store"] == store]
        # One row per configuration, then the client floor (under read/write of the
        # smallest size, the record size the floor uses).
        grid: list[list[tuple[float | None, Spread | None]]] = []
        labels: list[tuple[str, str]] = []
        for result in results:
            bare = find_phase(result, "bare", None)
            labels.append(
                (
                    CONFIG_LABELS.get(result["config"], result["config"]),
                    _num(None if bare is None else bare["server_cpu_us_per_request"]),
                )
            )
            line: list[tuple[float | None, Spread | None]] = []
            for workload, size in columns:
                phase = find_phase(result, workload, size)
                line.append((None if phase is None else phase["cpu_ratio_to_bare"], _spread(phase)))
            grid.append(line)
        floors = {w: floor_figures(document, store, w) for w in FLOOR_WORKLOADS}
        if any(floors.values()):
            labels.append(("client floor (driver calls only)", ""))
            line = []
            for workload, size in columns:
                floor = floors.get(f"floor-{workload}") if size == sizes[0] else None
                line.append((None, None) if floor is None else (floor["ratio"], floor["spread"]))
            grid.append(line)
        marks = [
            not_different([row[c][0] for row in grid], [row[c][1] for row in grid])
            for c in range(len(columns))
        ]
        for index, (label, bare_us) in enumerate(labels):
            cells = [
                ""
                if grid[index][c][0] is None and label.startswith("client floor")
                else _cell(*grid[index][c], marks[c][index])
                for c in range(len(columns))
            ]
            rows.append([_store_name(store), label, bare_us, *cells])
    return [
        "## Server CPU per request, as a multiple of bare Tornado",
        "",
        "Each ratio divides the server process's CPU time per request by that of a plain "
        "`RequestHandler` measured in the same process, interleaved round by round: the "
        f"median over {document['mode']['rounds']} rounds, with the lowest and highest "
        "round in brackets. 1.00 means no overhead. **≈**: the figure's spread overlaps "
        "that of the nearest figure in its column, so this run cannot tell them apart. "
        "The *client floor* row is bare Tornado plus the raw store calls a session needs "
        "(read: one fetch of the record; write: the fetch and the write of one field), "
        "through the same driver, without the session layer: the distance from a "
        "configuration's row to it is the session layer's own cost.",
        "",
        *_table(header, rows),
        "",
    ]


def _targets_block(document: dict[str, Any]) -> list[str]:
    """The project's overhead goals (``--targets``): for developers."""
    targets = document["targets"]
    if not targets:
        return []
    sizes = document["mode"]["sizes"]
    lines = [
        "## Internal targets (developers)",
        "",
        f"{CONFIG_LABELS[TARGET_CONFIG]}, {size_label(sizes[0])} session: the reference's "
        "CPU per request over this route's (higher is better).",
        "",
    ]
    for target in targets:
        verdict = {True: "met", False: "not met", None: "not measured"}[target["met"]]
        reference = "bare Tornado" if target["reference"] == "bare" else "the client floor"
        fraction = "n/a" if target["fraction"] is None else f"{target['fraction']:.2f}"
        lines.append(
            f"- {_store_name(target['store'])}, "
            f"{_phase_name(target['workload'], target['size'])}: {fraction} of {reference} "
            f"(goal ≥ {target['goal']:.2f}): {verdict}"
        )
    lines.append("")
    return lines


def _figure(result: dict[str, Any] | None, workload: str, size: int | None) -> dict[str, Any]:
    phase = None if result is None else find_phase(result, workload, size)
    return phase or {}


def _by_config(document: dict[str, Any], store: str) -> dict[str, dict[str, Any]]:
    return {r["config"]: r for r in document["results"] if r["store"] == store}


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    sa, sb = a.get("cpu_ratio_spread"), b.get("cpu_ratio_spread")
    if not sa or not sb:
        return False
    return bool(sa[1] >= sb[0] and sb[1] >= sa[0])


def _lost(result: dict[str, Any], variant: str) -> dict[str, Any] | None:
    for race in result["race"]:
        if race["variant"] == variant:
            found: dict[str, Any] = race
            return found
    return None


def _price(options: dict[str, Any]) -> str:
    """What a configuration gives up, from its options (not from a measurement)."""
    if options.get("resave"):
        return "Its price: every request rewrites the whole session."
    touch_after = options.get("touch_after", 60)
    if touch_after:
        return (
            f"Its price: an idle session's expiry (and its cookie) moves at most once "
            f"every {touch_after:g} s, so a session can end up to {touch_after:g} s earlier "
            "than max_age after its last request."
        )
    return "Its price: one store write per request, even when nothing changed."


def recommendation(document: dict[str, Any], store: str) -> list[str]:
    """A few sentences for ``store``, computed from its figures: what to choose, cost, risk."""
    size = document["mode"]["sizes"][0]
    configs = _by_config(document, store)
    name = _store_name(store)
    if not configs:
        return []
    lines = [f"**{name} store.**"]

    def read(key: str) -> dict[str, Any]:
        return _figure(configs.get(key), "read", size)

    def write(key: str) -> dict[str, Any]:
        return _figure(configs.get(key), "write", size)

    safe = [
        key
        for key, result in configs.items()
        if (race := _lost(result, "own-key")) is not None
        and race["lost"] == 0
        and read(key).get("cpu_ratio_to_bare") is not None
        and key != "encrypted"
    ]
    floor_read = floor_figures(document, store, "floor-read")
    floor_write = floor_figures(document, store, "floor-write")
    if safe:
        best = min(safe, key=lambda k: float(read(k)["cpu_ratio_to_bare"]))
        choice = (
            TARGET_CONFIG
            if TARGET_CONFIG in safe
            and (best == TARGET_CONFIG or _overlap(read(best), read(TARGET_CONFIG)))
            else best
        )
        figures = read(choice)
        bare_us = float(_figure(configs[choice], "bare", None).get("server_cpu_us_per_request", 0))
        ratio = float(figures["cpu_ratio_to_bare"])
        text = (
            f"Use {CONFIG_LABELS.get(choice, choice)} ({CONFIG_SUMMARIES.get(choice, '')}): "
            f"a {size_label(size)} session read cost "
            f"{ratio:.2f}x bare Tornado's CPU (about {(ratio - 1) * bare_us:.0f} µs over a "
            f"{bare_us:.0f} µs request)"
        )
        if floor_read is not None:
            layer = ratio - floor_read["ratio"]
            text += (
                f", against {floor_read['ratio']:.2f}x for the driver calls alone, so the "
                f"session layer's own share is {layer:+.2f}x bare ({layer * bare_us:+.0f} µs)"
            )
        wfig = write(choice)
        if wfig.get("cpu_ratio_to_bare") is not None:
            text += f"; a one-key write cost {float(wfig['cpu_ratio_to_bare']):.2f}x"
            if floor_write is not None:
                text += f" (floor {floor_write['ratio']:.2f}x)"
        writes = float(figures.get("store_writes_per_request", 0))
        text += ". It wrote " + (
            f"{writes:.2f} times per unmodified request"
            if writes
            else "nothing to the store for a request that did not change the session"
        )
        if choice != best:
            text += (
                f"; {CONFIG_LABELS.get(best, best)} measured "
                f"{float(read(best)['cpu_ratio_to_bare']):.2f}x, not different in this run"
            )
        own = _lost(configs[choice], "own-key")
        if own is not None:
            text += (
                f". In the race it lost {own['lost']} of {own['expected']} concurrent updates "
                "to different keys"
            )
        lines.append(text + f". {_price(configs[choice]['options'])}")
    for key, result in configs.items():
        if key == (choice if safe else None):
            continue
        fig = read(key)
        ratio_text = (
            f"{float(fig['cpu_ratio_to_bare']):.2f}x per read"
            if fig.get("cpu_ratio_to_bare") is not None
            else "not measured"
        )
        own = _lost(result, "own-key")
        risk = ""
        if own is not None and own["lost"]:
            risk = (
                f", and lost {own['lost']} of {own['expected']} concurrent updates to "
                f"different keys ({100 * own['lost_fraction']:.0f}%) in the race"
            )
        writes = float(fig.get("store_writes_per_request", 0))
        written = float(fig.get("bytes_written_per_request", 0))
        what = (
            f"writes {writes:.2f} times ({written:,.0f} B) per unmodified request"
            if writes
            else "writes nothing for an unmodified request"
        )
        if safe and fig.get("cpu_ratio_to_bare") is not None:
            extra = float(fig["cpu_ratio_to_bare"]) - float(read(choice)["cpu_ratio_to_bare"])
            ratio_text += (
                " (not different from the choice above in this run)"
                if _overlap(fig, read(choice))
                else f" ({extra:+.2f}x against the choice above)"
            )
        summary = CONFIG_SUMMARIES.get(key, "")
        lines.append(f"- {CONFIG_LABELS.get(key, key)} ({summary}): {ratio_text}; {what}{risk}.")
    same = [
        race["lost_fraction"]
        for result in configs.values()
        if (race := _lost(result, "same-key")) is not None
    ]
    if same and max(same) > 0:
        lines.append(
            f"- Whatever the setting, concurrent updates of the *same* key lost up to "
            f"{100 * max(same):.0f}%: a session is not a lock."
        )
    lines.append("")
    return lines


def _recommendations(document: dict[str, Any]) -> list[str]:
    lines = [
        "## Recommendation",
        "",
        "Computed from this run's figures (CPU ratios at "
        f"{document['mode']['concurrency']} connections; "
        + ("a full run)." if document["mode"]["name"] == "full" else "short runs are noisy)."),
        "",
    ]
    for store in _stores(document):
        lines += recommendation(document, store)
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


def markdown(document: dict[str, Any], *, targets: bool = False) -> str:
    """The run's tables and recommendation, as Markdown (``targets``: the internal targets)."""
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
        *(_targets_block(document) if targets else []),
        *_recommendations(document),
        f"The counting store wrapper adds about "
        f"{document['counting_wrapper_overhead_us_per_call']:.2f} µs per store call.",
        "",
    ]
    return "\n".join(lines)
