"""Loading an ELF executable and its interpreter at exec (fs/binfmt_elf.c ``load_elf_binary``).

The program headers come as values (:class:`ElfImage`): read from a real file by
:mod:`simulator.host.elf` (pyelftools), or declared for a modelled program. The kernel maps
every PT_LOAD with the same mmap code the system calls use, so placement, THP alignment and
merging are the system calls' own.
"""

from __future__ import annotations

import attrs

from simulator.kernel.anon import anon_vma_prepare
from simulator.kernel.brk import do_brk_flags
from simulator.kernel.mmap import do_mmap
from simulator.kernel.munmap import unmap_range
from simulator.kernel.uapi import (
    MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE, Errno,
)
from simulator.kernel.versions import kernel_rules
from simulator.kernel.vma import VM_EXEC, FileRef
from simulator.units import PAGE_SHIFT, PAGE_SIZE, align_down, page_align

PF_X, PF_W, PF_R = 1, 2, 4


@attrs.frozen
class Segment:
    """One PT_LOAD program header."""

    vaddr: int
    memsz: int
    filesz: int
    offset: int
    flags: int  # PF_R | PF_W | PF_X
    align: int = PAGE_SIZE

    @property
    def prot(self) -> int:
        """``make_prot``: PF_R/W/X to PROT_READ/WRITE/EXEC."""
        return ((PROT_READ if self.flags & PF_R else 0) | (PROT_WRITE if self.flags & PF_W else 0)
                | (PROT_EXEC if self.flags & PF_X else 0))


@attrs.frozen
class ElfImage:
    """What ``load_elf_binary`` reads from an ELF file: its type, PT_LOADs and PT_INTERP."""

    file: FileRef
    #: ET_DYN (PIE or shared object) rather than ET_EXEC.
    dynamic: bool
    segments: tuple[Segment, ...]
    #: PT_INTERP, the path as written in the file (None for static executables).
    interp: str | None = None
    #: PT_GNU_STACK asks for an executable stack.
    exec_stack: bool = False

    def maximum_alignment(self) -> int:
        """``maximum_alignment``: the largest power-of-two p_align, at least a page."""
        best = PAGE_SIZE
        for seg in self.segments:
            if seg.align and seg.align & (seg.align - 1) == 0 and seg.align > best:
                best = seg.align
        return best

    def total_mapping_size(self) -> int:
        """``total_mapping_size``: from the first PT_LOAD's page to the end of the last."""
        first, last = self.segments[0], self.segments[-1]
        return last.vaddr + last.memsz - align_down(first.vaddr, PAGE_SIZE)

    def brk_end(self) -> int:
        """The highest ``p_vaddr + p_memsz``: where the heap begins (before the bias)."""
        return max(seg.vaddr + seg.memsz for seg in self.segments)


def elf_map(mm, image: ElfImage, addr: int, seg: Segment, prot: int, flags: int,
            total_size: int) -> int | Errno:
    """``elf_map``: map the file part of a segment; the first mapping of an image reserves the
    whole span and gives the rest back, so later segments land inside it."""
    pageoff = seg.vaddr & (PAGE_SIZE - 1)
    size = page_align(seg.filesz + pageoff)
    off = seg.offset - pageoff
    addr = align_down(addr, PAGE_SIZE)
    if not size:
        return addr
    if total_size:
        total_size = page_align(total_size)
        result = do_mmap(mm, image.file, addr, total_size, prot, flags, off >> PAGE_SHIFT)
        if not isinstance(result, Errno) and total_size > size:
            unmap_range(mm, result + size, result + total_size)
        return result
    return do_mmap(mm, image.file, addr, size, prot, flags, off >> PAGE_SHIFT)


