"""The dynamic linker (elf/rtld.c ``dl_main``, elf/dl-load.c, elf/dl-map-segments.h, glibc 2.36).

ld.so maps each shared object from its program headers: one mapping of the whole span from
the first segment's file offset (so the kernel picks one place for all of it), PROT_NONE
over the holes between segments, the later segments MAP_FIXED on top, and anonymous memory
for the bss. After relocation it makes each object's RELRO region read-only.
"""

from __future__ import annotations

import attrs

from simulator.kernel.binfmt_elf import ElfImage
from simulator.kernel.exec import ExecError
from simulator.kernel.uapi import (
    MAP_ANONYMOUS, MAP_DENYWRITE, MAP_FIXED, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE, Errno,
)
from simulator.kernel.vma import FileRef
from simulator.units import PAGE_SIZE, align_down, align_up

MAP_COPY = MAP_PRIVATE | MAP_DENYWRITE


@attrs.frozen
class SharedObject:
    """What ld.so reads from an ELF file: PT_LOADs (as the kernel's ElfImage), PT_GNU_RELRO
    and DT_NEEDED."""

    elf: ElfImage
    relro: tuple[int, int] | None = None   # (p_vaddr, p_memsz)
    needed: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return self.elf.file.path


@attrs.frozen
class LoadedObject:
    obj: SharedObject
    l_addr: int


def _loadcmds(elf: ElfImage):
    """``_dl_map_object_from_fd``: per PT_LOAD its page range, file end, memory end, offset."""
    cmds = []
    for seg in elf.segments:
        cmds.append(dict(mapstart=align_down(seg.vaddr, PAGE_SIZE),
                         mapend=align_up(seg.vaddr + seg.filesz, PAGE_SIZE),
                         dataend=seg.vaddr + seg.filesz, allocend=seg.vaddr + seg.memsz,
                         mapoff=align_down(seg.offset, PAGE_SIZE), prot=seg.prot))
    return cmds


def _map_segment(p, file: FileRef, first: dict, maplength: int, mapalign: int) -> int | Errno:
    """``_dl_map_segment``: the reservation, over-sized and trimmed when p_align > a page."""
    if mapalign <= PAGE_SIZE:
        return p.sys_mmap(0, maplength, first["prot"], MAP_COPY, file, first["mapoff"])
    maplen = maplength + mapalign if maplength >= mapalign else 2 * mapalign
    start = p.sys_mmap(0, maplen, PROT_NONE, MAP_ANONYMOUS | MAP_PRIVATE)
    if isinstance(start, Errno):
        return start
    aligned = align_up(start, mapalign)
    got = p.sys_mmap(aligned, maplength, first["prot"], MAP_COPY | MAP_FIXED, file,
                     first["mapoff"])
    if isinstance(got, Errno):
        p.sys_munmap(start, maplen)
        return got
    if aligned - start:
        p.sys_munmap(start, aligned - start)
    end = align_up(aligned + maplength, PAGE_SIZE)
    if start + maplen - end:
        p.sys_munmap(end, start + maplen - end)
    return aligned


def map_object(p, obj: SharedObject) -> LoadedObject | Errno:
    """``_dl_map_segments`` for an ET_DYN object; returns where it went (``l_addr``)."""
    elf = obj.elf
    cmds = _loadcmds(elf)
    mapalign = elf.maximum_alignment()
    first, last = cmds[0], cmds[-1]
    maplength = last["allocend"] - first["mapstart"]
    has_holes = any(c["mapstart"] != prev["mapend"] for prev, c in zip(cmds, cmds[1:]))
    start = _map_segment(p, elf.file, first, maplength, mapalign)
    if isinstance(start, Errno):
        return start
    l_addr = start - first["mapstart"]
    if has_holes:
        p.sys_mprotect(l_addr + first["mapend"], last["mapstart"] - first["mapend"], PROT_NONE)
    for index, c in enumerate(cmds):
        if index and c["mapend"] > c["mapstart"]:
            got = p.sys_mmap(l_addr + c["mapstart"], c["mapend"] - c["mapstart"], c["prot"],
                             MAP_FIXED | MAP_COPY, elf.file, c["mapoff"])
            if isinstance(got, Errno):
                return got
        if c["allocend"] > c["dataend"]:
            zero = l_addr + c["dataend"]
            zeroend = l_addr + c["allocend"]
            zeropage = min(align_up(zero, PAGE_SIZE), zeroend)
            if zeropage > zero:
                if not c["prot"] & PROT_WRITE:
                    page = align_down(zero, PAGE_SIZE)
                    p.sys_mprotect(page, PAGE_SIZE, c["prot"] | PROT_WRITE)
                    p.mm.touch(zero, write=True)
                    p.sys_mprotect(page, PAGE_SIZE, c["prot"])
                else:
                    p.mm.touch(zero, write=True)  # memset of the partial page
            if zeroend > zeropage:
                got = p.sys_mmap(zeropage, zeroend - zeropage, c["prot"],
                                 MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED)
                if isinstance(got, Errno):
                    return got
    return LoadedObject(obj, l_addr)


