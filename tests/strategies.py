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


def _mostly_plausible(plausible: st.SearchStrategy) -> st.SearchStrategy:
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
        "rlimit_stack": _mostly_plausible(_SIZES), "rlimit_as": _mostly_plausible(st.sampled_from(
            ("1M", "64M", "1G", "unlimited", "4G"))), "aslr_seed": _mostly_plausible(st.integers(0, 99)),
        "exec_strings": _mostly_plausible(st.integers(0, 1 << 20)), "label": st.text(max_size=8)})
    kernel = _keyed_table({k: _mostly_plausible(_KERNEL_PLAUSIBLE.get(k, wild_integers()))
                           for k in KERNEL_KEYS})
    glibc = _keyed_table({k: _mostly_plausible(st.sampled_from(("2.36", "2.42")) if k == "version" else
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
            "size": _mostly_plausible(st.integers(0, 1 << 20)),
            "stack_size": _mostly_plausible(_SIZES), "guard_size": _mostly_plausible(_SIZES), "stack": _mostly_plausible(_SIZES),
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


# --- strace logs and maps files (valid structure, wild values), for tests/test_fuzz_trace.py ---

#: Numbers as strace might print them, and some it never would.
_WILD_INTS = st.one_of(
    st.sampled_from((0, 1, 4095, 4096, 1 << 32, (1 << 47) - 4096, (1 << 64) - 1, 1 << 64)),
    st.integers(0, 1 << 20).map(lambda n: n * PAGE_SIZE),
    st.integers(-(1 << 70), 1 << 70),
)


def _mostly(good: st.SearchStrategy, bad: st.SearchStrategy, odds: int = 12,
            wild: bool = True) -> st.SearchStrategy:
    """``good`` about ``odds`` times in ``odds + 1`` (always, unless ``wild``): wild values,
    but runs that get far."""
    if not wild:
        return good
    # (one_of would not do: it draws its branches about evenly however often one is repeated)
    return st.integers(0, odds).flatmap(lambda pick: bad if pick == 0 else good)


_SANE_INTS = st.one_of(st.integers(0, 1 << 12).map(lambda n: n * PAGE_SIZE),
                       st.sampled_from((0x7F0000000000, 0x555555554000, 0xF7F00000)))


def _wild_number(hexa: bool = False, wild: bool = True) -> st.SearchStrategy[str]:
    def spell(v: int) -> str:
        return hex(v) if hexa and v > 0 else str(v)

    absurd = st.integers(4000, 6000).map(lambda n: "9" * n)  # past int()'s 4,300 digits
    odd = st.sampled_from(("NULL", "-1", "0x", "1e3", "", " ", "0xZZ", "٣"))
    return _mostly(_SANE_INTS.map(spell), st.one_of(_WILD_INTS.map(spell), absurd, odd), 6, wild)


def _flag_text(names, wild: bool = True) -> st.SearchStrategy[str]:
    known = st.lists(st.sampled_from(sorted(names)), min_size=1, max_size=4, unique=True)
    extra = _mostly(st.just(""), st.sampled_from((
        "|0x200", "|0x4 /* MAP_??? */", "|21<<MAP_HUGE_SHIFT", "|BOGUS_FLAG", "|" + "9" * 4400)),
        wild=wild)
    return _mostly(st.builds(lambda ns, x: "|".join(ns) + x, known, extra),
                   _wild_number(hexa=True), 8, wild)


_PATH_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


def _quoted_path(wild: bool = True) -> st.SearchStrategy[str]:
    """A path as strace quotes it, with the escapes it uses and (``wild``) some it never would."""
    escape = st.sampled_from(('\\n', '\\"', '\\\\', '\\x3e', '\\76')
                             + (('\\0', '\\', '"') if wild else ()))
    return st.lists(st.one_of(_PATH_TEXT.map(lambda t: t.replace('"', '\\"').replace("\n", "\\n")),
                              escape), max_size=4).map("".join)


def _ret_text(wild: bool = True) -> st.SearchStrategy[str]:
    return _mostly(_SANE_INTS.map(lambda v: hex(v) if v else "0"), st.sampled_from((
        "0", "?", "-1 ENOMEM (Cannot allocate memory)", "-1 EINVAL (Invalid argument)",
        "-1 EPERM (Operation not permitted)", "1", "0x30 (SECBIT_KEEP_CAPS|SECBIT_KEEP_CAPS_LOCKED)",
        "-1 EBOGUS (Nope)", "? ERESTARTNOINTR (To be restarted)", "0x7f0000000000 <0.000012>",
        "0x7f0000000000 garbage", "0 (PER_LINUX)", "3</tmp/x>", "", "9" * 4400)), 4, wild)


def _cap_set_text(wild: bool = True) -> st.SearchStrategy[str]:
    """A capability set as strace prints it (print_cap_bits: the low word, the high word):
    names, ``0``, ``~(...)``, -X raw words, -X verbose comments, an unnamed high-word rest."""
    from simulator.trace import xlat

    names = st.lists(st.sampled_from(sorted(xlat.CAP_NAMES)), min_size=1, max_size=5,
                     unique=True).map(lambda ns: "|".join("1<<" + n for n in ns))
    word = st.integers(0, (1 << 32) - 1).map(hex)
    good = st.one_of(
        st.just("0"), names, names.map(lambda t: f"~({t})"),
        st.builds("{}|{}".format, word, word),  # -X raw
        st.builds("{} /* {} */".format, word, names),  # -X verbose
        names.map(lambda t: t + "|0x400 /* CAP_??? */"), word)
    bad = st.sampled_from(("1<<CAP_BOGUS", "1<<", "|", "~(", "0x1|0x2|0x3", "0x1ffffffff",
                           "1<<CAP_CHOWN /* unterminated", "9" * 30, "٣", ""))
    return _mostly(good, bad, 6, wild)


def _rlimit_text(wild: bool = True) -> st.SearchStrategy[str]:
    """``{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}`` and other spellings."""
    value = _mostly(st.one_of(
        st.sampled_from(("RLIM_INFINITY", "RLIM64_INFINITY", "0", "4095")),
        st.integers(0, 1 << 40).map(str),
        st.integers(0, 1 << 20).map(lambda n: f"{n}*1024"),
        st.integers(0, 1 << 30).map(lambda n: f"{n} /* {n // 1024}*1024 */")),
        st.sampled_from(("-1", "1*", "*1024", "9" * 40, "99999999999999999999*1024", "x", "")),
        6, wild)
    good = st.one_of(st.builds("{{rlim_cur={}, rlim_max={}}}".format, value, value),
                     st.sampled_from(("NULL", "0x7ffc12345678")))
    return _mostly(good, st.sampled_from(("{rlim_cur=1}", "{rlim_cur=1, rlim_max=}", "{", "}")),
                   8, wild)


def _cred_shapes(n, hx, wild: bool = True) -> dict:
    """Argument strategies of the credential and limit calls (replay_creds)."""
    from simulator.trace import xlat

    def flags(names):
        return _flag_text(names, wild)

    ident = _mostly(st.sampled_from(("0", "-1", "65534", "1000")), n, 4, wild)
    header = st.builds("{{version={}, pid={}}}".format,
                       st.sampled_from(("_LINUX_CAPABILITY_VERSION_3", "0x20080522",
                                        "0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */",
                                        "0 /* _LINUX_CAPABILITY_VERSION_??? */")),
                       _mostly(st.sampled_from(("0", "7", "12")), n, 6, wild))
    caps = _cap_set_text(wild)
    data = _mostly(st.builds("{{effective={}, permitted={}, inheritable={}}}".format,
                             caps, caps, caps), st.sampled_from(("NULL", "0x10")), 6, wild)
    resource = flags(xlat.RLIMIT_NAMES)
    limit = _rlimit_text(wild)
    prctl_option = st.sampled_from(sorted(xlat.PR_NAMES) + ["0x8", "0x1c", "PR_SET_NAME",
                                                           "0x18 /* PR_CAPBSET_DROP */"])
    prctl_arg = st.one_of(n, flags(xlat.SECBIT_NAMES), flags(xlat.CAP_NAMES),
                          st.just("0x63 /* CAP_??? */"))
    shapes = {name: [ident] * count for name, count in (
        ("setuid", 1), ("setgid32", 1), ("setreuid", 2), ("setregid32", 2),
        ("setresuid", 3), ("setresuid32", 3), ("setresgid", 3))}
    shapes.update({
        "capset": [header, data], "capget": [header, data],
        "prlimit64": [ident, resource, limit, limit],
        "setrlimit": [resource, limit], "getrlimit": [resource, limit],
        "ugetrlimit": [resource, limit],
        "prctl": [prctl_option, prctl_arg],
        "shmctl": [n, flags(xlat.IPC_CMD_NAMES), _mostly(st.just("NULL"), st.sampled_from((
            "{shm_perm={uid=0, gid=0, mode=0600}, shm_segsz=4096, ...}", "0x7ffc0000", "{")),
            3, wild)],
    })
    return shapes


def _json_values(good: st.SearchStrategy) -> st.SearchStrategy:
    """``good``, or a JSON value of another shape (a recording's meta.json edited by hand)."""
    odd = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70),
                    st.floats(allow_nan=False), st.text(max_size=8),
                    st.lists(st.integers(-2, 70000), max_size=5), st.dictionaries(
                        st.text(max_size=4), st.integers(), max_size=2))
    return _mostly(good, odd, 4)


def recording_meta_patches() -> st.SearchStrategy[dict]:
    """Keys of a recording's meta.json as a person or another tool might write them: the
    ``creds`` (/proc/PID/status ids and capability masks), ``rlimits`` (/proc/PID/limits),
    ``stat_mm_initial``, ``auxv``, ``personality`` and ``rlimit_stack`` that replay starts
    from, plausible or not."""
    from simulator.kernel.resource import RLIMIT_NAMES

    ident = st.one_of(st.sampled_from((0, 65534, 1000)), st.integers(-5, 1 << 33))
    ids = _json_values(st.lists(ident, min_size=4, max_size=4))
    mask = _json_values(st.one_of(st.integers(0, (1 << 41) - 1).map(hex),
                                  st.sampled_from(("0x0", "1fffeffffff", "0x", "-0x1", "zz"))))
    creds = st.fixed_dictionaries({"uid": ids, "gid": ids, "CapEff": mask}, optional={
        "CapPrm": mask, "CapInh": mask, "CapBnd": mask,
        "groups": _json_values(st.lists(ident, max_size=3))})
    value = st.one_of(st.sampled_from(("unlimited", 0, 4096, 8388608)),
                      st.integers(-(1 << 65), 1 << 65), st.sampled_from(("8M", "", "-1")))
    pair = _json_values(st.lists(value, min_size=2, max_size=2))
    rlimits = st.dictionaries(st.sampled_from(sorted(RLIMIT_NAMES) + ["RLIMIT_BOGUS"]), pair,
                              max_size=4)
    page = st.one_of(st.integers(0, 1 << 48).map(lambda v: hex(v & ~0xFFF)),
                     st.sampled_from(("0x555555560000", "0x1001", "nothex", "0x" + "f" * 30)))
    return st.fixed_dictionaries({}, optional={
        "creds": _json_values(creds), "rlimits": _json_values(rlimits),
        "stat_mm_initial": _json_values(st.fixed_dictionaries({"start_brk": _json_values(page)})),
        "auxv": _json_values(st.fixed_dictionaries({}, optional={
            "AT_BASE": _json_values(page), "AT_UID": _json_values(page)})),
        "personality": _json_values(st.lists(st.sampled_from(
            ("PER_LINUX", "ADDR_NO_RANDOMIZE", "ADDR_LIMIT_3GB", "BOGUS")), max_size=3)),
        "personality_raw": _json_values(st.sampled_from(("0x00040000", "0x00000000", "x"))),
        "rlimit_stack": _json_values(value),
    })


@st.composite
def strace_calls(draw, wild: bool = True) -> str:
    """One call's text after the leader: ``name(args) = ret``, without the leader; with
    ``wild=False`` every value is one strace could print (the call may still fail)."""
    from simulator.kernel.uapi import MAP_NAMES, MREMAP_NAMES, PROT_NAMES
    from simulator.trace import xlat

    n, hx = _wild_number(wild=wild), _wild_number(hexa=True, wild=wild)
    fd = _mostly(st.sampled_from(("-1", "3", "4")), _quoted_path(wild).map(lambda p: f"3<{p}>"), 3,
                 wild)
    path = _quoted_path(wild)

    def flags(names):
        return _flag_text(names, wild)

    shapes = {
        "mmap": [hx, n, flags(PROT_NAMES), flags(MAP_NAMES), fd, hx],
        "mmap2": [hx, n, flags(PROT_NAMES), flags(MAP_NAMES), fd, hx],
        "munmap": [hx, n],
        "mprotect": [hx, n, flags(PROT_NAMES)],
        "mremap": [hx, n, n, flags(MREMAP_NAMES), hx],
        "brk": [hx],
        "madvise": [hx, n, flags(xlat.MADV_NAMES)],
        "mlock2": [hx, n, flags(xlat.MLOCK_NAMES)],
        "mlockall": [flags(xlat.MCL_NAMES)],
        "munlockall": [],
        "syscall_0x1ce": [hx, hx, hx, hx, hx, hx],
        "shmat": [n, hx, flags(xlat.SHMAT_NAMES)],
        "shmget": [st.just("IPC_PRIVATE"), n, st.just("IPC_CREAT|0600")],
        "pkey_mprotect": [hx, n, flags(PROT_NAMES), n],
        "process_madvise": [n, st.builds("[{{iov_base={}, iov_len={}}}]".format, hx, n), n,
                            flags(xlat.MADV_NAMES), n],
        "personality": [flags(xlat.PERSONALITY_NAMES)],
        "clone": [st.just("child_stack=NULL"),
                  flags(xlat.CLONE_NAMES).map(lambda f: f"flags={f}|SIGCHLD")],
        "clone3": [flags(xlat.CLONE_NAMES).map(lambda f: f"{{flags={f}, exit_signal=SIGCHLD}}"),
                   st.just("88")],
        "vfork": [],
        "execve": [path.map('"{}"'.format),
                   path.map('["{}"]'.format), st.just("0x7ffc /* 1 var */")],
        "openat": [st.just("AT_FDCWD"), path.map('"{}"'.format),
                   st.sampled_from(("O_RDONLY", "O_RDWR|O_CREAT"))],
        "chdir": [path.map('"{}"'.format)],
        "close": [fd],
        "exit_group": [n],
        "frobnicate": [n],
        **_cred_shapes(n, hx, wild),
    }
    name = draw(st.sampled_from(sorted(shapes)))
    args = [draw(arg) for arg in shapes[name]]
    if wild and args and draw(st.integers(0, 30)) == 0:
        args = args[:-1]  # a missing argument
    if name in ("clone", "clone3", "vfork") and not wild:
        ret = str(draw(st.integers(2, 1 << 22)))  # a child pid
    else:
        ret = draw(_ret_text(wild))
    return f"{name}({', '.join(args)}) = {ret}"


@st.composite
def strace_logs(draw) -> str:
    """A whole log: lines of a few pids with -o/-terminal leaders and stamps, calls split into
    ``<unfinished ...>`` / ``<... resumed>`` halves and interleaved across pids, exit and signal
    lines, program output, and now and then a damaged line (truncated, CRLF, NUL, garbage).
    Half the logs are tame: every value one strace could print, so that replay gets far."""
    wild = draw(st.booleans())
    pids = draw(st.lists(_mostly(st.integers(1, 1 << 22), st.sampled_from((-5, 0, 1 << 40)), 20,
                                 wild),
                         min_size=1, max_size=4, unique=True))
    leader = draw(st.sampled_from(("{pid}  ", "[pid {pid:5}] ", "", "{pid}  {stamp} ")))
    stamps = st.sampled_from(("05:30:01.123456", "1700000000.123456", "0.000012", "05:30:01"))
    lines: list[str] = []
    pending: list[tuple[int, str, str]] = []  # (pid, name, rest of the split line)
    for _ in range(draw(st.integers(1, 25))):
        pid = draw(st.sampled_from(pids))
        prefix = leader.format(pid=pid, stamp=draw(stamps))
        kind = draw(st.integers(0, 19 if wild else 15))
        if kind < 12:
            call = draw(strace_calls(wild))
            if kind < 4 and ") = " in call:  # split it; resume later, perhaps never
                head, _, ret = call.rpartition(") = ")
                cut = draw(st.integers(head.index("(") + 1, len(head)))
                lines.append(f"{prefix}{head[:cut]} <unfinished ...>")
                pending.append((pid, call[: call.index("(")], f"{head[cut:]}) = {ret}"))
            else:
                lines.append(prefix + call)
        elif kind < 15 and pending:
            index = draw(st.integers(0, len(pending) - 1))
            owner, name, rest = pending.pop(index)
            owner = owner if draw(st.integers(0, 5)) else draw(st.sampled_from(pids))
            lines.append(leader.format(pid=owner, stamp=draw(stamps))
                         + f"<... {name} resumed>{rest}")
        elif kind == 15:
            lines.append(prefix + draw(st.sampled_from((
                "+++ exited with 0 +++", "+++ killed by SIGKILL +++",
                "+++ killed by SIGSEGV (core dumped) +++", f"+++ exited with {'9' * 4400} +++",
                "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---",
                f"+++ superseded by execve in pid {pid} +++"))))
        elif kind == 16:
            lines.append(draw(_PATH_TEXT))  # program output on a terminal log
        elif kind == 17:
            name = draw(st.sampled_from(("mmap", "munmap", "clone", "execve", "wait4")))
            lines.append(f"{prefix}<... {name} resumed>) = 0")  # nothing to resume
        else:
            lines.append(prefix + draw(strace_calls()) + draw(st.sampled_from(
                ("\r", " ", " garbage", "\0", "", "x" * 20000))))
    if not wild:  # every split call resumes
        lines += [leader.format(pid=pid, stamp="05:30:02") + f"<... {name} resumed>{rest}"
                  for pid, name, rest in pending]
    text = "\n".join(lines)
    if wild and draw(st.integers(0, 5)) == 0:
        text = text[: draw(st.integers(0, len(text)))]  # truncated
    return text + draw(_mostly(st.just("\n"), st.sampled_from(("", "\r\n")), 3, wild))


def _maps_line(start: int, end: int, perms: str, offset: int, dev: str, inode: int | str,
               name: str) -> str:
    head = f"{start:08x}-{end:08x} {perms} {offset:08x} {dev} {inode} "
    return head + " " * max(0, 72 - len(head)) + name if name else head


@st.composite
def maps_texts(draw) -> str:
    """/proc/PID/maps, smaps or gdb 'info proc mappings' text: mostly well formed, with
    overlapping or reversed ranges, values past 64 bits, bad perms, missing fields, huge
    inodes, NULs and CRLF mixed in.  Half the files are tame: what the kernel or gdb prints."""
    wild = draw(st.booleans())
    style = draw(st.sampled_from(("maps", "smaps", "gdb")))
    addresses = st.one_of(st.integers(0, 1 << 36).map(lambda n: n * PAGE_SIZE),
                          st.sampled_from((0, 1 << 47, (1 << 64) - PAGE_SIZE, 1 << 64, 1 << 80)),
                          st.integers(0, 1 << 48))
    perms = _mostly(st.sampled_from(("r--p", "rw-p", "r-xp", "---p", "rw-s")),
                    st.text("rwxps-z", min_size=0, max_size=6), 20, wild)
    names = _mostly(st.sampled_from(("", "[heap]", "[stack]", "[vdso]", "[vvar]", "[vsyscall]",
                                       "/usr/lib/x86_64-linux-gnu/libc.so.6", "/dev/zero (deleted)",
                                       "[anon:x]", "/memfd:a (deleted)")), _PATH_TEXT, 4, wild)
    inodes = _mostly(st.integers(0, 1 << 30), st.one_of(
        st.just(1 << 64), st.integers(4400, 5000).map(lambda n: "9" * n)), 20, wild)
    lines = []
    start = draw(st.integers(0, 1 << 20)) * PAGE_SIZE
    for _ in range(draw(st.integers(0 if wild else 1, 12))):
        if not wild or draw(st.integers(0, 20)):
            start = start + draw(st.integers(0, 64)) * PAGE_SIZE  # in order, mostly
            end = start + draw(st.integers(1, 64)) * PAGE_SIZE
        else:
            start, end = draw(addresses), draw(addresses)
        perm, name = draw(perms), draw(names)
        offset = draw(_mostly(st.just(0), addresses, 3, wild))
        if style == "gdb":
            size = end - start if not wild or draw(st.integers(0, 20)) else draw(addresses)
            lines.append(f"  {start:#18x} {end:#18x} {size:#10x} {offset:#10x}  {perm:5.5}  {name}")
        else:
            dev = draw(_mostly(st.sampled_from(("00:00", "fe:01", "103:0a")),
                               st.sampled_from(("zz:00", "123456789:0")), 20, wild))
            lines.append(_maps_line(start, end, perm, offset, dev, draw(inodes), name))
            if style == "smaps":
                lines += ["Size:                  4 kB", "Rss:                   0 kB",
                          draw(_mostly(st.sampled_from(("VmFlags: rd wr mr mw me ac ",
                                                        "VmFlags: rd ex mr mw me gd ",
                                                        "THPeligible:    0")),
                                       st.sampled_from(("VmFlags: ", "Bogus line")), 20, wild))]
        start = end
        if wild and draw(st.integers(0, 40)) == 0:
            lines.append(draw(st.sampled_from(("", "garbage", "0-", "\0", "Size: 4 kB"))))
    if style == "gdb":
        lines = ["process 5189", "Mapped address spaces:", "",
                 "          Start Addr           End Addr       Size     Offset  Perms  objfile",
                 *lines]
    return draw(_mostly(st.just("\n"), st.just("\r\n"), 6, wild)).join(lines) + "\n"
