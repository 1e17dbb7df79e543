"""``vasim view``: an interactive, self-contained HTML view of address spaces."""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.errors import InputError

EPILOG = """\
examples:
  vasim view --arch i686,x86_64 -o layouts.html         # 32- vs 64-bit side by side
  vasim view --arch i386-3g,i386-2g,i386-1g -o splits.html
  vasim view scenarios/growsdown-guard-gap.toml -o growsdown.html   # with a step slider
  vasim view /proc/12345/maps -o proc.html
  vasim view tests/data/recordings/thr32-exhaust -o exhaust.html    # at exec and at exit

One HTML file with its script and styles inlined: it opens from disk with no network. Wheel
or +/- zooms, drag or the arrow keys pan, a click (or Enter) zooms to a region, 0 zooms out,
the search box finds a region by name or address. Hover or focus a region for its
/proc/PID/maps lines and what `vasim explain` calls it.
"""


def add_parser(sub) -> argparse.ArgumentParser:
    from simulator.cli import add_profiles_options

    p = sub.add_parser("view", help="an interactive HTML view: zoom, hover, search, steps",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Write one self-contained HTML file showing address "
                                   "spaces side by side on a zoomable address axis.")
    p.add_argument("input", nargs="?", metavar="SCENARIO|MAPS|RECORDING",
                   help="a scenario (.toml), a maps listing, or a recording directory")
    add_profiles_options(p, "profiles to show at exec, without an input (default x86_64)")
    p.add_argument("-o", "--output", default="vasim-view.html", metavar="FILE.html",
                   help="the HTML file to write (default vasim-view.html)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from simulator.plot.view import view_html

    if args.input is not None and args.arch:
        from simulator.cli import UsageError
        raise UsageError("vasim view: give an input or --arch, not both")
    if args.input is None:
        columns, title = _arch_columns(args)
    elif args.input.endswith(".toml"):
        columns, title = scenario_columns(args.input)
    else:
        columns, title = _maps_columns(args.input)
    page = view_html(columns, title)
    try:
        Path(args.output).write_text(page, encoding="utf-8")
    except OSError as err:
        raise InputError(args.output, None, f"cannot write: {err.strerror or err}") from None
    print(args.output)
    return 0


def _arch_columns(args):
    from simulator.kernel.arch import get_profile
    from simulator.kernel.config import Personality, ProcessConfig
    from simulator.plot.view import process_columns
    from simulator.programs import typical_process

    arches = [a.strip() for a in (args.arch or "x86_64").split(",") if a.strip()]
    proc = ProcessConfig(personality=args.personality | Personality.ADDR_NO_RANDOMIZE,
                         rlimit_stack=args.rlimit_stack)
    columns = process_columns([(arch, typical_process(get_profile(arch), proc).mm)
                               for arch in arches])
    return columns, "The address space at exec: " + ", ".join(arches)


def scenario_columns(path: str):
    """The columns of a scenario's processes, a snapshot after each step; and its title."""
    from simulator.plot.view import column, snapshot
    from simulator.scenario.report import describe_event
    from simulator.scenario.runner import run
    from simulator.scenario.spec import load

    scenario = load(path)
    snaps: dict[str, list] = {}
    last_mm = {}
    pending: dict[str, list] = {}

    def observe(variant, outcome, mm):
        if outcome is None:
            label, events = "before the first step", []
        elif outcome.iteration == outcome.step.repeat - 1:  # a step's last repeat
            label = outcome.step.label
            events = [describe_event(e) for o in pending.pop(variant.label, []) + [outcome]
                      for e in o.events]
        else:
            pending.setdefault(variant.label, []).append(outcome)
            return
        snaps.setdefault(variant.label, []).append(snapshot(mm, label, events))
        last_mm[variant.label] = mm

    run(scenario, observe=observe)
    columns = [column(label, s, last_mm[label]) for label, s in snaps.items()]
    return columns, scenario.title or path


def _maps_columns(text: str):
    from simulator.commands.explain import guess_personality, load_input
    from simulator.kernel.arch import get_profile
    from simulator.kernel.config import Personality, ProcessConfig
    from simulator.plot.view import column, snapshot
    from simulator.trace.loadmaps import address_space_from_maps
    from simulator.trace.procmaps import guess_arch, read_maps

    entries, facts, source = load_input(text)
    arch = facts.get("arch") or guess_arch(entries)
    personality = facts.get("personality")
    if personality is None:
        personality = guess_personality(entries, arch)
    proc = ProcessConfig(personality=personality | Personality.ADDR_NO_RANDOMIZE,
                         rlimit_stack=facts.get("rlimit_stack", 8 << 20))
    profile = get_profile(arch)
    listings = [(entries, source, "at exit" if source.endswith("final.maps") else source)]
    initial = Path(text) / "initial.maps"
    if Path(text).is_dir() and initial.is_file():
        listings.insert(0, (read_maps(initial), str(initial), "at exec"))
    snaps, mm = [], None
    for listing, src, label in listings:
        mm = address_space_from_maps(listing, profile, proc=proc, source=src)
        snaps.append(snapshot(mm, label))
    return [column(f"{Path(text).name} ({arch})", snaps, mm)], f"{text}"
