"""Reading a scenario file: TOML in, a checked :class:`Scenario` out, or one clear error.

Every problem is reported as ``FILE:LINE:COL: message`` (an :class:`InputError`): malformed
TOML, unknown keys (with the nearest valid one), wrong types, values out of range, names that
no earlier step defines, files that cannot be read. The reference for every key is
docs/scenarios.md; the tables below are the single source of truth for what is accepted.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib

import attrs

from simulator.errors import InputError
from simulator.kernel.arch import PROFILES
from simulator.kernel.config import Personality
from simulator.kernel.madvise import MADV_NAMES
from simulator.kernel.mlock import MCL_NAMES
from simulator.kernel.shm import SHM_NAMES
from simulator.kernel.versions import RULES as KERNEL_VERSIONS
from simulator.kernel.uapi import MAP_NAMES, MREMAP_NAMES, PROT_NAMES, Errno
from simulator.limits import (
    MAX_NUMBER_DIGITS, MAX_PROCESSES, MAX_SCENARIO_BYTES, MAX_STEP_RUNS, MAX_THREADS, MAX_VALUE,
)
from simulator.scenario.expr import BUILTINS, Expr, ExprError, parse
from simulator.scenario.locate import locate, position
from simulator.units import RLIM_INFINITY, format_size, parse_size


class SpecError(Exception):
    """A problem with the value at ``path`` (turned into an InputError with its position)."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


# -- value checkers: raw TOML value -> typed value, or SpecError ---------------------------------

def _size(path, value, *, unlimited=False):
    if isinstance(value, bool):
        raise SpecError(path, f"'{path[-1]}' must be a size such as 4096 or \"8M\", not {value}")
    if isinstance(value, str):
        try:
            value = parse_size(value, allow_unlimited=unlimited)
        except ValueError as err:
            raise SpecError(path, f"'{path[-1]}': {err}") from None
    if isinstance(value, int):
        if value < 0:
            raise SpecError(path, f"'{path[-1]}' must not be negative")
        if value > MAX_VALUE:
            raise SpecError(path, f"'{path[-1]}' does not fit in 64 bits")
        return value
    raise SpecError(path, f"'{path[-1]}' must be a size such as 4096 or \"8M\"")


