"""Scenario results as sentences (for a terminal) and as JSON (the same content)."""

from __future__ import annotations

import textwrap

from simulator.kernel import events as ev
from simulator.kernel.stack import Fault
from simulator.kernel.uapi import Errno
from simulator.scenario.runner import ScenarioResult, StepOutcome, VariantResult, event_kind
from simulator.units import format_size

WIDTH = 100


def _region(r: ev.Region) -> str:
    name = r.name or "anonymous memory"
    return f"{name} ({r.perms} {r.start:#x}-{r.end:#x})"


def describe_event(e: ev.Event) -> str:
    """One event in words, with addresses and sizes."""
    if isinstance(e, ev.FixedReplaced):
        parts = "; ".join(_region(r) for r in e.destroyed)
        return (f"MAP_FIXED at {e.addr:#x} ({format_size(e.length)}) silently destroyed what "
                f"was there: {parts}")
    if isinstance(e, ev.HintIgnored):
        return f"the hint {e.hint:#x} was not honoured ({e.reason}); the mapping went to {e.result:#x}"
    if isinstance(e, ev.TopDownFallback):
        return (f"no room below mmap_base for {format_size(e.length)}: the top-down search fell "
                f"back to bottom-up and placed it at {e.result:#x}")
    if isinstance(e, ev.PlacedInGrowthRoom):
        where = "inside the stack guard gap of" if e.inside_guard_gap else "in the growth room of"
        return (f"the mapping at {e.addr:#x} ({format_size(e.length)}) lies {where} "
                f"{_region(e.stack)}")
    if isinstance(e, ev.NoMemory):
        return (f"{e.syscall} of {format_size(e.length)} failed with ENOMEM: the largest free "
                f"gap left is {format_size(e.largest_gap)}")
    if isinstance(e, ev.MapCountExceeded):
        return (f"vm.max_map_count ({e.max_map_count}) reached with {e.map_count} mappings: "
                f"{e.syscall} refused with ENOMEM")
    if isinstance(e, ev.StackGrowthRefused):
        why = {"guard-gap": "it would come within the stack guard gap of "
                            + (_region(e.neighbour) if e.neighbour else "the mapping below"),
               "rlimit": "RLIMIT_STACK would be exceeded",
               "mmap_min_addr": "it would go below mmap_min_addr",
               "address-space": "RLIMIT_AS or the VMA's offset would be exceeded"}[e.reason]
        return f"the access at {e.addr:#x} could not grow {_region(e.stack)}: {why} (SIGSEGV)"
    if isinstance(e, ev.StackGrown):
        return f"the stack grew from {e.old_start:#x} down to {e.new_start:#x} for the access at {e.addr:#x}"
    if isinstance(e, ev.Segfault):
        reason = {"permission": "the page does not allow it (a PROT_NONE guard?)"}.get(e.reason,
                                                                                      e.reason)
        return f"{'write' if e.write else 'read'} at {e.addr:#x} faults: {reason}"
    if isinstance(e, ev.BrkRefused):
        blocker = f"; the heap meets {_region(e.blocker)}" if e.blocker else ""
        return f"brk to {e.requested:#x} refused, the break stays at {e.current:#x} ({e.reason}{blocker})"
    if isinstance(e, ev.CloneRefused):
        return f"clone refused a new task with EAGAIN: the {TASK_LIMIT_WORDS[e.limit]} is reached"
    return repr(e)


#: The task limits as the kernel's users know them (kernel/fork.c copy_process).
TASK_LIMIT_WORDS = {"rlimit_nproc": "RLIMIT_NPROC of the user", "threads_max":
                    "system-wide kernel.threads-max", "pid_max": "pid namespace's kernel.pid_max",
                    "pids_max": "cgroup's pids.max"}


def show_result(o: StepOutcome) -> str:
    r = o.result
    if o.threads is not None:
        text = f"{o.threads} thread{'s' if o.threads != 1 else ''} created"
        if o.stacks:
            low = min(start for start, _ in o.stacks)
            high = max(start + size for start, size in o.stacks)
            size = o.stacks[0][1]
            text += (f", stacks of {format_size(size)} in {low:#x}-{high:#x}" if len(o.stacks) > 1
                     else f", stack at {low:#x}-{high:#x} ({format_size(size)})")
        if o.stopped_by:
            text += f"; the next failed with {r.name if isinstance(r, Errno) else r} ({o.stopped_by})"
        return text
    if isinstance(r, Errno):
        return r.name
    if isinstance(r, Fault):
        return str(r)
    if isinstance(r, int):
        if o.placed is not None:
            return f"{r:#x}-{r + o.placed[1]:#x} ({format_size(o.placed[1])})"
        return hex(r) if r else "0"
    return str(r)


