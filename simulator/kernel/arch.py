"""Architecture profiles: the numbers that make a 32-bit and a 64-bit address space differ.

Policy is data. Every profile runs the same engine; they differ only in these values, as
pyelftools serves ELFCLASS32 and ELFCLASS64 with one code path and a word size.

Provenance. ``x86_64`` and ``i686`` (a 32-bit process on an x86_64 kernel) are checked against
the real Linux 6.18 kernel this project is developed on (differential tests in tests/). Every
other profile, and x86_64 too, was measured on a real Linux 6.12.118 kernel of its
architecture and split under QEMU (tools/qemu/record.py, replayed by
tests/test_qemu_recordings.py); each profile's ``provenance`` says so. The values still name
the kernel source they come from.
"""

from __future__ import annotations

import enum

import attrs

from simulator.kernel.config import Personality
from simulator.kernel.vma import (
    VM_DONTDUMP, VM_DONTEXPAND, VM_EXEC, VM_IO, VM_MAYEXEC, VM_MAYREAD, VM_MAYWRITE, VM_PFNMAP,
    VM_READ,
)
from simulator.units import GiB, MiB, PAGE_SIZE, align_up, page_align


class Placement(enum.Enum):
    """Which ``get_unmapped_area`` family the architecture uses.

    ``X86``: arch/x86/kernel/sys_x86_64.c (``arch_get_unmapped_area[_topdown]``), built for
    x86_64 kernels only and used there for 64-bit and ia32 tasks. ``GENERIC``: mm/mmap.c
    ``generic_get_unmapped_area[_topdown]``, used by native i386 kernels and arm64. ``ARM``:
    arch/arm/mm/mmap.c (no mmap_min_addr in the hint test, fallback from mm->mmap_base).
    """

    X86 = "x86"
    GENERIC = "generic"
    ARM = "arm"

    #: Members are singletons compared by identity: hash them as objects (in C) rather than
    #: through Enum's Python-level ``__hash__``; every mmap looks its placement up by member.
    __hash__ = object.__hash__


@attrs.frozen
class TaskLimits:
    """The values that depend on the personality (ADDR_LIMIT_3GB moves all of them)."""

    #: TASK_SIZE: no mapping may end above it.
    task_size: int
    #: DEFAULT_MAP_WINDOW: placement stays below it unless a hint above it asks otherwise
    #: (x86 5-level paging, arm64 52-bit VAs). Equal to task_size elsewhere.
    map_window: int
    #: STACK_TOP: the end of the main thread's stack before randomisation.
    stack_top: int
    #: The top the mmap_base gap is measured from: the task size on x86
    #: (arch/x86/mm/mmap.c ``mmap_base(rnd, task_size)``), STACK_TOP in mm/util.c.
    mmap_top: int
    #: TASK_UNMAPPED_BASE: the legacy (bottom-up) base before randomisation.
    legacy_base: int
    #: ELF_ET_DYN_BASE: where a PIE executable is loaded before randomisation.
    pie_base: int


@attrs.frozen
class SpecialMapping:
    """A kernel-installed mapping such as [vdso] (``_install_special_mapping``)."""

    name: str
    pages: int
    flags: int


@attrs.frozen
class SpecialBlock:
    """Special mappings installed together at exec, in order (``arch_setup_additional_pages``).

    ``fixed`` places the block at that address (arm64 compat [vectors]); otherwise the block
    is placed like ``get_unmapped_area(NULL, hint, size, 0, 0)``, with ``hint`` from
    ``arm_sigpage_hint`` on 32-bit arm (a random page between the stack and TASK_SIZE, drawn
    even with ASLR off).
    """

    parts: tuple[SpecialMapping, ...]
    fixed: int | None = None
    sigpage_hint: bool = False


@attrs.frozen
class GateArea:
    """A mapping outside the mm's VMA tree that /proc/PID/maps still prints (``get_gate_vma``)."""

    name: str
    start: int
    end: int
    perms: str


