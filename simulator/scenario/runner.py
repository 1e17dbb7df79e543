"""Running a scenario: build each process, take the steps, check the expectations.

Kernel steps (mmap, munmap, mprotect, mremap, brk, touch, setrlimit, madvise, mlock,
munlock, mlockall, munlockall, mseal, shmat, shmdt, pkey_mprotect) are system calls on the
kernel model; libc steps (pthread_create, pthread_exit, pthread_join, malloc, calloc,
realloc, free, dlopen) run glibc's algorithms, which make their own system calls. Every
step records its result and the events the kernel model logged while it ran.
"""

from __future__ import annotations

import os

import attrs

from simulator.errors import InputError
from simulator.host.files import host_file
from simulator.kernel import events as ev
from simulator.kernel.arch import get_profile
from simulator.kernel.config import GuardMode, KernelConfig, Personality, ProcessConfig
from simulator.kernel.exec import ExecError, empty_address_space, exec_layout
from simulator.kernel.mm import AddressSpace
from simulator.kernel.stack import Fault
from simulator.kernel.uapi import MAP_ANONYMOUS, MAP_PRIVATE, Errno
from simulator.libc.config import GlibcConfig
from simulator.libc.pthread import Thread, ThreadAttr
from simulator.limits import MAX_MAPPINGS, MAX_THREADS
from simulator.scenario.expr import ExprError
from simulator.scenario.spec import Scenario, Step, Variant, check_value
from simulator.units import MiB, PAGE_SIZE

EVENT_KINDS = {
    ev.FixedReplaced: "fixed-replaced", ev.HintIgnored: "hint-ignored",
    ev.TopDownFallback: "topdown-fallback", ev.PlacedInGrowthRoom: "growth-room",
    ev.NoMemory: "enomem", ev.MapCountExceeded: "map-count",
    ev.StackGrowthRefused: "stack-growth-refused", ev.StackGrown: "stack-grown",
    ev.Segfault: "segfault", ev.BrkRefused: "brk-refused", ev.CloneRefused: "clone-refused",
}
COLLISIONS = ("fixed-replaced", "growth-room")


def event_kind(event: ev.Event) -> str:
    return EVENT_KINDS[type(event)]


@attrs.frozen
class StepOutcome:
    step: Step
    iteration: int
    result: object
    #: For ops that place something: its start and length.
    placed: tuple[int, int] | None
    events: tuple[ev.Event, ...]
    failures: tuple[str, ...]
    #: pthread_create: how many threads this step created, and why it stopped.
    threads: int | None = None
    stopped_by: str | None = None
    #: pthread_create: the stack blocks (start, size) of the threads this step created.
    stacks: tuple[tuple[int, int], ...] = ()


@attrs.frozen
class VariantResult:
    variant: Variant
    outcomes: tuple[StepOutcome, ...]
    failures: tuple[str, ...]
    maps: str
    largest_free_gap: int
    map_count: int
    threads: int
    stopped_by: str | None
    mm: AddressSpace = attrs.field(eq=False, repr=False)
    #: The processes fork steps made: (name, final maps text).
    children: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures and all(not o.failures for o in self.outcomes)


@attrs.frozen
class ScenarioResult:
    scenario: Scenario
    variants: tuple[VariantResult, ...]

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.variants)


def kernel_config(spec: dict) -> KernelConfig:
    kwargs = {}
    for key, value in spec.items():
        if key == "stack_guard_gap":
            kwargs["stack_guard_gap_pages"] = value
        elif key == "guard":
            kwargs["guard_mode"] = GuardMode(value)
        else:
            kwargs[key] = value
    return KernelConfig(**kwargs)


def process_config(spec: dict) -> ProcessConfig:
    kwargs = {"personality": spec.get("personality", Personality.ADDR_NO_RANDOMIZE)}
    for key, name in (("rlimit_stack", "rlimit_stack"), ("rlimit_as", "rlimit_as"),
                      ("aslr_seed", "seed"), ("exec_strings", "exec_strings"),
                      ("rlimit_nproc", "rlimit_nproc"), ("uid", "uid"),
                      ("rlimit_memlock", "rlimit_memlock"), ("cap_ipc_lock", "cap_ipc_lock")):
        if key in spec:
            kwargs[name] = spec[key]
    return ProcessConfig(**kwargs)


