"""``vasim record``: run a program the way replay needs it, and save what a trace cannot show.

The recording machinery (strace delay injection, /proc snapshots) is
:mod:`simulator.trace.record`; the directory format is :mod:`simulator.trace.recording`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
from pathlib import Path

from simulator.errors import InputError
from simulator.units import PAGE_SIZE, RLIM_INFINITY

EPILOG = """\
examples:
  vasim record -o ls.rec -- ls -la /usr/lib
  vasim record -o prog32.rec --32bit --3gb --rlimit-stack unlimited -- ./prog32
  vasim record -o build.rec -- gcc -c hello.c        # forks cc1 and as: each process recorded
  vasim replay ls.rec                                 # every call and every final map compared

The program runs under `setarch ARCH -R [--3gb] [-L] strace -f -y`, in this directory, with
this environment, stdin from /dev/null, its output on this terminal. ASLR is off (the exec of
a set-uid program such as su or mount turns it back on, as the kernel does; meta.json's
personality shows it and replay follows). Every
process is held for 1 s at the end of each execve and 2 s on entry to exit_group while its
/proc/PID/maps is read, so a run takes a few seconds longer than usual.

DIR holds: trace.txt (the strace log; .gz when large), initial.maps (the program at the end of
its execve), exec-PID-K.maps (every later exec), final.maps and final-PID.maps (each process
on entry to exit_group, forks included), files.json (path, device, inode, size and file-system
type of every file mapped; program headers of every exec'd binary and interpreter) and
meta.json (command, personality, RLIMIT_STACK, the ids, capabilities and resource limits at
the first exec, kernel and vasim versions).
"""


def add_parser(sub) -> argparse.ArgumentParser:
    from simulator.cli import _rlimit

    p = sub.add_parser("record", help="run a program under strace and save a recording",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Record a program for `vasim replay DIR`: its strace -f log, "
                                   "the kernel's maps at every exec and at each process's exit, "
                                   "and the facts of every file it maps.")
    p.add_argument("-o", "--output", default="vasim-recording", metavar="DIR",
                   help="recording directory (default: vasim-recording; must not hold one)")
    p.add_argument("--32bit", dest="arch32", action="store_true",
                   help="32-bit personality (setarch i686: PER_LINUX32), for -m32 programs")
    p.add_argument("--3gb", dest="addr_3gb", action="store_true",
                   help="ADDR_LIMIT_3GB: 32-bit processes get 3 GiB (setarch --3gb)")
    p.add_argument("-L", "--addr-compat-layout", dest="legacy", action="store_true",
                   help="ADDR_COMPAT_LAYOUT: the legacy bottom-up layout (setarch -L)")
    p.add_argument("--rlimit-stack", type=_rlimit, default=None, metavar="SIZE",
                   help="soft RLIMIT_STACK for the program: 8M, unlimited... (default: this "
                        "shell's)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- PROG ARGS",
                   help="the program and its arguments")
    p.set_defaults(func=cmd_record)
    return p


def cmd_record(args) -> int:
    from simulator.trace.record import RecordError, run_traced, setarch_args, write_recording

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise InputError("vasim record", None, "no program given (vasim record -- PROG ARGS)")
    out = Path(args.output)
    if (out / "files.json").exists() or (out.exists() and not out.is_dir()):
        raise InputError(str(out), None, "already exists; choose another -o DIR")
    setarch = setarch_args(arch32=args.arch32, addr_3gb=args.addr_3gb, legacy=args.legacy)
    rlimit = args.rlimit_stack
    if rlimit is None:
        soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
        rlimit = RLIM_INFINITY if soft == resource.RLIM_INFINITY else soft
    cwd = os.getcwd()
    try:
        run = run_traced(command, setarch,
                         rlimit_stack=resource.RLIM_INFINITY if rlimit == RLIM_INFINITY
                         else rlimit, cwd=cwd)
    except RecordError as err:
        raise InputError(command[0], None, str(err)) from None
    meta = write_recording(run, out, {
        "command": command,
        "cwd": cwd,
        "setarch": setarch[1:],
        "rlimit_stack": "unlimited" if rlimit == RLIM_INFINITY else rlimit,
        "vasim_version": vasim_version(),
        "strace_command": shlex.join(setarch + ["strace", "-f", "-y", "-o", "trace.txt"]
                                     + command),
    }, cwd=cwd)
    finals = len(meta["processes"]) - len(meta["no_final_maps"])
    count = len(meta["processes"])
    print(f"recorded {shlex.join(command)} in {out}/: {count} process{'es' if count != 1 else ''}, "
          f"final maps of {finals}, exit status {meta['exit_status']}")
    for note in meta["notes"]:
        print(f"note: {note}")
    if meta["no_final_maps"]:
        print("note: no final maps of pid " + ", ".join(map(str, meta["no_final_maps"]))
              + " (it did not call exit_group: killed, or its last thread called exit)")
    return 0


def vasim_version() -> str:
    try:
        from importlib.metadata import version
        return version("vasim")
    except Exception:  # noqa: BLE001 - not installed: the source tree's own version
        return "0.1.0"


def recording_process_config(meta: dict, personality, rlimit_stack):
    """Profile name and ProcessConfig of a recording: its meta.json's arch, personality and
    RLIMIT_STACK; ``personality`` flags are added, an ``rlimit_stack`` other than the CLI's
    default (8M) replaces the recorded one. The recorded personality is /proc/PID/personality
    at the first exec: without ADDR_NO_RANDOMIZE there (setarch -R's flag cleared by the
    exec of a set-uid file, fs/exec.c ``bprm_fill_uid``: PER_CLEAR_ON_SETID) that process
    and its children ran with ASLR on; a recording without that reading is taken as ASLR off."""
    from simulator.kernel.config import Personality, ProcessConfig

    recorded = Personality(0)
    for name in meta.get("personality") or ():
        if name in Personality.__members__:
            recorded |= Personality[name]
    if meta.get("personality_raw") is None:
        recorded |= Personality.ADDR_NO_RANDOMIZE
    limit = meta.get("rlimit_stack")
    limit = 8 << 20 if limit is None else limit
    limit = RLIM_INFINITY if limit == "unlimited" else int(limit)
    if rlimit_stack is not None and rlimit_stack != 8 << 20:
        limit = rlimit_stack
    return meta.get("arch") or "x86_64", ProcessConfig(
        personality=recorded | personality, rlimit_stack=limit)


def _recorded_bases(mm, rec) -> None:
    """With ASLR on at the first exec (a set-uid program under setarch -R): the random bases
    the initial maps do not show. The kernel's ``mm->start_brk`` (/proc/PID/stat field 47,
    saved as meta.json ``stat_mm_initial``; ``arch_randomize_brk``), and the mmap base: the
    end of the interpreter's image, which binfmt_elf mapped first, top-down from
    ``mm->mmap_base`` (found at auxv AT_BASE)."""
    if not mm.randomize:
        return
    auxv = rec.meta.get("auxv")
    base = auxv.get("AT_BASE") if isinstance(auxv, dict) else None
    names = {e.name for e in rec.initial_maps if isinstance(base, str) and e.start == _hex(base)}
    if mm.topdown and len(names) == 1 and "" not in names:
        mm.mmap_base = max(e.end for e in rec.initial_maps if e.name in names)
    stat = rec.meta.get("stat_mm_initial")
    start = stat.get("start_brk") if isinstance(stat, dict) else None
    if not isinstance(start, str) or mm.current_brk != mm.start_brk:
        return
    value = _hex(start)
    if not 0 < value < mm.task_size or value % PAGE_SIZE:
        raise InputError(str(rec.directory / "meta.json"), None,
                         f"stat_mm_initial start_brk {start[:40]!r} is not a page address")
    mm.start_brk = mm.current_brk = value


def _hex(text: str) -> int:
    """``0x7f..`` as a number; -1 if it is not one."""
    try:
        return int(text, 16) if len(text) <= 18 else -1
    except ValueError:
        return -1


def simulated_finals(result, root_pid) -> dict:
    """pid -> the model's final maps text: one per process where replay follows processes,
    else the traced program's first process."""
    processes = getattr(result, "processes", None)
    if processes:
        return {p.pid: p.maps for p in processes}
    return {root_pid: result.maps}


