"""glibc malloc (malloc/malloc.c, malloc/arena.c, glibc 2.36): where memory comes from.

What is modelled is what shows in the address space: the main arena's brk heap (grown by
``nb + top_pad + MINSIZE`` rounded to a page, trimmed when the top exceeds the trim
threshold), chunks of at least the mmap threshold served by mmap (the threshold rising on
free), the fallback to mmap when brk fails, per-thread arenas in HEAP_MAX_SIZE-aligned heaps
grown by mprotect, and the arena limit. Free chunks are kept by address and reused
best-fit; the per-thread tcache and fastbins keep small freed chunks out of the top, as in
glibc.
"""

from __future__ import annotations

import attrs

from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, MREMAP_MAYMOVE, PROT_NONE, PROT_READ,
    PROT_WRITE, Errno,
)
from simulator.units import KiB, MiB, PAGE_SIZE, align_down, align_up

DEFAULT_MMAP_THRESHOLD = 128 * KiB
DEFAULT_TRIM_THRESHOLD = 128 * KiB
MMAP_AS_MORECORE_SIZE = 1 * MiB
FASTBIN_CONSOLIDATION_THRESHOLD = 64 * KiB
HEAP_MIN_SIZE = 32 * KiB
TCACHE_FILL_COUNT = 7
IS_MMAPPED = 0x2  # malloc/malloc.c: the chunk header's mmapped bit
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


@attrs.define
class Heap:
    """``heap_info``: one HEAP_MAX_SIZE-aligned reservation of a non-main arena."""

    addr: int
    size: int            # bytes in use (read-write), from addr
    mprotect_size: int   # high-water mark of the read-write part
    #: Where the fenceposts at this heap's end start, once a newer heap took over the top.
    fence: int | None = None


@attrs.define
class Arena:
    """``struct malloc_state``: a top chunk, free chunks, and where its memory comes from."""

    main: bool
    top: int = 0
    top_size: int = 0
    contiguous: bool = True
    heaps: list[Heap] = attrs.Factory(list)
    #: Free chunks that coalesce: {chunk address: size}.
    free: dict[int, int] = attrs.Factory(dict)
    #: Fastbin chunks (no coalescing until malloc_consolidate): {size: [addresses]}.
    fast: dict[int, list[int]] = attrs.Factory(dict)
    attached_threads: int = 0


@attrs.define
class Chunk:
    addr: int
    size: int
    arena: Arena | None
    #: For mmapped chunks: the mapping starts ``prev_size`` bytes before the chunk.
    mmapped: bool = False
    prev_size: int = 0