@attrs.frozen
class Profile:
    """One kind of process on one kind of kernel."""

    name: str
    summary: str
    #: Where the numbers come from: "checked against ..." or "derived from source: ...".
    provenance: str
    #: Width of the kernel's ``unsigned long`` (wrap-around in the mmap_base arithmetic,
    #: and /proc/PID/maps column padding: ``25 + sizeof(void *) * 6 - 1``).
    kernel_bits: int
    #: Width of the process's pointers.
    task_bits: int
    limits: TaskLimits
    #: Limits under ADDR_LIMIT_3GB, where the architecture honours it (x86 ia32 tasks only).
    limits_3gb: TaskLimits | None
    placement: Placement
    #: mm/util.c treats RLIMIT_STACK = unlimited as a request for the legacy layout;
    #: x86 stopped doing so in 4.12 ("x86/mmap, ASLR: Do not treat unlimited-stack tasks as legacy mmap").
    legacy_if_unlimited_stack: bool
    #: ``mmap_rnd_bits`` default (CONFIG_ARCH_MMAP_RND_BITS or _COMPAT_BITS).
    mmap_rnd_bits: int
    #: Whether ``vm.mmap_rnd_compat_bits`` (rather than ``vm.mmap_rnd_bits``) governs this task.
    uses_compat_rnd_sysctl: bool
    #: STACK_RND_MASK, in pages.
    stack_rnd_mask: int
    #: arch_align_stack(): bytes of extra random offset below the stack top (x86: 8192).
    stack_align_random: int
    #: arch_randomize_brk(): the range brk start is randomised within.
    brk_rnd_range: int
    #: PMD_SIZE when the kernel places large anonymous mappings THP-aligned (64-bit only).
    thp_pmd_size: int | None
    #: MAP_32BIT is honoured (x86_64 64-bit syscalls).
    map_32bit: bool
    #: The toolchain's default link address for non-PIE executables.
    nonpie_base: int
    #: Special mappings at exec, block by block, in the order the kernel installs them.
    specials: tuple[SpecialBlock, ...]
    #: CONFIG_LSM_MMAP_MIN_ADDR of the kernel this profile describes (the floor the kernel
    #: enforces when it is above vm.mmap_min_addr).
    lsm_mmap_min_addr: int = 65536
    gate: GateArea | None = None
    #: glibc's ARCH_MIN_GUARD_SIZE for this architecture's userland (nptl/allocatestack.c
    #: raises a non-zero thread-stack guard to it): 64 KiB on aarch64, 0 elsewhere.
    min_thread_guard: int = 0
    #: glibc's MALLOC_ALIGNMENT for this userland: 16 (x86_64, i386, aarch64), 8 on 32-bit arm
    #: (measured on arm64 compat under QEMU: the DTV heap is a page smaller than on i386).
    malloc_alignment: int = 16
    #: FIRST_USER_ADDRESS: the lowest address a user mapping may have. 0 (include/linux/
    #: pgtable.h) except on 32-bit arm, 2 * PAGE_SIZE (arch/arm/include/asm/pgtable.h), where
    #: ``arch_mmap_check`` refuses a MAP_FIXED below it (EINVAL) and the top-down search
    #: stops at it (arch/arm/mm/mmap.c).
    first_user_address: int = 0
    #: CONFIG_ARCH_HAS_PKEYS: without it pkey_mprotect, pkey_alloc and pkey_free are
    #: kernel/sys_ni.c stubs (ENOSYS). x86_64 kernels (X86_INTEL_MEMORY_PROTECTION_KEYS,
    #: also for ia32 tasks) and arm64 (ARM64_POE, 6.12+) have it; native i386 and 32-bit arm
    #: never (measured on arm under QEMU).
    arch_has_pkeys: bool = True

    def task_limits(self, personality: Personality) -> TaskLimits:
        if self.limits_3gb is not None and personality & Personality.ADDR_LIMIT_3GB:
            return self.limits_3gb
        return self.limits


