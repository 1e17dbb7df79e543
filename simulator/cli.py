"""The ``vasim`` command. Built on the package's public modules only.

Exit codes (:data:`EXIT_CODES`): 0 when everything ran and every comparison or expectation
held, 1 when one did not, 2 for bad input (one line: ``FILE:LINE: what is wrong``), 3 for an
internal error (a bug: a short message, the traceback only with ``--debug``), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import shutil
import sys
import tempfile

from simulator.errors import InputError
from simulator.gctune import gc_paused
from simulator.kernel.arch import PROFILES, get_profile
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.limits import MAX_MAPPINGS, MAX_PROCESSES, MAX_THREADS
from simulator.progress import Progress
from simulator.units import RLIM_INFINITY, format_size, parse_size

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
  vasim record -o prog.rec -- ./prog              # record (see vasim record --help)
  vasim replay prog.rec                           # calls, final maps of every process
  vasim replay prog.rec --json
  strace -f -o trace.txt setarch -R ./prog        # or a bare strace log
  strace -f -o trace.txt ./prog                   # ASLR on: the random bases are inferred
  vasim replay trace.txt
  vasim replay trace.txt --arch i686 --personality ADDR_LIMIT_3GB --rlimit-stack unlimited
  vasim replay trace.txt --initial-maps start.maps --json

A recording directory replays with its own facts: arch, personality and RLIMIT_STACK from its
meta.json (--personality adds flags, an --rlimit-stack other than 8M replaces it), the device,
inode, size and file system of every file and the program headers of every exec'd binary from
its files.json; this machine's files are never read. Each process's final maps are compared
with the kernel's; exit status 1 when a call or a final map differs.

Every process of the log is replayed in an address space of its own: each successful execve
builds a fresh one from that binary's ELF (a bare log's from this machine's file, and the
output says which files were read here), fork/vfork/clone without CLONE_VM copy the parent's,
CLONE_VM shares it. personality() calls in the log (setarch's) set the persona of the next
execve; --personality and --arch override them. With ASLR on, each exec's mmap base, PIE load
bias and heap start are inferred from the first calls that reveal them and printed; the stack
top is not revealed by memory calls. --initial-maps is /proc/PID/maps (or gdb 'info proc
mappings') of the first process after its first execve.

Replayed and checked: mmap/mmap2, munmap, mprotect, mremap, brk, madvise, mlock, mlock2,
munlock, mlockall, munlockall, mseal, shmget, shmat, shmdt, shmctl(IPC_RMID, IPC_SET),
pkey_mprotect, pkey_alloc, pkey_free, remap_file_pages; and the calls that change what those
may do: setuid, setreuid, setresuid, setgid, setregid, setresgid, capset, prlimit64,
setrlimit and prctl's PR_SET_KEEPCAPS, PR_SET_SECUREBITS and PR_CAPBSET_DROP (each task's
credentials and limits follow them; capget, limit and prctl queries are taken as facts). A recording starts from its own ids, capabilities and limits, a bare log as root.
A call whose outcome rests on something strace does not print gets a note (e.g. mremap's
hint with MREMAP_DONTUNMAP).
"""


