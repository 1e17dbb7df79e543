"""Shared hypothesis strategies and fixtures-as-functions for the property tests.

Everything here is small on purpose: strategies for the values a system call takes (lengths,
protections, flags, hints) and :func:`fresh_address_space`, the exec layout most property tests
start from. Strategies that depend on the current state take the address space as an argument
and are meant for ``data.draw(...)`` inside a test or a state-machine rule.
"""

from __future__ import annotations

from hypothesis import strategies as st

from simulator.kernel.arch import PROFILES, get_profile
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.kernel.exec import exec_layout
from simulator.kernel.mm import AddressSpace
from simulator.kernel.uapi import (
    MAP_32BIT, MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_NORESERVE,
    MAP_POPULATE, MAP_PRIVATE, MAP_STACK, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE,
)
from simulator.programs import typical_program
from simulator.units import MiB, PAGE_SIZE, RLIM_INFINITY

#: Layouts the state machine runs on: (profile name, personality). ASLR is always off.
#: i686 covers the IA32-on-x86_64 task, its 3 GiB limit and its legacy (bottom-up) layout.
NORAND = Personality.ADDR_NO_RANDOMIZE
LAYOUTS: tuple[tuple[str, Personality], ...] = (
    ("x86_64", NORAND),
    ("i686", NORAND),
    ("i686", NORAND | Personality.ADDR_LIMIT_3GB),
    ("i686", NORAND | Personality.ADDR_COMPAT_LAYOUT),
    ("i686", NORAND | Personality.ADDR_LIMIT_3GB | Personality.ADDR_COMPAT_LAYOUT),
    ("i386-3g", NORAND),
    ("aarch64-48", NORAND),
    ("arm-3g", NORAND),
)


def profiles() -> st.SearchStrategy[str]:
    """Any profile name in :data:`PROFILES`."""
    return st.sampled_from(sorted(PROFILES))


def layouts() -> st.SearchStrategy[tuple[str, Personality]]:
    """A (profile name, personality) pair from :data:`LAYOUTS`."""
    return st.sampled_from(LAYOUTS)


def rlimit_stacks() -> st.SearchStrategy[int]:
    """RLIMIT_STACK at exec: the usual 8 MiB, a small one, or unlimited (which selects the
    legacy layout on the mm/util.c architectures, arm and arm64)."""
    return st.sampled_from((8 * MiB, 1 * MiB, RLIM_INFINITY))


#: A number of pages for a mapping: mostly small, sometimes a few hundred.
page_counts = st.one_of(st.integers(1, 8), st.integers(9, 600))


def page_aligned_lengths(max_pages: int = 600) -> st.SearchStrategy[int]:
    """A length in bytes, a whole number of pages in ``[1, max_pages]``."""
    return st.integers(1, max_pages).map(lambda n: n * PAGE_SIZE)


def thp_lengths(max_multiple: int = 4) -> st.SearchStrategy[int]:
    """A multiple of 2 MiB: anonymous mappings of such lengths take the THP placement path
    on 64-bit profiles (mm/mmap.c ``__get_unmapped_area``)."""
    return st.integers(1, max_multiple).map(lambda n: n * 2 * MiB)


def prots() -> st.SearchStrategy[int]:
    """A valid PROT_* combination (no PROT_SEM, no PROT_GROWS*)."""
    return st.sampled_from((PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC,
                            PROT_READ | PROT_WRITE | PROT_EXEC, PROT_WRITE, PROT_EXEC))


_ANON_EXTRAS = (MAP_GROWSDOWN, MAP_STACK, MAP_NORESERVE, MAP_32BIT, MAP_POPULATE)


def anon_flags(placement: str = "any") -> st.SearchStrategy[int]:
    """``MAP_PRIVATE | MAP_ANONYMOUS`` plus a random subset of the harmless extras
    (MAP_GROWSDOWN, MAP_STACK, MAP_NORESERVE, MAP_32BIT, MAP_POPULATE).

    ``placement`` is ``"free"`` (no fixed flag), ``"fixed"`` (MAP_FIXED),
    ``"noreplace"`` (MAP_FIXED_NOREPLACE) or ``"any"`` (one of those three).
    """
    base = MAP_PRIVATE | MAP_ANONYMOUS
    fixed = {"free": st.just(0), "fixed": st.just(MAP_FIXED),
             "noreplace": st.just(MAP_FIXED_NOREPLACE),
             "any": st.sampled_from((0, 0, MAP_FIXED, MAP_FIXED_NOREPLACE))}[placement]
    extras = st.lists(st.sampled_from(_ANON_EXTRAS), max_size=2, unique=True)
    return st.builds(lambda f, xs: base | f | sum(xs), fixed, extras)


