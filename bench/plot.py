"""Draw the saved benchmark: cost per call against the number of VMAs, model and kernel.

    python bench/run.py --threads 3 --json bench/results.json   # measure (minutes)
    python bench/plot.py [bench/results.json] [-o docs/figures/performance]

The figure is drawn from the measured numbers in the JSON file, not measured again, so the
same file gives the same bytes; ``docs/build.py`` draws it with the other figures from the
committed ``bench/results.json``. Each point is the minimum over the rounds (CPU time), with
every round drawn faintly behind it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"


def performance_figure(results: dict):
    """µs per call (log-log) against live VMAs: the model, the kernel, and 2x the kernel."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    sizes = results["sizes"]
    live = [s["live"] for s in sizes]
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    for key, label, colour in (("model", "vasim (Python)", "#c0392b"),
                               ("kernel", f"Linux {results['kernel']}", "#2c3e50")):
        ax.plot(live, [s[f"{key}_us"] for s in sizes], "o-", color=colour, label=label)
        for s in sizes:
            ax.plot([s["live"]] * len(s[f"{key}_all"]), s[f"{key}_all"], ".", color=colour,
                    alpha=0.3)
    ax.plot(live, [2 * s["kernel_us"] for s in sizes], "--", color="#7f8c8d",
            label="target: 2x the kernel")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_yticks([1, 2, 3, 5, 10, 20, 30, 50], minor=False)
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.set_xlabel("live VMAs in the address space")
    ax.set_ylabel("µs of CPU per call")
    ax.set_title("bench/run.py mix (mmap, munmap, mprotect, MAP_FIXED, mremap)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", default=str(RESULTS))
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "figures" / "performance"))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from simulator.plot.style import save

    for path in save(performance_figure(json.loads(Path(args.results).read_text())),
                     args.output):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