def cmd_replay(args) -> int:
    from simulator.host.files import HostFiles
    from simulator.trace.loadmaps import address_space_from_maps
    from simulator.trace.procmaps import guess_arch, read_maps
    from simulator.trace.recording import is_recording
    from simulator.trace.replay import Replay
    from simulator.trace.strace import FileEvent, open_strace

    if is_recording(args.trace):
        from simulator.commands.record import cmd_replay_recording
        return cmd_replay_recording(args)
    if args.cwd is not None and not os.path.isdir(args.cwd):
        raise InputError(args.cwd, None, "--cwd: not a directory")
    files = HostFiles()
    stream = events = open_strace(args.trace)
    entries = read_maps(args.initial_maps) if args.initial_maps else None
    arch = args.arch
    forced = arch != "auto"
    if not forced:
        arch = guess_arch(entries)  # each exec's ELF class picks the compat profile after
    profile = get_profile(arch)
    personality = args.personality if args.personality else None
    # A bounded look ahead at the log's first events: its first execve names the program
    # (--initial-maps' executable); without one, mmap2 (the 32-bit call) means a 32-bit
    # process.
    head = list(itertools.islice(events, 256))
    events = itertools.chain(head, events)
    exe_path = next((e.path for e in head if isinstance(e, FileEvent) and e.kind == "execve"),
                    None)
    if (not forced and entries is None and exe_path is None
            and any(getattr(e, "name", None) == "mmap2" for e in head)):
        profile = get_profile("i686")
    mm = None
    if entries is not None:
        proc = ProcessConfig(personality=args.personality | Personality.ADDR_NO_RANDOMIZE,
                             rlimit_stack=args.rlimit_stack)
        mm = address_space_from_maps(entries, profile, kconfig=KernelConfig(), proc=proc,
                                     source=args.initial_maps, exe_path=exe_path, files=files)
    run = Replay(profile=profile, profile_forced=forced, personality=personality,
                 rlimit_stack=args.rlimit_stack, initial_mm=mm, files=files, cwd=args.cwd)
    total = matched = reordered = 0
    first = None
    notes = []
    # --json streams into a spooled temporary file (in memory up to 16 MiB, then on disk:
    # memory stays flat) that goes to stdout once the whole log replayed: a bad line found
    # late leaves stdout empty, as for any bad input.
    out = (tempfile.SpooledTemporaryFile(16 << 20, "w+", encoding="utf-8") if args.json
           else sys.stdout)
    if args.json:
        out.write('{"calls": [')
    # The calls' JSON is written in batches (one write per 4096 calls), the cyclic collector
    # paused (simulator/gctune.py): both measured in bench/replay_e2e.py.
    batch: list[str] = []
    with Progress("vasim replay", unit="call") as progress, gc_paused():
        for call in run.run(events):
            if args.json:
                batch.append(call.json_text())
                if len(batch) == 4096:
                    out.write((", " if total > 4095 else "") + ", ".join(batch))
                    batch.clear()
            total += 1
            if call.matched:
                matched += 1
            elif first is None:
                first = call
            if call.note:
                notes.append(call)
            reordered += call.reordered
            progress.update()
    if batch:
        out.write((", " if total > len(batch) else "") + ", ".join(batch))
    if total == 0 and not run.processes:
        raise InputError(args.trace, None, "no strace -f line in it (expected lines such as "
                                           "'1234 mmap(NULL, 4096, ...) = 0x7f...')")
    if args.json:
        rest = {"matched": matched, "total": total, "skipped": stream.skipped + run.skipped,
                "maps": run.maps, "processes": [p.to_json() for p in run.processes],
                "inferred": [i.to_json() for i in run.inferred], "notes": run.notes}
        out.write("], " + json.dumps(rest)[1:] + "\n")
        out.seek(0)
        shutil.copyfileobj(out, sys.stdout)
        out.close()
    else:
        processes = run.processes
        print(f"replayed {total} calls of {len(processes)} "
              f"process{'es' if len(processes) != 1 else ''} from {args.trace} "
              f"({stream.skipped + run.skipped} other lines skipped)")
        for inferred in run.inferred:
            if inferred.aslr != "off":
                print(f"  {inferred.describe()}")
        for note in run.notes:
            print(f"  note: {note}")
        for call in notes:
            print(f"  note at {args.trace}:{call.line}: {call.syscall}: {call.note}")
        if reordered:
            print(f"  {reordered} calls of overlapping threads replayed in another order "
                  "than printed")
        print(f"matched {matched} of {total}")
        if first is not None:
            print(f"first divergence at {args.trace}:{first.line}: {first.text}"
                  + (f" (pid {first.pid})" if first.pid is not None else ""))
            print(f"  recorded {first.recorded}, simulated {first.simulated}")
        if files.host_paths:
            print(f"file facts read from this machine ({len(files.host_paths)} files: device, "
                  "inode, size, file system; a recording (vasim record) carries its own): "
                  + ", ".join(sorted(files.host_paths)[:5])
                  + (" ..." if len(files.host_paths) > 5 else ""))
    return 0 if first is None else 1


# -- layout -----------------------------------------------------------------------------------

