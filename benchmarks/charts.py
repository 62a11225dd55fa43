"""PNG charts of a results document: throughput, store writes, and the touch-vs-resave summary.

- ``throughput.png``: requests per second by configuration and workload, one panel per store;
- ``writes_per_request.png``: store writes and bytes written per request, by configuration
  and store;
- ``touch-vs-resave.png``: the one-figure summary the README shows: bytes written per read
  request as sessions grow, server CPU per read request as a multiple of bare Tornado
  (steadier than wall-clock throughput on a shared machine) beside the store's client
  floor, and updates lost in the race.

Measured times carry error bars, the lowest and highest round; a bar whose spread
overlaps its nearest neighbour's (:func:`benchmarks.report.not_different`) is hatched
and labelled ``≈``: the run cannot tell the two apart.  Store operation counts and
bytes are exact, so they have no spread.  A race bar at 0% is labelled ``0 lost``.

matplotlib runs with the non-interactive Agg backend; nothing opens a window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from .payloads import size_label
from .report import CONFIG_LABELS, find_phase, floor_figures, not_different

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


Range = tuple[float, float] | None


def _wrap(label: str) -> str:
    """A tick label on two lines at its bracket, so neighbouring labels do not collide."""
    return label.replace(" (", "\n(")


def _grouped(
    axes: Axes,
    groups: list[str],
    series: list[tuple[str, list[float]]],
    spreads: list[list[Range]] | None = None,
    zero_label: str | None = None,
) -> None:
    """Grouped bars; with ``spreads``, min-max error bars and the not-different marks.

    With ``zero_label``, a bar of exactly 0 gets a dark base line and that label,
    so "nothing" never looks like missing data.
    """
    width = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series):
        offsets = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        color = COLORS[index % len(COLORS)]
        # A zero-height bar carries the legend entry, so hatching never reaches the legend.
        axes.bar([offsets[0]], [0.0], width, color=color, label=name)
        bars = axes.bar(offsets, values, width, color=color)
        if zero_label is not None:
            for x, value in zip(offsets, values, strict=True):
                if value == 0:
                    axes.plot([x - width / 2, x + width / 2], [0, 0], color="#222222", lw=3)
                    axes.annotate(
                        zero_label, (x, 0), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", rotation=90, fontsize=7,
                    )  # fmt: skip
        if spreads is None:
            continue
        ranges = spreads[index]
        lower = [v - r[0] if r else 0.0 for v, r in zip(values, ranges, strict=True)]
        upper = [r[1] - v if r else 0.0 for v, r in zip(values, ranges, strict=True)]
        axes.errorbar(
            offsets, values, yerr=[lower, upper], fmt="none", ecolor="#222222", capsize=2, lw=0.8
        )
        medians: list[float | None] = [
            v if r else None for v, r in zip(values, ranges, strict=True)
        ]
        for bar, mark, top in zip(
            bars, not_different(medians, ranges), [r[1] if r else 0.0 for r in ranges], strict=True
        ):
            if mark:
                bar.set_hatch("//")
                bar.set_edgecolor("white")
                axes.annotate(
                    "≈", (bar.get_x() + bar.get_width() / 2, top), ha="center", va="bottom",
                    fontsize=8,
                )  # fmt: skip
    axes.set_xticks(
        range(len(groups)), [_wrap(g) for g in groups], fontsize=8, rotation=20, ha="right"
    )
    axes.grid(axis="y", alpha=0.3)


def _rps_spread(result: dict[str, Any] | None, workload: str, size: int | None) -> Range:
    phase = None if result is None else find_phase(result, workload, size)
    rounds = [] if phase is None else phase.get("requests_per_second_per_round", [])
    return (min(rounds), max(rounds)) if rounds else None


def _throughput(document: dict[str, Any], path: Path) -> None:
    stores, configs = _stores(document), _configs(document)
    sizes = document["mode"]["sizes"]
    workloads = (
        [("bare", None), ("untouched", None)]
        + [("read", s) for s in sizes]
        + [("write", s) for s in sizes]
    )
    figure, axes_list = plt.subplots(len(stores), 1, figsize=(12, 4.2 * len(stores)), squeeze=False)
    for axes, store in zip(axes_list[:, 0], stores, strict=True):
        # Groups are workloads and bars configurations: neighbouring bars are the
        # configurations the not-different marks compare.
        results = [_result(document, store, c) for c in configs]
        series = [
            (
                CONFIG_LABELS.get(c, c),
                [_value(r, w, s, "requests_per_second") for w, s in workloads],
            )
            for c, r in zip(configs, results, strict=True)
        ]
        spreads = [[_rps_spread(r, w, s) for w, s in workloads] for r in results]
        groups = [w if s is None else f"{w} {size_label(s)}" for w, s in workloads]
        _grouped(axes, groups, series, spreads)
        axes.set_ylabel("requests/s (median, min-max over rounds)")
        axes.set_title(f"Throughput by configuration: {_short(store)} store (≈: not different)")
        axes.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.22))
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
            zero_label="0",
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
            zero_label="0",
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
    figure, (bytes_axes, rps_axes, race_axes) = plt.subplots(1, 3, figsize=(18, 5.2))

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

    small = sizes[0]
    groups = ["client floor", *labels]
    series = []
    ranges: list[list[Range]] = []
    for store in stores:
        floor = floor_figures(document, store, "floor-read")
        values = [0.0 if floor is None else float(floor["ratio"])]
        spread: list[Range] = [
            None if floor is None else (float(floor["spread"][0]), float(floor["spread"][1]))
        ]
        for config in configs:
            phase = None
            result = _result(document, store, config)
            if result is not None:
                phase = find_phase(result, "read", small)
            values.append(0.0 if phase is None else float(phase["cpu_ratio_to_bare"] or 0.0))
            low_high = None if phase is None else phase.get("cpu_ratio_spread")
            spread.append(None if not low_high else (float(low_high[0]), float(low_high[1])))
        series.append((_short(store), values))
        ranges.append(spread)
    _grouped(rps_axes, groups, series, ranges)
    rps_axes.axhline(1.0, color="#555555", lw=0.8, ls="--", label="bare Tornado = 1")
    rps_axes.set_ylabel("server CPU per read request, x bare")
    rps_axes.set_title(
        f"Cost of a read, {size_label(small)} session (min-max over rounds; ≈: not different)",
        fontsize=9,
    )
    rps_axes.legend(fontsize=8, loc="upper left")

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
    _grouped(race_axes, labels, race_series, zero_label="0 lost")
    race_axes.set_ylim(0, 125)
    race_axes.set_yticks(range(0, 101, 20))
    race_axes.set_ylabel("% of updates lost")
    race_axes.set_title("Race: concurrent requests on one session")
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
