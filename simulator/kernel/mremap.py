"""mremap(2) (mm/mremap.c, Linux 6.18: the 6.17 rewrite with multi-VMA moves).

* Shrinking unmaps the tail ``[addr + new_len, addr + old_len)``, whatever lies there.
* Growing in place needs nothing mapped in ``[vm_end, vm_end + delta)``; the next VMA's stack
  guard gap is *not* respected, and the grown VMA merges with a compatible next VMA.
* Otherwise, with MREMAP_MAYMOVE, the range moves to a new address found like an mmap
  (``get_unmapped_area`` with the VMA's file and page offset). A never-written anonymous VMA
  takes the page offset of its new address, so it can merge there like a fresh mmap; a
  written one keeps its old offset and stays a VMA of its own.
* MREMAP_FIXED unmaps the destination first; with ``old_len == new_len`` it may move several
  VMAs at once, keeping the holes between them.
"""

from __future__ import annotations

import attrs

from simulator.kernel import events as ev
from simulator.kernel.merge import vma_merge_new_range
from simulator.kernel.mlock import mlock_future_ok
from simulator.kernel.munmap import sys_munmap, unmap_range
from simulator.kernel.pgtable import mm_populate, move_page_tables
from simulator.kernel.versions import kernel_rules
from simulator.kernel.uapi import MAP_FIXED, MAP_SHARED, MREMAP_DONTUNMAP, MREMAP_FIXED, \
    MREMAP_MAYMOVE, Errno
from simulator.kernel.unmapped_area import get_unmapped_area
from simulator.kernel.vma import (
    VM_ACCOUNT, VM_DONTEXPAND, VM_LOCKED, VM_LOCKONFAULT, VM_MAYSHARE, VM_PFNMAP, VM_SEALED,
    VM_SHARED, VM_SPECIAL, Vma,
)
from simulator.units import PAGE_MASK, PAGE_SHIFT, page_align

_MOVING = MREMAP_FIXED | MREMAP_DONTUNMAP


@attrs.define
class _Request:
    """``struct vma_remap_struct``: one mremap request as it is worked out."""

    addr: int
    old_len: int
    new_len: int
    flags: int
    new_addr: int

    @property
    def moving(self) -> bool:
        return bool(self.flags & _MOVING)


def sys_mremap(mm, addr: int, old_len: int, new_len: int, flags: int, new_addr: int):
    """``do_mremap``: the new address, or an Errno."""
    word = 1 << mm.profile.kernel_bits
    req = _Request(addr, page_align(old_len) % word, page_align(new_len) % word, flags, new_addr)
    err = check_mremap_params(mm, req)
    if err is not None:
        return err
    if req.flags & MREMAP_FIXED and req.old_len == req.new_len:
        return remap_move(mm, req)
    vma = mm.vma_at(req.addr)
    if (vma is not None and req.flags & MREMAP_FIXED
            and kernel_rules(mm.kconfig.version).mremap_unmaps_destination_first):
        # 6.12 mremap_to: do_munmap(new_addr, new_len), and for a shrinking move the tail's
        # do_munmap(addr + new_len, old_len - new_len), before vma_to_resize checks the source
        err = unmap_range(mm, req.new_addr, req.new_addr + req.new_len)
        if isinstance(err, Errno):
            return err
        if req.old_len > req.new_len:
            err = sys_munmap(mm, req.addr + req.new_len, req.old_len - req.new_len)
            if isinstance(err, Errno):
                return err
            req.old_len = req.new_len
        vma = mm.vma_at(req.addr)
    err = check_prep_vma(mm, req, vma)
    if err is not None:
        return err
    old_len, locked = req.old_len, vma.flags & VM_LOCKED
    result = mremap_to(mm, req) if req.moving else mremap_at(mm, req, vma)
    if locked and req.new_len > old_len and not isinstance(result, Errno):
        # do_mremap: a locked VMA that grew has its new part populated (populate_expand).
        mm_populate(mm, result + old_len, result + req.new_len)
    return result