class _Run:
    """The state of one variant's run: the process, names, open files."""

    def __init__(self, scenario: Scenario, variant: Variant, tick=None):
        from simulator.libc.process import attach_process

        self.scenario = scenario
        #: Called after every step run and every thread created (the CLI's progress line).
        self.tick = tick or (lambda: None)
        self.label = variant.label
        spec = variant.process
        self.profile = get_profile(spec.get("arch", "x86_64"))
        kconfig = kernel_config(dict(scenario.kernel, **spec.get("kernel", {})))
        proc = process_config(spec)
        glibc = GlibcConfig(**dict(scenario.glibc, **spec.get("glibc", {})))
        start = spec.get("start", "program")
        self.kconfig, self.proc, self.glibc = kconfig, proc, glibc
        self.process = None
        try:
            if start == "empty":
                self.mm = empty_address_space(self.profile, kconfig, proc)
            elif start == "maps":
                from simulator.trace.loadmaps import address_space_from_maps
                from simulator.trace.procmaps import read_maps
                path = scenario.resolve_file(spec["maps"])
                self.mm = address_space_from_maps(read_maps(path), self.profile, kconfig=kconfig,
                                                  proc=proc, source=path)
                self.process = attach_process(self.mm, glibc, proc)
            else:
                executable = (scenario.resolve_file(spec["executable"]) if start == "exec"
                              else None)
                try:
                    self.mm, self.process = self.start_program(executable)
                except InputError as err:  # the ELF file's problem, at the scenario's line
                    line, col = scenario.where(("process", "executable"))
                    raise InputError(scenario.path, line, f"executable {err}", col) from None
        except ExecError as err:
            line, col = scenario.where(("process",))
            raise InputError(scenario.path, line, f"{variant.label}: the program cannot start: "
                                                  f"{err}", col) from None
        self.names: dict[str, object] = {}
        #: Pointers malloc, calloc and realloc returned that are not freed yet.
        self.live: set[int] = set()
        self.files: dict[str, object] = {}
        self.thread_count = 0
        #: Threads created so far under each name: "t" numbers them t1, t2, ...
        self.name_counts: dict[str, int] = {}
        self.stopped_by = None
        #: Every process of the run by the name its fork step gave it (None: the scenario's
        #: own): [address space, glibc state, live pointers]. Steps with ``process`` run there.
        self.processes: dict[str | None, list] = {None: [self.mm, self.process, self.live]}

    def start_program(self, executable: str | None):
        """exec of ``executable`` (the modelled program when None) with the run's process
        settings: the layout at exec and, for a dynamically linked one, ld.so's start-up.
        Returns (address space, glibc state or None)."""
        from simulator.libc.process import start_process

        if executable is not None:
            from simulator.host.elf import load_program
            exe, rtld, libs = load_program(executable, self.profile.task_bits)
        else:
            from simulator.programs import typical_process_images
            exe, rtld, libs = typical_process_images(self.profile)
        mm = exec_layout(self.profile, exe.elf, rtld.elf if rtld else None,
                         kconfig=self.kconfig, proc=self.proc)
        process = None
        if rtld is not None:
            process = start_process(mm, exe, rtld, libs, self.glibc, proc=self.proc)
            mm.events.clear()
        return mm, process

    def use_process(self, name: str | None) -> None:
        """Make ``name``'s address space and glibc state the ones steps act on."""
        self.mm, self.process, self.live = self.processes[name]

    def fork(self, step: Step):
        """kernel/fork.c: the child gets ``dup_mmap`` of this address space and glibc's state
        in the child (only the forking thread runs); it is named by the step."""
        from simulator.kernel.fork import dup_mmap

        child_mm = dup_mmap(self.mm)
        child = None
        if self.process is not None:
            forker = self.thread(step) if step.thread else None
            child = self.process.fork(child_mm, forker)
        self.processes[step.name] = [child_mm, child, set(self.live)]
        return 0, None, None, None

    def exec(self, step: Step):
        """fs/exec.c: this process's address space is replaced by a new program's (the
        modelled one, or ``executable``); a failed exec changes nothing."""
        path = step.args.get("executable")
        try:
            mm, process = self.start_program(
                self.scenario.resolve_file(path) if path is not None else None)
        except InputError as err:  # not an ELF file, at the step's line
            self.fail_input(step, "executable", f"executable {err}")
        except ExecError as err:
            self.fail_input(step, "executable" if path else "do",
                            f"the program cannot start: {err}")
        self.mm, self.process, self.live = mm, process, set()
        self.processes[step.process] = [mm, process, self.live]
        return 0, None, None, None

    # -- names --------------------------------------------------------------------------------

    def resolve(self, name: str, attr: str | None) -> int:
        mm = self.mm
        builtins = {"brk": mm.current_brk, "start_brk": mm.start_brk, "mmap_base": mm.mmap_base,
                    "mmap_legacy_base": mm.mmap_legacy_base, "task_size": mm.task_size}
        if name in builtins:
            return builtins[name]
        if name in ("stack", "heap"):
            target = mm.vma_at(mm.start_stack) if name == "stack" else mm.vma_at(mm.start_brk)
            if target is None:
                raise ExprError(f"there is no {name} mapping")
            value = (target.start, target.end - target.start)
        elif name in self.names:
            value = self.names[name]
        else:
            raise ExprError(f"'{name}' is not defined (yet)")
        if isinstance(value, Thread):
            stack = value.stack
            return {None: stack.mem, "stack": stack.mem, "stack_end": stack.mem + stack.size,
                    "guard_end": stack.mem + stack.guard, "start": stack.mem,
                    "end": stack.mem + stack.size, "size": stack.size}[attr]
        if isinstance(value, tuple):
            start, length = value
            return {None: start, "start": start, "end": start + length, "size": length}.get(
                attr, start)
        if not isinstance(value, int):
            raise ExprError(f"'{name}' is {_show(value)}, not a number")
        return value

    def value(self, step: Step, key: str, default=None) -> int:
        """The value of argument ``key``: a size or an address, in range for the profile
        (an unsigned long; 64 bits for a file offset)."""
        expr = step.args.get(key)
        if expr is None:
            return default
        bits = 64 if key == "offset" else self.profile.task_bits
        try:
            return check_value(expr.evaluate(self.resolve), bits)
        except ExprError as err:
            self.fail_input(step, key, str(err))

    def evaluate(self, step: Step, key: str, expr) -> int:
        """An expectation's expression, evaluated after the step ran."""
        try:
            return expr.evaluate(self.resolve)
        except ExprError as err:
            self.fail_input(step, ("expect", key), f"expect.{key}: {err}")

    def fail_input(self, step: Step, key: str | tuple, message: str):
        keys = key if isinstance(key, tuple) else (key,)
        line, col = self.scenario.where(("step", step.index, *keys))
        raise InputError(self.scenario.path, line, f"{self.label}: {step.label}: {message}"
                         if len(self.scenario.variants) > 1 else f"{step.label}: {message}", col)

    def check_bounds(self, step: Step) -> None:
        """The simulator's own bounds (simulator/limits.py): past them the run stops."""
        if self.mm.map_count > MAX_MAPPINGS:
            self.fail_input(step, "do", f"the process holds {self.mm.map_count:,} mappings, "
                                        f"more than vasim builds ({MAX_MAPPINGS:,}; "
                                        "docs/scenarios.md, Limits)")
        if self.thread_count > MAX_THREADS:
            self.fail_input(step, "do", f"more than {MAX_THREADS:,} threads, more than vasim "
                                        "builds (docs/scenarios.md, Limits)")

    def thread(self, step: Step, key: str = "thread"):
        name = step.args.get(key) if key != "thread" else step.thread
        if name is None:
            return self.process.threads.main
        value = self.names.get(name)
        if not isinstance(value, Thread):
            self.fail_input(step, key, f"'{name}' is not a thread")
        return value

    def file(self, step: Step, path: str):
        full = self.existing_file(step, path)
        if full not in self.files:
            self.files[full] = host_file(full)
        return self.files[full]

    def existing_file(self, step: Step, path: str) -> str:
        full = self.scenario.resolve_file(path)
        if not os.path.isfile(full):
            reason = "not a regular file" if os.path.exists(full) else "no such file"
            self.fail_input(step, "file", f"cannot read {path!r}: {reason}")
        return full

    # -- steps --------------------------------------------------------------------------------

    def take(self, step: Step, iteration: int) -> StepOutcome:
        self.use_process(step.process)
        mm = self.mm
        before = len(mm.events)
        self.new_stacks = []
        result, placed, threads, stopped = self.execute(step)
        self.check_bounds(step)
        self.tick()
        events = tuple(mm.events[before:])
        if step.name and step.op not in ("pthread_create",):
            value = placed if placed is not None else result
            if not isinstance(value, Errno):
                self.names[step.name] = value
                if step.repeat > 1:
                    self.names[f"{step.name}{iteration + 1}"] = value
        outcome = StepOutcome(step, iteration, result, placed, events, (), threads, stopped,
                              tuple(self.new_stacks))
        return attrs.evolve(outcome, failures=tuple(self.check_step(outcome)))

    def execute(self, step: Step):
        mm, args, op = self.mm, step.args, step.op
        p = self.process
        call = _CALL_STEPS.get(op)
        if call is not None:
            return call(self, step), None, None, None
        if op == "shmat":
            return self.shmat(step)
        if op == "fork":
            return self.fork(step)
        if op == "exec":
            return self.exec(step)
        if op == "mmap":
            length = self.value(step, "length")
            flags = args.get("flags", MAP_PRIVATE | MAP_ANONYMOUS)
            file = self.file(step, args["file"]) if "file" in args else None
            result = mm.mmap(self.value(step, "addr", 0), length, args.get("prot", 3), flags,
                             file, self.value(step, "offset", 0))
            placed = None if isinstance(result, Errno) else (result, length)
            return result, placed, None, None
        if op == "munmap":
            return mm.munmap(self.value(step, "addr"), self.value(step, "length")), None, None, None
        if op == "mprotect":
            return (mm.mprotect(self.value(step, "addr"), self.value(step, "length"),
                                args["prot"]), None, None, None)
        if op == "mremap":
            new_len = self.value(step, "new_length")
            result = mm.mremap(self.value(step, "addr"), self.value(step, "old_length"), new_len,
                               args.get("flags", 0), self.value(step, "new_addr", 0))
            placed = None if isinstance(result, Errno) else (result, new_len)
            return result, placed, None, None
        if op == "brk":
            return mm.brk(self.value(step, "addr")), None, None, None
        if op == "touch":
            addr = self.value(step, "addr")
            return mm.touch(addr, args.get("access", "write") == "write"), None, None, None
        if op == "setrlimit":
            return mm.setrlimit_stack(args["stack"]), None, None, None
        if op == "pthread_create":
            return self.pthread_create(step)
        if op == "pthread_exit":
            p.threads.exit(self.thread(step))
            return 0, None, None, None
        if op == "pthread_join":
            joiner = self.thread(step) if step.thread else p.threads.main
            return p.threads.join(self.thread(step, "target"), joiner), None, None, None
        if op in ("malloc", "calloc"):
            fn = p.malloc.malloc if op == "malloc" else p.malloc.calloc
            mem = fn(self.thread(step), args["size"])
            if mem is not None:
                self.live.add(mem)
            return (mem if mem is not None else Errno.ENOMEM), None, None, None
        if op == "realloc":
            ptr = self.live_pointer(step)
            mem = p.malloc.realloc(self.thread(step), ptr, args["size"])
            if mem is not None:
                self.live.discard(ptr)
                self.live.add(mem)
                self.names[args["ptr"]] = mem
            return (mem if mem is not None else Errno.ENOMEM), None, None, None
        if op == "free":
            ptr = self.live_pointer(step)
            self.live.discard(ptr)
            del self.names[args["ptr"]]
            p.malloc.free(self.thread(step), ptr)
            return 0, None, None, None
        if op == "dlopen":
            from simulator.host.elf import read_shared_object
            from simulator.libc.ld_so import dlopen
            full = self.existing_file(step, args["file"])
            try:
                obj = read_shared_object(full)
            except InputError as err:  # the file's problem, at the scenario's line
                self.fail_input(step, "file", str(err))
            loaded = dlopen(p, obj)
            if isinstance(loaded, Errno):
                return loaded, None, None, None
            return loaded.l_addr, None, None, None
        raise AssertionError(op)

    def live_pointer(self, step: Step) -> int:
        """The pointer ``ptr`` names, which malloc, calloc or realloc returned and nothing
        freed since (glibc would abort on anything else: "free(): invalid pointer")."""
        ptr = self.names.get(step.args["ptr"])
        if not isinstance(ptr, int) or ptr not in self.live:
            self.fail_input(step, "ptr", f"'{step.args['ptr']}' is not a live pointer from "
                                         "malloc, calloc or realloc")
        return ptr

    def shmat(self, step: Step):
        """shmget(IPC_PRIVATE, size) then shmat: the segment's attach is the step's mapping."""
        size = step.args["size"]
        shmid = self.mm.shmget(0, size, 0o1000 | 0o600)
        if isinstance(shmid, Errno):
            return shmid, None, None, None
        result = self.mm.shmat(shmid, self.value(step, "addr", 0), step.args.get("flags", 0))
        placed = None if isinstance(result, Errno) else (result, size)
        return result, placed, None, None

    def pthread_create(self, step: Step):
        p = self.process
        args = step.args
        attr = ThreadAttr(stacksize=args.get("stack_size", 0),
                          guardsize=args.get("guard_size", PAGE_SIZE),
                          detached=args.get("detached", False))
        creator = self.thread(step)
        count = args.get("count", 1)
        created, result, stopped = 0, 0, None
        while count is None or created < count:
            before = len(self.mm.events)
            thread = p.threads.create(creator, attr)
            if isinstance(thread, Errno):
                result = thread
                stopped = p.threads.failure_reason(thread, self.mm.events[before:])
                break
            created += 1
            self.thread_count += 1
            self.check_bounds(step)
            self.tick()
            self.new_stacks.append((thread.stack.mem, thread.stack.size))
            if step.name:
                number = self.name_counts.get(step.name, 0) + 1
                self.name_counts[step.name] = number
                self.names[f"{step.name}{number}"] = thread
                self.names[step.name] = thread
        if stopped is not None:
            self.stopped_by = stopped
        return result, None, created, stopped

    # -- expectations -------------------------------------------------------------------------

    def check_step(self, o: StepOutcome):
        step = o.step
        expect = dict(step.expect, **step.variant_expect.get(self.label, {}))
        result = o.result
        shown = _show(result)
        if "result" in expect:
            want = expect["result"]
            if isinstance(want, Errno):
                if result is not want:
                    yield f"{step.label}: expected {want.name}, got {shown}"
            else:
                value = self.evaluate(step, "result", want)
                if result != value:
                    yield f"{step.label}: expected {value:#x}, got {shown}"
        if "errno" in expect and result is not expect["errno"]:
            yield f"{step.label}: expected {expect['errno'].name}, got {shown}"
        if "ok" in expect:
            failed = isinstance(result, Errno) or isinstance(result, Fault) and result is not Fault.OK
            if expect["ok"] == failed:
                yield f"{step.label}: expected {'success' if expect['ok'] else 'failure'}, got {shown}"
        if "fault" in expect and str(result) != expect["fault"]:
            yield f"{step.label}: expected {expect['fault']}, got {shown}"
        if "threads" in expect and o.threads != expect["threads"]:
            yield f"{step.label}: expected {expect['threads']} threads, created {o.threads}"
        if "stopped_by" in expect and o.stopped_by != expect["stopped_by"]:
            yield f"{step.label}: expected creation to stop by {expect['stopped_by']!r}, " \
                  f"it stopped by {o.stopped_by!r}"
        if "region" in expect:
            if o.placed is None:
                yield f"{step.label}: expected a mapping in {expect['region']}, got {shown}"
            elif not self.in_region(expect["region"], *o.placed):
                yield f"{step.label}: {o.placed[0]:#x} is not in {expect['region']}"
        if "within" in expect:
            lo, hi = (self.evaluate(step, "within", e) for e in expect["within"])
            start, length = o.placed if o.placed else (result, 0)
            if not isinstance(start, int) or not (lo <= start and start + length <= hi):
                yield f"{step.label}: expected a result within [{lo:#x}, {hi:#x}), got {shown}"
        kinds = {event_kind(e) for e in o.events}
        for kind in expect.get("events", ()):
            if kind not in kinds:
                yield f"{step.label}: expected a {kind} event, none happened"
        for kind in expect.get("no_events", ()):
            if kind in kinds:
                yield f"{step.label}: a {kind} event happened"

    def in_region(self, region: str, start: int, length: int) -> bool:
        mm = self.mm
        end = start + length
        stack = mm.vma_at(mm.start_stack)
        if region == "mmap-area":
            return end <= mm.mmap_base if mm.topdown else start >= mm.mmap_base
        if region == "above-mmap-base":
            return start >= mm.mmap_base
        if region == "below-executable":
            return end <= (mm.exe_start or mm.start_brk)
        if region == "stack-guard-gap":
            return stack is not None and end > stack.start - mm.stack_guard_gap and end <= stack.start
        if region == "stack-growth-room":
            return stack is not None and end > stack.end - mm.rlimit_stack and end <= stack.start
        if region == "32bit-window":
            return start >= 0x40000000 and end <= 0x80000000
        if region == "above-47-bits":
            return start >= 1 << 47
        if region == "heap":
            return start >= mm.start_brk and end <= mm.current_brk
        raise AssertionError(region)

    def finish(self, variant: Variant, outcomes) -> VariantResult:
        self.use_process(None)
        mm = self.mm
        scenario = self.scenario
        expect = dict(scenario.expect, **scenario.variant_expect.get(variant.label, {}))
        failures = []
        all_events = [e for o in outcomes for e in o.events]
        kinds = {event_kind(e) for e in all_events}
        gap = mm.largest_free_gap()
        if "maps" in expect:  # the text: spec.load read a file it names
            if mm.maps_text().strip() != expect["maps"].strip():
                failures.append(f"{variant.label}: the final maps differ from the expected ones")
        if "threads" in expect and self.thread_count != expect["threads"]:
            failures.append(f"{variant.label}: expected {expect['threads']} threads, "
                            f"{self.thread_count} were created")
        bound = expect.get("largest_free_gap")
        if bound is not None:
            ok = (gap == bound["exact"] if "exact" in bound else
                  bound.get("at_least", 0) <= gap <= bound.get("at_most", gap))
            if not ok:
                failures.append(f"{variant.label}: largest free gap is {gap:#x}, outside {bound}")
        if "map_count" in expect and mm.map_count != expect["map_count"]:
            failures.append(f"{variant.label}: map_count is {mm.map_count}, "
                            f"expected {expect['map_count']}")
        if expect.get("no_collisions"):
            for kind in COLLISIONS:
                if kind in kinds:
                    failures.append(f"{variant.label}: a {kind} collision happened")
        for kind in expect.get("events", ()):
            if kind not in kinds:
                failures.append(f"{variant.label}: expected a {kind} event, none happened")
        for kind in expect.get("no_events", ()):
            if kind in kinds:
                failures.append(f"{variant.label}: a {kind} event happened")
        if "stopped_by" in expect and self.stopped_by != expect["stopped_by"]:
            failures.append(f"{variant.label}: thread creation stopped by {self.stopped_by!r}, "
                            f"expected {expect['stopped_by']!r}")
        children = tuple((name, state[0].maps_text()) for name, state in self.processes.items()
                         if name is not None)
        return VariantResult(variant, tuple(outcomes), tuple(failures), mm.maps_text(), gap,
                             mm.map_count, self.thread_count, self.stopped_by, mm, children)