# --------------------------------------------------------------------------------------------
# x86

_VVAR_FLAGS = VM_READ | VM_MAYREAD | VM_IO | VM_DONTDUMP | VM_PFNMAP | VM_DONTEXPAND
_VDSO_FLAGS = VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_DONTEXPAND

#: arch/x86/entry/vdso/vma.c ``map_vdso``: [vvar], [vvar_vclock], [vdso] at ascending addresses.
#: Page counts are build-specific; these are the reference 6.18 kernel's (4 + 2 + 2 pages),
#: read from its /proc/self/maps.
X86_VDSO = (SpecialBlock((
    SpecialMapping("[vvar]", 4, _VVAR_FLAGS),
    SpecialMapping("[vvar_vclock]", 2, _VVAR_FLAGS),
    SpecialMapping("[vdso]", 2, _VDSO_FLAGS),
)),)
#: arch/x86/entry/vsyscall/vsyscall_64.c: the gate page, ``--xp`` with vsyscall=xonly.
X86_VSYSCALL = GateArea("[vsyscall]", 0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp")


def _x86_limits(window: int, task_size: int, pie_base: int | None = None) -> TaskLimits:
    """x86 values from one window: arch/x86/include/asm/{page_64_types,processor,elf}.h."""
    legacy = page_align(window // 3)  # __TASK_UNMAPPED_BASE(task_size)
    return TaskLimits(
        task_size=task_size,
        map_window=window,
        stack_top=window,
        mmap_top=window,
        legacy_base=legacy,
        pie_base=pie_base if pie_base is not None else legacy + 16 * MiB,
    )


#: The kernel release tools/qemu/record.py builds (Debian's linux-source-6.12).
_QEMU = "6.12.118"


def _measured(profile: Profile, version: str) -> Profile:
    """A profile whose values a real kernel of its kind confirmed: tools/qemu/record.py booted
    it under QEMU and tests/test_qemu_recordings.py replays what it did."""
    return attrs.evolve(profile, provenance=(
        f"measured on Linux {version} under QEMU (tests/data/qemu/{profile.name}.jsonl.gz, "
        f"re-record with: python tools/qemu/record.py {profile.name})"))


# DEFAULT_MAP_WINDOW = (1 << 47) - PAGE_SIZE; TASK_SIZE_MAX is the same with 4-level paging and
# (1 << 56) - PAGE_SIZE with LA57. ELF_ET_DYN_BASE = DEFAULT_MAP_WINDOW / 3 * 2.
_X86_WINDOW = (1 << 47) - PAGE_SIZE
_X86_PIE64 = _X86_WINDOW // 3 * 2

X86_64 = Profile(
    name="x86_64",
    summary="64-bit process on an x86_64 kernel, 4-level paging (47-bit user space)",
    provenance=("checked against the real Linux 6.18 x86_64 kernel (tests/test_differential*.py); "
                "measured on Linux 6.12.118 under QEMU too, with that version's rules "
                "(tests/data/qemu/x86_64.jsonl.gz, re-record with: "
                "python tools/qemu/record.py x86_64)"),
    kernel_bits=64,
    task_bits=64,
    limits=_x86_limits(_X86_WINDOW, _X86_WINDOW, _X86_PIE64),
    limits_3gb=None,
    placement=Placement.X86,
    legacy_if_unlimited_stack=False,
    mmap_rnd_bits=28,
    uses_compat_rnd_sysctl=False,
    stack_rnd_mask=0x3FFFFF,
    stack_align_random=8192,
    brk_rnd_range=1 * GiB,
    thp_pmd_size=2 * MiB,
    map_32bit=True,
    nonpie_base=0x400000,
    specials=X86_VDSO,
    gate=X86_VSYSCALL,
)

X86_64_5LEVEL = _measured(attrs.evolve(
    X86_64,
    name="x86_64-5level",
    summary="64-bit process on an x86_64 kernel with 5-level paging (56-bit; above 47 bits only on request)",
    provenance=(
        "derived from source (no LA57 CPU here): arch/x86/include/asm/page_64.h task_size_max(), "
        "arch/x86/mm/mmap.c mmap_address_hint_valid(), arch/x86/kernel/sys_x86_64.c"
    ),
    limits=_x86_limits(_X86_WINDOW, (1 << 56) - PAGE_SIZE, _X86_PIE64),
), _QEMU)

# IA32_PAGE_OFFSET: 0xFFFFe000 (the top two pages are reserved), 0xc0000000 with ADDR_LIMIT_3GB.
# COMPAT_ELF_ET_DYN_BASE = TASK_UNMAPPED_BASE + 16 MiB (fs/compat_binfmt_elf.c).
I686 = Profile(
    name="i686",
    summary="32-bit process on an x86_64 kernel (IA32 emulation): 4 GiB minus two pages",
    provenance="checked against the real Linux 6.18 x86_64 kernel with IA32 emulation (tests/)",
    kernel_bits=64,
    task_bits=32,
    limits=_x86_limits(0xFFFFE000, 0xFFFFE000),
    limits_3gb=_x86_limits(0xC0000000, 0xC0000000),
    placement=Placement.X86,
    legacy_if_unlimited_stack=False,
    mmap_rnd_bits=8,
    uses_compat_rnd_sysctl=True,
    stack_rnd_mask=0x7FF,
    stack_align_random=8192,
    brk_rnd_range=32 * MiB,
    thp_pmd_size=None,  # __thp_get_unmapped_area: no alignment for compat syscalls (6.8+)
    map_32bit=False,
    nonpie_base=0x08048000,
    specials=X86_VDSO,
)


def _i386_native(name: str, page_offset: int, config: str) -> Profile:
    """A native i386 kernel: TASK_SIZE = PAGE_OFFSET = CONFIG_PAGE_OFFSET (arch/x86/Kconfig)."""
    limits = _x86_limits(page_offset, page_offset, pie_base=0x400000)
    return Profile(
        name=name,
        summary=f"32-bit process on a native i386 kernel, {config} (user space ends at {page_offset:#x})",
        provenance=(
            "derived from source (no i386 kernel here): arch/x86/Kconfig VMSPLIT choice, "
            "arch/x86/include/asm/page_32_types.h, arch/x86/include/asm/elf.h "
            "(ELF_ET_DYN_BASE 0x400000 when mmap_is_ia32()), arch/x86/mm/mmap.c for the bases; "
            "mm/mmap.c generic_get_unmapped_area* for placement (sys_x86_64.c is 64-bit only)"
        ),
        kernel_bits=32,
        task_bits=32,
        limits=limits,
        limits_3gb=None,
        placement=Placement.GENERIC,
        legacy_if_unlimited_stack=False,
        mmap_rnd_bits=8,
        uses_compat_rnd_sysctl=False,
        stack_rnd_mask=0x7FF,
        stack_align_random=8192,
        brk_rnd_range=32 * MiB,
        thp_pmd_size=None,
        map_32bit=False,
        nonpie_base=0x08048000,
        specials=X86_VDSO,
        arch_has_pkeys=False,  # X86_INTEL_MEMORY_PROTECTION_KEYS depends on X86_64
    )


I386_3G = _measured(_i386_native("i386-3g", 0xC0000000, "CONFIG_VMSPLIT_3G (3G/1G)"), _QEMU)
I386_3G_OPT = _measured(_i386_native("i386-3g-opt", 0xB0000000, "CONFIG_VMSPLIT_3G_OPT"), _QEMU)
I386_2G = _measured(_i386_native("i386-2g", 0x80000000, "CONFIG_VMSPLIT_2G (2G/2G)"), _QEMU)
I386_2G_OPT = _measured(_i386_native("i386-2g-opt", 0x78000000, "CONFIG_VMSPLIT_2G_OPT"), _QEMU)
I386_1G = _measured(_i386_native("i386-1g", 0x40000000, "CONFIG_VMSPLIT_1G (1G/3G)"), _QEMU)

# --------------------------------------------------------------------------------------------
# arm64 (mm/util.c layout, mm/mmap.c placement): arch/arm64/include/asm/{processor,elf}.h,
# arch/arm64/Kconfig, arch/arm64/kernel/vdso.c. 4 KiB pages.

#: The 6.15+ vDSO data store: 3 pages of [vvar]; the [vdso] text size is build-specific.
_ARM_VVAR = SpecialMapping("[vvar]", 3, _VVAR_FLAGS)


def _arm64(name: str, va_bits: int, task_bits_max: int, summary: str) -> Profile:
    window = 1 << min(va_bits, 48)  # DEFAULT_MAP_WINDOW_64 = 1 << VA_BITS_MIN
    limits = TaskLimits(task_size=1 << task_bits_max, map_window=window, stack_top=window,
                        mmap_top=window, legacy_base=page_align(window // 4),
                        pie_base=2 * window // 3)
    return Profile(
        name=name, summary=summary,
        provenance=("derived from source (no arm64 machine here): "
                    "arch/arm64/include/asm/processor.h (TASK_SIZE_64, DEFAULT_MAP_WINDOW_64, "
                    "arch_get_mmap_end/base), arch/arm64/include/asm/elf.h, arch/arm64/Kconfig, "
                    "mm/util.c, mm/mmap.c"),
        kernel_bits=64, task_bits=64, limits=limits, limits_3gb=None,
        placement=Placement.GENERIC, legacy_if_unlimited_stack=True,
        mmap_rnd_bits=18, uses_compat_rnd_sysctl=False, stack_rnd_mask=0x3FFFF,
        stack_align_random=PAGE_SIZE, brk_rnd_range=1 * GiB, thp_pmd_size=2 * MiB,
        map_32bit=False, nonpie_base=0x400000,
        specials=(SpecialBlock((_ARM_VVAR, SpecialMapping("[vdso]", 2, _VDSO_FLAGS))),),
        lsm_mmap_min_addr=32768,
        min_thread_guard=64 * 1024,  # sysdeps/aarch64/nptl/pthreaddef.h; measured under QEMU
    )


AARCH64_39 = _measured(_arm64("aarch64-39", 39, 39,
                              "64-bit process on arm64, 4 KiB pages, 39-bit VA (3 levels)"), _QEMU)
AARCH64_48 = _measured(_arm64("aarch64-48", 48, 48,
                              "64-bit process on arm64, 4 KiB pages, 48-bit VA (4 levels)"), _QEMU)
AARCH64_52 = _measured(_arm64("aarch64-52", 52, 52, "64-bit process on arm64, 52-bit VA (LPA2); "
                              "above 48 bits only when a hint asks"), _QEMU)

_AARCH32_TASK = 0x100000000 - PAGE_SIZE
AARCH64_COMPAT = _measured(Profile(
    name="aarch64-compat",
    summary="32-bit (AArch32) process on an arm64 kernel: 4 GiB minus a page",
    provenance=("derived from source (no arm64 machine here): arch/arm64/include/asm/processor.h "
                "(TASK_SIZE_32, STACK_TOP = AARCH32_VECTORS_BASE), arch/arm64/include/asm/elf.h "
                "(COMPAT_ELF_ET_DYN_BASE 0x400000), arch/arm64/kernel/vdso.c ([vectors], [sigpage])"),
    kernel_bits=64, task_bits=32,
    limits=TaskLimits(task_size=_AARCH32_TASK, map_window=_AARCH32_TASK, stack_top=0xFFFF0000,
                      mmap_top=0xFFFF0000, legacy_base=page_align(_AARCH32_TASK // 4),
                      pie_base=0x400000),
    limits_3gb=None, placement=Placement.GENERIC, legacy_if_unlimited_stack=True,
    mmap_rnd_bits=11, uses_compat_rnd_sysctl=True, stack_rnd_mask=0x7FF,
    stack_align_random=PAGE_SIZE, brk_rnd_range=32 * MiB, thp_pmd_size=None, map_32bit=False,
    nonpie_base=0x10000, malloc_alignment=8,
    specials=(
        SpecialBlock((SpecialMapping("[vectors]", 1, _VDSO_FLAGS),), fixed=0xFFFF0000),
        SpecialBlock((_ARM_VVAR, SpecialMapping("[vdso]", 1, _VDSO_FLAGS))),
        SpecialBlock((SpecialMapping("[sigpage]", 1, _VDSO_FLAGS),)),
    ),
    lsm_mmap_min_addr=32768,
), _QEMU)


# --------------------------------------------------------------------------------------------
# arm (32-bit kernel): arch/arm/include/asm/{memory,processor,elf}.h, arch/arm/Kconfig,
# arch/arm/mm/mmap.c, arch/arm/kernel/{process,vdso}.c.

def _arm(name: str, page_offset: int, config: str) -> Profile:
    task = page_offset - 16 * MiB  # the top 16 MiB below PAGE_OFFSET hold modules
    limits = TaskLimits(task_size=task, map_window=task, stack_top=task, mmap_top=task,
                        legacy_base=align_up(task // 3, 16 * MiB), pie_base=0x400000)
    return Profile(
        name=name,
        summary=f"32-bit process on a 32-bit arm kernel, {config} (user space ends at {task:#x})",
        provenance=("derived from source (no arm machine here): arch/arm/include/asm/memory.h "
                    "(TASK_SIZE = PAGE_OFFSET - 16 MiB, TASK_UNMAPPED_BASE), arch/arm/Kconfig, "
                    "arch/arm/mm/mmap.c, arch/arm/kernel/process.c ([sigpage], [vectors])"),
        kernel_bits=32, task_bits=32, limits=limits, limits_3gb=None, placement=Placement.ARM,
        legacy_if_unlimited_stack=True, mmap_rnd_bits=8, uses_compat_rnd_sysctl=False,
        stack_rnd_mask=0x7FF, stack_align_random=0, brk_rnd_range=32 * MiB, thp_pmd_size=None,
        map_32bit=False, nonpie_base=0x10000, malloc_alignment=8,
        specials=(SpecialBlock((SpecialMapping("[sigpage]", 1, _VDSO_FLAGS), _ARM_VVAR,
                                SpecialMapping("[vdso]", 1, _VDSO_FLAGS)), sigpage_hint=True),),
        lsm_mmap_min_addr=32768,
        gate=GateArea("[vectors]", 0xFFFF0000, 0xFFFF1000, "r-xp"),
        first_user_address=2 * PAGE_SIZE,
        arch_has_pkeys=False,
    )


ARM_3G = _measured(_arm("arm-3g", 0xC0000000, "CONFIG_VMSPLIT_3G"), _QEMU)
ARM_2G = _measured(_arm("arm-2g", 0x80000000, "CONFIG_VMSPLIT_2G"), _QEMU)
ARM_1G = _measured(_arm("arm-1g", 0x40000000, "CONFIG_VMSPLIT_1G"), _QEMU)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (X86_64, X86_64_5LEVEL, I686, I386_3G, I386_3G_OPT, I386_2G, I386_2G_OPT, I386_1G,
              AARCH64_39, AARCH64_48, AARCH64_52, AARCH64_COMPAT, ARM_3G, ARM_2G, ARM_1G)
}


def get_profile(name: str) -> Profile:
    """Look a profile up by name; raises ValueError listing the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown arch {name!r} (known: {', '.join(PROFILES)})") from None
