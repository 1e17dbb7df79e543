"""Regenerate every figure of the documentation and build the site, offline.

    python docs/build.py                 # figures into docs/figures/, interactive views into
                                         # docs/views/, the CLI reference, then
                                         # mkdocs build --strict into site/
    python docs/build.py --figures-only

Every figure is drawn from the model (simulator.plot), deterministically: the same command
gives the same bytes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

from simulator import plot  # noqa: E402
from simulator.cli import EXIT_CODES, build_parser  # noqa: E402
from simulator.kernel.arch import get_profile  # noqa: E402
from simulator.kernel.config import Personality, ProcessConfig  # noqa: E402
from simulator.kernel.exec import exec_layout  # noqa: E402
from simulator.libc.process import start_process  # noqa: E402
from simulator.programs import typical_process_images  # noqa: E402
from simulator.scenario.runner import run  # noqa: E402
from simulator.scenario.spec import load  # noqa: E402
from simulator.units import RLIM_INFINITY  # noqa: E402

OFF = Personality.ADDR_NO_RANDOMIZE


def process(arch: str, personality=Personality(0), rlimit_stack: int = 8 << 20, threads=0):
    """The modelled program at the start of main, after ``threads`` pthread_creates
    (-1: until one fails)."""
    profile = get_profile(arch)
    exe, rtld, libs = typical_process_images(profile)
    mm = exec_layout(profile, exe.elf, rtld.elf,
                     proc=ProcessConfig(personality=personality | OFF, rlimit_stack=rlimit_stack))
    p = start_process(mm, exe, rtld, libs)
    if threads < 0:
        p.threads.create_until_failure()
    for _ in range(max(threads, 0)):
        p.threads.create()
    return p.mm


def scenario(name: str):
    return run(load(str(ROOT / "scenarios" / name)))


#: Layout diagrams: the columns (title, address space) of each, drawn as a static figure and
#: written as an interactive view (docs/views/NAME.html) from the same processes.
LAYOUTS = {
    "vma-layout": lambda: [("i686 at the start of main", process("i686"))],
    "layout-32-64": lambda: [("i686 (32-bit on x86_64)", process("i686", threads=3)),
                             ("x86_64", process("x86_64", threads=3))],
    "task-size-split": lambda: [
        ("i686 on x86_64: 4 GiB", process("i686", threads=-1)),
        ("i386 3G/1G", process("i386-3g", threads=-1)),
        ("i386 2G/2G", process("i386-2g", threads=-1)),
        ("i386 1G/3G", process("i386-1g", threads=-1))],
    "mmap-base": lambda: [
        ("i686, ulimit -s 8192", process("i686", threads=3)),
        ("i686, ulimit -s unlimited", process("i686", rlimit_stack=RLIM_INFINITY, threads=3))],
    "layouts": lambda: [
        ("top-down (default): 509 threads", process("i686", threads=-1)),
        ("legacy (setarch -L): 340 threads",
         process("i686", Personality.ADDR_COMPAT_LAYOUT, threads=-1))],
    "guard-gaps": lambda: [("i686 with three threads", process("i686", threads=3))],
    "compat": lambda: [("i686 on x86_64", process("i686")),
                       ("native i386 3G/1G", process("i386-3g"))],
}
#: Scenario timelines: drawn as a figure and written as a view with a step slider.
TIMELINES = {
    "growsdown": "growsdown-guard-gap.toml",
    "thread-stacks-timeline": "thread-stacks-32-vs-64.toml",
}

FIGURES = {
    **{name: (lambda cols=cols: plot.layout_figure(cols())) for name, cols in LAYOUTS.items()},
    **{name: (lambda f=f: plot.timeline_figure(scenario(f))) for name, f in TIMELINES.items()},
    "aslr": lambda: plot.aslr_figure("i686"),
    "threads-chart": lambda: plot.threads_chart(),
    "sweep-thread-counts": lambda: sweep_counts(),
    "performance": lambda: performance(),
    "sweep-heap-mmap-gap": lambda: sweep_distribution(
        "aslr-heap-mmap-gap-i686.toml", "heap_mmap_gap", None,
        "i686 with ASLR: from the heap's end to the lowest mapping above it"),
    "sweep-thread-stacks-room": lambda: sweep_distribution(
        "aslr-thread-stacks-vs-stack-room-i686.toml", "thread_below_stack_room", "rlimit_stack",
        "i686 with ASLR: thread stacks below the main stack's growth room"),
}


def views(out_dir: Path = DOCS / "views") -> list[str]:
    """Write the interactive view of every layout and timeline into ``out_dir``."""
    from simulator.commands.view import scenario_columns
    from simulator.plot.view import process_columns, view_html

    out_dir.mkdir(exist_ok=True)
    written = []
    pages = {name: (process_columns(cols()), name) for name, cols in LAYOUTS.items()}
    pages |= {name: scenario_columns(str(ROOT / "scenarios" / f)) for name, f in TIMELINES.items()}
    for name, (columns, title) in pages.items():
        path = out_dir / f"{name}.html"
        path.write_text(view_html(columns, title), encoding="utf-8")
        written.append(str(path))
    return written


def sweep_distribution(name: str, column: str, by, title: str):
    """A shipped ASLR sweep (scenarios/sweeps/), with 500 seeds to keep the build short."""
    import attrs
    from simulator.plot.sweep import distribution_figure
    from simulator.sweep import load_spec, run_sweep

    spec = attrs.evolve(load_spec(str(ROOT / "scenarios" / "sweeps" / name)), seeds=500)
    return distribution_figure(run_sweep(spec), column, by=by, title=title)


def performance():
    """bench/plot.py's figure of the committed measurements, bench/results.json."""
    import json

    sys.path.insert(0, str(ROOT / "bench"))
    from plot import RESULTS, performance_figure

    return performance_figure(json.loads(RESULTS.read_text()))