def _show(result) -> str:
    if isinstance(result, Errno):
        return result.name
    if isinstance(result, Fault):
        return str(result)
    if isinstance(result, int):
        return hex(result)
    return str(result)


def run(scenario: Scenario, variants: tuple[Variant, ...] | None = None,
        tick=None, observe=None) -> ScenarioResult:
    """Run every variant (process) of the scenario. ``tick()``, if given, is called after
    every step run and every thread created (for a progress line); the simulator's bounds
    (simulator/limits.py) stop a run that passes them with an InputError.
    ``observe(variant, outcome, mm)``, when given, is called before the first step
    (``outcome`` None) and after every step's every repeat: what the timeline figure and
    `vasim view` draw from."""
    results = []
    for variant in variants or scenario.variants:
        state = _Run(scenario, variant, tick)
        outcomes = []
        if observe is not None:
            observe(variant, None, state.mm)
        for step in scenario.steps:
            for iteration in range(step.repeat):
                outcomes.append(state.take(step, iteration))
                if observe is not None:
                    observe(variant, outcomes[-1], state.mm)
        results.append(state.finish(variant, outcomes))
    return ScenarioResult(scenario, tuple(results))


__all__ = ["run", "ScenarioResult", "VariantResult", "StepOutcome", "MiB"]


def _range(run: _Run, step: Step) -> tuple[int, int]:
    return run.value(step, "addr"), run.value(step, "length")


#: Kernel steps that are one system call with no mapping to name: op -> call.
_CALL_STEPS = {
    "madvise": lambda r, s: r.mm.madvise(*_range(r, s), s.args["advice"]),
    "mlock": lambda r, s: r.mm.mlock(*_range(r, s), 1 if s.args.get("onfault") else None),
    "munlock": lambda r, s: r.mm.munlock(*_range(r, s)),
    "mlockall": lambda r, s: r.mm.mlockall(s.args["flags"]),
    "munlockall": lambda r, s: r.mm.munlockall(),
    "mseal": lambda r, s: r.mm.mseal(*_range(r, s)),
    "shmdt": lambda r, s: r.mm.shmdt(r.value(s, "addr")),
    "pkey_mprotect": lambda r, s: r.mm.pkey_mprotect(*_range(r, s), s.args["prot"],
                                                      s.args["pkey"]),
}
