"""Figures of a sweep's table (:mod:`simulator.sweep`): how a measured value is distributed
over ASLR seeds, and a measured count per parameter combination."""

from __future__ import annotations

from simulator.plot.style import SERIES, new_figure, rc
from simulator.units import format_size


def distribution_figure(rows: list[dict], column: str, *, by: str | None = None,
                        title: str = "", xlabel: str | None = None):
    """A histogram of ``column`` over the rows (one series per value of ``by``), in MiB."""
    with rc():
        fig = new_figure(6.4, 3.0)
        ax = fig.add_subplot(1, 1, 1)
        groups: dict = {}
        for row in rows:
            if row.get(column) is not None:
                groups.setdefault(row.get(by) if by else "", []).append(row[column] / (1 << 20))
        for i, (key, values) in enumerate(groups.items()):
            color, _marker, style = SERIES[i % len(SERIES)]
            label = f"{by} = {key}" if by else None
            ax.hist(values, bins=40, histtype="step", color=color, linestyle=style, lw=1.4,
                    label=f"{label}: {format_size(int(min(values) * (1 << 20)))}"
                          f" – {format_size(int(max(values) * (1 << 20)))}" if label else None)
        ax.set_xlabel(xlabel or f"{column} (MiB)")
        ax.set_ylabel("seeds")
        if by:
            ax.legend(frameon=False)
        if title:
            ax.set_title(title, loc="left")
        fig.tight_layout()
    return fig


def counts_figure(rows: list[dict], value: str, *, x: str, series: str, title: str = ""):
    """``value`` (log scale) for each ``x``, one group of bars per value of ``series``."""
    with rc():
        fig = new_figure(7.0, 3.2)
        ax = fig.add_subplot(1, 1, 1)
        xs = list(dict.fromkeys(r[x] for r in rows))
        keys = list(dict.fromkeys(r[series] for r in rows))
        width = 0.8 / len(keys)
        for i, key in enumerate(keys):
            color, _m, _s = SERIES[i % len(SERIES)]
            heights = [next((r[value] for r in rows if r[x] == xv and r[series] == key), 0)
                       for xv in xs]
            bars = ax.bar([j + i * width for j in range(len(xs))], heights, width, color=color,
                          label=f"{series} = {key}", hatch=("", "//", "..", "xx")[i % 4],
                          edgecolor="black", lw=0.4)
            ax.bar_label(bars, fontsize=6, rotation=90, padding=2)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(xs))], xs, rotation=20)
        ax.set_yscale("log")
        ax.set_ylabel(value)
        ax.legend(frameon=False, fontsize=7, loc="upper right")
        if title:
            ax.set_title(title, loc="left")
        fig.tight_layout()
    return fig
