"""Stack growth: page faults below MAP_GROWSDOWN VMAs (mm/vma.c ``expand_downwards``,
``acct_stack_growth``; arch/x86/mm/fault.c; mm/mmap_lock.c ``lock_mm_and_find_vma``).

Differential like tests/test_rules_mmap.py: ``touch ADDR r|w`` in the probe is a one-byte
access whose outcome (ok / SIGSEGV) the kernel decides; the model replays it from the probe's
initial state and must agree on every outcome and on the VMAs afterwards. The runtime
setrlimit, the event reasons and the pre-4.12 guard page are model-only (the probe has no
setrlimit op, events are the model's, and no 4.11 kernel runs here).

``G = 0x7f0000000000`` is the top of a test stack, far from the probe's own mappings.
"""

from __future__ import annotations

from simulator.kernel import events as ev
from simulator.kernel.arch import get_profile
from simulator.kernel.config import GuardMode, KernelConfig, ProcessConfig
from simulator.kernel.exec import exec_layout
from simulator.kernel.stack import Fault
from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MAP_FIXED, MAP_GROWSDOWN, MAP_PRIVATE, PROT_NONE, PROT_READ,
    PROT_WRITE,
)
from simulator.programs import typical_program
from simulator.units import MiB, PAGE_SIZE, RLIM_INFINITY
from test_rules_mmap import both, mmap_op

P = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
GD = FIXED | MAP_GROWSDOWN
G = 0x7F0000000000
GUARD = 256 * P  # stack_guard_gap, mm/mmap.c


def stack_range(b, i, top=G + 16 * P):
    vma = b.vma(i, top - 1)
    return vma.start, vma.end


# --------------------------------------------------------------------------- growth

def test_growth_by_any_distance(probes):
    """arch/x86/mm/fault.c: x86 has no "below the stack pointer" check any more, so a fault
    anywhere below a VM_GROWSDOWN VMA (with nothing in between) grows it down to the faulting
    page (``expand_downwards``: ``vm_start = address & PAGE_MASK``)::

        G-1000P <- touch            G [GROWSDOWN 16P]   => one VMA [G-1000P, G+16P)
    (Observed: growth by 1000 pages in one fault, kernel-rules.md §7.1)."""
    ops = [mmap_op(G, 16 * P, RW, GD), f"touch {G - 1000 * P + 123:#x} w"]
    b = both(probes, ops)
    assert b.kernel(1) == "ok"
    assert stack_range(b, 1) == (G - 1000 * P, G + 16 * P)
    b.assert_model_agrees()
    grown = [e for e in b.mm.events if isinstance(e, ev.StackGrown)]
    assert [(e.old_start, e.new_start) for e in grown] == [(G, G - 1000 * P)]


def test_no_growth_below_a_non_growsdown_vma(probes):
    """mm/mmap_lock.c ``lock_mm_and_find_vma``: ``find_vma`` returns the first VMA above the
    address; if it is not VM_GROWSDOWN the access is SIGSEGV — a stack cannot grow *through*
    another VMA, and an ordinary VMA never grows."""
    ops = [mmap_op(G, 16 * P, RW, GD), mmap_op(G - 4 * P, P, RW, FIXED),
           f"touch {G - 8 * P:#x} r", mmap_op(G - 0x100000, P, RW, FIXED),
           f"touch {G - 0x101000:#x} r"]
    b = both(probes, ops)
    assert b.kernel(2) == "SIGSEGV" and b.kernel(4) == "SIGSEGV"
    b.assert_model_agrees()