def page_offsets(max_pages: int) -> st.SearchStrategy[int]:
    """A signed page distance in bytes, in ``[-max_pages, max_pages]`` pages."""
    return st.integers(-max_pages, max_pages).map(lambda n: n * PAGE_SIZE)


def vmas_of(mm: AddressSpace, *, special: bool = True):
    """One of ``mm``'s VMAs (optionally not a special mapping such as [vdso])."""
    vmas = [v for v in mm.vmas() if special or v.special is None]
    return st.sampled_from(vmas) if vmas else st.nothing()


def hints(mm: AddressSpace, length: int) -> st.SearchStrategy[int]:
    """A placement hint for a mapping of ``length`` bytes in ``mm``: near an existing mapping
    (at its start or end, just below it by ``length``, below its stack guard gap, or a guard
    gap above its end), some pages off those, a random page, or an unaligned address."""
    vmas = list(mm.vmas())
    anchors = []
    for v in vmas:
        anchors += [v.start, v.end, v.start - length, v.start - mm.stack_guard_gap - length,
                    v.end + mm.stack_guard_gap]
    near = st.builds(lambda a, d: a + d, st.sampled_from(anchors), page_offsets(16))
    anywhere = st.integers(1, max(mm.task_size // PAGE_SIZE - 1, 1)).map(lambda n: n * PAGE_SIZE)
    unaligned = st.builds(lambda a, d: a + d, st.sampled_from(anchors),
                          st.integers(1, PAGE_SIZE - 1))
    return st.one_of(near, anywhere, unaligned).map(lambda a: min(max(a, 0), mm.task_size))


def fresh_address_space(profile_name: str, personality: Personality = NORAND,
                        rlimit_stack: int = 8 * MiB,
                        kconfig: KernelConfig = KernelConfig()) -> AddressSpace:
    """The address space right after exec of the profile's typical program (executable and
    ld.so from :func:`simulator.programs.typical_program`), ASLR off."""
    profile = get_profile(profile_name)
    exe, interp = typical_program(profile)
    proc = ProcessConfig(personality=personality | Personality.ADDR_NO_RANDOMIZE,
                         rlimit_stack=rlimit_stack)
    return exec_layout(profile, exe, interp, kconfig=kconfig, proc=proc)


# -- scenario files and command lines (tests/test_fuzz_cli.py) ---------------------------------
#
# Valid structure, wild values: the TOML is well formed (mostly), the keys are mostly the
# ones the format knows, and the values are anything a user might type: huge, negative and
# odd numbers, wrong types, unknown names, deep expressions, NUL bytes, any unicode.

def toml_literal(value) -> str:
    """``value`` as a TOML literal: bool, int, float, str (a basic string: every control
    character escaped, NUL included), list, or dict (an inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, int) else ("nan" if value != value else
                                                            repr(value).replace("inf", "inf"))
    if isinstance(value, str):
        out = []
        for ch in value:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_literal(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(value)


def toml_key(key: str) -> str:
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) \
        else toml_literal(key)


def toml_document(doc: dict) -> str:
    """A scenario document as TOML: scalars first, then ``[table]``s, then ``[[array]]``s of
    tables (``step``; ``compare.process`` stays an inline array)."""
    lines = [f"{toml_key(k)} = {toml_literal(v)}" for k, v in doc.items()
             if not isinstance(v, (dict, list)) or (isinstance(v, list) and k != "step")]
    for key, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{toml_key(key)}]")
            lines += [f"{toml_key(k)} = {toml_literal(v)}" for k, v in table.items()]
    for table in doc.get("step", []) if isinstance(doc.get("step"), list) else ():
        lines.append("[[step]]")
        if isinstance(table, dict):
            lines += [f"{toml_key(k)} = {toml_literal(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


#: Numbers at the edges: of 32 and 64 bits, of Python's int-string limit, of the simulator's.
EDGE_NUMBERS = (0, 1, -1, 4095, 4096, 4097, 2**31 - 1, 2**31, 2**32 - 4096, 2**32, 2**47,
                2**63 - 1, -(2**63), 10**20, 2**64 - 1, 2**64, 10**30)


def wild_integers() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(EDGE_NUMBERS), st.integers(-(2**66), 2**66),
                     st.integers(0, 64).map(lambda n: n * 4096))


def _atoms(names) -> st.SearchStrategy[str]:
    usual = st.sampled_from(("4K", "8K", "64K", "1M", "2M", "0x10000", "0x40000000", "0", "4096"))
    numbers = st.one_of(usual, usual, usual, wild_integers().map(str),
                        wild_integers().map(lambda n: hex(abs(n))),
                        st.builds(lambda n, u: f"{n}{u}", st.integers(0, 5000),
                                  st.sampled_from("KMGTkmgt")))
    named = st.builds(lambda n, a: n + a, st.sampled_from(sorted(names)),
                      st.sampled_from(("", "", ".start", ".end", ".size", ".stack",
                                       ".stack_end", ".guard_end", ".bogus")))
    return st.one_of(numbers, named)


def expressions(names=("stack", "brk", "task_size", "mmap_base", "heap", "a", "t", "t1",
                       "t2", "p", "nosuch"), *, pathological: bool = True
                ) -> st.SearchStrategy[str]:
    """An address or size expression: small and plausible, or pathological (parentheses a
    few thousand deep, sums of thousands of terms, numbers of thousands of digits, unary
    minus chains, stray characters)."""
    atom = _atoms(names)
    plausible = st.recursive(
        atom, lambda inner: st.one_of(
            st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from("+-*/"), inner),
            inner.map(lambda a: f"({a})"), inner.map(lambda a: f"-{a}")),
        max_leaves=6)
    extreme = st.one_of(
        st.integers(1, 3000).map(lambda n: "(" * n + "1" + ")" * n),
        st.integers(2, 3000).map(lambda n: "+".join(["1"] * n)),
        st.integers(1, 5000).map(lambda n: "9" * n),
        st.integers(1, 400).map(lambda n: "-" * n + "4K"),
        st.sampled_from(("", " ", "1/0", "4K/(1-1)", "(1", "1)", "4K +", "a..start", "0x",
                         "1e9", "4K\x00", "4 K", "½", "\u202e4K", "stack - -4K")))
    return st.one_of(plausible, plausible, extreme) if pathological else plausible


def wild_values(names=None) -> st.SearchStrategy:
    """Any value a key may be given: numbers, sizes, expressions, the wrong type, text."""
    scalars = st.one_of(wild_integers(), expressions(names or ("stack", "a", "t1", "nosuch")),
                        st.booleans(), st.floats(allow_nan=True), st.text(max_size=20),
                        st.sampled_from(("unlimited", "until-failure", "4K", "-4K", "8M",
                                         "READ|WRITE", "PRIVATE|ANONYMOUS|FIXED", "ENOMEM")))
    return st.one_of(scalars, st.lists(scalars, max_size=3),
                     st.dictionaries(st.sampled_from(("at_least", "at_most", "x")), scalars,
                                     max_size=2))


def _keyed_table(keys: dict, extra=()) -> st.SearchStrategy[dict]:
    """A table whose keys are mostly from ``keys`` ({key: value strategy})."""
    known = st.sampled_from(sorted(keys)).flatmap(lambda k: st.tuples(st.just(k), keys[k]))
    unknown = st.tuples(st.sampled_from(tuple(extra) + ("bogus", "size", "profile", "")),
                        wild_values())
    return st.lists(st.one_of(*[known] * 7, unknown), max_size=5).map(dict)


def _mostly(plausible: st.SearchStrategy) -> st.SearchStrategy:
    """A plausible value most of the time, a wild one sometimes: runs get far enough to
    exercise the steps, and the checks still see every kind of wrong value."""
    return st.one_of(plausible, plausible, plausible, wild_values())


_SIZES = st.sampled_from(("4K", "64K", "1M", "8M", "2M", 4096, 0, "unlimited", "16K"))
#: Kernel knobs in their usual ranges (the checks in spec.py see the wild ones).
_KERNEL_PLAUSIBLE = {
    "max_map_count": st.integers(1, 3000), "mmap_min_addr": st.sampled_from((0, 4096, 65536)),
    "lsm_mmap_min_addr": st.sampled_from((0, 65536)), "stack_guard_gap": st.integers(0, 256),
    "guard": st.sampled_from(("gap", "page")), "legacy_va_layout": st.integers(0, 1),
    "randomize_va_space": st.integers(0, 2), "thp": st.booleans(),
    "mmap_rnd_bits": st.integers(0, 40), "mmap_rnd_compat_bits": st.integers(0, 40),
    "overcommit_memory": st.integers(0, 2), "cap_sys_rawio": st.booleans()}


#: Files a scenario may name; tests/test_fuzz_cli.py creates good.maps and bad.maps.
SCENARIO_FILES = ("good.maps", "bad.maps", "missing.maps", ".", "/dev/null", "a\x00b", "")


def scenario_documents() -> st.SearchStrategy[dict]:
    """A scenario as the dict tomllib would read: mostly the known keys, with wild values."""
    from simulator.kernel.uapi import Errno
    from simulator.scenario.spec import EVENT_KINDS, GLIBC_KEYS, KERNEL_KEYS, OPS

    names = st.sampled_from(("a", "b", "t", "p", "m", "t1", "a2", "stack", "nosuch", "9x"))
    arch = st.one_of(profiles(), st.sampled_from(("auto", "pdp11", "", "I686")))
    process = _keyed_table({
        "arch": arch, "start": st.sampled_from(("program", "empty", "maps", "exec", "nope")),
        "maps": st.sampled_from(SCENARIO_FILES), "executable": st.sampled_from(SCENARIO_FILES),
        "personality": st.one_of(st.sampled_from(("ADDR_LIMIT_3GB", "ADDR_COMPAT_LAYOUT",
                                                  "ADDR_NO_RANDOMIZE,ADDR_LIMIT_3GB", "BOGUS")),
                                 wild_values()),
        "rlimit_stack": _mostly(_SIZES), "rlimit_as": _mostly(st.sampled_from(
            ("1M", "64M", "1G", "unlimited", "4G"))), "aslr_seed": _mostly(st.integers(0, 99)),
        "exec_strings": _mostly(st.integers(0, 1 << 20)), "label": st.text(max_size=8)})
    kernel = _keyed_table({k: _mostly(_KERNEL_PLAUSIBLE.get(k, wild_integers()))
                           for k in KERNEL_KEYS})
    glibc = _keyed_table({k: _mostly(st.sampled_from(("2.36", "2.42")) if k == "version" else
                                     st.integers(1, 8) if k in ("ncpu", "arena_max") else _SIZES)
                          for k in GLIBC_KEYS})
    expect_values = {
        "result": st.one_of(expressions(), st.sampled_from(tuple(Errno.__members__))),
        "errno": st.sampled_from(tuple(Errno.__members__) + ("ENOPE",)),
        "ok": st.booleans(), "threads": wild_integers(), "map_count": wild_integers(),
        "within": st.lists(expressions(), min_size=0, max_size=3),
        "events": st.lists(st.sampled_from(EVENT_KINDS + ("nope",)), max_size=2),
        "fault": st.sampled_from(("ok", "SIGSEGV", "SIGBUS", "x")), "stopped_by": st.text(max_size=8),
        "region": st.sampled_from(("mmap-area", "heap", "32bit-window", "nowhere")),
        "largest_free_gap": wild_values(), "maps": st.sampled_from(SCENARIO_FILES),
        "no_collisions": st.booleans()}
    expect = _keyed_table(expect_values)

    def step(op):
        keys = {key: expressions() for key in OPS.get(op, {})}
        keys.update({
            "prot": st.sampled_from(("READ", "READ|WRITE", "NONE", "BOGUS", 7, -1)),
            "flags": st.sampled_from(("PRIVATE|ANONYMOUS", "PRIVATE|ANONYMOUS|FIXED",
                                      "PRIVATE|ANONYMOUS|GROWSDOWN", "SHARED", "MAYMOVE", 0x22)),
            "count": st.one_of(st.just("until-failure"), st.integers(1, 4), st.integers(1, 4),
                               wild_integers()),
            "repeat": st.one_of(st.integers(1, 4), st.integers(1, 4), wild_integers()),
            "name": names, "thread": names, "target": names, "ptr": names,
            "size": _mostly(st.integers(0, 1 << 20)),
            "stack_size": _mostly(_SIZES), "guard_size": _mostly(_SIZES), "stack": _mostly(_SIZES),
            "file": st.sampled_from(SCENARIO_FILES), "access": st.sampled_from(("read", "write", "x")),
            "detached": st.booleans(), "note": st.text(max_size=10),
            "expect": st.one_of(expect, wild_values())})
        keys = {k: v for k, v in keys.items() if k in OPS.get(op, {}) or k in (
            "name", "repeat", "thread", "expect", "note")}
        return _keyed_table(keys).map(lambda t: dict({"do": op}, **t))

    steps = st.lists(st.sampled_from(sorted(OPS) + ["nope"]).flatmap(step), max_size=6)
    compare = st.fixed_dictionaries({}, optional={
        "arch": st.lists(arch, max_size=3),
        "process": st.lists(_keyed_table({"arch": arch, "label": st.text(max_size=5),
                                          "start": st.sampled_from(("empty", "program", "maps"))}),
                            max_size=3)})
    return st.fixed_dictionaries(
        {"title": st.one_of(st.text(max_size=20), st.just("t"))},
        optional={"process": process, "kernel": kernel, "glibc": glibc, "step": steps,
                  "expect": expect, "compare": compare, "question": st.text(max_size=10)})


def runnable_scenario_documents() -> st.SearchStrategy[dict]:
    """A scenario that passes the load-time checks more often than not: known keys, values
    of the right type, every required key; the wildness is in the expressions (names that
    may not exist when the step runs, huge and odd numbers), the order of the steps and the
    kernel knobs. It reaches the runner, where the run-time checks live."""
    from simulator.scenario.spec import OPS, REQUIRED

    names = st.sampled_from(("a", "b", "t", "p", "t1", "t2", "a2", "p1"))
    usual = st.sampled_from(("4K", "64K", "1M", "a", "a + 4K", "a.end", "t1.stack",
                             "stack - 64K", "brk + 8K", "mmap_base - 1M", "b - a", "a.size * 2"))
    usual_expr = st.one_of(usual, usual, expressions(("a", "b", "t1", "t2", "a2", "stack", "brk",
                                                      "heap", "mmap_base", "task_size"),
                                                     pathological=False))
    values = {
        "prot": st.sampled_from(("READ", "READ|WRITE", "NONE", "READ|EXEC")),
        "flags": st.sampled_from(("PRIVATE|ANONYMOUS", "PRIVATE|ANONYMOUS|FIXED",
                                  "PRIVATE|ANONYMOUS|GROWSDOWN", "PRIVATE|ANONYMOUS|FIXED_NOREPLACE",
                                  "MAYMOVE", "MAYMOVE|FIXED", "PRIVATE|ANONYMOUS|32BIT")),
        "count": st.one_of(st.integers(1, 5), st.just("until-failure")),
        "size": st.one_of(st.integers(0, 1 << 22), st.sampled_from((2**40, 2**63, 2**64 - 1))),
        "stack_size": _SIZES.filter(lambda v: v != "unlimited"),
        "guard_size": _SIZES.filter(lambda v: v != "unlimited"), "stack": _SIZES,
        "ptr": names, "target": names, "thread": names, "access": st.sampled_from(("read", "write")),
        "detached": st.booleans(), "file": st.just("good.maps")}

    def step(op):
        keys = {k: values.get(k, usual_expr) for k in OPS[op] if k != "file"}
        required = st.fixed_dictionaries({k: keys.get(k, values.get(k, usual_expr))
                                          for k in REQUIRED.get(op, ())})
        optional = st.dictionaries(st.sampled_from(sorted(keys) or ["note"]),
                                   st.just(None), max_size=2).flatmap(
            lambda ks: st.fixed_dictionaries({k: keys.get(k, st.just("x")) for k in ks}))
        extra = st.fixed_dictionaries({}, optional={
            "name": names, "repeat": st.integers(1, 3),
            "expect": st.fixed_dictionaries({}, optional={
                "result": usual_expr, "errno": st.sampled_from(("ENOMEM", "EINVAL", "EEXIST")),
                "ok": st.booleans(), "within": st.lists(usual_expr, min_size=2, max_size=2),
                "region": st.sampled_from(("mmap-area", "heap", "stack-guard-gap")),
                "threads": st.integers(0, 600), "events": st.just(["enomem"])})})
        return st.tuples(required, optional, extra).map(
            lambda parts: {"do": op, **parts[1], **parts[0], **parts[2]})

    libc = st.sampled_from(sorted(OPS))
    kernel_only = st.sampled_from(("mmap", "munmap", "mprotect", "mremap", "brk", "touch",
                                   "setrlimit"))
    process = st.fixed_dictionaries(
        {"arch": profiles()},
        optional={"personality": st.sampled_from(("ADDR_LIMIT_3GB", "ADDR_COMPAT_LAYOUT")),
                  "rlimit_stack": _SIZES, "rlimit_as": st.sampled_from(("64M", "1G", "4G"))})
    kernel = st.fixed_dictionaries({}, optional={
        k: _KERNEL_PLAUSIBLE[k] for k in ("max_map_count", "mmap_min_addr", "stack_guard_gap",
                                           "guard", "legacy_va_layout", "thp")})

    # Steps that define the names the others use, most of the time.
    first = [{"do": "mmap", "name": "a", "length": "64K"}]
    first_libc = first + [{"do": "pthread_create", "name": "t", "count": 2},
                          {"do": "malloc", "name": "p", "size": 100}]

    def document(start):
        ops = kernel_only if start == "empty" else libc
        prefix = st.sampled_from(([], first if start == "empty" else first_libc))
        return st.fixed_dictionaries({
            "title": st.just("t"), "process": process.map(lambda p: dict(p, start=start)),
            "kernel": kernel,
            "step": st.builds(lambda a, b: a + b, prefix, st.lists(ops.flatmap(step), max_size=8))})

    return st.sampled_from(("program", "empty", "maps")).flatmap(
        lambda start: document(start).map(
            lambda d: d if start != "maps" else dict(d, process=dict(d["process"],
                                                                      maps="good.maps"))))


def scenario_texts() -> st.SearchStrategy[str]:
    """A scenario file's text: a generated document as TOML, sometimes damaged (a NUL byte,
    a stray line, a cut, deep nesting, a huge integer)."""
    damage = st.sampled_from((
        *[lambda t: t] * 10, lambda t: t + "\x00",
        lambda t: t.replace("\n", "\n\x00", 1), lambda t: t[: len(t) // 2],
        lambda t: t + "[[step]]\n", lambda t: t + "x = " + "[" * 2000 + "]" * 2000 + "\n",
        lambda t: t + "big = " + "9" * 5000 + "\n", lambda t: "\ufeff" + t,
        lambda t: t + "[process]\n", lambda t: t.replace("=", "= =", 1)))
    return st.builds(lambda doc, f: f(toml_document(doc)), scenario_documents(), damage)


def cli_argvs(scenario_paths=("s.toml",), files=("good.maps", "bad.maps", "missing")):
    """A ``vasim`` command line: a subcommand (or none, or a wrong one) and options with
    wild values."""
    size = st.one_of(st.sampled_from(("8M", "16K", "0", "4096", "-4K", "unlimited", "1T", "0x",
                                      "9" * 30, "8Q", "")), wild_integers().map(str))
    arch = st.one_of(profiles(), st.sampled_from(("auto", "pdp11", "", "i686,x86_64", ",")))
    personality = st.sampled_from(("ADDR_LIMIT_3GB", "ADDR_COMPAT_LAYOUT", "0", "BOGUS", ""))
    common = {"--arch": arch, "--personality": personality, "--rlimit-stack": size}
    options = {
        "layout": dict(common, **{"--seed": wild_integers().map(str), "--json": None}),
        "threads": dict(common, **{"--stack-size": size, "--guard-size": size, "--json": None,
                                   "--initial-maps": st.sampled_from(files)}),
        "run": {"--json": None, "--quiet": None, "--maps": None},
        "compare": {"--arch": arch, "--json": None},
        "replay": dict(common, **{"--initial-maps": st.sampled_from(files), "--json": None}),
    }
    positional = {"run": st.lists(st.sampled_from(scenario_paths), min_size=0, max_size=2),
                  "compare": st.lists(st.sampled_from(scenario_paths), max_size=1),
                  "replay": st.lists(st.sampled_from(files), max_size=1)}

    def argv(command):
        table = options.get(command, {})
        opts = st.lists(st.sampled_from(sorted(table) + ["--bogus", "--debug"]), max_size=4) \
            if table else st.lists(st.sampled_from(("--bogus", "--json")), max_size=1)

        def values(names):
            return st.tuples(*[table[n] if table.get(n) is not None else st.just(None)
                               for n in names]).map(
                lambda vs: [x for n, v in zip(names, vs) for x in ([n] if v is None else [n, v])])
        return st.builds(lambda o, p: [command] + o + p, opts.flatmap(values),
                         positional.get(command, st.just([])))

    return st.one_of(st.sampled_from(sorted(options) + ["bogus"]).flatmap(argv),
                     st.sampled_from(([], ["--bogus"], ["--debug"], ["-h"], ["--version"])))
