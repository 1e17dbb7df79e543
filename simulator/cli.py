"""The ``vasim`` command. Built on the package's public modules only.

Exit codes (:data:`EXIT_CODES`): 0 when everything ran and every comparison or expectation
held, 1 when one did not, 2 for bad input (one line: ``FILE:LINE: what is wrong``), 3 for an
internal error (a bug: a short message, the traceback only with ``--debug``), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from simulator.errors import InputError
from simulator.kernel.arch import PROFILES, get_profile
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.limits import MAX_MAPPINGS, MAX_PROCESSES, MAX_THREADS
from simulator.progress import Progress
from simulator.units import format_size, parse_size

EXIT_CODES = """\
exit codes:
  0    every scenario ran and every expectation held; the replay matched
  1    an expectation failed, or the replay diverged
  2    bad input: one line on stderr, FILE:LINE[:COL]: what is wrong
       (or vasim COMMAND: what is wrong, for an argument)
  3    internal error, a bug in vasim: a short message asking for a report;
       --debug (or VASIM_DEBUG=1) adds the traceback
  130  interrupted (Ctrl-C)
"""


class UsageError(Exception):
    """A command-line argument that cannot be used."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message):  # noqa: D102 - argparse's hook
        raise UsageError(f"{self.prog}: {message}")


def _personality(text: str) -> Personality:
    try:
        return Personality.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _size(text: str, *, allow_unlimited: bool = False) -> int:
    try:
        return parse_size(text, allow_unlimited=allow_unlimited)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _rlimit(text: str) -> int:
    return _size(text, allow_unlimited=True)


