"""glibc's compile-time constants and tunables, per word size (glibc 2.36 as in Debian 12).

Sources: malloc/malloc.c, malloc/arena.c, sysdeps/generic/malloc-machine.h (DEFAULT_TOP_PAD),
sysdeps/x86/nptl/pthreaddef.h, sysdeps/unix/sysv/linux/bits/pthread_stack_min.h,
nptl/nptl-stack.c (the 40 MiB stack cache).
"""

from __future__ import annotations

import attrs

from simulator.units import KiB, MiB


@attrs.frozen
class GlibcConfig:
    """The glibc a process runs, with its tunables (``GLIBC_TUNABLES``) and the machine's CPUs."""

    #: "2.36" (Debian 12, the reference); "2.42" installs thread-stack guards with
    #: madvise(MADV_GUARD_INSTALL), so a stack is one VMA instead of two.
    version: str = "2.36"
    #: Online CPUs (``__get_nprocs``): the arena limit is 8 per CPU on 64-bit, 2 on 32-bit.
    ncpu: int = 2
    #: glibc.malloc.top_pad / M_TOP_PAD (DEFAULT_TOP_PAD, 128 KiB).
    top_pad: int = 128 * KiB
    #: glibc.malloc.mmap_threshold; None = dynamic, starting at 128 KiB.
    mmap_threshold: int | None = None
    #: glibc.malloc.trim_threshold; None = dynamic, starting at 128 KiB.
    trim_threshold: int | None = None
    #: glibc.malloc.arena_max; None = by CPU count.
    arena_max: int | None = None
    #: glibc.pthread.stack_cache_size (40 MiB).
    stack_cache_size: int = 40 * MiB
    #: The size of /etc/ld.so.cache, which ld.so maps whole while it loads libraries (and
    #: dlopen again): its pages are a hole below ld.so afterwards. A fact of the system, not a
    #: tunable; never read from this machine. 38923 bytes (10 pages) is the reference machine's
    #: (Debian 12): ``st_size`` of ld.so's fstat and the mmap length in every recording in
    #: tests/data/recordings (docs/hermetic.md).
    ld_so_cache_size: int = 38923

    @property
    def guard_by_madvise(self) -> bool:
        return tuple(int(p) for p in self.version.split(".")[:2]) >= (2, 42)


@attrs.frozen
class WordSize:
    """Everything in malloc and nptl that depends on the size of a pointer."""

    size_sz: int               # SIZE_SZ
    mmap_threshold_max: int    # DEFAULT_MMAP_THRESHOLD_MAX: 4 MiB * sizeof(long)
    heap_max: int              # HEAP_MAX_SIZE = 2 * DEFAULT_MMAP_THRESHOLD_MAX
    arenas_per_core: int       # NARENAS_FROM_NCORES: cores * (sizeof(long) == 4 ? 2 : 8)
    sizeof_heap_info: int      # heap_info, padded so that its size + 2*SIZE_SZ is 16-aligned
    sizeof_malloc_state: int   # struct malloc_state
    tcache_bytes: int          # sizeof(tcache_perthread_struct): 64 counts + 64 pointers
    dtv_bytes: int             # allocate_dtv: (dtv_max_idx + DTV_SURPLUS(14) + 2) * sizeof(dtv_t)
    tls_static_size: int       # dl_tls_static_size (x86_64 4224, i386 3008)
    tls_static_align: int = 64
    #: MALLOC_ALIGNMENT: max(2 * SIZE_SZ, alignof(long double)) = 16, which
    #: sysdeps/i386/malloc-alignment.h also gives i386; 8 on 32-bit arm (the profile says).
    malloc_alignment: int = 16

    @property
    def minsize(self) -> int:
        return 4 * self.size_sz  # MINSIZE: 32 on 64-bit, 16 on 32-bit

    @property
    def tcache_max_chunk(self) -> int:
        """The largest chunk the tcache holds (TCACHE_MAX_BINS = 64 size classes)."""
        return self.minsize + 63 * self.malloc_alignment

    @property
    def fastbin_max_chunk(self) -> int:
        """DEFAULT_MXFAST = 64 * SIZE_SZ / 4, as a chunk size."""
        return self.request2size(64 * self.size_sz // 4)

    def request2size(self, req: int) -> int:
        """malloc.c ``request2size``: user bytes to chunk size."""
        mask = self.malloc_alignment - 1
        size = (req + self.size_sz + mask) & ~mask
        return max(size, self.minsize)


WORD64 = WordSize(size_sz=8, mmap_threshold_max=32 * MiB, heap_max=64 * MiB, arenas_per_core=8,
                  sizeof_heap_info=48, sizeof_malloc_state=2200, tcache_bytes=640,
                  dtv_bytes=272, tls_static_size=4224)
WORD32 = WordSize(size_sz=4, mmap_threshold_max=512 * KiB, heap_max=1 * MiB, arenas_per_core=2,
                  sizeof_heap_info=24, sizeof_malloc_state=1112, tcache_bytes=384,
                  dtv_bytes=136, tls_static_size=3008)


def word_size(task_bits: int, malloc_alignment: int = 16) -> WordSize:
    word = WORD64 if task_bits == 64 else WORD32
    return word if word.malloc_alignment == malloc_alignment else attrs.evolve(
        word, malloc_alignment=malloc_alignment)