def test_guard_gap_to_an_accessible_neighbour(probes):
    """mm/vma.c ``expand_downwards``: ENOMEM (→ SIGSEGV) if the previous VMA is accessible, not
    VM_GROWSDOWN, and ``address - prev->vm_end < stack_guard_gap`` (256 pages)::

        N [r--] N.end ...... G-1001P <- touch    G-1000P [stack grown to here]
        N.end = G-1256P: distance 255 pages -> SIGSEGV
        N one page lower (N.end = G-1257P): distance 256 -> ok; then G-1002P: 255 -> SIGSEGV
    (Observed: 255 pages SIGSEGV, 256 ok, kernel-rules.md §7.2)."""
    n_end_a = G - 1256 * P  # an r-- page [G-1257P, G-1256P)
    n_end_b = G - 1257 * P  # the same page one page lower
    ops = [mmap_op(G, 16 * P, RW, GD), f"touch {G - 1000 * P:#x} w",
           mmap_op(n_end_a - P, P, PROT_READ, FIXED), f"touch {G - 1001 * P:#x} r",
           f"munmap {n_end_a - P:#x} {P:#x}", mmap_op(n_end_b - P, P, PROT_READ, FIXED),
           f"touch {G - 1001 * P:#x} r", f"touch {G - 1002 * P:#x} r"]
    b = both(probes, ops)
    assert (G - 1001 * P) - n_end_a == 255 * P
    assert b.kernel(3) == "SIGSEGV"
    assert (G - 1001 * P) - n_end_b == 256 * P
    assert b.kernel(6) == "ok" and b.kernel(7) == "SIGSEGV"
    assert stack_range(b, 7) == (G - 1001 * P, G + 16 * P)
    b.assert_model_agrees()
    refused = [e for e in b.mm.events if isinstance(e, ev.StackGrowthRefused)]
    assert [(e.addr, e.reason) for e in refused] == [(G - 1001 * P, "guard-gap"),
                                                     (G - 1002 * P, "guard-gap")]
    assert refused[1].neighbour == ev.Region(n_end_b - P, n_end_b, "r--p", "")


def test_prot_none_neighbour_does_not_block(probes):
    """mm/vma.c ``expand_downwards`` only keeps the gap to an *accessible* neighbour
    (``vma_is_accessible``): a PROT_NONE VMA below lets the stack grow right up to it (adjacent,
    not merged); below that VMA ``find_vma`` finds the PROT_NONE VMA → SIGSEGV::

        [---p N] [stack grown down to N.end] ... G
    (Observed, kernel-rules.md §7.2)."""
    n = G - 300 * P
    ops = [mmap_op(G, 16 * P, RW, GD), mmap_op(n, P, PROT_NONE, FIXED),
           f"touch {n + P:#x} r", f"touch {n - P:#x} r"]
    b = both(probes, ops)
    assert b.kernel(2) == "ok" and b.kernel(3) == "SIGSEGV"
    assert stack_range(b, 2) == (n + P, G + 16 * P)
    b.assert_model_agrees()


def test_growsdown_neighbour_does_not_block(probes):
    """mm/vma.c ``expand_downwards``: a VM_GROWSDOWN neighbour is exempt from the gap test, so
    one stack grows right up to the stack below it (the two never merge)."""
    low = G - 300 * P
    ops = [mmap_op(G, 16 * P, RW, GD), mmap_op(low, P, RW, GD), f"touch {low + P:#x} w"]
    b = both(probes, ops)
    assert b.kernel(2) == "ok"
    assert stack_range(b, 2) == (low + P, G + 16 * P)
    b.assert_model_agrees()


def test_prot_none_growsdown_vma_grows_then_faults(probes):
    """arch/x86/mm/fault.c: growth happens before ``access_error()``, so a PROT_NONE
    VM_GROWSDOWN VMA grows to the faulting page and the access is then SIGSEGV
    (Observed, kernel-rules.md §7.1)."""
    ops = [mmap_op(G, P, PROT_NONE, GD), f"touch {G - P:#x} r"]
    b = both(probes, ops)
    assert b.kernel(1) == "SIGSEGV"
    assert stack_range(b, 1, top=G + P) == (G - P, G + P)
    b.assert_model_agrees()


def test_rlimit_stack_bounds_the_whole_vma(probes):
    """mm/vma.c ``acct_stack_growth``: ENOMEM if ``vma->vm_end - new_start >
    rlimit(RLIMIT_STACK)`` — the size of the whole VMA, not the increment. With RLIMIT_STACK =
    16 pages a 1-page growsdown VMA reaches 16 pages, the 17th page faults
    (Observed, kernel-rules.md §7.2; the probe runs with ``ulimit -s 64``)."""
    ops = [mmap_op(G, P, RW, GD), f"touch {G - 15 * P:#x} w", f"touch {G - 16 * P:#x} w"]
    b = both(probes, ops, rlimit=16 * P)
    assert b.kernel(1) == "ok" and b.kernel(2) == "SIGSEGV"
    assert stack_range(b, 2, top=G + P) == (G - 15 * P, G + P)
    b.assert_model_agrees()
    reasons = [e.reason for e in b.mm.events if isinstance(e, ev.StackGrowthRefused)]
    assert reasons == ["rlimit"]