def _arch(text: str) -> str:
    """A profile name (checked by get_profile)."""
    try:
        get_profile(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _arch_or_auto(text: str) -> str:
    return text if text == "auto" else _arch(text)


def _add_process_options(p: argparse.ArgumentParser, *, auto_arch: bool = False) -> None:
    p.add_argument("--arch", type=_arch_or_auto if auto_arch else _arch,
                   default="auto" if auto_arch else "x86_64",
                   help="profile name: " + ", ".join(PROFILES)
                   + (" (default: guessed from the input)" if auto_arch else " (default: x86_64)"))
    p.add_argument("--personality", type=_personality, default=Personality(0),
                   metavar="FLAGS",
                   help="comma-separated: ADDR_NO_RANDOMIZE, ADDR_COMPAT_LAYOUT, ADDR_LIMIT_3GB, "
                        "ADDR_LIMIT_32BIT")
    p.add_argument("--rlimit-stack", type=_rlimit, default=8 << 20, metavar="SIZE",
                   help="RLIMIT_STACK: 8M, 8192K, a byte count, or unlimited (default 8M)")


# -- replay -----------------------------------------------------------------------------------

REPLAY_EPILOG = """\
examples:
  strace -f -o trace.txt setarch -R ./prog        # record (ASLR off)
  vasim replay trace.txt
  vasim replay trace.txt --arch i686 --personality ADDR_LIMIT_3GB --rlimit-stack unlimited
  vasim replay trace.txt --initial-maps start.maps --json

The trace must come from a process run with ASLR off (setarch -R); replay always models
ADDR_NO_RANDOMIZE. --initial-maps is /proc/PID/maps (or gdb 'info proc mappings') of the
process before the trace's first memory call; without it the layout at exec is built from the
traced program's ELF file when it exists here, else from a modelled program.
"""


def cmd_replay(args) -> int:
    from simulator.trace.procmaps import read_maps
    from simulator.trace.replay import initial_address_space, replay
    from simulator.trace.strace import read_strace

    trace = read_strace(args.trace)
    entries = read_maps(args.initial_maps) if args.initial_maps else None
    arch = args.arch
    if arch == "auto":
        arch = _guess_arch(trace, entries)
    profile = get_profile(arch)
    proc = ProcessConfig(personality=args.personality | Personality.ADDR_NO_RANDOMIZE,
                         rlimit_stack=args.rlimit_stack)
    mm = initial_address_space(trace, profile, proc, KernelConfig(), entries,
                               args.initial_maps or args.trace)
    result = replay(trace, mm)
    if args.json:
        print(json.dumps(result.to_json(), indent=None))
    else:
        print(f"replayed {result.total} memory calls from {args.trace} as {profile.name} "
              f"({result.skipped} other lines skipped)")
        print(f"matched {result.matched} of {result.total}")
        first = result.first_divergence
        if first is not None:
            print(f"first divergence at {args.trace}:{first.line}: {first.text}")
            print(f"  recorded {first.recorded}, simulated {first.simulated}")
    return 0 if result.first_divergence is None else 1


def _guess_arch(trace, entries) -> str:
    """i686 for traces with mmap2 (the 32-bit syscall) or maps entirely below 4 GiB."""
    if any(c.name == "mmap2" for c in trace.memory_calls):
        return "i686"
    if entries and all(e.end <= 1 << 32 for e in entries):
        return "i686"
    return "x86_64"


# -- layout -----------------------------------------------------------------------------------

LAYOUT_EPILOG = """\
examples:
  vasim layout --arch i686
  vasim layout --arch i686 --personality ADDR_LIMIT_3GB --rlimit-stack unlimited
  vasim layout --arch i386-1g --json
"""


def cmd_layout(args) -> int:
    from simulator.kernel.exec import exec_layout
    from simulator.programs import typical_program

    profile = get_profile(args.arch)
    proc = ProcessConfig(personality=args.personality, rlimit_stack=args.rlimit_stack,
                         seed=args.seed)
    exe, interp = typical_program(profile)
    mm = exec_layout(profile, exe, interp, proc=proc)
    layout = {
        "arch": profile.name, "task_size": mm.task_size, "topdown": mm.topdown,
        "mmap_base": mm.mmap_base, "mmap_legacy_base": mm.mmap_legacy_base,
        "start_brk": mm.start_brk, "maps": mm.maps_text(),
        "free_gaps": [{"start": s, "end": min(e, mm.task_size)} for s, e in mm.gaps()
                      if s < mm.task_size and min(e, mm.task_size) - max(s, mm.mmap_min_addr) > 0],
    }
    if args.json:
        print(json.dumps(layout))
        return 0
    print(f"{profile.name}: {profile.summary}")
    print(f"  TASK_SIZE {mm.task_size:#x} ({format_size(mm.task_size)}), "
          f"{'top-down' if mm.topdown else 'legacy bottom-up'} layout")
    print(f"  mmap_base {mm.mmap_base:#x}, legacy base {mm.mmap_legacy_base:#x}, "
          f"brk starts at {mm.start_brk:#x}")
    print()
    sys.stdout.write(mm.maps_text())
    print()
    print("free gaps:")
    for gap in layout["free_gaps"]:
        start = max(gap["start"], mm.mmap_min_addr)
        print(f"  {start:#014x}-{gap['end']:#014x}  {format_size(gap['end'] - start)}")
    return 0


# -- threads ----------------------------------------------------------------------------------

THREADS_EPILOG = """\
examples:
  vasim threads --arch i686                                   # 509 on a 64-bit kernel
  vasim threads --arch i686 --personality ADDR_LIMIT_3GB      # 381
  vasim threads --arch i386-1g --rlimit-stack 2M
  vasim threads --arch i686 --stack-size 65536 --guard-size 0 --json
  vasim threads --arch i686 --initial-maps before-threads.maps

Threads are created with glibc 2.36's algorithm (nptl/allocatestack.c) on the kernel model,
with ASLR off, until pthread_create fails. Without --initial-maps the process is a modelled
minimal dynamically linked PIE (executable, ld.so, libc) at the start of main.

vasim builds at most %(threads)s threads and %(maps)s mappings (docs/threads.md); a run
that would pass them stops with exit status 2. A long run shows its progress on stderr.
""" % {"threads": f"{MAX_THREADS:,}", "maps": f"{MAX_MAPPINGS:,}"}

#: Threads created between two progress updates and bound checks.
_THREADS_CHUNK = 1024


def threads_until_failure(profile, proc, attr, initial_maps: str | None = None,
                          progress: Progress | None = None):
    """What ``vasim threads`` runs: the process (from ``initial_maps``, a /proc/PID/maps
    taken before the first pthread_create, or the modelled typical PIE) creates threads with
    ``attr`` until pthread_create fails. Returns ``(process, ExhaustionResult)``.

    Threads are created in chunks, between which ``progress`` is updated and the
    simulator's bounds (simulator/limits.py) are checked: past them an InputError stops
    the run."""
    import attrs

    from simulator.libc.process import attach_process
    from simulator.programs import typical_process
    from simulator.trace.loadmaps import address_space_from_maps
    from simulator.trace.procmaps import read_maps

    if initial_maps:
        mm = address_space_from_maps(read_maps(initial_maps), profile, proc=proc,
                                     source=initial_maps)
        process = attach_process(mm)
    else:
        process = typical_process(profile, proc)
    stacks = []
    while True:
        chunk = process.threads.create_until_failure(attr, limit=_THREADS_CHUNK)
        stacks += chunk.stacks
        if progress is not None:
            progress.update(chunk.threads)
        if chunk.stopped_by != "limit":
            break
        if len(stacks) >= MAX_THREADS or process.mm.map_count > MAX_MAPPINGS:
            raise InputError("vasim threads", None, f"stopped after {len(stacks):,} threads and "
                             f"{process.mm.map_count:,} mappings without a failure: vasim "
                             f"builds at most {MAX_THREADS:,} threads and {MAX_MAPPINGS:,} "
                             "mappings (docs/threads.md)")
    return process, attrs.evolve(chunk, threads=len(stacks), stacks=tuple(stacks))


def cmd_threads(args) -> int:
    from simulator.libc.pthread import PTHREAD_STACK_MIN, ThreadAttr

    if args.stack_size is not None and args.stack_size < PTHREAD_STACK_MIN:
        raise UsageError(f"vasim threads: argument --stack-size: pthread_attr_setstacksize "
                         f"refuses {args.stack_size} (below PTHREAD_STACK_MIN {PTHREAD_STACK_MIN})")
    profile = get_profile(args.arch)
    proc = ProcessConfig(personality=args.personality | Personality.ADDR_NO_RANDOMIZE,
                         rlimit_stack=args.rlimit_stack)
    attr = ThreadAttr(stacksize=args.stack_size or 0,
                      guardsize=args.guard_size if args.guard_size is not None else 4096)
    with Progress("vasim threads", unit="thread") as progress:
        process, result = threads_until_failure(profile, proc, attr, args.initial_maps, progress)
    mm = process.mm
    block = result.stacks[0].size if result.stacks else None
    gap = mm.largest_free_gap()
    out = {
        "threads": result.threads,
        "stopped_by": result.stopped_by,
        "largest_free_gap": gap,
        "arch": profile.name,
        "default_stack_size": process.threads.default_stacksize,
        "stack_block": block,
        "first_stack": result.stacks[0].mem if result.stacks else None,
        "last_stack": result.stacks[-1].mem if result.stacks else None,
        "map_count": mm.map_count,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    layout = "top-down" if mm.topdown else "legacy bottom-up"
    print(f"{profile.name}: TASK_SIZE {mm.task_size:#x} ({format_size(mm.task_size)}), "
          f"{layout}, RLIMIT_STACK {format_size(args.rlimit_stack)}")
    if block:
        guard = result.stacks[0].guard
        print(f"each thread: one {format_size(block)} block ({block:#x}: "
              f"{format_size(block - guard)} stack + {format_size(guard)} guard)")
    print(f"created {result.threads} threads; pthread_create #{result.threads + 1} failed "
          f"with {result.error.name if result.error else '-'} ({result.stopped_by})")
    print(f"largest free gap left: {format_size(gap)}")
    return 0


# -- run and compare ----------------------------------------------------------------------------

RUN_EPILOG = """\
examples:
  vasim run scenarios/thread-stacks-32-vs-64.toml
  vasim run scenarios/*.toml --quiet
  vasim run scenarios/map-fixed-clobbers-a-library.toml --maps
  vasim run scenarios/growsdown-guard-gap.toml --json

Exit status: 0 when every scenario ran and every expectation held, 1 when one failed,
2 for a bad scenario file (one line: FILE:LINE:COL: what is wrong), 3 for a bug in vasim
(vasim --help lists them). Every file is checked before any runs; what a run may build is
bounded (docs/scenarios.md, Limits). Progress goes to stderr on a terminal after 1.5 s.
The format is documented in docs/scenarios.md.
"""

COMPARE_EPILOG = """\
examples:
  vasim compare scenarios/thread-counts-by-split.toml
  vasim compare scenarios/thread-stacks-32-vs-64.toml --arch i686,i386-3g,x86_64

The steps of the scenario run in each process (its [compare] table, or --arch), and the
results are shown side by side.
"""


def cmd_run(args) -> int:
    from simulator.scenario.report import json_report, text_report
    from simulator.scenario.runner import run
    from simulator.scenario.spec import load

    scenarios = [load(path) for path in args.scenarios]  # every file checked before any runs
    results = []
    with Progress("vasim run") as progress:
        for scenario in scenarios:
            progress.describe(os.path.basename(scenario.path))
            results.append(run(scenario, tick=progress.update))
    if args.json:
        print(json.dumps({"ok": all(r.ok for r in results),
                          "scenarios": [json_report(r) for r in results]}))
    else:
        for index, result in enumerate(results):
            if index:
                print()
            print(text_report(result, quiet=args.quiet, maps=args.maps))
    return 0 if all(r.ok for r in results) else 1


def cmd_compare(args) -> int:
    import attrs

    from simulator.scenario.report import compare_report, json_report
    from simulator.scenario.runner import run
    from simulator.scenario.spec import Variant, load

    scenario = load(args.scenario)
    variants = scenario.variants
    if args.arch:
        names = [a.strip() for a in args.arch.split(",") if a.strip()]  # checked by _arch_list
        variants = tuple(Variant(name, dict(scenario.process, arch=name)) for name in names)
        scenario = attrs.evolve(scenario, variants=variants)
    with Progress("vasim compare") as progress:
        result = run(scenario, tick=progress.update)
    if args.json:
        print(json.dumps(json_report(result)))
    else:
        print(compare_report(result))
    return 0 if result.ok else 1


PLOT_EPILOG = """\
examples:
  vasim plot scenarios/growsdown-guard-gap.toml -o growsdown.svg            # a timeline
  vasim plot scenarios/thread-counts-by-split.toml --kind layout -o split.png
  vasim plot --arch i686,x86_64 --kind layout -o layout                     # PNG and SVG
  vasim plot --arch i686,i386-3g,i386-1g --kind threads -o threads.svg
  vasim plot --arch x86_64 --kind aslr -o aslr.png

Kinds: timeline (a scenario's steps: address against step; the default for a scenario),
layout (one column per process: a scenario's final states, or the layout at the start of
main of the modelled program for each --arch; the default without a scenario), threads
(threads until pthread_create fails against the stack size, one line per --arch), aslr
(where each region lands over 200 seeds, with its entropy). -o FILE picks the format by its
extension (.png or .svg); without one both are written.
"""


def cmd_plot(args) -> int:
    from simulator import plot

    kind = args.kind or ("timeline" if args.scenario else "layout")
    if args.scenario is None and kind == "timeline":
        raise UsageError("vasim plot: a timeline needs a SCENARIO")
    if args.scenario is not None and kind in ("threads", "aslr"):
        raise UsageError(f"vasim plot: --kind {kind} takes --arch, not a scenario")
    arches = [a.strip() for a in (args.arch or "x86_64").split(",") if a.strip()]
    proc = ProcessConfig(personality=args.personality | Personality.ADDR_NO_RANDOMIZE,
                         rlimit_stack=args.rlimit_stack)
    if args.scenario is not None:
        from simulator.scenario.runner import run
        from simulator.scenario.spec import load
        result = run(load(args.scenario))
        if kind == "timeline":
            fig = plot.timeline_figure(result)
        else:
            fig = plot.layout_figure([(v.variant.label, v.mm) for v in result.variants])
    elif kind == "layout":
        from simulator.programs import typical_process
        fig = plot.layout_figure([(arch, typical_process(get_profile(arch), proc).mm)
                                  for arch in arches])
    elif kind == "threads":
        fig = plot.threads_chart(arches)
    else:
        if len(arches) != 1:
            raise UsageError("vasim plot: --kind aslr takes one --arch")
        fig = plot.aslr_figure(arches[0])
    ext = os.path.splitext(args.output)[1].lower().lstrip(".")
    if ext and ext not in ("png", "svg"):
        raise UsageError(f"vasim plot: -o {args.output}: use .png, .svg or no extension")
    try:
        written = plot.save(fig, args.output, formats=(ext,) if ext else ("png", "svg"))
    except OSError as err:
        raise InputError(args.output, None, f"cannot write: {err.strerror or err}") from None
    for path in written:
        print(path)
    return 0


def _arch_list(text: str) -> str:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no profile (e.g. i686,x86_64)")
    if len(names) > MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"{len(names)} profiles; at most {MAX_PROCESSES}")
    for name in names:
        _arch(name)
    return text


# -- main -------------------------------------------------------------------------------------

#: Subcommands in simulator/commands/NAME.py, each with ``add_parser(sub)``.
COMMAND_MODULES: tuple[str, ...] = ()

def package_version() -> str:
    """This vasim's version: the source tree's pyproject.toml when run from a checkout
    (an installed copy's metadata may be older), else the installed package's metadata."""
    import tomllib
    from importlib import metadata

    pyproject = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "pyproject.toml")
    try:
        with open(pyproject, "rb") as f:
            project = tomllib.load(f).get("project", {})
        if project.get("name") == "vasim" and project.get("version"):
            return str(project["version"])
    except (OSError, ValueError):
        pass
    try:
        return metadata.version("vasim")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vasim", description="Simulate Linux process address spaces: "
                     "32-bit versus 64-bit, with the kernel's real placement rules.",
                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"vasim {package_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="on an internal error, print the traceback (also VASIM_DEBUG=1); "
                             "may be given anywhere on the line")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="run scenario files and check their expectations",
                       epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run scenarios: a process, its steps, and what should happen. "
                                   "Reports collisions and other events in sentences.")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files (TOML)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--maps", action="store_true", help="print the final /proc/PID/maps too")
    p.add_argument("--quiet", action="store_true", help="only steps with events or failures")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("plot", help="draw a figure: layout, timeline, thread counts, ASLR",
                       epilog=PLOT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Draw a figure from the model (matplotlib): PNG and SVG, "
                                   "deterministic, readable in greyscale.")
    p.add_argument("scenario", nargs="?", metavar="SCENARIO", help="a scenario file")
    p.add_argument("--kind", choices=("layout", "timeline", "threads", "aslr"),
                   help="the figure (default: timeline for a scenario, else layout)")
    p.add_argument("--arch", type=_arch_list, metavar="A,B,...",
                   help="profiles, without a scenario (default x86_64)")
    p.add_argument("--personality", type=_personality, default=Personality(0), metavar="FLAGS",
                   help="personality flags for --arch (ASLR stays off)")
    p.add_argument("--rlimit-stack", type=_rlimit, default=8 << 20, metavar="SIZE",
                   help="RLIMIT_STACK for --arch (default 8M)")
    p.add_argument("-o", "--output", default="vasim-figure", metavar="FILE",
                   help="output file: .png or .svg, or no extension for both")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("compare", help="run a scenario in several processes side by side",
                       epilog=COMPARE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run the same steps under several profiles and show the "
                                   "results side by side.")
    p.add_argument("scenario", metavar="SCENARIO")
    p.add_argument("--arch", type=_arch_list, metavar="A,B,...",
                   help="profiles to compare (default: the scenario's [compare] table)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("replay", help="replay a real strace -f log against the model",
                       epilog=REPLAY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Replay the memory calls of an strace -f log and compare "
                                   "every return value with the model's.")
    p.add_argument("trace", metavar="TRACE", help="strace -f output")
    _add_process_options(p, auto_arch=True)
    p.add_argument("--initial-maps", metavar="FILE",
                   help="/proc/PID/maps or gdb 'info proc mappings' before the first line")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("layout", help="the address space at exec for a profile",
                       epilog=LAYOUT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Print the layout at exec of a modelled dynamically linked "
                                   "program: regions, bases and free gaps.")
    _add_process_options(p)
    p.add_argument("--seed", type=int, default=0, help="ASLR seed (when ASLR is on)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_layout)

    p = sub.add_parser("threads", help="create threads until pthread_create fails",
                       epilog=THREADS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="How many threads fit: glibc's stack allocation on the "
                                   "kernel model, until the address space (or vm.max_map_count) "
                                   "runs out.")
    _add_process_options(p)
    p.add_argument("--stack-size", type=_size, metavar="BYTES",
                   help="pthread_attr_setstacksize (default: RLIMIT_STACK, 2 MiB if unlimited)")
    p.add_argument("--guard-size", type=_size, metavar="BYTES",
                   help="pthread_attr_setguardsize (default: one page)")
    p.add_argument("--initial-maps", metavar="FILE",
                   help="/proc/PID/maps of the program before its first pthread_create")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_threads)

    for name in COMMAND_MODULES:
        importlib.import_module(f"simulator.commands.{name}").add_parser(sub)
    return parser


