"""The address space at exec (fs/exec.c, fs/binfmt_elf.c ``load_elf_binary``).

In the kernel's order: pick the layout (``arch_pick_mmap_layout``), set up the stack
(``setup_arg_pages``), map the executable, then its interpreter, then the vDSO
(``arch_setup_additional_pages``), and finally set the program break.
"""

from __future__ import annotations

import attrs

from simulator.kernel.arch import Profile
from simulator.kernel.aslr import (
    arch_align_stack, arch_mmap_rnd, arch_randomize_brk, randomize_stack_top,
)
from simulator.kernel.binfmt_elf import ElfImage, load_elf_binary, load_elf_interp
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.kernel.layout import arch_pick_mmap_layout
from simulator.kernel.mm import AddressSpace
from simulator.kernel.uapi import Errno
from simulator.kernel.unmapped_area import get_unmapped_area
from simulator.kernel.versions import kernel_rules
from simulator.kernel.vma import VM_EXEC, VM_STACK_FLAGS, Vma, new_anon_vma_id
from simulator.units import KiB, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, page_align

#: fs/exec.c setup_arg_pages: room the kernel reserves below the strings ("stack_expand").
STACK_EXPAND = 128 * KiB


@attrs.frozen
class ExecBases:
    """The random choices of one exec with ASLR on, fixed instead of drawn: what replay infers
    from a trace recorded with ASLR on. With these, :func:`exec_layout` draws nothing.

    ``mmap_rnd`` and ``load_rnd`` are the byte offsets ``arch_mmap_rnd`` gives the mmap base
    and the ET_DYN load base; ``stack_top`` the stack top after ``randomize_stack_top`` and
    ``arch_align_stack`` (None: not randomised); ``brk`` the start of the heap after
    ``arch_randomize_brk`` (None: not randomised).
    """

    mmap_rnd: int = 0
    load_rnd: int = 0
    stack_top: int | None = None
    brk: int | None = None


class ExecError(Exception):
    """The modelled exec failed (e.g. a fixed executable collides with the stack)."""


def empty_address_space(profile: Profile, kconfig: KernelConfig = KernelConfig(),
                        proc: ProcessConfig = ProcessConfig(),
                        mmap_rnd: int | None = None) -> AddressSpace:
    """An address space with its layout chosen but nothing mapped: for loading maps text."""
    mm = AddressSpace(profile, kconfig, proc)
    arch_pick_mmap_layout(mm, proc.rlimit_stack, mmap_rnd)
    return mm