LAYOUT_EPILOG = """\
examples:
  vasim layout --arch i686
  vasim layout --arch i686 --personality ADDR_LIMIT_3GB --rlimit-stack unlimited
  vasim layout --arch i386-1g --json

The program is modelled: a minimal dynamically linked PIE, its ld.so and libc, with fixed
file sizes, devices and inodes (docs/hermetic.md); nothing is read from this machine.
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
  vasim threads --arch x86_64 --pid-max 4194304          # threads-max or max_map_count next
  vasim threads --rlimit-nproc 1000 --uid 1000 --json     # RLIMIT_NPROC: 1000 - 1 threads

Threads are created with glibc 2.36's algorithm (nptl/allocatestack.c) on the kernel model,
with ASLR off, until pthread_create fails. Without --initial-maps the process is a modelled
minimal dynamically linked PIE (executable, ld.so, libc) at the start of main, whose file
sizes, devices, inodes and ld.so.cache size are fixed values (docs/hermetic.md): nothing is
read from this machine.

Creation stops at the first limit met: the address space (mmap ENOMEM), vm.max_map_count, or
a task limit that makes clone3 fail with EAGAIN, checked in kernel/fork.c copy_process's
order: RLIMIT_NPROC (not for uid 0), kernel.threads-max, kernel.pid_max, the cgroup's
pids.max. The task limits count --tasks other tasks already running (system and pid
namespace), holding the lowest pids. See docs/threads.md.

vasim builds at most %(threads)s threads and %(maps)s mappings (docs/threads.md); a run
that would pass them stops with exit status 2. A long run shows its progress on stderr.
""" % {"threads": f"{MAX_THREADS:,}", "maps": f"{MAX_MAPPINGS:,}"}

#: Threads created between two progress updates and bound checks.
_THREADS_CHUNK = 1024


def threads_until_failure(profile, proc, attr, initial_maps: str | None = None,
                          progress: Progress | None = None,
                          kconfig: KernelConfig = KernelConfig()):
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
        mm = address_space_from_maps(read_maps(initial_maps), profile, kconfig=kconfig,
                                     proc=proc, source=initial_maps)
        process = attach_process(mm, proc=proc)
    else:
        process = typical_process(profile, proc, kconfig=kconfig)
    stacks = []
    # The loop allocates some ten objects per thread and frees none, which makes CPython's
    # cyclic collector walk the growing heap again and again (10-25% of the loop, measured
    # in bench/threads.py): it is paused for the loop, whose size simulator/limits.py bounds.
    with gc_paused():
        while True:
            chunk = process.threads.create_until_failure(attr, limit=_THREADS_CHUNK)
            stacks += chunk.stacks
            if progress is not None:
                progress.update(chunk.threads)
            if chunk.stopped_by != "limit":
                break
            if len(stacks) >= MAX_THREADS or process.mm.map_count > MAX_MAPPINGS:
                raise InputError("vasim threads", None, f"stopped after {len(stacks):,} threads "
                                 f"and {process.mm.map_count:,} mappings without a failure: "
                                 f"vasim builds at most {MAX_THREADS:,} threads and "
                                 f"{MAX_MAPPINGS:,} mappings (docs/threads.md)")
    return process, attrs.evolve(chunk, threads=len(stacks), stacks=tuple(stacks))


def threads_config(args):
    """``vasim threads``' arguments as (profile, ProcessConfig, KernelConfig, ThreadAttr)."""
    from simulator.libc.pthread import PTHREAD_STACK_MIN, ThreadAttr

    if args.stack_size is not None and args.stack_size < PTHREAD_STACK_MIN:
        raise UsageError(f"vasim threads: argument --stack-size: pthread_attr_setstacksize "
                         f"refuses {args.stack_size} (below PTHREAD_STACK_MIN {PTHREAD_STACK_MIN})")
    profile = get_profile(args.arch)
    proc = ProcessConfig(personality=args.personality | Personality.ADDR_NO_RANDOMIZE,
                         rlimit_stack=args.rlimit_stack, rlimit_nproc=args.rlimit_nproc,
                         uid=args.uid)
    kconfig = KernelConfig(**{k: v for k, v in (
        ("pid_max", args.pid_max), ("threads_max", args.threads_max),
        ("pids_max", args.pids_max), ("tasks", args.tasks),
        ("max_map_count", args.max_map_count)) if v is not None})
    attr = ThreadAttr(stacksize=args.stack_size or 0,
                      guardsize=args.guard_size if args.guard_size is not None else 4096)
    return profile, proc, kconfig, attr