def _take_debug(argv: list[str]) -> tuple[list[str], bool]:
    """``--debug`` anywhere before a ``--``, taken out so that every subcommand (also those
    in simulator/commands/) accepts it; or VASIM_DEBUG=1."""
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end] or os.environ.get("VASIM_DEBUG", "") not in ("", "0")
    return [a for i, a in enumerate(argv) if not (i < end and a == "--debug")], debug


def _report_internal_error(err: BaseException, command: str, debug: bool) -> None:
    """Exit status 3: a short message asking for a bug report; the traceback with --debug."""
    if debug:
        import traceback
        traceback.print_exception(err, file=sys.stderr)
    what = {MemoryError: "ran out of memory",
            RecursionError: "recursed too deeply"}.get(type(err), f"{type(err).__name__}: {err}")
    print(f"vasim: internal error in '{command}' (vasim {package_version()}): "
          f"{_one_line(what)[:300]}", file=sys.stderr)
    print("vasim: this is a bug; please report it with the command line and its input files"
          + ("" if debug else " (--debug or VASIM_DEBUG=1 shows the traceback)"),
          file=sys.stderr)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> int:
    """The vasim command; returns its exit status (:data:`EXIT_CODES`)."""
    argv, debug = _take_debug(list(sys.argv[1:] if argv is None else argv))
    for stream in (sys.stdout, sys.stderr):  # a name that is not UTF-8 prints escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    command = "vasim"
    try:
        if any("\0" in arg for arg in argv):
            raise UsageError("vasim: an argument contains a NUL byte")
        parser = build_parser()
        args = parser.parse_args(argv)
        command = f"vasim {args.command}"
        return args.func(args)
    except (UsageError, InputError) as err:
        print(_one_line(str(err)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)  # the progress line is gone already
        return 130
    except BrokenPipeError:
        # The reader went away (vasim ... | head): stop quietly, and keep Python's final
        # flush of stdout from failing again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 0
    except Exception as err:  # noqa: BLE001 - the one place a bug becomes exit status 3
        _report_internal_error(err, command, debug)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
