"""Rules that changed between the kernel versions the model knows: data, one row per version.

``KernelConfig.version`` picks the row. 6.18 is the reference machine's kernel (every rule in
the engine is its rule); 6.12 and 6.1 (x86_64 only) were measured under QEMU
(tools/qemu/record.py, the recordings in tests/data/qemu/). A rule that differs is a value
here, read where the engine needs it.
"""

from __future__ import annotations

import attrs

from simulator.kernel.arch import (
    _VDSO_FLAGS, _VVAR_FLAGS, AARCH64_48, AARCH64_COMPAT, ARM_3G, X86_VDSO, SpecialBlock, SpecialMapping,
)


@attrs.frozen
class KernelRules:
    version: str
    #: Special-mapping blocks that differ from the profile's (6.18) ones: (6.18 block, this
    #: version's block) pairs. x86 ``map_vdso``: 6.18 has [vvar] 4 + [vvar_vclock] 2 + [vdso]
    #: 2 pages (the generic vDSO data store, 6.15); 6.12 has [vvar] 4 + [vdso] 2.
    specials: tuple[tuple[tuple[SpecialBlock, ...], tuple[SpecialBlock, ...]], ...] = ()
    #: mm/mremap.c: 6.12 looks the source VMA up (-EFAULT) before it checks the new address
    #: of a moving remap (alignment, range, overlap: -EINVAL); 6.17's rework
    #: (check_mremap_params) checks the new address first.
    mremap_vma_before_new_addr: bool = False
    #: fs/binfmt_elf.c ``load_elf_binary``, a static PIE whose p_align is above a page: 6.12
    #: maps it wherever mmap puts it, unmaps it and maps it again at that address aligned down
    #: to its p_align; 6.18 takes mmap's address as it is.
    static_pie_probe_alignment: bool = False
    #: mm/mremap.c ``mremap_to`` with MREMAP_FIXED: 6.12 unmaps the destination, and for a
    #: shrinking move the source's tail, before ``vma_to_resize`` checks the source range
    #: (so a failing call still unmaps them); 6.18 checks the source first.
    mremap_unmaps_destination_first: bool = False
    #: mm/vma.c ``copy_vma(..., keep_source)`` under MREMAP_DONTUNMAP of a never-faulted
    #: anonymous VMA: Debian's 6.12.118 will not merge the moved range into the source VMA
    #: it leaves behind (two VMAs, measured under QEMU on arm and arm64 compat); this host's
    #: 6.18.44 merges them into one (measured: tests/test_rules_mremap_brk.py).
    dontunmap_keeps_source_apart: bool = False
    #: mm/madvise.c: MADV_GUARD_INSTALL and MADV_GUARD_REMOVE (102, 103) came in 6.13; 6.12's
    #: ``madvise_behavior_valid`` refuses them (EINVAL, measured under QEMU).
    madvise_guard: bool = True
    #: mm/vma.c ``is_mergeable_anon_vma``: may a range that has an anon_vma merge into a
    #: neighbour that has none? 6.18 (measured here) dups it into the neighbour; 6.12 refuses
    #: (the neighbour's empty anon_vma_chain is not ``list_is_singular``), so e.g. munlock of
    #: the faulted-in first half of a VMA leaves two VMAs (measured under QEMU on arm).
    anon_vma_into_anonless: bool = True
    #: mm/mmap.c ``__get_unmapped_area``: anonymous mappings whose length is a multiple of
    #: PMD_SIZE go through ``thp_get_unmapped_area`` (6.7, "align larger anonymous mappings
    #: on THP boundaries"); 6.1 places them with the mm's plain search.
    anon_thp_alignment: bool = True
    #: mm/mseal.c: the mseal syscall came in 6.10; 6.1 has no syscall 462 (ENOSYS).
    mseal: bool = True
    #: mm/mmap.c ``do_mmap``: MAP_DROPPABLE (map type 0x08) came in 6.11; 6.1's switch on
    #: ``flags & MAP_TYPE`` refuses it (EINVAL).
    map_droppable: bool = True
    #: Two adjacent [heap] VMAs the model would merge (``AddressSpace._check`` allows them):
    #: Debian's 6.1.192 starts the static probe with its heap as [A, B) and [B, C) (measured
    #: under QEMU, x86_64@6.1); later brk calls merge as in 6.12. Where the split comes from
    #: (glibc's early sbrk against the 6.1 maple-tree ``brk``) is not modelled.
    heap_may_be_split: bool = False
    #: mm/mprotect.c ``mprotect_fixup``: making a never-written (no anon_vma) anonymous VMA
    #: read-only gives its VM_ACCOUNT charge back (6.2, "mm/mprotect: allow unfaulted VMAs to
    #: be unaccounted"); 6.1 keeps VM_ACCOUNT, so the range no longer merges with unaccounted
    #: neighbours (measured under QEMU, x86_64@6.1; 6.1 source: only ``newflags |= VM_ACCOUNT``).
    mprotect_unaccounts_unfaulted: bool = True

    def specials_for(self, blocks: tuple[SpecialBlock, ...]) -> tuple[SpecialBlock, ...]:
        for newest, here in self.specials:
            if blocks == newest:
                return here
        return blocks