def check_mremap_params(mm, req: _Request) -> Errno | None:
    if req.flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP):
        return Errno.EINVAL
    if req.addr & ~PAGE_MASK:
        return Errno.EINVAL
    if not req.new_len or req.new_len > mm.task_size:
        return Errno.EINVAL
    if not req.moving:
        return None
    if (kernel_rules(mm.kconfig.version).mremap_vma_before_new_addr
            and req.flags & MREMAP_MAYMOVE
            and not (req.flags & MREMAP_DONTUNMAP and req.old_len != req.new_len)
            and mm.vma_at(req.addr) is None):
        return Errno.EFAULT
    if req.new_addr > mm.task_size - req.new_len or req.new_addr & ~PAGE_MASK:
        return Errno.EINVAL
    if not req.flags & MREMAP_MAYMOVE:
        return Errno.EINVAL
    if req.flags & MREMAP_DONTUNMAP and req.old_len != req.new_len:
        return Errno.EINVAL
    if req.addr + req.old_len > req.new_addr and req.new_addr + req.new_len > req.addr:
        return Errno.EINVAL
    # "mm->map_count + 2 >= sysctl_max_map_count - 3": the move may need a split at each end.
    if mm.map_count + 2 >= mm.max_map_count - 3:
        mm._map_count_exceeded("mremap")
        return Errno.ENOMEM
    return None


def check_prep_vma(mm, req: _Request, vma: Vma | None) -> Errno | None:
    if vma is None:
        return Errno.EFAULT
    if vma.flags & VM_SEALED:
        return Errno.EPERM
    if not req.moving:
        req.new_addr = req.addr
    if req.new_len <= req.old_len and not req.moving:
        return None  # a plain shrink, or nothing at all: no further checks
    if req.old_len == 0 and not vma.flags & (VM_SHARED | VM_MAYSHARE):
        return Errno.EINVAL
    if req.flags & MREMAP_DONTUNMAP and vma.flags & (VM_DONTEXPAND | VM_PFNMAP):
        return Errno.EINVAL
    chk = req.new_len if req.new_len < req.old_len else req.old_len
    if chk > vma.end - req.addr:
        return Errno.EFAULT
    if req.new_len == chk:
        return None
    if vma.flags & (VM_DONTEXPAND | VM_PFNMAP):
        return Errno.EFAULT
    if not mlock_future_ok(mm, vma.flags, req.new_len - req.old_len):
        return Errno.EAGAIN
    if not mm.may_expand_vm(req.new_len - req.old_len, vma.flags):
        return Errno.ENOMEM
    return None


def mremap_at(mm, req: _Request, vma: Vma):
    """In place: nothing to do, shrink, or grow (moving only if it must and may)."""
    if req.new_len == req.old_len:
        return req.addr
    if req.new_len < req.old_len:
        err = sys_munmap(mm, req.addr + req.new_len, req.old_len - req.new_len)
        return err if isinstance(err, Errno) else req.addr
    delta = req.new_len - req.old_len
    if vma.end - req.addr == req.old_len and vma_expandable(mm, vma, delta):
        if vma.flags & VM_SPECIAL:
            return Errno.ENOMEM
        if vma.flags & VM_ACCOUNT and not mm.vm_enough_memory(delta):
            return Errno.ENOMEM  # the overcommit check, even with MREMAP_MAYMOVE
        extension = vma._replace(start=vma.end, end=vma.end + delta,
                                 pgoff=vma.pgoff + vma.pages)
        vma_merge_new_range(mm, extension)
        return req.addr
    if not req.flags & MREMAP_MAYMOVE:
        return Errno.ENOMEM
    pgoff = vma.pgoff_at(req.addr)
    new_addr = get_unmapped_area(mm, vma.file, 0, req.new_len, pgoff,
                                 MAP_SHARED if vma.flags & VM_MAYSHARE else 0, 0)
    if isinstance(new_addr, Errno):
        return new_addr
    return move_vma(mm, req, vma, new_addr, pgoff)


def vma_expandable(mm, vma: Vma, delta: int) -> bool:
    """Nothing mapped in ``[vm_end, vm_end + delta)`` and the end stays under TASK_SIZE."""
    end = vma.end + delta
    if mm.vmas_in(vma.end, end):
        return False
    return not isinstance(get_unmapped_area(mm, None, vma.start, end - vma.start, 0, MAP_FIXED, 0),
                          Errno)


def mremap_to(mm, req: _Request):
    """MREMAP_FIXED and/or MREMAP_DONTUNMAP: unmap the destination (FIXED), trim the source
    (shrink), then place and move."""
    if req.flags & MREMAP_FIXED:
        destroyed = [mm.region(v) for v in mm.vmas_in(req.new_addr, req.new_addr + req.new_len)]
        err = unmap_range(mm, req.new_addr, req.new_addr + req.new_len)
        if isinstance(err, Errno):
            return err
        if destroyed:
            mm._event(ev.FixedReplaced, addr=req.new_addr, length=req.new_len,
                      destroyed=tuple(destroyed))
    if mm.vma_at(req.addr) is None:
        return Errno.EFAULT
    if req.new_len < req.old_len:
        err = sys_munmap(mm, req.addr + req.new_len, req.old_len - req.new_len)
        if isinstance(err, Errno):
            return err
        if mm.vma_at(req.addr) is None:
            return Errno.EFAULT
        req.old_len = req.new_len
    vma = mm.vma_at(req.addr)
    pgoff = vma.pgoff_at(req.addr)
    map_flags = (MAP_FIXED if req.flags & MREMAP_FIXED else 0) | \
        (MAP_SHARED if vma.flags & VM_MAYSHARE else 0)
    new_addr = get_unmapped_area(mm, vma.file, req.new_addr, req.new_len, pgoff, map_flags, 0)
    if isinstance(new_addr, Errno):
        return new_addr
    return move_vma(mm, req, vma, new_addr, pgoff)


