"""PNG charts of a results document: throughput, store writes, and the touch-vs-resave summary.

- ``throughput.png``: requests per second by configuration and workload, one panel per store;
- ``writes_per_request.png``: store writes and bytes written per request, by configuration
  and store;
- ``touch-vs-resave.png``: the one-figure summary the README shows: bytes written per read
  request as sessions grow, read capacity against bare Tornado (requests per second one
  server core sustains, from the CPU time per request: steadier than wall-clock throughput
  on a shared machine), and updates lost in the race.

matplotlib runs with the non-interactive Agg backend; nothing opens a window.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from .payloads import size_label
from .report import CONFIG_LABELS, find_phase

__all__ = ["write_charts"]

COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def _stores(document: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(result["store"] for result in document["results"]))


def _configs(document: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(result["config"] for result in document["results"]))


def _result(document: dict[str, Any], store: str, config: str) -> dict[str, Any] | None:
    for result in document["results"]:
        if result["store"] == store and result["config"] == config:
            found: dict[str, Any] = result
            return found
    return None


def _short(url: str) -> str:
    return url.split("://", 1)[0]


def _value(result: dict[str, Any] | None, workload: str, size: int | None, field: str) -> float:
    if result is None:
        return 0.0
    phase = find_phase(result, workload, size)
    return 0.0 if phase is None else float(phase[field])


def _top(document: dict[str, Any], store: str, field: str) -> float:
    """An upper y limit leaving headroom above the largest value on a symlog axis."""
    values = [
        float(phase[field])
        for result in document["results"]
        if result["store"] == store
        for phase in result["phases"]
    ]
    return max([10.0, *values]) * 4


def _grouped(axes: Axes, groups: list[str], series: list[tuple[str, list[float]]]) -> None:
    width = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series):
        offsets = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        axes.bar(offsets, values, width, label=name, color=COLORS[index % len(COLORS)])
    axes.set_xticks(range(len(groups)), groups, fontsize=8)
    axes.grid(axis="y", alpha=0.3)


def _throughput(document: dict[str, Any], path: Path) -> None:
    stores, configs = _stores(document), _configs(document)
    sizes = document["mode"]["sizes"]
    workloads = (
        [("bare", None), ("untouched", None)]
        + [("read", s) for s in sizes]
        + [("write", s) for s in sizes]
    )
    figure, axes_list = plt.subplots(len(stores), 1, figsize=(11, 3.6 * len(stores)), squeeze=False)
    for axes, store in zip(axes_list[:, 0], stores, strict=True):
        series = [
            (
                w if s is None else f"{w} {size_label(s)}",
                [_value(_result(document, store, c), w, s, "requests_per_second") for c in configs],
            )
            for w, s in workloads
        ]
        _grouped(axes, [CONFIG_LABELS.get(c, c) for c in configs], series)
        axes.set_ylabel("requests/s")
        axes.set_title(f"Throughput by configuration: {_short(store)} store")
        axes.legend(fontsize=7, ncol=4)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _writes(document: dict[str, Any], path: Path) -> None:
    stores, configs = _stores(document), _configs(document)
    sizes = document["mode"]["sizes"]
    labels = [CONFIG_LABELS.get(c, c) for c in configs]
    figure, axes_list = plt.subplots(len(stores), 2, figsize=(13, 3.8 * len(stores)), squeeze=False)
    for row, store in enumerate(stores):
        left, right = axes_list[row]
        results = [_result(document, store, c) for c in configs]
        _grouped(
            left,
            labels,
            [
                (
                    f"{w} {size_label(sizes[0])}",
                    [_value(r, w, sizes[0], "store_writes_per_request") for r in results],
                )
                for w in ("read", "write")
            ],
        )
        left.set_ylabel("store writes per request")
        left.set_ylim(0, 1.3)
        left.set_title(f"Writes per request: {_short(store)} store")
        left.legend(fontsize=7, loc="upper right", ncol=2)
        _grouped(
            right,
            labels,
            [
                (
                    f"{w} {size_label(s)}",
                    [_value(r, w, s, "bytes_written_per_request") for r in results],
                )
                for w in ("read", "write")
                for s in sizes
            ],
        )
        right.set_yscale("symlog", linthresh=1)
        right.set_ylim(0, _top(document, store, "bytes_written_per_request"))
        right.set_ylabel("bytes written per request")
        right.set_title(f"Bytes written per request: {_short(store)} store")
        right.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _summary(document: dict[str, Any], path: Path) -> None:
    stores, configs = _stores(document), _configs(document)
    sizes = document["mode"]["sizes"]
    labels = [CONFIG_LABELS.get(c, c) for c in configs]
    first = stores[0]
    figure, (bytes_axes, rps_axes, race_axes) = plt.subplots(1, 3, figsize=(16, 4.6))

    for index, config in enumerate(configs):
        result = _result(document, first, config)
        values = [_value(result, "read", s, "bytes_written_per_request") for s in sizes]
        bytes_axes.plot(
            [size_label(s) for s in sizes],
            values,
            marker="o",
            label=labels[index],
            color=COLORS[index % len(COLORS)],
            linestyle=("-", "--", ":", "-.")[index % 4],
        )
    bytes_axes.set_yscale("symlog", linthresh=1)
    bytes_axes.set_ylim(0, _top(document, first, "bytes_written_per_request"))
    bytes_axes.annotate(
        "0: no write at all", xy=(0.02, 0.03), xycoords="axes fraction", fontsize=8, color="#555555"
    )
    bytes_axes.set_xlabel("session size")
    bytes_axes.set_ylabel("bytes written to the store per read")
    bytes_axes.set_title("What an unmodified request writes")
    bytes_axes.legend(fontsize=8)
    bytes_axes.grid(alpha=0.3)

    middle = sizes[len(sizes) // 2]
    groups = ["bare Tornado", *labels]
    series = []
    for store in stores:
        results = [_result(document, store, c) for c in configs]
        bare = [_value(r, "bare", None, "server_cpu_us_per_request") for r in results]
        reads = [_value(r, "read", middle, "server_cpu_us_per_request") for r in results]
        cpu = [statistics.median(bare), *reads]
        series.append((_short(store), [1e6 / value if value else 0.0 for value in cpu]))
    _grouped(rps_axes, groups, series)
    rps_axes.set_ylabel("requests/s per server core")
    rps_axes.set_title(
        f"Read capacity, {size_label(middle)} session (1 / server CPU per request)", fontsize=10
    )
    rps_axes.tick_params(axis="x", labelrotation=15)
    rps_axes.legend(fontsize=8)

    race_series = []
    for store in stores:
        for variant in ("own-key", "same-key"):
            values = []
            for config in configs:
                result = _result(document, store, config)
                races = (
                    [] if result is None else [r for r in result["race"] if r["variant"] == variant]
                )
                values.append(100 * races[0]["lost_fraction"] if races else 0.0)
            race_series.append((f"{_short(store)} {variant}", values))
    _grouped(race_axes, labels, race_series)
    race_axes.set_ylim(0, 125)
    race_axes.set_yticks(range(0, 101, 20))
    race_axes.set_ylabel("% of updates lost")
    race_axes.set_title("Race: concurrent requests on one session")
    race_axes.tick_params(axis="x", labelrotation=15)
    race_axes.legend(fontsize=8, ncol=2, loc="upper right")

    figure.suptitle(
        "tornado-sessions: touch vs resave "
        f"({document['machine']['cpu_model']}, {document['mode']['name']} run)",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_charts(document: dict[str, Any], out: Path) -> list[Path]:
    """Write the three PNG charts into ``out``; return their paths."""
    paths = [out / "throughput.png", out / "writes_per_request.png", out / "touch-vs-resave.png"]
    _throughput(document, paths[0])
    _writes(document, paths[1])
    _summary(document, paths[2])
    return paths