def elf_load(mm, image: ElfImage, addr: int, seg: Segment, prot: int, flags: int,
             total_size: int) -> int | Errno:
    """``elf_load``: the file part, then the bss beyond the last file page as anonymous memory
    (``vm_brk_flags``, which never merges with the file mapping before it)."""
    pageoff = seg.vaddr & (PAGE_SIZE - 1)
    if seg.filesz:
        map_addr = elf_map(mm, image, addr, seg, prot, flags, total_size)
        if isinstance(map_addr, Errno):
            return map_addr
        zero_start = map_addr + pageoff + seg.filesz
        zero_end = map_addr + pageoff + seg.memsz
        if seg.memsz > seg.filesz and prot & PROT_WRITE:
            # padzero() writes the tail of the last file page: a COW fault.
            anon_vma_prepare(mm, mm.vma_at(zero_start - 1))
    else:
        map_addr = zero_start = align_down(addr, PAGE_SIZE)
        zero_end = zero_start + pageoff + seg.memsz
    if seg.memsz > seg.filesz:
        zero_start, zero_end = page_align(zero_start), page_align(zero_end)
        if zero_end > zero_start:
            unmap_range(mm, zero_start, zero_end)
            prev = mm.find_vma_prev(zero_start)
            result = do_brk_flags(mm, prev, zero_start, zero_end - zero_start,
                                  VM_EXEC if prot & PROT_EXEC else 0)
            if isinstance(result, Errno):
                return result
    return map_addr


def load_elf_binary(mm, exe: ElfImage, load_base: int) -> tuple[int, int] | Errno:
    """Map the executable's PT_LOADs; returns ``(load_bias, elf_brk)``.

    ET_EXEC maps at its link addresses (the first with MAP_FIXED_NOREPLACE). A PIE with an
    interpreter goes to ``load_base`` (ELF_ET_DYN_BASE plus randomisation) aligned down to its
    largest p_align; one without (static-pie, or ld.so run directly) lets mmap choose.
    """
    load_bias = 0
    first = True
    total_size = exe.total_mapping_size() if exe.dynamic else 0
    for seg in exe.segments:
        flags = MAP_PRIVATE
        if not first:
            flags |= MAP_FIXED
        elif not exe.dynamic:
            flags |= MAP_FIXED_NOREPLACE
        elif exe.interp is not None:
            load_bias = align_down(load_base, exe.maximum_alignment())
            flags |= MAP_FIXED_NOREPLACE
            load_bias = align_down(load_bias - seg.vaddr, PAGE_SIZE)
        elif (exe.maximum_alignment() > PAGE_SIZE
              and kernel_rules(mm.kconfig.version).static_pie_probe_alignment):
            # 6.12: map at 0 to see where it lands, unmap, align down, map there again
            probe = elf_load(mm, exe, seg.vaddr, seg, seg.prot, flags, total_size)
            if isinstance(probe, Errno):
                return probe
            unmap_range(mm, probe, probe + page_align(total_size))
            load_bias = align_down(probe, exe.maximum_alignment())
            flags |= MAP_FIXED_NOREPLACE
            load_bias = align_down(load_bias - seg.vaddr, PAGE_SIZE)
        result = elf_load(mm, exe, load_bias + seg.vaddr, seg, seg.prot, flags,
                          total_size if first else 0)
        if isinstance(result, Errno):
            return result
        if first and exe.dynamic:
            load_bias += result - align_down(load_bias + seg.vaddr, PAGE_SIZE)
        first = False
    return load_bias, exe.brk_end() + load_bias


def load_elf_interp(mm, interp: ElfImage) -> int | Errno:
    """``load_elf_interp``: the first segment placed by mmap (hint 0), the rest fixed to it.
    Returns the load address."""
    load_addr = 0
    first = True
    total_size = interp.total_mapping_size()
    for seg in interp.segments:
        flags = MAP_PRIVATE | (MAP_FIXED if not first or not interp.dynamic else 0)
        if first and interp.dynamic:
            load_addr = -seg.vaddr
        result = elf_load(mm, interp, load_addr + seg.vaddr, seg, seg.prot, flags,
                          total_size if first else 0)
        if isinstance(result, Errno):
            return result
        if first and interp.dynamic:
            load_addr = result - align_down(seg.vaddr, PAGE_SIZE)
        first = False
    return load_addr
