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
from simulator.kernel.versions import RULES as KERNEL_VERSIONS
from simulator.kernel.uapi import MAP_NAMES, MREMAP_NAMES, PROT_NAMES, Errno
from simulator.scenario.expr import BUILTINS, Expr, ExprError, parse
from simulator.scenario.locate import locate, position
from simulator.units import RLIM_INFINITY, parse_size


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
    if isinstance(value, int):
        if value < 0:
            raise SpecError(path, f"'{path[-1]}' must not be negative")
        return value
    if isinstance(value, str):
        try:
            return parse_size(value, allow_unlimited=unlimited)
        except ValueError as err:
            raise SpecError(path, f"'{path[-1]}': {err}") from None
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
        return parse(value)
    except ExprError as err:
        raise SpecError(path, f"'{path[-1]}': {err}") from None


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


def _file(path, value):
    return _str(path, value)


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
    return _int(1, 10_000_000)(path, value)


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
               "map-count", "stack-growth-refused", "stack-grown", "segfault", "brk-refused")
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
    "version": _choice(*KERNEL_VERSIONS),
}
GLIBC_KEYS = {
    "version": _choice("2.36", "2.42"), "ncpu": _int(1, 4096), "top_pad": _size,
    "mmap_threshold": _size, "trim_threshold": _size, "arena_max": _int(1, 1 << 20),
    "stack_cache_size": _size,
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
_COMMON_STEP = {"do": _str, "name": _name, "repeat": _int(1, 1_000_000), "thread": _name,
                "expect": None, "note": _str}
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
}
REQUIRED = {
    "mmap": ("length",), "munmap": ("addr", "length"), "mprotect": ("addr", "length", "prot"),
    "mremap": ("addr", "old_length", "new_length"), "brk": ("addr",), "touch": ("addr",),
    "setrlimit": ("stack",), "pthread_join": ("target",), "pthread_exit": ("thread",),
    "malloc": ("size",), "calloc": ("size",), "realloc": ("ptr", "size"), "free": ("ptr",),
    "dlopen": ("file",),
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


def _check(scenario_path: str, text: str) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        raise InputError(scenario_path, line, f"malformed TOML: {message}", col) from None
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
            variants.append(Variant(label_of(settings), settings))
    for i, table in enumerate(raw.get("process", [])):
        settings = dict(process, **_table(table, ("compare", "process", i), COMPARE_PROCESS_KEYS))
        variants.append(Variant(label_of(settings), settings))
    labels = [v.label for v in variants]
    for label in labels:
        if labels.count(label) > 1:
            raise SpecError(("compare",), f"two variants are both labelled {label!r}; "
                                          "give them a 'label'")
    return tuple(variants)


def _steps(raw, process: dict, labels: set = frozenset()) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise SpecError(("step",), "use [[step]] tables for steps")
    steps = []
    defined = set()
    threads_open_ended = set()
    thread_counts: dict[str, int] = {}
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
        args.pop("note", None)
        # The names this step defines: its expectations (checked after it ran) may use them.
        own, open_ended = set(), set()
        if name is not None:
            own.add(name)
            if op == "pthread_create":
                count = args.get("count", 1)
                if count is None:
                    open_ended.add(name)
                else:
                    first = thread_counts.get(name, 0)
                    thread_counts[name] = first + count * repeat
                    own |= {f"{name}{i}" for i in range(first + 1, first + count * repeat + 1)}
            elif repeat > 1:
                own |= {f"{name}{i}" for i in range(1, repeat + 1)}
        # Every other name must come from an earlier step (or be built in).
        checks = [(key, value, defined, threads_open_ended) for key, value in args.items()]
        checks += [(key, value, defined | own, threads_open_ended | open_ended)
                   for table_ in [expect, *per_variant.values()] for key, value in table_.items()]
        checks += [(key, Expr(args[key], (), frozenset({args[key]})), defined, threads_open_ended)
                   for key in ("target", "ptr") if key in args]
        if thread is not None:
            checks.append(("thread", Expr(thread, (), frozenset({thread})), defined,
                           threads_open_ended))
        for key, value, known, open_names in checks:
            exprs = value if isinstance(value, tuple) else (value,)
            for e in exprs:
                if not isinstance(e, Expr):
                    continue
                for used in sorted(e.names):
                    if used in BUILTINS or used in known or _thread_name(used, open_names):
                        continue
                    near = difflib.get_close_matches(used, sorted(known | BUILTINS), n=1)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    where = path + (key,) if key in table else path + ("expect", key)
                    raise SpecError(where, f"'{used}' is not defined by an earlier step{hint}")
        defined |= own
        threads_open_ended |= open_ended
        if op in LIBC_OPS and process.get("start", "program") in ("empty",):
            raise SpecError(path + ("do",), f"{op} needs glibc: use start = \"program\", "
                                            "\"exec\" or \"maps\"")
        steps.append(Step(index, op, args, name, repeat, thread, expect, per_variant))
    return tuple(steps)


def _thread_name(name: str, open_ended: set) -> bool:
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*?)(\d+)", name)
    return bool(m and m.group(1) in open_ended)


def load(path: str) -> Scenario:
    """Read and check a scenario file; bad input raises InputError with the position."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise InputError(path, None, f"cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise InputError(path, None, f"not UTF-8 text: {err}") from None
    try:
        scenario = _check(path, text)
    except SpecError as err:
        line, col = position(locate(text), err.path)
        raise InputError(path, line, err.message, col) from None
    for variant in scenario.variants:
        for key in ("maps", "executable"):
            if key in variant.process and not os.path.exists(scenario.resolve_file(variant.process[key])):
                line, col = scenario.where(("process", key))
                raise InputError(path, line, f"cannot read {variant.process[key]!r}: "
                                             "no such file", col)
    maps = scenario.expect.get("maps")
    if maps is not None and "\n" not in maps and not os.path.exists(scenario.resolve_file(maps)):
        line, col = scenario.where(("expect", "maps"))
        raise InputError(path, line, f"cannot read {maps!r}: no such file", col)
    return scenario