def test_growth_stops_at_mmap_min_addr(probes):
    """mm/vma.c ``expand_downwards``: ``address < mmap_min_addr`` → EPERM (SIGSEGV); the
    effective mmap_min_addr is 65536 here::

        0x10000 <- touch ok    0x11000 [GROWSDOWN]
        0xf000  <- touch SIGSEGV
    Measured on Linux 6.18 with tests/probe (setarch x86_64 -R)."""
    ops = [mmap_op(0x11000, P, RW, GD), "touch 0x10000 w", "touch 0xf000 w"]
    b = both(probes, ops)
    assert (b.kernel(1), b.kernel(2)) == ("ok", "SIGSEGV")
    b.assert_model_agrees()
    reasons = [e.reason for e in b.mm.events if isinstance(e, ev.StackGrowthRefused)]
    assert reasons == ["mmap_min_addr"]


def test_main_stack_grows_too(probes):
    """The exec-time [stack] is VM_GROWSDOWN like any other (fs/exec.c ``setup_arg_pages``):
    an access 64 pages below it grows it (RLIMIT_STACK 8 MiB is far away)."""
    b = both(probes, ["touch 0x7ffffff9e000 w"])
    assert b.kernel(0) == "ok"
    stack = b.vma(0, 0x7FFFFFFFE000)
    assert (stack.start, stack.end, stack.path) == (0x7FFFFFF9E000, 0x7FFFFFFFF000, "[stack]")
    b.assert_model_agrees()


# --------------------------------------------------------------------------- model only

def _fresh(kconfig: KernelConfig = KernelConfig(), rlimit_stack: int = 8 * MiB):
    profile = get_profile("x86_64")
    return exec_layout(profile, *typical_program(profile), kconfig=kconfig,
                       proc=ProcessConfig(rlimit_stack=rlimit_stack))


def test_setrlimit_at_runtime_applies_to_later_growth():
    """mm/vma.c ``acct_stack_growth`` reads ``rlimit(RLIMIT_STACK)`` at fault time, so a later
    setrlimit changes how far stacks may grow (while the layout chosen at exec stays:
    arch_pick_mmap_layout ran once). 1-page stack at G: with 16 pages the 17th page faults;
    after raising the limit to 32 pages it grows to 32, not 33."""
    mm = _fresh(rlimit_stack=16 * P)
    base = mm.mmap_base
    assert mm.mmap(G, P, RW, GD) == G
    assert mm.touch(G - 16 * P) is Fault.SIGSEGV
    mm.setrlimit_stack(32 * P)
    assert mm.mmap_base == base
    assert mm.touch(G - 31 * P) is Fault.OK
    assert mm.touch(G - 32 * P) is Fault.SIGSEGV
    mm.setrlimit_stack(RLIM_INFINITY)
    assert mm.touch(G - 1000 * P) is Fault.OK
    assert mm.vma_at(G).start == G - 1000 * P
    mm._check()


def test_stack_growth_refused_reasons():
    """The model's StackGrowthRefused.reason names the failing test of mm/vma.c
    ``expand_downwards``/``acct_stack_growth``: "guard-gap" (with the neighbour),
    "rlimit", "mmap_min_addr", "address-space" (RLIMIT_AS, ``may_expand_vm``)."""
    mm = _fresh(rlimit_stack=64 * P)
    assert mm.mmap(G, P, RW, GD) == G
    assert mm.mmap(G - 100 * P, P, PROT_READ, FIXED) == G - 100 * P
    assert mm.touch(G - 10 * P) is Fault.SIGSEGV  # 89 pages above the r-- page < 256
    assert mm.munmap(G - 100 * P, P) == 0
    assert mm.touch(G - 64 * P) is Fault.SIGSEGV  # 65 pages > RLIMIT_STACK
    assert mm.mmap(0x11000, P, RW, GD) == 0x11000
    assert mm.touch(0xF000) is Fault.SIGSEGV
    refused = [e for e in mm.events if isinstance(e, ev.StackGrowthRefused)]
    assert [e.reason for e in refused] == ["guard-gap", "rlimit", "mmap_min_addr"]
    assert refused[0].neighbour == ev.Region(G - 100 * P, G - 99 * P, "r--p", "")
    assert refused[1].neighbour is None

    # RLIMIT_AS: room for the exec layout, the 1-page stack and one page of growth
    # (acct_stack_growth -> may_expand_vm: total_vm + grow > RLIMIT_AS pages -> ENOMEM)
    total = _fresh().total_vm()
    profile = get_profile("x86_64")
    tight = exec_layout(profile, *typical_program(profile),
                        proc=ProcessConfig(rlimit_as=total + 2 * P))
    assert tight.mmap(G, P, RW, GD) == G
    assert tight.touch(G - P) is Fault.OK
    assert tight.touch(G - 2 * P) is Fault.SIGSEGV
    assert [e.reason for e in tight.events
            if isinstance(e, ev.StackGrowthRefused)] == ["address-space"]