def cmd_threads(args) -> int:
    profile, proc, kconfig, attr = threads_config(args)
    with Progress("vasim threads", unit="thread") as progress:
        process, result = threads_until_failure(profile, proc, attr, args.initial_maps,
                                                progress, kconfig)
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
        "limits": {"pid_max": kconfig.pid_max, "threads_max": kconfig.threads_max,
                   "pids_max": kconfig.pids_max, "tasks": kconfig.tasks,
                   "rlimit_nproc": proc.effective_rlimit_nproc(kconfig), "uid": proc.uid,
                   "max_map_count": kconfig.max_map_count},
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
    print(f"task limits: pid_max {kconfig.pid_max}, threads-max {kconfig.threads_max}, "
          f"pids.max {kconfig.pids_max if kconfig.pids_max is not None else 'max'}, "
          f"RLIMIT_NPROC {_count_text(proc.effective_rlimit_nproc(kconfig))}"
          f"{' (not enforced for root)' if proc.uid == 0 else ''}; "
          f"{kconfig.tasks} other tasks running, vm.max_map_count {kconfig.max_map_count}")
    return 0


def _count_text(value: int) -> str:
    return "unlimited" if value == RLIM_INFINITY else str(value)


def _count(text: str) -> int:
    """A non-negative count, or unlimited (RLIMIT_NPROC)."""
    if text in ("unlimited", "infinity"):
        return RLIM_INFINITY
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a count: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _ranged(lo: int, hi: int):
    def check(text: str) -> int:
        value = _count(text)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}, not {text}")
        return value
    return check


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


def add_profiles_options(p: argparse.ArgumentParser, arch_help: str) -> None:
    """--arch A,B,... with the --personality and --rlimit-stack every one of them gets
    (``vasim plot`` and ``vasim view`` without an input)."""
    p.add_argument("--arch", type=_arch_list, metavar="A,B,...", help=arch_help)
    p.add_argument("--personality", type=_personality, default=Personality(0), metavar="FLAGS",
                   help="personality flags for --arch (ASLR stays off)")
    p.add_argument("--rlimit-stack", type=_rlimit, default=8 << 20, metavar="SIZE",
                   help="RLIMIT_STACK for --arch (default 8M)")


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
COMMAND_MODULES: tuple[str, ...] = ("record", "explain", "view", "sweep")

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



class _VersionAction(argparse.Action):
    """``--version``: the version is looked up only when asked for (reading pyproject.toml or
    the package metadata costs more than the rest of building the parser)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit"):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser._print_message(f"vasim {package_version()}\n", sys.stdout)
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vasim", description="Simulate Linux process address spaces: "
                     "32-bit versus 64-bit, with the kernel's real placement rules.",
                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction)
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
    add_profiles_options(p, "profiles, without a scenario (default x86_64)")
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
    p.add_argument("trace", metavar="TRACE|DIR",
                   help="strace -f output, or a recording directory made by vasim record")
    _add_process_options(p, auto_arch=True)
    p.add_argument("--initial-maps", metavar="FILE",
                   help="/proc/PID/maps or gdb 'info proc mappings' of the first process "
                        "after its first execve")
    p.add_argument("--cwd", metavar="DIR",
                   help="the directory the traced program started in: relative paths in the "
                        "log (./prog) resolve against it (default: the current directory; a "
                        "recording knows its own)")
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
    p.add_argument("--pid-max", type=_ranged(301, 4 * 1024 * 1024), metavar="N",
                   help="kernel.pid_max of the pid namespace (default 32768)")
    p.add_argument("--threads-max", type=_ranged(20, 0x3FFFFFFF), metavar="N",
                   help="kernel.threads-max (default 192739: RAM at boot / 128 KiB)")
    p.add_argument("--pids-max", type=_count, metavar="N",
                   help="pids.max of the process's cgroup, alone in it (default: max)")
    p.add_argument("--tasks", type=_ranged(0, 4 * 1024 * 1024), metavar="N",
                   help="tasks already running besides this process (default 100)")
    p.add_argument("--rlimit-nproc", type=_count, metavar="N",
                   help="RLIMIT_NPROC (default: threads-max / 2, as init has it)")
    p.add_argument("--uid", type=_ranged(0, (1 << 32) - 2), default=1000,
                   help="real uid; RLIMIT_NPROC is not enforced for 0 (default 1000)")
    p.add_argument("--max-map-count", type=_ranged(1, 1 << 31), metavar="N",
                   help="vm.max_map_count (default 65530)")
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