#: arm64 ``aarch64_setup_additional_pages`` on 6.12: [vvar] 2 pages (VVAR_NR_PAGES: data and
#: time namespace), [vdso] 1 page (the size of that build's vDSO text; 6.18's is 2).
_ARM64_VDSO_6_12 = (SpecialBlock((
    SpecialMapping("[vvar]", 2, _VVAR_FLAGS),
    SpecialMapping("[vdso]", 1, _VDSO_FLAGS),
)),)

#: arm64 compat tasks on 6.12: the same, with [vectors] and [sigpage] as in 6.18.
_ARM64_COMPAT_6_12 = (
    AARCH64_COMPAT.specials[0],
    SpecialBlock((SpecialMapping("[vvar]", 2, _VVAR_FLAGS), SpecialMapping("[vdso]", 1, _VDSO_FLAGS))),
    AARCH64_COMPAT.specials[2],
)

#: 32-bit arm on 6.12: [sigpage], then [vvar] 1 page (6.18: 3) and [vdso] 1 page.
_ARM_6_12 = (attrs.evolve(ARM_3G.specials[0], parts=(
    ARM_3G.specials[0].parts[0], SpecialMapping("[vvar]", 1, _VVAR_FLAGS),
    ARM_3G.specials[0].parts[2])),)

_X86_VDSO_6_12 = (SpecialBlock((
    SpecialMapping("[vvar]", 4, _VVAR_FLAGS),
    SpecialMapping("[vdso]", 2, _VDSO_FLAGS),
)),)

#: x86 on 6.1: [vvar] 4 pages as 6.12, [vdso] 1 page (measured, x86_64@6.1; the vDSO text
#: size is build-specific).
_X86_VDSO_6_1 = (SpecialBlock((
    SpecialMapping("[vvar]", 4, _VVAR_FLAGS),
    SpecialMapping("[vdso]", 1, _VDSO_FLAGS),
)),)

RULES: dict[str, KernelRules] = {
    "6.18": KernelRules("6.18"),
    "6.12": KernelRules("6.12", specials=((X86_VDSO, _X86_VDSO_6_12),
                                          (AARCH64_48.specials, _ARM64_VDSO_6_12),
                                          (AARCH64_COMPAT.specials, _ARM64_COMPAT_6_12),
                                          (ARM_3G.specials, _ARM_6_12)),
                        mremap_vma_before_new_addr=True, static_pie_probe_alignment=True,
                        mremap_unmaps_destination_first=True,
                        dontunmap_keeps_source_apart=True, madvise_guard=False,
                        anon_vma_into_anonless=False),
    # Debian 12's 6.1.192, read from its source (linux-source-6.1) and recorded under QEMU
    # (tests/data/qemu/x86_64@6.1.jsonl.gz): x86 vdso-layout.lds.S has [vvar] 4 pages as in
    # 6.12 (its [vdso] text is 1 page); mremap looks the VMA up (vma_lookup, EFAULT) before
    # mremap_to checks new_addr and unmaps the destination before vma_to_resize;
    # is_mergeable_anon_vma as in 6.12; load_elf_binary probes a static PIE's address
    # (elf_load, vm_munmap, align) as 6.12.
    "6.1": KernelRules("6.1", specials=((X86_VDSO, _X86_VDSO_6_1),),
                       mremap_vma_before_new_addr=True, mremap_unmaps_destination_first=True,
                       static_pie_probe_alignment=True, dontunmap_keeps_source_apart=True,
                       madvise_guard=False, anon_vma_into_anonless=False,
                       anon_thp_alignment=False, mseal=False, map_droppable=False,
                       heap_may_be_split=True, mprotect_unaccounts_unfaulted=False),
}


def kernel_rules(version: str) -> KernelRules:
    """The rules of kernel ``version`` ("6.18", "6.12", "6.1"); ValueError names the known ones."""
    try:
        return RULES[version]
    except KeyError:
        raise ValueError(f"unknown kernel version {version!r} (known: {', '.join(RULES)})") from None