# --------------------------------------------------------------------------- pre-4.12 guard page

def _pre412():
    return _fresh(KernelConfig(guard_mode=GuardMode.PAGE))


def test_pre_4_12_mapping_may_be_placed_right_below_a_stack():
    """Before 4.12 there was no ``stack_guard_gap`` (1be7107fbe18 "mm: larger stack guard gap,
    between vmas" added ``vm_start_gap``), so placement treats a growsdown VMA like any other:
    a hint ending exactly at its start is honoured, and the top-down search fills the gap
    right below it::

        G-P [hint, accepted]  G [GROWSDOWN]            (4.12+: rejected, 1 MiB away)
    Derived from mm/mmap.c of 4.11 (``arch_get_unmapped_area_topdown`` tested
    ``addr + len <= vma->vm_start``)."""
    mm = _pre412()
    assert mm.stack_guard_gap == 0
    assert mm.mmap(G, 16 * P, RW, GD) == G
    assert mm.mmap(G - P, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS) == G - P
    new = _fresh()
    assert new.mmap(G, 16 * P, RW, GD) == G
    assert new.mmap(G - P, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS) != G - P


def test_pre_4_12_growth_stops_one_page_short():
    """mm/memory.c ``check_stack_guard_page`` (2.6.36–4.11), called from
    ``do_anonymous_page``: a fault on the lowest page of a VM_GROWSDOWN VMA first grows the
    VMA one more page (``expand_downwards(vma, address - PAGE_SIZE)``) — the new lowest page is
    the guard — and if a VMA ends exactly at that page (``prev->vm_end == address``) the fault
    is SIGSEGV (unless prev is the same stack split). So with a mapping M below, the stack
    can use pages down to M.end + P; M.end itself is the unusable guard page::

        M [r--]  M.end [guard, SIGSEGV]  M.end+P [usable] ...  G [stack]
    4.12+ instead stops 256 pages above M. Derivation only (no 4.11 kernel here)."""
    mm = _pre412()
    assert mm.mmap(G, 16 * P, RW, GD) == G
    # no neighbour: touching one page below extends by that page plus a guard page
    assert mm.touch(G - P) is Fault.OK
    assert mm.vma_at(G).start == G - 2 * P
    m_end = G - 10 * P
    assert mm.mmap(m_end - P, P, PROT_READ, FIXED) == m_end - P
    assert mm.touch(m_end + P) is Fault.OK  # grows to m_end + P, then the guard to m_end
    assert mm.vma_at(G).start == m_end
    assert mm.touch(m_end) is Fault.SIGSEGV  # the guard page abuts M
    assert mm.vma_at(G).start == m_end
    refused = [e for e in mm.events if isinstance(e, ev.StackGrowthRefused)]
    assert [e.reason for e in refused] == ["guard-gap"]
    assert refused[0].neighbour == ev.Region(m_end - P, m_end, "r--p", "")
    mm._check()


def test_pre_4_12_two_stack_pieces_may_touch():
    """4.11 mm/memory.c ``check_stack_guard_page``: an abutting prev is fine if it is VM_GROWSDOWN too
    ("the same stack mapping that has gotten split"), so no SIGSEGV there."""
    mm = _pre412()
    assert mm.mmap(G, 16 * P, RW, GD) == G
    assert mm.mmap(G - 8 * P, P, RW, GD) == G - 8 * P
    assert mm.touch(G - 6 * P) is Fault.OK
    assert mm.vma_at(G).start == G - 7 * P
    assert mm.touch(G - 7 * P) is Fault.OK
    mm._check()