def protect_relro(p, loaded: LoadedObject) -> None:
    """``_dl_protect_relro``: the RELRO pages become read-only (whole pages only)."""
    if loaded.obj.relro is None:
        return
    vaddr, size = loaded.obj.relro
    start = align_down(loaded.l_addr + vaddr, PAGE_SIZE)
    end = align_down(loaded.l_addr + vaddr + size, PAGE_SIZE)
    if start != end:
        p.sys_mprotect(start, end - start, PROT_READ)


def _map_cache(p, cache_size: int):
    """elf/dl-cache.c ``_dl_load_cache_lookup`` maps /etc/ld.so.cache whole and read-only
    (elf/dl-misc.c ``_dl_sysdep_read_whole_file``, which maps nothing for an empty file:
    ``cache_size`` 0 stands for an empty or missing cache). Returns the address, an Errno, or
    None when nothing was mapped."""
    if cache_size == 0:
        return None
    return p.sys_mmap(0, cache_size, PROT_READ, MAP_PRIVATE,
                      FileRef("/etc/ld.so.cache", writable=False), 0)


def _unmap_cache(p, cache, cache_size: int) -> None:
    """elf/dl-cache.c ``_dl_unload_cache``: munmap the cache if it was mapped."""
    if cache is not None and not isinstance(cache, Errno):
        p.sys_munmap(cache, cache_size)


def _add_to_link_map(p, loaded: LoadedObject) -> None:
    """The link map, by the file's path as /proc shows it (symlinks resolved when the file was
    opened): ``_dl_map_object`` finds an object already loaded here."""
    p.loaded[loaded.obj.path] = loaded


def dl_main(p, exe: SharedObject, exe_l_addr: int, rtld: SharedObject, rtld_l_addr: int,
            libraries: list[SharedObject], *, cache_size: int | None = None) -> list[LoadedObject]:
    """ld.so's start-up as strace shows it for a program linked against ``libraries``:
    brk(NULL); the first minimal-malloc block; the ld.so.cache mapping; each library; on
    64-bit the main thread's static TLS block; RELRO (libraries in reverse load order, then
    the executable, then ld.so); the cache unmapped. The minimal-malloc sizes are those
    observed for programs with few libraries (elf/dl-minimal-malloc.c). ``cache_size`` is
    the size of /etc/ld.so.cache, by default the process's ``GlibcConfig.ld_so_cache_size``
    (a documented constant: this machine's file is never read)."""
    if cache_size is None:
        cache_size = p.glibc.ld_so_cache_size
    # elf/rtld.c: GL(dl_stack_flags) comes from the executable's PT_GNU_STACK; thread stacks
    # are mapped with PROT_EXEC when it has PF_X.
    p.exec_stack = exe.elf.exec_stack
    p.sys_brk(0)
    p.sys_mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    cache = _map_cache(p, cache_size)
    loaded = []
    for lib in libraries:
        result = map_object(p, lib)
        if isinstance(result, Errno):
            # elf/dl-load.c: "error while loading shared libraries: ... failed to map
            # segment from shared object"; the program never reaches main.
            raise ExecError(f"ld.so: cannot map {lib.path}: {result.name}")
        loaded.append(result)
    # init_tls: dl_tls_static_size + align + a pointer, from the minimal malloc: on x86_64
    # (4296 bytes) it needs a block of its own.
    tls_bytes = p.word.tls_static_size + p.word.tls_static_align + p.word.size_sz
    if tls_bytes > 4096:
        p.sys_mmap(0, align_up(tls_bytes, PAGE_SIZE) + PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS)
    main_map, rtld_map = LoadedObject(exe, exe_l_addr), LoadedObject(rtld, rtld_l_addr)
    for item in loaded + [main_map, rtld_map]:
        _add_to_link_map(p, item)
    for item in list(reversed(loaded)) + [main_map, rtld_map]:
        protect_relro(p, item)
    _unmap_cache(p, cache, cache_size)
    return loaded


def dlopen(p, obj: SharedObject, *, cache_size: int | None = None) -> LoadedObject | Errno:
    """``dlopen`` of one object with no new dependencies: the cache is mapped and unmapped
    again (elf/dl-open.c), the object mapped and its RELRO protected. An object already
    loaded (the same file) is found by ``_dl_map_object`` and nothing is mapped."""
    known = p.loaded.get(obj.path)
    if known is not None:
        return known
    if cache_size is None:
        cache_size = p.glibc.ld_so_cache_size
    cache = _map_cache(p, cache_size)
    loaded = map_object(p, obj)
    if not isinstance(loaded, Errno):
        protect_relro(p, loaded)
        _add_to_link_map(p, loaded)
    _unmap_cache(p, cache, cache_size)
    return loaded