def _int(lo=None, hi=None):
    def check(path, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(path, f"'{path[-1]}' must be an integer, not {value!r}")
        if lo is not None and value < lo or hi is not None and value > hi:
            bounds = f"from {lo}" + (f" to {hi}" if hi is not None else "")
            raise SpecError(path, f"'{path[-1]}' must be {bounds}, not {value}")
        return value
    return check


def _bool(path, value):
    if not isinstance(value, bool):
        raise SpecError(path, f"'{path[-1]}' must be true or false, not {value!r}")
    return value


def _str(path, value):
    if not isinstance(value, str):
        raise SpecError(path, f"'{path[-1]}' must be a string, not {value!r}")
    return value


def _choice(*options):
    def check(path, value):
        if value not in options:
            near = difflib.get_close_matches(str(value), options, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise SpecError(path, f"'{path[-1]}' must be one of {', '.join(map(repr, options))}, "
                                  f"not {value!r}{hint}")
        return value
    return check


def _arch(path, value):
    _str(path, value)
    return _choice(*PROFILES)(path, value)


def _personality(path, value):
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    _str(path, value)
    try:
        return Personality.parse(value)
    except ValueError as err:
        raise SpecError(path, str(err)) from None


def _expr(path, value):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SpecError(path, f"'{path[-1]}' must be an address or size expression, not {value!r}")
    try:
        expr = parse(value)
        if not expr.names:  # a constant: checked now rather than when the step runs
            check_value(expr.evaluate(None))
    except ExprError as err:
        raise SpecError(path, f"'{path[-1]}': {err}") from None
    return expr


def check_value(value: int, bits: int = 64) -> int:
    """A size or an address as a system call takes it: an unsigned long of ``bits`` bits
    (the profile's pointer width once it is known). Raises ExprError otherwise."""
    if value < 0:
        raise ExprError(f"{value:#x} is negative (sizes and addresses are unsigned)")
    if value >> bits:
        raise ExprError(f"{value:#x} does not fit in an unsigned long of {bits} bits")
    return value


def _flag_names(table: dict, prefix: str):
    def check(path, value):
        if isinstance(value, bool):
            raise SpecError(path, f"'{path[-1]}' must be flag names such as \"{prefix}READ\"")
        if isinstance(value, int):
            return value
        parts = value if isinstance(value, list) else re.split(r"[|,\s]+", str(value).strip())
        result = 0
        for part in filter(None, (str(p).strip() for p in parts)):
            name = part.upper()
            if not name.startswith(prefix):
                name = prefix + name
            if name not in table:
                near = difflib.get_close_matches(name, table, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise SpecError(path, f"unknown flag {part!r}{hint}")
            result |= table[name]
        return result
    return check


_prot = _flag_names(PROT_NAMES, "PROT_")
_map_flags = _flag_names(MAP_NAMES, "MAP_")
_mremap_flags = _flag_names(MREMAP_NAMES, "MREMAP_")
_mcl_flags = _flag_names(MCL_NAMES, "MCL_")
_shm_flags = _flag_names(SHM_NAMES, "SHM_")
_madvice_names = _flag_names(MADV_NAMES, "MADV_")


def _madvice(path, value):
    """One advice: a name ("DONTDUMP", "MADV_DONTDUMP") or its number."""
    if isinstance(value, list) or (isinstance(value, str) and re.search(r"[|,\s]", value.strip())):
        raise SpecError(path, "'advice' is one advice, such as \"MADV_DONTDUMP\"")
    return _madvice_names(path, value)


def _file(path, value):
    _str(path, value)
    if not value or "\0" in value:
        raise SpecError(path, f"'{path[-1]}' must be a file name (not empty, no NUL byte)")
    return value


def _name(path, value):
    _str(path, value)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise SpecError(path, f"'{path[-1]}' must be a name made of letters, digits and _")
    if value in BUILTINS:
        raise SpecError(path, f"{value!r} is a built-in name; choose another")
    return value


def _count(path, value):
    if value == "until-failure":
        return None
    return _int(1, MAX_THREADS)(path, value)


def _result(path, value):
    """An expected result: an errno name, or an address/number expression."""
    if isinstance(value, str) and value.strip().upper() in Errno.__members__:
        return Errno[value.strip().upper()]
    return _expr(path, value)


def _errno(path, value):
    _str(path, value)
    if value.upper() not in Errno.__members__:
        near = difflib.get_close_matches(value.upper(), Errno.__members__, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise SpecError(path, f"unknown errno {value!r}{hint}")
    return Errno[value.upper()]


EVENT_KINDS = ("fixed-replaced", "hint-ignored", "topdown-fallback", "growth-room", "enomem",
               "map-count", "stack-growth-refused", "stack-grown", "segfault", "brk-refused",
               "clone-refused")
REGIONS = ("mmap-area", "above-mmap-base", "below-executable", "stack-guard-gap",
           "stack-growth-room", "32bit-window", "above-47-bits", "heap")


def _events(path, value):
    if not isinstance(value, list):
        raise SpecError(path, f"'{path[-1]}' must be a list of event kinds")
    return tuple(_choice(*EVENT_KINDS)(path, v) for v in value)


def _within(path, value):
    if not isinstance(value, list) or len(value) != 2:
        raise SpecError(path, f"'{path[-1]}' must be [low, high]")
    return tuple(_expr(path, v) for v in value)


def _gap_bound(path, value):
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if key not in ("at_least", "at_most"):
                raise SpecError(path + (key,), _unknown(key, ("at_least", "at_most")))
            out[key] = _size(path + (key,), v)
        return out
    return {"exact": _size(path, value)}


def _maps_text(path, value):
    return _str(path, value)


#: Words people use for a key that is spelled otherwise here (only for the hint).
_SYNONYMS = {"profile": "arch", "architecture": "arch", "seed": "aslr_seed",
             "stack_rlimit": "rlimit_stack", "ulimit_s": "rlimit_stack", "size": "length",
             "len": "length", "address": "addr", "error": "errno"}


def _unknown(key, allowed) -> str:
    near = difflib.get_close_matches(key, list(allowed), n=1)
    synonym = _SYNONYMS.get(key.lower().replace("-", "_"))
    if synonym in allowed:
        near = [synonym]
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return f"unknown key {key!r}{hint}"


PROCESS_KEYS = {
    "arch": _arch, "personality": _personality,
    "rlimit_stack": lambda p, v: _size(p, v, unlimited=True),
    "rlimit_as": lambda p, v: _size(p, v, unlimited=True),
    "aslr_seed": _int(0), "start": _choice("program", "empty", "maps", "exec"),
    "maps": _file, "executable": _file, "exec_strings": _int(0, 1 << 30), "label": _str,
    "rlimit_nproc": lambda p, v: RLIM_INFINITY if v == "unlimited" else _int(0)(p, v),
    "uid": _int(0, (1 << 32) - 2),
    "rlimit_memlock": lambda p, v: _size(p, v, unlimited=True), "cap_ipc_lock": _bool,
}
#: In [compare] process tables only: kernel knobs or glibc settings for that process.
COMPARE_PROCESS_KEYS = dict(PROCESS_KEYS,
                            kernel=lambda p, v: _table(v, p, KERNEL_KEYS),
                            glibc=lambda p, v: _table(v, p, GLIBC_KEYS))
KERNEL_KEYS = {
    "stack_guard_gap": _int(0, 1 << 20), "guard": _choice("gap", "page"),
    "mmap_min_addr": _int(0, 1 << 32), "lsm_mmap_min_addr": _int(0, 1 << 32),
    "legacy_va_layout": _int(0, 1), "randomize_va_space": _int(0, 2),
    "max_map_count": _int(1, 1 << 31), "thp": _bool, "mmap_rnd_bits": _int(0, 40),
    "mmap_rnd_compat_bits": _int(0, 40), "overcommit_memory": _int(0, 2), "cap_sys_rawio": _bool,
    "totalram_pages": _int(1, 1 << 52), "total_swap_pages": _int(0, 1 << 52),
    # Task limits (kernel/fork.c copy_process): kernel/pid.c pid_max_min .. PID_MAX_LIMIT,
    # MIN_THREADS .. MAX_THREADS, any pids.max, tasks already running.
    "pid_max": _int(301, 4 * 1024 * 1024), "threads_max": _int(20, 0x3FFFFFFF),
    "pids_max": _int(0, 1 << 62), "tasks": _int(0, 4 * 1024 * 1024),
    "pkeys": _bool, "ksm": _bool, "swap": _bool,
    "version": _choice(*KERNEL_VERSIONS),
}
GLIBC_KEYS = {
    "version": _choice("2.36", "2.42"), "ncpu": _int(1, 4096), "top_pad": _size,
    "mmap_threshold": _size, "trim_threshold": _size, "arena_max": _int(1, 1 << 20),
    "stack_cache_size": _size, "ld_so_cache_size": _size,
}
STEP_EXPECT_KEYS = {
    "result": _result, "errno": _errno, "ok": _bool, "region": _choice(*REGIONS),
    "within": _within, "events": _events, "no_events": _events, "threads": _int(0),
    "fault": _choice("ok", "SIGSEGV", "SIGBUS"), "stopped_by": _str,
}
END_EXPECT_KEYS = {
    "maps": _maps_text, "threads": _int(0), "largest_free_gap": _gap_bound, "map_count": _int(0),
    "no_collisions": _bool, "events": _events, "no_events": _events, "stopped_by": _str,
}
_COMMON_STEP = {"do": _str, "name": _name, "repeat": _int(1, MAX_STEP_RUNS), "thread": _name,
                "process": _name, "expect": None, "note": _str}
OPS = {
    "mmap": {"addr": _expr, "length": _expr, "prot": _prot, "flags": _map_flags, "file": _file,
             "offset": _expr},
    "munmap": {"addr": _expr, "length": _expr},
    "mprotect": {"addr": _expr, "length": _expr, "prot": _prot},
    "mremap": {"addr": _expr, "old_length": _expr, "new_length": _expr, "flags": _mremap_flags,
               "new_addr": _expr},
    "brk": {"addr": _expr},
    "touch": {"addr": _expr, "access": _choice("read", "write")},
    "setrlimit": {"stack": lambda p, v: _size(p, v, unlimited=True)},
    "pthread_create": {"count": _count, "stack_size": _size, "guard_size": _size,
                       "detached": _bool},
    "pthread_exit": {},
    "pthread_join": {"target": _name},
    "malloc": {"size": _size},
    "calloc": {"size": _size},
    "realloc": {"ptr": _name, "size": _size},
    "free": {"ptr": _name},
    "dlopen": {"file": _file},
    # issue 10: calls that split, lock, seal or add mappings
    "madvise": {"addr": _expr, "length": _expr, "advice": _madvice},
    "mlock": {"addr": _expr, "length": _expr, "onfault": _bool},
    "munlock": {"addr": _expr, "length": _expr},
    "mlockall": {"flags": _mcl_flags},
    "munlockall": {},
    "mseal": {"addr": _expr, "length": _expr},
    "shmat": {"size": _size, "addr": _expr, "flags": _shm_flags},
    "shmdt": {"addr": _expr},
    "pkey_mprotect": {"addr": _expr, "length": _expr, "prot": _prot, "pkey": _int(-1, 15)},
    # Processes (kernel/fork.c, fs/exec.c): a child with a copy of the address space; a
    # process's address space replaced by a new program.
    "fork": {},
    "exec": {"executable": _file},
}
REQUIRED = {
    "mmap": ("length",), "munmap": ("addr", "length"), "mprotect": ("addr", "length", "prot"),
    "mremap": ("addr", "old_length", "new_length"), "brk": ("addr",), "touch": ("addr",),
    "setrlimit": ("stack",), "pthread_join": ("target",), "pthread_exit": ("thread",),
    "malloc": ("size",), "calloc": ("size",), "realloc": ("ptr", "size"), "free": ("ptr",),
    "dlopen": ("file",),
    "madvise": ("addr", "length", "advice"), "mlock": ("addr", "length"),
    "munlock": ("addr", "length"), "mlockall": ("flags",), "mseal": ("addr", "length"),
    "shmat": ("size",), "shmdt": ("addr",), "pkey_mprotect": ("addr", "length", "prot", "pkey"),
    "fork": ("name",),
}
LIBC_OPS = frozenset({"pthread_create", "pthread_exit", "pthread_join", "malloc", "calloc",
                      "realloc", "free", "dlopen"})


@attrs.frozen
class Step:
    index: int
    op: str
    args: dict
    name: str | None
    repeat: int
    thread: str | None
    expect: dict
    #: Expectations for one process of a [compare]: {label: {key: value}}.
    variant_expect: dict
    #: The process the step runs in: a fork step's name, or None for the scenario's own.
    process: str | None = None

    @property
    def label(self) -> str:
        return f"step {self.index + 1} ({self.op}{' ' + self.name if self.name else ''})"


@attrs.frozen
class Variant:
    """One process to run the steps in: a label and its settings."""

    label: str
    process: dict


@attrs.frozen
class Scenario:
    path: str
    title: str
    question: str | None
    process: dict
    kernel: dict
    glibc: dict
    steps: tuple[Step, ...]
    expect: dict
    variant_expect: dict
    variants: tuple[Variant, ...]
    positions: dict

    def where(self, path: tuple) -> tuple[int | None, int | None]:
        return position(self.positions, path)

    def resolve_file(self, name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(os.path.dirname(self.path), name)


def _table(raw, path: tuple, keys: dict) -> dict:
    if not isinstance(raw, dict):
        raise SpecError(path, f"[{'.'.join(map(str, path))}] must be a table")
    out = {}
    for key, value in raw.items():
        if key not in keys:
            raise SpecError(path + (key,), _unknown(key, keys))
        out[key] = keys[key](path + (key,), value)
    return out


def parse_toml(scenario_path: str, text: str) -> dict:
    """tomllib.loads, with tomllib's own failures on valid-looking input made one line too:
    an integer past Python's 4,300-digit limit (ValueError) and arrays or inline tables
    nested a thousand deep (RecursionError)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
        # "(at end of document)": the last line.
        line, col = (int(m.group(1)), int(m.group(2))) if m else (max(1, len(text.splitlines())), None)
        raise InputError(scenario_path, line, f"malformed TOML: {message}", col) from None
    except ValueError:
        m = re.search(r"\d{%d,}" % (MAX_NUMBER_DIGITS + 1), text)
        line = text.count("\n", 0, m.start()) + 1 if m else 1
        raise InputError(scenario_path, line, f"number too long (more than "
                                              f"{MAX_NUMBER_DIGITS} digits)") from None
    except RecursionError:
        depth, line = 0, 1
        for number, row in enumerate(text.splitlines(), start=1):
            for ch in row:
                depth += (ch in "[{") - (ch in "]}")
                if depth > 100:
                    break
            if depth > 100:
                line = number
                break
        raise InputError(scenario_path, line, "arrays or tables nested too deeply") from None


def _check(scenario_path: str, text: str) -> Scenario:
    data = parse_toml(scenario_path, text)
    positions = locate(text)
    top = {"title", "question", "process", "kernel", "glibc", "step", "expect", "compare"}
    for key in data:
        if key not in top:
            raise SpecError((key,), _unknown(key, top))
    if "title" not in data:
        raise SpecError((), "missing 'title' (one line saying what the scenario shows)")
    title = _str(("title",), data["title"])
    question = _str(("question",), data["question"]) if "question" in data else None
    process = _table(data.get("process", {}), ("process",), PROCESS_KEYS)
    kernel = _table(data.get("kernel", {}), ("kernel",), KERNEL_KEYS)
    glibc = _table(data.get("glibc", {}), ("glibc",), GLIBC_KEYS)
    variants = _variants(data.get("compare"), process)
    labels = {v.label for v in variants}
    steps = _steps(data.get("step", []), process, labels)
    expect, variant_expect = {}, {}
    raw_expect = data.get("expect", {})
    if not isinstance(raw_expect, dict):
        raise SpecError(("expect",), "[expect] must be a table")
    for key, value in raw_expect.items():
        if isinstance(value, dict) and key in labels:
            variant_expect[key] = _table(value, ("expect", key), END_EXPECT_KEYS)
        elif key in END_EXPECT_KEYS:
            expect[key] = END_EXPECT_KEYS[key](("expect", key), value)
        else:
            raise SpecError(("expect", key), _unknown(key, list(END_EXPECT_KEYS) + sorted(labels)))
    return Scenario(scenario_path, title, question, process, kernel, glibc, steps, expect,
                    variant_expect, variants, positions)


def _variants(raw, process: dict) -> tuple[Variant, ...]:
    def label_of(settings):
        if "label" in settings:
            return settings["label"]
        flags = settings.get("personality")
        extra = []
        if flags is not None:
            extra = [f.name.lower().replace("addr_", "") for f in Personality if f in flags
                     and f is not Personality.ADDR_NO_RANDOMIZE]
        rl = settings.get("rlimit_stack")
        if rl is not None and rl != 8 << 20:
            extra.append("stack=" + ("unlimited" if rl == RLIM_INFINITY else f"{rl >> 20}M"))
        return settings.get("arch", "x86_64") + (" " + " ".join(extra) if extra else "")

    if raw is None:
        _check_start(("process",), process)
        return (Variant(label_of(process), process),)
    if not isinstance(raw, dict):
        raise SpecError(("compare",), "[compare] must be a table")
    for key in raw:
        if key not in ("arch", "process"):
            raise SpecError(("compare", key), _unknown(key, ("arch", "process")))
    variants = []
    if "arch" in raw:
        if not isinstance(raw["arch"], list) or not raw["arch"]:
            raise SpecError(("compare", "arch"), "'arch' must be a list of profile names")
        for arch in raw["arch"]:
            settings = dict(process, arch=_arch(("compare", "arch"), arch))
            _check_start(("process",), settings)
            variants.append(Variant(label_of(settings), settings))
    tables = raw.get("process", [])
    if not isinstance(tables, list):
        raise SpecError(("compare", "process"), "'process' must be a list of tables")
    for i, table in enumerate(tables):
        settings = dict(process, **_table(table, ("compare", "process", i), COMPARE_PROCESS_KEYS))
        _check_start(("compare", "process", i), settings)
        variants.append(Variant(label_of(settings), settings))
    if len(variants) > MAX_PROCESSES:
        raise SpecError(("compare",), f"{len(variants)} processes to compare; at most "
                                      f"{MAX_PROCESSES}")
    labels = [v.label for v in variants]
    for label in labels:
        if labels.count(label) > 1:
            raise SpecError(("compare",), f"two variants are both labelled {label!r}; "
                                          "give them a 'label'")
    return tuple(variants)


#: What a step's name stands for, by op, for checking how later steps use it; the names of
#: other steps' results are numbers.
NAME_KINDS = {"mmap": "mapping", "mremap": "mapping", "pthread_create": "thread",
              "malloc": "pointer", "calloc": "pointer", "realloc": "pointer", "touch": "fault",
              "fork": "process"}
#: Keys whose value is a name of one kind, and what to call a wrong one.
NAME_KEYS = {"target": ("thread", "a thread"), "thread": ("thread", "a thread"),
             "process": ("process", "a process a fork step made, or main"),
             "ptr": ("pointer", "a pointer from malloc, calloc or realloc")}


class _Names:
    """The names earlier steps define, with their kind: plain ones, and numbered families
    (``t1``, ``t2``, ... of a pthread_create named ``t``; ``a1``, ... of a step with
    ``repeat``), matched by pattern so that a step creating a million threads costs nothing
    here."""

    def __init__(self):
        self.kinds: dict[str, str] = {}
        #: base name -> (highest number defined, or None when open-ended; kind)
        self.families: dict[str, tuple[int | None, str]] = {}

    def define(self, name: str, kind: str, numbered: int | None = 0) -> None:
        """Define ``name``, and ``name1`` to ``name{numbered}`` (all of them when None)."""
        self.kinds[name] = kind
        if numbered is None or numbered > 0:
            # The numbers an earlier step with this name defined stay defined.
            highest = self.families.get(name, (0, kind))[0]
            if highest is not None and numbered is not None:
                numbered = max(highest, numbered)
            self.families[name] = (None if highest is None else numbered, kind)

    def kind(self, name: str) -> str | None:
        if name in self.kinds:
            return self.kinds[name]
        if name in BUILTINS:
            return "mapping"
        for cut in range(len(name) - 1, 0, -1):
            digits = name[cut:]
            if not digits.isdigit():
                break
            family = self.families.get(name[:cut])
            if family is not None and digits[0] != "0" and len(digits) <= MAX_NUMBER_DIGITS:
                highest, kind = family
                if highest is None or int(digits) <= highest:
                    return kind
        return None

    def hint(self, name: str) -> str:
        near = difflib.get_close_matches(name, sorted(set(self.kinds) | BUILTINS), n=1)
        return f" (did you mean {near[0]!r}?)" if near else ""


def _check_names(path, key, value, names: _Names) -> None:
    """Every name ``value`` (an Expr, a tuple of them, or a name key's string) uses is
    defined, and of a kind that can be used there."""
    if key in NAME_KEYS and isinstance(value, str):
        want, what = NAME_KEYS[key]
        kind = names.kind(value)
        if kind is None:
            raise SpecError(path, f"'{value}' is not defined by an earlier step{names.hint(value)}")
        if kind != want:
            raise SpecError(path, f"'{value}' is not {what} (it names a {kind})")
        return
    for e in value if isinstance(value, tuple) else (value,):
        if not isinstance(e, Expr):
            continue
        for used in sorted(e.names):
            kind = names.kind(used)
            if kind is None:
                raise SpecError(path, f"'{used}' is not defined by an earlier step"
                                      f"{names.hint(used)}")
            if kind == "fault":
                raise SpecError(path, f"'{used}' names a touch, whose result is a fault, "
                                      "not a number")
            if kind == "process":
                raise SpecError(path, f"'{used}' names a process, not a number")


#: The key each way of starting a process needs.
START_NEEDS = {"maps": "maps", "exec": "executable"}


def _check_start(path: tuple, settings: dict) -> None:
    need = START_NEEDS.get(settings.get("start", "program"))
    if need is not None and need not in settings:
        raise SpecError(path + ("start",), f"start = {settings['start']!r} needs '{need}' "
                                           "(the file to start from)")


def _steps(raw, process: dict, labels: set = frozenset()) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise SpecError(("step",), "use [[step]] tables for steps")
    steps = []
    names = _Names()
    thread_counts: dict[str, int] = {}
    runs = threads = forks = 0
    for index, table in enumerate(raw):
        path = ("step", index)
        if not isinstance(table, dict):
            raise SpecError(path, "each [[step]] must be a table")
        op = table.get("do")
        if op is None:
            raise SpecError(path, "missing 'do' (the operation, e.g. do = \"mmap\")")
        _choice(*OPS)(path + ("do",), op)
        allowed = dict(_COMMON_STEP, **OPS[op])
        args = {}
        for key, value in table.items():
            if key not in allowed:
                raise SpecError(path + (key,), _unknown(key, allowed))
            if key in ("do", "expect"):
                continue
            args[key] = allowed[key](path + (key,), value)
        for key in REQUIRED.get(op, ()):
            if key not in args:
                raise SpecError(path, f"{op} needs '{key}'")
        raw_expect = table.get("expect", {})
        if not isinstance(raw_expect, dict):
            raise SpecError(path + ("expect",), "'expect' must be a table")
        per_variant = {key: _table(value, path + ("expect", key), STEP_EXPECT_KEYS)
                       for key, value in raw_expect.items()
                       if key in labels and isinstance(value, dict)}
        expect = _table({k: v for k, v in raw_expect.items() if k not in per_variant},
                        path + ("expect",), STEP_EXPECT_KEYS)
        name = args.pop("name", None)
        repeat = args.pop("repeat", 1)
        thread = args.pop("thread", None)
        in_process = args.pop("process", None)
        args.pop("note", None)
        if in_process == "main":
            in_process = None
        if in_process is not None:
            _check_names(path + ("process",), "process", in_process, names)
        if op == "fork":
            if name == "main":
                raise SpecError(path + ("name",), "'main' is the scenario's own process: give "
                                                  "the child another name")
            if repeat != 1:
                raise SpecError(path + ("repeat",), "a fork step makes one named process: "
                                                    "no repeat")
            forks += 1
            if forks >= MAX_PROCESSES:
                raise SpecError(path, f"a scenario may have at most {MAX_PROCESSES} processes")
        # What a run may build (simulator/limits.py), refused before anything runs.
        runs += repeat
        if runs > MAX_STEP_RUNS:
            raise SpecError(path + ("repeat",), f"the steps so far run {runs:,} times; a "
                                                f"process may take at most {MAX_STEP_RUNS:,} steps")
        count = args.get("count", 1)
        if op == "pthread_create" and count is not None:
            threads += count * repeat
            if threads > MAX_THREADS:
                raise SpecError(path + ("count",), f"the steps so far create {threads:,} threads; "
                                                   f"a process may create at most {MAX_THREADS:,}")
        # Every name an argument uses comes from an earlier step (or is built in).
        for key, value in args.items():
            _check_names(path + (key,), key, value, names)
        if thread is not None:
            _check_names(path + ("thread",), "thread", thread, names)
        # The names this step defines: its expectations (checked after it ran) may use them.
        if name is not None:
            kind = NAME_KINDS.get(op, "number")
            if op == "pthread_create":
                if count is None:
                    names.define(name, kind, None)
                else:
                    thread_counts[name] = thread_counts.get(name, 0) + count * repeat
                    names.define(name, kind, thread_counts[name])
            else:
                names.define(name, kind, repeat if repeat > 1 else 0)
        for table_ in [expect, *per_variant.values()]:
            for key, value in table_.items():
                where = path + (key,) if key in table else path + ("expect", key)
                _check_names(where, "expect", value, names)
        if op in LIBC_OPS and process.get("start", "program") in ("empty",):
            raise SpecError(path + ("do",), f"{op} needs glibc: use start = \"program\", "
                                            "\"exec\" or \"maps\"")
        steps.append(Step(index, op, args, name, repeat, thread, expect, per_variant,
                          in_process))
    return tuple(steps)


def _read_file(path: str, what: str, source: str, line, col, limit: int) -> str:
    """The text of a file a scenario names: a regular file, UTF-8, at most ``limit`` bytes."""
    def refuse(message):
        raise InputError(source, line, f"cannot read {what} {path!r}: {message}", col)
    if not os.path.isfile(path):
        refuse("no such file" if not os.path.exists(path) else "not a regular file")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(limit + 1)
    except OSError as err:
        refuse(err.strerror or str(err))
    except UnicodeDecodeError:
        refuse("not UTF-8 text")
    if len(text) > limit:
        refuse(f"larger than {format_size(limit)}")
    return text


def load(path: str) -> Scenario:
    """Read and check a scenario file; bad input raises InputError with the position.

    Files the scenario names are checked here too: a process's maps or executable must be a
    regular file, and an expected ``maps`` file is read now (its text replaces its name)."""
    if "\0" in path:
        raise InputError(path.replace("\0", "\\0"), None, "cannot read: a NUL byte in the name")
    try:
        if os.path.isfile(path) and os.path.getsize(path) > MAX_SCENARIO_BYTES:
            raise InputError(path, None, f"larger than {format_size(MAX_SCENARIO_BYTES)}, "
                                         "the limit for a scenario file")
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_SCENARIO_BYTES + 1)
    except OSError as err:
        raise InputError(path, None, f"cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise InputError(path, None, f"not UTF-8 text: {err}") from None
    if len(text) > MAX_SCENARIO_BYTES:
        raise InputError(path, None, f"larger than {format_size(MAX_SCENARIO_BYTES)}, "
                                     "the limit for a scenario file")
    try:
        scenario = _check(path, text)
    except SpecError as err:
        line, col = position(locate(text), err.path)
        raise InputError(path, line, err.message, col) from None
    for i, variant in enumerate(scenario.variants):
        for key in ("maps", "executable"):
            if key in variant.process:
                full = scenario.resolve_file(variant.process[key])
                if not os.path.isfile(full):
                    line, col = scenario.where(("process", key))
                    reason = "no such file" if not os.path.exists(full) else "not a regular file"
                    raise InputError(path, line, f"cannot read {variant.process[key]!r}: "
                                                 f"{reason}", col)
    expects = [(("expect",), scenario.expect)]
    expects += [(("expect", label), table) for label, table in scenario.variant_expect.items()]
    for where, table in expects:
        maps = table.get("maps")
        if maps is not None and "\n" not in maps:
            line, col = scenario.where(where + ("maps",))
            table["maps"] = _read_file(scenario.resolve_file(maps), "maps", path, line, col,
                                       MAX_SCENARIO_BYTES * 16)
    return scenario