def setup_arg_pages(mm: AddressSpace, exec_strings: int, exec_stack: bool,
                    top: int | None = None) -> Vma:
    """The main thread's stack VMA: its top (randomised when ASLR is on) and its size.

    ``copy_strings`` grew a one-page VMA to hold the strings (filename, environment, argv,
    plus a pointer); ``setup_arg_pages`` moves it under the top and extends it by up to 128 KiB,
    but not beyond RLIMIT_STACK.
    """
    if top is None:
        top = page_align(arch_align_stack(mm, randomize_stack_top(mm, mm.limits.stack_top)))
    strings = page_align(exec_strings + mm.profile.task_bits // 8) or PAGE_SIZE
    expand = min(mm.rlimit_stack & PAGE_MASK, strings + STACK_EXPAND)
    size = max(strings, expand)
    flags = VM_STACK_FLAGS | (VM_EXEC if exec_stack else 0)
    stack = Vma(top - size, top, flags, (top - size) >> PAGE_SHIFT, anon_vma=new_anon_vma_id())
    mm._insert(stack)
    mm.start_stack = top - exec_strings - mm.profile.task_bits // 8
    return stack


def arm_sigpage_hint(mm: AddressSpace, pages: int) -> int:
    """arch/arm/kernel/process.c ``sigpage_addr``: a random page between the stack and
    TASK_SIZE, drawn whether or not ASLR is on (with ASLR off the stack ends at TASK_SIZE,
    so the hint always falls inside it and is refused)."""
    first = page_align(mm.start_stack)
    last = mm.task_size - pages * PAGE_SIZE
    if first > last:
        return 0
    slots = ((last - first) >> PAGE_SHIFT) + 1
    return first + (mm.rng.randrange(slots) << PAGE_SHIFT)


def arch_setup_additional_pages(mm: AddressSpace) -> int | Errno:
    """The vDSO and friends (arch/x86/entry/vdso/vma.c ``map_vdso``, arch/arm64/kernel/vdso.c,
    arch/arm/kernel/process.c): each block is one ordinary placement (or a fixed address),
    then its special mappings at ascending addresses. Special mappings never merge."""
    for block in kernel_rules(mm.kconfig.version).specials_for(mm.profile.specials):
        pages = sum(p.pages for p in block.parts)
        if block.fixed is not None:
            addr = block.fixed
        else:
            hint = arm_sigpage_hint(mm, pages) if block.sigpage_hint else 0
            addr = get_unmapped_area(mm, None, hint, pages * PAGE_SIZE, 0, 0, 0)
            if isinstance(addr, Errno):
                return addr
        for part in block.parts:
            end = addr + part.pages * PAGE_SIZE
            mm._insert(Vma(addr, end, part.flags, 0, special=part.name))
            addr = end
    return 0


def mm_randomizes(profile: Profile, kconfig: KernelConfig, proc: ProcessConfig) -> bool:
    """PF_RANDOMIZE for an exec with this personality (fs/binfmt_elf.c load_elf_binary)."""
    return (not proc.personality & Personality.ADDR_NO_RANDOMIZE
            and kconfig.randomize_va_space != 0)


def exec_layout(profile: Profile, exe: ElfImage, interp: ElfImage | None = None, *,
                kconfig: KernelConfig = KernelConfig(),
                proc: ProcessConfig = ProcessConfig(),
                bases: ExecBases | None = None) -> AddressSpace:
    """Build the address space a successful execve of ``exe`` leaves behind.

    ``interp`` is the ELF interpreter (ld.so) for a dynamically linked ``exe``. ``bases``
    fixes the random choices when ASLR is on (else they are drawn from the seed). Raises
    :class:`ExecError` if a mapping fails, which for real programs means the kernel's exec
    would have failed too.
    """
    fixed = bases is not None and mm_randomizes(profile, kconfig, proc)
    mm = empty_address_space(profile, kconfig, proc, bases.mmap_rnd if fixed else None)
    setup_arg_pages(mm, proc.exec_strings, exe.exec_stack, bases.stack_top if fixed else None)
    load_base = mm.limits.pie_base + (bases.load_rnd if fixed else arch_mmap_rnd(mm))
    loaded = load_elf_binary(mm, exe, load_base)
    if isinstance(loaded, Errno):
        raise ExecError(f"mapping {exe.file.path} failed: {loaded.name}")
    mm.load_bias, elf_brk = loaded
    mm.exe_start = mm.load_bias + (exe.segments[0].vaddr & PAGE_MASK)
    if interp is not None:
        result = load_elf_interp(mm, interp)
        if isinstance(result, Errno):
            raise ExecError(f"mapping {interp.file.path} failed: {result.name}")
        mm.interp_base = result  # AT_BASE
    result = arch_setup_additional_pages(mm)
    if isinstance(result, Errno):
        raise ExecError(f"mapping the vDSO failed: {result.name}")
    brk = page_align(elf_brk)
    brk_moved = exe.dynamic and exe.interp is None
    if brk_moved:
        # A static PIE (or ld.so run directly) gets its heap at ELF_ET_DYN_BASE, away from
        # the mmap area, even with ASLR off ("binfmt_elf: Move brk for static PIE even if
        # ASLR disabled", 6.15).
        brk = page_align(mm.limits.pie_base)
    if mm.randomize and kconfig.randomize_va_space > 1:
        if not fixed:
            brk = arch_randomize_brk(mm, brk if brk_moved else brk + PAGE_SIZE)
        elif bases.brk is not None:
            brk = bases.brk
        else:  # the lowest start arch_randomize_brk can pick
            brk = page_align(brk if brk_moved else brk + PAGE_SIZE)
    mm.start_brk = mm.current_brk = brk
    mm.calls = 0
    mm.events.clear()
    return mm
