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