def sweep_counts():
    """scenarios/sweeps/thread-counts.toml's 32-bit profiles with default stacks."""
    import attrs
    from simulator.plot.sweep import counts_figure
    from simulator.sweep import load_spec, run_sweep

    spec = load_spec(str(ROOT / "scenarios" / "sweeps" / "thread-counts.toml"))
    grid = dict(spec.grid)
    grid["arch"] = ("i686", "i386-3g", "i386-2g", "i386-1g", "arm-3g")
    grid["stack_size"] = ("default",)
    rows = run_sweep(attrs.evolve(spec, grid=tuple(grid.items())))
    return counts_figure(rows, "threads", x="arch", series="rlimit_stack",
                         title="Threads with default stacks, by RLIMIT_STACK")


def figures(out_dir: Path = DOCS / "figures") -> list[str]:
    """Draw every figure as PNG and SVG into ``out_dir``; returns the files written."""
    import matplotlib.pyplot as plt

    written = []
    for name, make in FIGURES.items():
        fig = make()
        written += plot.save(fig, str(out_dir / name))
        plt.close(fig)
    return written


def cli_reference() -> str:
    """docs/cli.md: every command's --help, as the program prints it."""
    parser = build_parser()
    lines = ["# Command-line reference", "",
             "Generated from the program by `python docs/build.py`.", "",
             "## vasim", "", "```", parser.format_help().rstrip(), "```", "",
             "## Exit codes", "",
             "Every command answers with one of these (`vasim --help` lists them too):", "",
             "```", EXIT_CODES.rstrip(), "```", "",
             "Bad input is one line on stderr and nothing else; an internal error is a short "
             "message naming the command and vasim's version (`vasim --version`) and asking "
             "for a bug report, with the traceback only under `--debug` (anywhere on the "
             "command line) or `VASIM_DEBUG=1`; Ctrl-C prints one line. Long runs (threads "
             "until failure, many scenarios) show a progress line on stderr after 1.5 s when "
             "stderr is a terminal; `VASIM_PROGRESS=0` turns it off.", ""]
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        lines += [f"## vasim {name}", "", "```", sub.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--figures-only", action="store_true")
    args.add_argument("--site-dir", default=str(ROOT / "site"))
    opts = args.parse_args(argv)
    for path in figures() + views():
        print(path)
    (DOCS / "cli.md").write_text(cli_reference())
    if opts.figures_only:
        return 0
    return subprocess.call([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
                            "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", opts.site_dir])


if __name__ == "__main__":
    raise SystemExit(main())