def _grouped(events):
    """Events with runs of the same kind folded: (first event, how many)."""
    out = []
    for e in events:
        if out and type(out[-1][0]) is type(e):
            out[-1][1] += 1
        else:
            out.append([e, 1])
    return [(e, n) for e, n in out]


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def variant_text(v: VariantResult, *, quiet: bool = False, maps: bool = False) -> list[str]:
    lines = []
    previous = None
    for o in v.outcomes:
        repeat = f" #{o.iteration + 1}" if o.step.repeat > 1 else ""
        important = o.events or o.failures or not quiet
        if important and (o.step.repeat == 1 or o.iteration < 3 or o.failures or o.events
                          or o.iteration == o.step.repeat - 1):
            if o.step.repeat > 3 and o.iteration == o.step.repeat - 1 and previous is not None \
                    and previous.iteration < o.iteration - 1:
                lines.append("    ...")
            lines += _wrap(f"{o.step.label}{repeat}: {show_result(o)}", "  ")
            for e, count in _grouped(o.events):
                if isinstance(e, ev.StackGrown) and quiet:
                    continue
                text = describe_event(e)
                if count > 1:
                    text += f" (and {count - 1} more {event_kind(e)} events like it in this step)"
                lines += _wrap(f"- {text}", "    ")
            for failure in o.failures:
                lines += _wrap(f"! FAILED: {failure}", "    ")
            previous = o
    lines.append(f"  end: {v.threads} threads, {v.map_count} mappings, largest free gap "
                 f"{format_size(v.largest_free_gap)}")
    for failure in v.failures:
        lines += _wrap(f"! FAILED: {failure}", "  ")
    for name, text in v.children:
        lines.append(f"  process {name} (forked): {len(text.splitlines())} mappings")
    if maps:
        lines.append("")
        lines += ["  " + line for line in v.maps.splitlines()]
        for name, text in v.children:
            lines += ["", f"  process {name}:"] + ["  " + line for line in text.splitlines()]
    return lines


def text_report(result: ScenarioResult, *, quiet: bool = False, maps: bool = False) -> str:
    s = result.scenario
    lines = [f"{s.path}: {s.title}"]
    if s.question and not quiet:
        lines += _wrap(s.question, "  ")
    for v in result.variants:
        lines.append(f"[{v.variant.label}]")
        lines += variant_text(v, quiet=quiet, maps=maps)
    verdict = "every expectation held" if result.ok else "SOME EXPECTATIONS FAILED"
    lines.append(f"{verdict}.")
    return "\n".join(lines)


def compare_report(result: ScenarioResult) -> str:
    """The steps' results side by side, one column per process."""
    s = result.scenario
    labels = [v.variant.label for v in result.variants]
    rows = []
    for index, outcome in enumerate(result.variants[0].outcomes):
        row = [f"{outcome.step.label}" + (f" #{outcome.iteration + 1}" if outcome.step.repeat > 1 else "")]
        for v in result.variants:
            row.append(show_result(v.outcomes[index]) if index < len(v.outcomes) else "")
        rows.append(row)
    rows.append(["threads"] + [str(v.threads) for v in result.variants])
    rows.append(["largest free gap"] + [format_size(v.largest_free_gap) for v in result.variants])
    rows.append(["expectations"] + ["held" if v.ok else "FAILED" for v in result.variants])
    header = ["" ] + labels
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    out = [f"{s.path}: {s.title}", fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*row) for row in rows]
    for v in result.variants:
        for failure in v.failures + tuple(f for o in v.outcomes for f in o.failures):
            out.append(f"! FAILED: {failure}")
    return "\n".join(out)


def json_report(result: ScenarioResult) -> dict:
    s = result.scenario
    return {
        "scenario": s.path, "title": s.title, "question": s.question, "ok": result.ok,
        "processes": [{
            "label": v.variant.label,
            "ok": v.ok,
            "steps": [{
                "step": o.step.index + 1, "op": o.step.op, "name": o.step.name,
                "iteration": o.iteration + 1,
                "result": _json_result(o.result),
                "placed": {"start": o.placed[0], "length": o.placed[1]} if o.placed else None,
                "threads": o.threads, "stopped_by": o.stopped_by,
                "events": [{"kind": event_kind(e), "text": describe_event(e)} for e in o.events],
                "failures": list(o.failures),
            } for o in v.outcomes],
            "threads": v.threads, "stopped_by": v.stopped_by,
            "largest_free_gap": v.largest_free_gap, "map_count": v.map_count,
            "failures": list(v.failures), "maps": v.maps,
            "children": [{"name": name, "maps": text} for name, text in v.children],
        } for v in result.variants],
    }


def _json_result(r):
    if isinstance(r, Errno):
        return r.name
    if isinstance(r, Fault):
        return str(r)
    return r