def cmd_replay_recording(args) -> int:
    """``vasim replay DIR``: replay with the recording's own file facts, then compare every
    process's final maps."""
    import json as _json

    from simulator.kernel.arch import get_profile
    from simulator.kernel.config import KernelConfig
    from simulator.trace.recording import comparable_maps, load_recording, mapped_paths
    from simulator.trace.replay import initial_address_space, replay
    from simulator.trace.replay_creds import initial_credentials, initial_rlimits

    rec = load_recording(args.trace)
    arch, proc = recording_process_config(rec.meta, args.personality, args.rlimit_stack)
    try:  # the first process's ids, capabilities and limits (replay_creds)
        creds = initial_credentials(rec.meta)
        rlimits = initial_rlimits(rec.meta, proc.rlimit_stack)
    except (ValueError, TypeError, AttributeError) as err:
        raise InputError(str(rec.directory / "meta.json"), None,
                         f"unreadable creds or rlimits: {err}") from None
    profile = get_profile(arch if args.arch == "auto" else args.arch)
    try:  # whole-program replay (exec, fork, personality, ASLR inference) where present
        from simulator.trace.replay import Replay  # noqa: F401
    except ImportError:
        Replay = None
    if rec.initial_maps is None and Replay is not None:
        # A raw log (no maps taken): replay builds each exec from the recorded ELF facts and
        # follows the log's own personality() calls.
        result = replay(rec.trace, None, files=rec.files, rlimit_stack=proc.rlimit_stack,
                        profile=profile if args.arch != "auto" else None,
                        profile_forced=args.arch != "auto", creds=creds, rlimits=rlimits)
    else:
        mm = initial_address_space(rec.trace, profile, proc, KernelConfig(), rec.initial_maps,
                                   str(rec.directory / "initial.maps"), files=rec.files)
        _recorded_bases(mm, rec)
        result = replay(rec.trace, mm, files=rec.files, rlimit_stack=proc.rlimit_stack,
                        creds=creds, rlimits=rlimits)
    simulated = simulated_finals(result, rec.root_pid)
    finals = {}
    for pid, recorded in sorted(rec.final_maps.items()):
        if pid not in simulated:
            finals[pid] = "not replayed"  # replay here follows the first process only
        else:
            finals[pid] = ("match" if comparable_maps(simulated[pid]) == comparable_maps(recorded)
                           else "differ")
    # A process whose calls were not replayed has not been shown to match.
    diverged = (result.first_divergence is not None
                or any(status != "match" for status in finals.values()))
    mapped, execs = mapped_paths(rec.trace)
    missing = sorted(rec.files.missing & set(mapped + execs))
    if args.json:
        out = result.to_json()
        out["final_maps"] = {str(pid): status for pid, status in finals.items()}
        out["missing_facts"] = missing
        print(_json.dumps(out))
        return 1 if diverged else 0
    print(f"replayed {result.total} calls from {rec.trace_name} as {profile.name} "
          f"({result.skipped} other lines skipped)")
    print(f"matched {result.matched} of {result.total}")
    first = result.first_divergence
    if first is not None:
        print(f"first divergence at {rec.trace_name}:{first.line}: {first.text}")
        print(f"  recorded {first.recorded}, simulated {first.simulated}")
    for pid, status in finals.items():
        name = "final.maps" if pid == rec.root_pid else f"final-{pid}.maps"
        print(f"final maps of pid {pid} ({name}): {status}")
    print(f"file facts: {rec.directory / 'files.json'} (none read from this machine)"
          + (f"; none recorded of {len(missing)} mapped files (given device 00:00, inode 0): "
             + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "") if missing else ""))
    return 1 if diverged else 0