def move_vma(mm, req: _Request, vma: Vma, new_addr: int, pgoff: int):
    """Copy the VMA, whose page offset at ``req.addr`` is ``pgoff``, to ``new_addr``
    (``copy_vma``) and unmap the old range (or, with MREMAP_DONTUNMAP, leave it mapped and
    empty)."""
    if mm.map_count >= mm.max_map_count - 3:
        mm._map_count_exceeded("mremap")
        return Errno.ENOMEM
    # The overcommit check charges the growth (MREMAP_DONTUNMAP: all of the new range).
    to_account = req.new_len if req.flags & MREMAP_DONTUNMAP else req.new_len - req.old_len
    if vma.flags & VM_ACCOUNT and to_account > 0 and not mm.vm_enough_memory(to_account):
        return Errno.ENOMEM
    apart = None
    if vma.is_anonymous and vma.anon_vma is None:
        pgoff = new_addr >> PAGE_SHIFT  # never written: re-linearised like a fresh mmap
        if (req.flags & MREMAP_DONTUNMAP
                and kernel_rules(mm.kconfig.version).dontunmap_keeps_source_apart):
            apart = vma
    copy = vma._replace(start=new_addr, end=new_addr + req.new_len, pgoff=pgoff)
    # move_page_tables: guard markers go with the pages (also with MREMAP_DONTUNMAP).
    moved = {p - req.addr + new_addr for p in mm.guard_pages
             if req.addr <= p < req.addr + min(req.old_len, req.new_len)}
    vma_merge_new_range(mm, copy, apart)
    move_page_tables(mm, req.addr, new_addr, min(req.old_len, req.new_len))
    if req.flags & MREMAP_DONTUNMAP:
        old = mm.vma_at(req.addr)
        if old is not None:
            whole = old.start == req.addr and old.end == req.addr + req.old_len
            updated = old._replace(flags=old.flags & ~(VM_LOCKED | VM_LOCKONFAULT),
                                   anon_vma=None if whole else old.anon_vma)
            mm._replace(old, updated)
    else:
        unmap_range(mm, req.addr, req.addr + req.old_len)
    mm.zap_guard_markers(req.addr, req.addr + req.old_len)
    mm.guard_pages = mm.guard_pages | moved
    return new_addr


def vma_multi_allowed(vma: Vma) -> bool:
    """``vma_multi_allowed``: a VMA may be one of several moved at once unless its file has a
    ``get_unmapped_area`` of its own that might not obey MREMAP_FIXED: special mappings and
    SysV shm attaches (``shm_get_unmapped_area``); shmem, hugetlb and regular files
    (``thp_get_unmapped_area``) are known good."""
    if vma.special is not None:
        return False
    return vma.file is None or vma.file.shm_id is None


def remap_move(mm, req: _Request):
    """MREMAP_FIXED with ``old_len == new_len``: move every VMA piece in the range to the same
    offset at the destination; holes are kept (and the destination under them left alone)."""
    start, end = req.addr, req.addr + req.old_len
    pieces = [(v.start, v.end) for v in mm.vmas_in(start, end)]
    result: int | Errno = Errno.EFAULT
    target = req.new_addr
    last_end = None
    for index, (vstart, vend) in enumerate(pieces):
        if last_end is None and start < vstart:
            return Errno.EFAULT
        offset = vstart - last_end if last_end is not None else 0
        last_end = vend
        vma = mm.vma_at(max(vstart, start))
        if not vma_multi_allowed(vma) and (index or vend < end):
            return Errno.EFAULT
        a = max(vstart, start)
        length = min(end, vend) - a
        piece = _Request(a, length, length, req.flags, target + offset)
        err = check_prep_vma(mm, piece, vma)
        if err is not None:
            return err
        moved = mremap_to(mm, piece)
        if isinstance(moved, Errno):
            return moved
        if index == 0:
            result = moved
        target = moved + length
    return result