class Malloc:
    """The allocator of one process: arenas, thresholds, and every live chunk."""

    def __init__(self, process):
        self.p = process
        self.w = process.word
        cfg = process.glibc
        self.mmap_threshold = cfg.mmap_threshold or DEFAULT_MMAP_THRESHOLD
        self.trim_threshold = cfg.trim_threshold or DEFAULT_TRIM_THRESHOLD
        self.top_pad = cfg.top_pad
        # Setting any of these by mallopt or tunable turns the dynamic threshold off.
        self.no_dyn_threshold = (cfg.mmap_threshold is not None or cfg.trim_threshold is not None
                                 or cfg.top_pad != 128 * KiB)
        self.main_arena = Arena(main=True, attached_threads=1)
        self.arenas = [self.main_arena]  # main first, then newest to oldest (arena.c list order)
        self.free_arenas: list[Arena] = []
        self.next_to_use: Arena | None = None
        self.narenas_limit = 0
        self.aligned_heap_area: int | None = None
        self.curbrk: int | None = None  # libc's __curbrk, unknown until the first sbrk
        self.chunks: dict[int, Chunk] = {}  # by user pointer
        self.n_mmaps = 0

    # -- public API ---------------------------------------------------------------------------

    def malloc(self, thread, nbytes: int) -> int | None:
        """``__libc_malloc``: a user pointer, or None (ENOMEM)."""
        self._maybe_init_tcache(thread)
        nb = self.w.request2size(nbytes)
        cached = self._tcache_get(thread, nb)
        if cached is not None:
            return cached
        return self._arena_malloc(thread, nb)

    def calloc(self, thread, nbytes: int) -> int | None:
        """``__libc_calloc``: like malloc, but never from the tcache."""
        self._maybe_init_tcache(thread)
        return self._arena_malloc(thread, self.w.request2size(nbytes))

    def free(self, thread, mem: int) -> None:
        """``__libc_free``: an mmapped chunk is unmapped before the tcache (and so an arena)
        is set up."""
        chunk = self.chunks.pop(mem)
        if chunk.mmapped:
            self._munmap_chunk(chunk)
            return
        self._maybe_init_tcache(thread)
        if self._tcache_put(thread, chunk):
            return
        self._int_free(chunk.arena, chunk.addr, chunk.size)

    def realloc(self, thread, mem: int, nbytes: int) -> int | None:
        """``__libc_realloc`` for mmapped chunks (mremap); heap chunks move by malloc+free."""
        chunk = self.chunks[mem]
        nb = self.w.request2size(nbytes)
        if chunk.mmapped:
            offset = chunk.prev_size
            total = offset + chunk.size
            new_total = align_up(nb + offset + self.w.size_sz, PAGE_SIZE)
            if new_total == total:
                return mem
            block = chunk.addr - offset
            moved = self.p.sys_mremap(block, total, new_total, MREMAP_MAYMOVE)
            if not isinstance(moved, Errno):
                del self.chunks[mem]
                new = Chunk(moved + offset, new_total - offset, None, True, offset)
                self.chunks[new.addr + 2 * self.w.size_sz] = new
                return new.addr + 2 * self.w.size_sz
            if chunk.size - self.w.size_sz >= nb:
                return mem
        elif chunk.size >= nb:
            return mem
        new_mem = self.malloc(thread, nbytes)
        if new_mem is not None:
            self.free(thread, mem)
        return new_mem

    # -- tcache (per thread) ----------------------------------------------------------------

    def _maybe_init_tcache(self, thread) -> None:
        """``tcache_init``: the first malloc or free of a thread picks its arena and
        allocates the tcache there; not once the thread is exiting (tcache_shutting_down)."""
        if thread.tcache is not None or thread.tcache_shut_down:
            return
        thread.tcache = {}
        arena = self.arena_for(thread, self.w.tcache_bytes)
        thread.tcache_struct = self._int_malloc(arena, self.w.request2size(self.w.tcache_bytes))

    def _tcache_get(self, thread, nb: int) -> int | None:
        if thread.tcache is None:
            return None
        entries = thread.tcache.get(nb)
        if entries:
            return entries.pop()
        return None

    def _tcache_put(self, thread, chunk: Chunk) -> bool:
        if thread.tcache is None or chunk.size > self.w.tcache_max_chunk:
            return False
        entries = thread.tcache.setdefault(chunk.size, [])
        if len(entries) >= TCACHE_FILL_COUNT:
            return False
        mem = chunk.addr + 2 * self.w.size_sz
        entries.append(mem)
        self.chunks[mem] = chunk
        return True

    # -- arena selection (malloc/arena.c) ---------------------------------------------------

    def arena_for(self, thread, nbytes: int = 0) -> Arena | None:
        """``arena_get``: the thread's arena, choosing one on first use (``arena_get2``);
        a new arena's first heap is sized for ``nbytes`` plus its own headers."""
        if thread.arena is not None:
            return thread.arena
        if thread.is_main:
            arena = self.main_arena
        else:
            arena = self._arena_get2(nbytes)
        thread.arena = arena
        if arena is not None:
            arena.attached_threads += 1
        return arena

    def _arena_get2(self, nbytes: int) -> Arena | None:
        if self.free_arenas:
            return self.free_arenas.pop()
        cfg = self.p.glibc
        narenas = len(self.arenas)
        arena_test = 8 if self.w.size_sz == 8 else 2  # NARENAS_FROM_NCORES(1)
        if self.narenas_limit == 0:
            if cfg.arena_max:
                self.narenas_limit = cfg.arena_max
            elif narenas > arena_test:
                self.narenas_limit = self.w.arenas_per_core * max(cfg.ncpu, 1)
        if self.narenas_limit == 0 or narenas <= self.narenas_limit - 1:
            arena = self._int_new_arena(nbytes)
            if arena is not None:
                self.arenas.insert(1, arena)
            return arena
        return self._reused_arena()

    def _reused_arena(self) -> Arena:
        """Round-robin over all arenas (none is ever locked in the model)."""
        if self.next_to_use is None:
            self.next_to_use = self.main_arena
        result = self.next_to_use
        index = self.arenas.index(result)
        self.next_to_use = self.arenas[(index + 1) % len(self.arenas)]
        return result

    def _int_new_arena(self, nbytes: int) -> Arena | None:
        w = self.w
        size = nbytes + w.sizeof_heap_info + w.sizeof_malloc_state + w.malloc_alignment
        heap = self._new_heap(size, self.top_pad)
        if heap is None:
            return None
        arena = Arena(main=False, heaps=[heap])
        ptr = heap.addr + w.sizeof_heap_info + w.sizeof_malloc_state
        misalign = (ptr + 2 * w.size_sz) & (w.malloc_alignment - 1)
        if misalign:
            ptr += w.malloc_alignment - misalign
        arena.top, arena.top_size = ptr, heap.addr + heap.size - ptr
        return arena

    # -- non-main heaps (malloc/arena.c new_heap, grow_heap) -----------------------------------

    def _new_heap(self, size: int, top_pad: int) -> Heap | None:
        hmax = self.w.heap_max
        if size + top_pad < HEAP_MIN_SIZE:
            size = HEAP_MIN_SIZE
        elif size + top_pad <= hmax:
            size += top_pad
        elif size > hmax:
            return None
        else:
            size = hmax
        size = align_up(size, PAGE_SIZE)
        p2 = None
        if self.aligned_heap_area is not None:
            hint, self.aligned_heap_area = self.aligned_heap_area, None
            got = self.p.sys_mmap(hint, hmax, PROT_NONE, ANON | MAP_NORESERVE)
            if not isinstance(got, Errno):
                if got & (hmax - 1):
                    self.p.sys_munmap(got, hmax)
                else:
                    p2 = got
        if p2 is None:
            p1 = self.p.sys_mmap(0, 2 * hmax, PROT_NONE, ANON | MAP_NORESERVE)
            if not isinstance(p1, Errno):
                p2 = align_up(p1, hmax)
                ul = p2 - p1
                if ul:
                    self.p.sys_munmap(p1, ul)
                else:
                    self.aligned_heap_area = p2 + hmax
                self.p.sys_munmap(p2 + hmax, hmax - ul)
            else:
                got = self.p.sys_mmap(0, hmax, PROT_NONE, ANON | MAP_NORESERVE)
                if isinstance(got, Errno):
                    return None
                if got & (hmax - 1):
                    self.p.sys_munmap(got, hmax)
                    return None
                p2 = got
        if isinstance(self.p.sys_mprotect(p2, size, RW), Errno):
            self.p.sys_munmap(p2, hmax)
            return None
        return Heap(p2, size, size)

    def _grow_heap(self, heap: Heap, diff: int) -> bool:
        diff = align_up(diff, PAGE_SIZE)
        new_size = heap.size + diff
        if new_size > self.w.heap_max:
            return False
        if new_size > heap.mprotect_size:
            if isinstance(self.p.sys_mprotect(heap.addr + heap.mprotect_size,
                                              new_size - heap.mprotect_size, RW), Errno):
                return False
            heap.mprotect_size = new_size
        heap.size = new_size
        return True

    # -- _int_malloc ---------------------------------------------------------------------------

    def _arena_malloc(self, thread, nb: int) -> int | None:
        arena = self.arena_for(thread)
        return self._int_malloc(arena, nb)

    def _int_malloc(self, arena: Arena | None, nb: int) -> int | None:
        if arena is not None:
            got = self._from_bins(arena, nb)
            if got is not None:
                return self._give(arena, got, nb)
            if arena.top_size >= nb + self.w.minsize:
                p = arena.top
                arena.top, arena.top_size = p + nb, arena.top_size - nb
                return self._give(arena, p, nb)
        return self._sysmalloc(arena, nb)

    def _give(self, arena: Arena, p: int, size: int) -> int:
        mem = p + 2 * self.w.size_sz
        self.chunks[mem] = Chunk(p, size, arena)
        return mem

    def _from_bins(self, arena: Arena, nb: int) -> int | None:
        """Fastbins (exact size), then the best-fitting free chunk, split if worth it."""
        fast = arena.fast.get(nb)
        if fast:
            return fast.pop()
        if any(arena.fast.values()) and nb > self.w.fastbin_max_chunk:
            self._malloc_consolidate(arena)
        best = None
        for addr, size in arena.free.items():
            if size >= nb and (best is None or size < best[1] or
                               (size == best[1] and addr < best[0])):
                best = (addr, size)
        if best is None:
            return None
        addr, size = best
        del arena.free[addr]
        if size - nb >= self.w.minsize:
            arena.free[addr + nb] = size - nb
        return addr

    # -- sysmalloc -----------------------------------------------------------------------------

    def _sysmalloc(self, arena: Arena | None, nb: int) -> int | None:
        w = self.w
        tried_mmap = False
        if arena is None or (nb >= self.mmap_threshold and self.n_mmaps < 65536):
            mem = self._sysmalloc_mmap(nb)
            if mem is not None:
                return mem
            tried_mmap = True
        if arena is None:
            return None
        old_top, old_size = arena.top, arena.top_size
        if not arena.main:
            heap = arena.heaps[-1]
            if w.minsize + nb - old_size > 0 and self._grow_heap(heap, w.minsize + nb - old_size):
                arena.top_size = heap.addr + heap.size - old_top
            else:
                heap = self._new_heap(nb + w.minsize + w.sizeof_heap_info, self.top_pad)
                if heap is not None:
                    arena.heaps.append(heap)
                    arena.top = heap.addr + w.sizeof_heap_info
                    arena.top_size = heap.size - w.sizeof_heap_info
                    arena.heaps[-2].fence = self._retire_old_top(arena, old_top, old_size)
                elif not tried_mmap:
                    return self._sysmalloc_mmap(nb)
        else:
            self._sysmalloc_brk(arena, nb, old_top, old_size)
        if arena.top_size >= nb + w.minsize:
            p = arena.top
            arena.top, arena.top_size = p + nb, arena.top_size - nb
            return self._give(arena, p, nb)
        return None

    def _retire_old_top(self, arena: Arena, old_top: int, old_size: int) -> int:
        """Fenceposts at the old top; what is left of it goes to the free chunks. Returns
        where the fenceposts start."""
        w = self.w
        if old_size == 0:
            return old_top
        old_size = (old_size - 4 * w.size_sz) & ~(w.malloc_alignment - 1)
        if old_size >= w.minsize:
            self._int_free(arena, old_top, old_size)
            return old_top + old_size
        return old_top

    def _sysmalloc_mmap(self, nb: int) -> int | None:
        """``sysmalloc_mmap``: a chunk of its own mapping. With 16-byte alignment and 8-byte
        chunk headers (i386) the chunk starts 8 bytes in."""
        w = self.w
        if w.malloc_alignment == 2 * w.size_sz:
            size, offset = align_up(nb + w.size_sz, PAGE_SIZE), 0
        else:
            size = align_up(nb + w.size_sz + w.malloc_alignment - 1, PAGE_SIZE)
            offset = w.malloc_alignment - 2 * w.size_sz
        mm = self.p.sys_mmap(0, size, RW, ANON)
        if isinstance(mm, Errno):
            return None
        self.n_mmaps += 1
        chunk = Chunk(mm + offset, size - offset, None, True, offset)
        mem = chunk.addr + 2 * w.size_sz
        self.chunks[mem] = chunk
        return mem

    def _sbrk(self, increment: int) -> int | None:
        """misc/sbrk.c ``__sbrk``: brk(NULL) once to learn the break, then brk(old + incr).
        Returns the old break, or None when the kernel refused."""
        if self.curbrk is None:
            self.curbrk = self.p.sys_brk(0)
        if increment == 0:
            return self.curbrk
        old = self.curbrk
        new = self.p.sys_brk(old + increment)
        self.curbrk = new
        return old if new >= old + increment else None

    def _sysmalloc_brk(self, arena: Arena, nb: int, old_top: int, old_size: int) -> None:
        """The main arena's ``sysmalloc`` branch: grow the brk heap; on failure fall back to
        mmap (2.35-2.37 pass its size arguments swapped: the 1 MiB is an alignment, not a
        minimum), and mark the arena non-contiguous for good."""
        w = self.w
        align_mask = w.malloc_alignment - 1
        size = nb + self.top_pad + w.minsize
        if arena.contiguous:
            size -= old_size
        size = align_up(size, PAGE_SIZE)
        old_end = old_top + old_size
        snd_brk = None
        brk = self._sbrk(size) if size > 0 else None
        if brk is None:
            mbrk_size = size
            if arena.contiguous:
                mbrk_size = align_up(size + old_size, MMAP_AS_MORECORE_SIZE)
            mbrk_size = max(mbrk_size, PAGE_SIZE)
            if mbrk_size <= nb:
                return
            mbrk = self.p.sys_mmap(0, mbrk_size, RW, ANON)
            if isinstance(mbrk, Errno):
                return
            arena.contiguous = False
            brk, size, snd_brk = mbrk, mbrk_size, mbrk + mbrk_size
        if brk == old_end and snd_brk is None:
            arena.top_size = old_size + size
            return
        correction = 0
        aligned_brk = brk
        if arena.contiguous:
            front_misalign = (brk + 2 * w.size_sz) & align_mask
            if front_misalign:
                correction = w.malloc_alignment - front_misalign
                aligned_brk += correction
            correction += old_size
            end_misalign = brk + size + correction
            correction += align_up(end_misalign, PAGE_SIZE) - end_misalign
            snd_brk = self._sbrk(correction)
            if snd_brk is None:
                correction = 0
                snd_brk = self._sbrk(0)
        else:
            if w.malloc_alignment != 2 * w.size_sz:
                front_misalign = (brk + 2 * w.size_sz) & align_mask
                if front_misalign:
                    aligned_brk += w.malloc_alignment - front_misalign
            if snd_brk is None:
                snd_brk = self._sbrk(0)
        arena.top = aligned_brk
        arena.top_size = snd_brk - aligned_brk + correction
        self._retire_old_top(arena, old_top, old_size)

    # -- free ----------------------------------------------------------------------------------

    def _munmap_chunk(self, chunk: Chunk) -> None:
        """``munmap_chunk`` and the dynamic threshold: freeing an mmapped chunk above the
        threshold raises the threshold to its size (up to DEFAULT_MMAP_THRESHOLD_MAX). glibc
        compares ``chunksize_nomask``, the size with its IS_MMAPPED bit: a chunk of exactly
        the maximum does not raise it."""
        size_nomask = chunk.size | IS_MMAPPED
        if (not self.no_dyn_threshold and size_nomask > self.mmap_threshold
                and size_nomask <= self.w.mmap_threshold_max):
            self.mmap_threshold = chunk.size
            self.trim_threshold = 2 * chunk.size
        self.n_mmaps -= 1
        self.p.sys_munmap(chunk.addr - chunk.prev_size, chunk.prev_size + chunk.size)

    def _int_free(self, arena: Arena, p: int, size: int) -> None:
        if size <= self.w.fastbin_max_chunk:  # TRIM_FASTBINS is 0: even next to the top
            arena.fast.setdefault(size, []).append(p)
            return
        size = self._coalesce(arena, p, size)
        if size >= FASTBIN_CONSOLIDATION_THRESHOLD:
            if any(arena.fast.values()):
                self._malloc_consolidate(arena)
            if arena.main:
                if arena.top_size >= self.trim_threshold:
                    self._systrim(arena)
            else:
                self._heap_trim(arena)

    def _malloc_consolidate(self, arena: Arena) -> None:
        """``malloc_consolidate``: every fastbin chunk coalesces, nothing is trimmed."""
        fast, arena.fast = arena.fast, {}
        for size, addrs in fast.items():
            for p in addrs:
                self._coalesce(arena, p, size)

    @staticmethod
    def _coalesce(arena: Arena, p: int, size: int) -> int:
        """Join a freed chunk with its free neighbours, and with the top if it reaches it.
        Returns the size of the free chunk it became part of (the top's, if that)."""
        for addr, s in list(arena.free.items()):
            if addr + s == p:
                del arena.free[addr]
                p, size = addr, size + s
                break
        nxt = arena.free.pop(p + size, None)
        if nxt is not None:
            size += nxt
        if p + size == arena.top:
            arena.top, arena.top_size = p, arena.top_size + size
            return arena.top_size
        arena.free[p] = size
        return size

    def _systrim(self, arena: Arena) -> None:
        """``systrim``: give the top back to the kernel, keeping top_pad, if the break is
        still where malloc left it."""
        top_area = arena.top_size - self.w.minsize - 1
        if top_area <= self.top_pad:
            return
        extra = align_down(top_area - self.top_pad, PAGE_SIZE)
        if extra == 0:
            return
        current = self._sbrk(0)
        if current != arena.top + arena.top_size:
            return
        self._sbrk(-extra)
        new = self._sbrk(0)
        released = current - new
        if released:
            arena.top_size -= released

    def _heap_trim(self, arena: Arena) -> None:
        """``heap_trim``: unmap a whole heap the top covers, if the previous heap's end (its
        fenceposts and a free chunk just below them, which become the top) leaves room for
        top_pad; else shrink the newest heap with madvise."""
        w = self.w
        while len(arena.heaps) > 1 and arena.top == arena.heaps[-1].addr + w.sizeof_heap_info:
            heap, prev = arena.heaps[-1], arena.heaps[-2]
            end = prev.addr + prev.size
            p = prev.fence
            new_size = end - p
            below = next((a for a, s in arena.free.items() if a + s == p), None)
            if below is not None:
                new_size += arena.free[below]
            if new_size + (w.heap_max - prev.size) < self.top_pad + w.minsize + PAGE_SIZE:
                break
            arena.heaps.pop()
            if self.aligned_heap_area == heap.addr + w.heap_max:
                self.aligned_heap_area = None
            self.p.sys_munmap(heap.addr, w.heap_max)
            if below is not None:
                del arena.free[below]
                p = below
            prev.fence = None
            arena.top, arena.top_size = p, new_size
        heap = arena.heaps[-1]
        if arena.top_size < self.trim_threshold:
            return
        top_area = arena.top_size - w.minsize - 1
        if top_area <= self.top_pad:
            return
        extra = align_down(top_area - self.top_pad, PAGE_SIZE)
        if extra == 0 or heap.size - extra < w.sizeof_heap_info:
            return
        from simulator.libc.pthread import MADV_DONTNEED
        self.p.sys_madvise(heap.addr + heap.size - extra, extra, MADV_DONTNEED)
        heap.size -= extra
        arena.top_size -= extra

    def thread_exit(self, thread) -> None:
        """``__malloc_arena_thread_freeres``: the tcache goes back to the arena, and an arena
        no thread uses any more goes on the free list for the next new thread."""
        # tcache_thread_shutdown: every cached chunk, then the tcache itself, is freed.
        thread.tcache_shut_down = True
        if thread.tcache is not None:
            for size, mems in thread.tcache.items():
                for mem in mems:
                    chunk = self.chunks.pop(mem)
                    self._int_free(chunk.arena, chunk.addr, chunk.size)
            thread.tcache = None
            if thread.tcache_struct is not None:
                chunk = self.chunks.pop(thread.tcache_struct)
                self._int_free(chunk.arena, chunk.addr, chunk.size)
                thread.tcache_struct = None
        arena = thread.arena
        if arena is not None and not arena.main:
            arena.attached_threads -= 1
            if arena.attached_threads == 0:
                self.free_arenas.append(arena)
        thread.arena = None


__all__ = ["Malloc", "Arena", "Heap", "Chunk", "MAP_FIXED"]
