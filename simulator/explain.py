"""Explain a real process's address space: what made each region, what is left, what fits.

Input is a maps listing (/proc/PID/maps, smaps or gdb's ``info proc mappings``). Every region
is labelled from the layout rules alone (:func:`label_regions`); the questions "how many more
threads fit", "what is the largest mmap that would succeed" and "what if this ran under another
layout" are answered by *running the model* on an address space built from the listing
(:func:`simulator.trace.loadmaps.address_space_from_maps`), never by arithmetic on the text.

The labels follow what glibc 2.36 and Linux 6.x leave behind:

* a **thread stack** is glibc's ``allocate_stack`` block (nptl/allocatestack.c): one anonymous
  mapping whose lowest ``guardsize`` bytes were made PROT_NONE, so the listing shows a
  ``---p`` guard directly followed by its ``rw-p`` stack (x86, arm: stacks grow down). With
  glibc 2.42's ``MADV_GUARD_INSTALL`` the guard is invisible in maps; smaps shows ``gu``.
* a **malloc arena heap** is ``new_heap`` (malloc/arena.c): a HEAP_MAX_SIZE-aligned
  reservation of HEAP_MAX_SIZE (64 MiB on 64-bit, 1 MiB on 32-bit), of which the used part is
  ``rw-p`` and the rest a ``---p`` tail.
* a **shared library** is a file mapping whose name ends in ``.so`` or ``.so.N``; the
  anonymous ``rw-p`` mapping directly after its last segment is its bss. The **executable** is
  the lowest file mapping that is not a library.

Cost: labelling is O(n) in the number of mappings; each model question builds a fresh address
space from the listing (O(n log n)) and runs on it.
"""

from __future__ import annotations

import re
from collections import Counter

import attrs

from simulator.kernel.arch import Profile
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.kernel.uapi import (MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_READ,
                                   PROT_WRITE, Errno)
from simulator.libc.config import word_size
from simulator.libc.process import attach_process
from simulator.libc.pthread import PTHREAD_STACK_MIN, ThreadAttr
from simulator.trace.loadmaps import address_space_from_maps
from simulator.trace.procmaps import MapsEntry
from simulator.units import MiB, KiB, PAGE_SIZE, RLIM_INFINITY, format_size

#: What made a region, in the order totals are printed.
KINDS = {
    "executable": "the program's ELF segments (and its bss)",
    "heap": "the brk heap ([heap])",
    "ld.so": "the dynamic linker",
    "library": "shared libraries (and their bss)",
    "stack": "the main thread's stack ([stack])",
    "thread-stack": "glibc thread stacks (allocate_stack)",
    "thread-guard": "guard pages below glibc thread stacks (PROT_NONE)",
    "arena-heap": "malloc arena heaps, the used part (new_heap, rw-p)",
    "arena-reserve": "malloc arena heaps, the reserved tail (PROT_NONE)",
    "kernel": "kernel-provided ([vdso], [vvar], [vsyscall], ...)",
    "shm": "SysV shared memory (/SYSV...)",
    "file": "other file mappings",
    "anonymous": "anonymous mappings, origin unknown",
}

#: Thread stack sizes the model is asked about besides the process's own.
THREAD_SIZES = {"8M": 8 * MiB, "2M": 2 * MiB, "256K": 256 * KiB}

_LIBRARY = re.compile(r"\.so(\.[0-9A-Za-z_]+)*( \(deleted\))?$")
_LD_SO = re.compile(r"/ld-[^/]*\.so(\.[0-9]+)*$|/ld-linux[^/]*$")
_SPECIAL_KIND = {"[heap]": "heap", "[stack]": "stack"}


@attrs.frozen
class Region:
    start: int
    end: int
    perms: str
    name: str
    kind: str
    detail: str
    #: The file offset (0 for anonymous memory); not part of the JSON.
    offset: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "perms": self.perms, "name": self.name,
                "kind": self.kind, "detail": self.detail}


@attrs.frozen
class WhatIf:
    """The same process rebuilt by the model under another layout."""

    label: str
    arch: str
    personality: str
    rlimit_stack: int
    failed: tuple[str, ...]
    #: Thread stacks of the process's size that fit in all: its own, then more.
    threads_fit: int
    more_threads: int
    largest_free_gap: int

    def to_json(self) -> dict:
        return attrs.asdict(self, recurse=False) | {"failed": list(self.failed)}


@attrs.frozen
class Explanation:
    source: str
    arch: str
    personality: str
    rlimit_stack: int
    regions: tuple[Region, ...]
    thread_stack_size: int | None
    thread_guard_size: int | None
    free_gaps: tuple[tuple[int, int], ...]
    largest_free_gap: int
    brk_room: int | None
    stack_room: int | None
    below_mmap_base: int
    more_threads: dict[str, int]
    largest_mmap: int
    what_if: tuple[WhatIf, ...]

    def count(self, kind: str) -> int:
        return sum(1 for r in self.regions if r.kind == kind)

    @property
    def thread_stacks(self) -> int:
        return self.count("thread-stack")

    @property
    def arena_heaps(self) -> int:
        return self.count("arena-heap")

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for kind in KINDS:
            regions = [r for r in self.regions if r.kind == kind]
            if regions:
                out[kind] = {"count": len(regions), "size": sum(r.size for r in regions)}
        return out

    def to_json(self) -> dict:
        return {
            "source": self.source, "arch": self.arch, "personality": self.personality,
            "rlimit_stack": self.rlimit_stack,
            "regions": [r.to_json() for r in self.regions],
            "totals": self.totals(),
            "thread_stacks": self.thread_stacks, "arena_heaps": self.arena_heaps,
            "thread_stack_size": self.thread_stack_size,
            "thread_guard_size": self.thread_guard_size,
            "free_gaps": [{"start": s, "end": e} for s, e in self.free_gaps],
            "largest_free_gap": self.largest_free_gap,
            "brk_room": self.brk_room, "stack_room": self.stack_room,
            "below_mmap_base": self.below_mmap_base,
            "more_threads": self.more_threads, "largest_mmap": self.largest_mmap,
            "what_if": [w.to_json() for w in self.what_if],
        }


# -- labels -----------------------------------------------------------------------------------

def _is_anon(e: MapsEntry) -> bool:
    return e.inode == 0 and not e.name


def _object_kind(name: str) -> str:
    if _LD_SO.search(name):
        return "ld.so"
    return "library" if _LIBRARY.search(name) else "file"


def label_regions(entries: tuple[MapsEntry, ...], task_bits: int) -> tuple[Region, ...]:
    """Label every entry by what made it (see the module docstring). O(n)."""
    heap_max = word_size(task_bits).heap_max
    exe = next((e.name for e in entries
                if e.inode and e.name.startswith("/") and _object_kind(e.name) == "file"), None)
    kinds: list[tuple[str, str] | None] = [None] * len(entries)
    for i, e in enumerate(entries):
        if e.name in _SPECIAL_KIND:
            kinds[i] = (_SPECIAL_KIND[e.name], "")
        elif e.name.startswith("[") and e.name.endswith("]") and not e.name.startswith("[anon"):
            kinds[i] = ("kernel", e.name.strip("[]"))
        elif e.name.startswith("/SYSV"):
            kinds[i] = ("shm", f"key {e.name[5:13]}")
        elif e.name and not e.name.startswith("[anon"):
            kind = "executable" if e.name == exe else _object_kind(e.name)
            kinds[i] = (kind, e.name if kind == "executable" else _basename(e.name))
    _label_anonymous(entries, kinds, heap_max)
    regions = []
    for e, label in zip(entries, kinds):
        kind, detail = label or ("anonymous", f"anonymous {e.perms or '?'}, origin unknown")
        regions.append(Region(e.start, e.end, e.perms or "", e.name, kind, detail, e.offset))
    return tuple(regions)


def _basename(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _label_anonymous(entries, kinds, heap_max: int) -> None:
    """Arena heaps, thread stack pairs and bss, in that order of precedence."""
    n = len(entries)
    for i, e in enumerate(entries):
        if kinds[i] is not None or not _is_anon(e):
            continue
        nxt = entries[i + 1] if i + 1 < n else None
        joined = nxt is not None and nxt.start == e.end and _is_anon(nxt) and kinds[i + 1] is None
        # new_heap: HEAP_MAX_SIZE-aligned, rw-p then a ---p tail, HEAP_MAX_SIZE in all.
        if e.start % heap_max == 0 and e.perms == "rw-p":
            if e.size == heap_max or (joined and nxt.perms == "---p"
                                      and nxt.end - e.start == heap_max):
                used = e.size
                kinds[i] = ("arena-heap", f"{format_size(used)} used of {format_size(heap_max)}")
                if e.size != heap_max:
                    kinds[i + 1] = ("arena-reserve", f"reserved for arena heap at {e.start:#x}")
                continue
        # allocate_stack: a ---p guard directly below its rw-p stack.
        if (e.perms == "---p" and joined and nxt.perms in ("rw-p", "rwxp")
                and nxt.size >= PTHREAD_STACK_MIN - e.size and e.size <= nxt.size):
            kinds[i] = ("thread-guard", f"{format_size(e.size)} guard")
            kinds[i + 1] = ("thread-stack", f"{format_size(nxt.size)} stack, "
                                            f"{format_size(e.size)} guard below")
            continue
        if e.vmflags and "gu" in e.vmflags and e.perms == "rw-p":
            kinds[i] = ("thread-stack", f"{format_size(e.size)} with guard regions (glibc 2.42)")
            continue
        prev = entries[i - 1] if i else None
        if (prev is not None and prev.end == e.start and kinds[i - 1] is not None
                and kinds[i - 1][0] in ("executable", "library", "ld.so")
                and prev.perms == "rw-p" and e.perms == "rw-p"):
            kinds[i] = (kinds[i - 1][0], f"bss of {_basename(prev.name)}")


# -- the model's answers ----------------------------------------------------------------------

def _mm(entries, profile: Profile, proc: ProcessConfig, source: str):
    return address_space_from_maps(entries, profile, kconfig=KernelConfig(), proc=proc,
                                   source=source)


def more_threads(entries, profile, proc, source, stacksize: int, guardsize: int) -> int:
    """How many more pthread_create calls would succeed (glibc 2.36's allocate_stack on the
    model), starting from exactly these mappings."""
    process = attach_process(_mm(entries, profile, proc, source))
    attr = ThreadAttr(stacksize=stacksize, guardsize=guardsize)
    return process.threads.create_until_failure(attr).threads


def largest_mmap(mm) -> int:
    """The largest ``mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|
    MAP_NORESERVE)`` that succeeds now, by bisection on the model (each try is unmapped
    again). MAP_NORESERVE: the kernel's overcommit heuristic would refuse more than RAM + swap
    without it. O(log TASK_SIZE) mmap calls."""
    flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
    lo, hi = 0, mm.task_size // PAGE_SIZE + 1  # lo pages fit, hi pages do not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        addr = mm.mmap(0, mid * PAGE_SIZE, PROT_READ | PROT_WRITE, flags)
        if isinstance(addr, Errno):
            hi = mid
        else:
            mm.munmap(addr, mid * PAGE_SIZE)
            lo = mid
    return lo * PAGE_SIZE


def _thread_geometry(regions) -> tuple[int | None, int | None]:
    """The most common (stack, guard) size among the thread stacks, as pthread_attr sizes."""
    pairs = Counter()
    for low, high in zip(regions, regions[1:]):
        if low.kind == "thread-guard" and high.kind == "thread-stack" and low.end == high.start:
            pairs[(high.size + low.size, low.size)] += 1
    if not pairs:
        return None, None
    (block, guard), _ = pairs.most_common(1)[0]
    return block, guard


def stack_growth_room(entries, profile, proc, source) -> int | None:
    """How far the main stack can still grow down: the largest distance below ``[stack]``
    at which a fault is accepted (mm/vma.c ``expand_downwards``: RLIMIT_STACK, the
    stack_guard_gap to the mapping below, mmap_min_addr), by bisection on the model, each try
    on a fresh address space. O(log TASK_SIZE) builds."""
    from simulator.kernel.stack import Fault, handle_fault

    index = next((i for i, e in enumerate(entries) if e.name == "[stack]"), None)
    if index is None:
        return None
    stack = entries[index]
    below = entries[index - 1].end if index else 0
    # lo pages below are reachable, hi are not (a fault inside the mapping below is no growth)
    lo, hi = 0, (stack.start - below) // PAGE_SIZE + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        mm = _mm(entries, profile, proc, source)
        if handle_fault(mm, stack.start - mid * PAGE_SIZE) is Fault.OK:
            lo = mid
        else:
            hi = mid
    return lo * PAGE_SIZE


def _free_gaps(mm) -> tuple[tuple[int, int], ...]:
    low = mm.mmap_min_addr
    return tuple((max(s, low), min(e, mm.task_size)) for s, e in mm.gaps()
                 if min(e, mm.task_size) - max(s, low) > 0)


def _brk_room(mm) -> int | None:
    """Bytes brk can still grow by: up to the next mapping's start gap."""
    if not mm.current_brk:
        return None
    nxt = mm.find_vma(mm.current_brk)
    top = mm.vm_start_gap(nxt) if nxt is not None else mm.task_size
    return max(0, top - mm.current_brk)


# -- what if ----------------------------------------------------------------------------------

_PF = {"r": 4, "w": 2, "x": 1}  # PF_R, PF_W, PF_X


def images_from_maps(regions, profile: Profile):
    """The executable, the dynamic linker and the libraries of a listing, as the ELF images
    the kernel and ld.so would load again: one PT_LOAD per file mapping (its offset, size
    and permissions), the bss after the last one added to its memsz; libraries lowest first.
    The executable is ET_EXEC
    when it sits at the profile's non-PIE base. ``None`` without an executable and a dynamic
    linker (a static program, a listing without names)."""
    from simulator.kernel.binfmt_elf import ElfImage, Segment
    from simulator.kernel.vma import FileRef
    from simulator.libc.ld_so import SharedObject

    objects: dict[str, list[Region]] = {}
    bss: dict[str, int] = {}
    owner = None
    for r in regions:
        if r.kind in ("executable", "ld.so", "library") and r.name.startswith("/"):
            objects.setdefault(r.name, []).append(r)
            owner = r.name
        elif r.detail.startswith("bss of") and owner is not None:
            bss[owner] = r.end - objects[owner][-1].end
    kinds = {name: rs[0].kind for name, rs in objects.items()}
    exe_name = next((n for n, k in kinds.items() if k == "executable"), None)
    ld_name = next((n for n, k in kinds.items() if k == "ld.so"), None)
    if exe_name is None or ld_name is None:
        return None

    def image(name: str, interp: str | None = None, dynamic: bool = True) -> SharedObject:
        rs = objects[name]
        base = rs[0].start if dynamic else 0
        segs = []
        for i, r in enumerate(rs):
            extra = bss.get(name, 0) if i == len(rs) - 1 else 0
            flags = sum(bit for ch, bit in _PF.items() if ch in r.perms)
            segs.append(Segment(r.start - base, r.size + extra, r.size, r.offset, flags))
        return SharedObject(ElfImage(FileRef(name, writable=False), dynamic, tuple(segs), interp))

    exe = image(exe_name, interp=ld_name,
                dynamic=objects[exe_name][0].start != profile.nonpie_base)
    libs = [image(n) for n, k in kinds.items() if k == "library"]
    return exe, image(ld_name), libs



#: Layouts to try the same process in: (label, arch for a 32-bit process, arch for a 64-bit
#: one (None: not asked), personality flags set, flags cleared, RLIMIT_STACK or None to keep).
#: A variant equal to the process's own layout is left out. Policy as data.
WHAT_IFS = (
    ("as a 64-bit process", "x86_64", None, Personality(0), Personality.ADDR_LIMIT_3GB, None),
    ("with the full 4 GiB (no --3gb)", "i686", None, Personality(0),
     Personality.ADDR_LIMIT_3GB, None),
    ("with --3gb (ADDR_LIMIT_3GB)", "i686", None, Personality.ADDR_LIMIT_3GB, Personality(0),
     None),
    ("with the legacy layout (-L)", "i686", "x86_64", Personality.ADDR_COMPAT_LAYOUT,
     Personality(0), None),
    ("with the top-down layout (no -L)", "i686", "x86_64", Personality(0),
     Personality.ADDR_COMPAT_LAYOUT, None),
    ("with RLIMIT_STACK 2 MiB", "i686", "x86_64", Personality(0), Personality(0), 2 * MiB),
)


def what_if(regions, profile: Profile, proc: ProcessConfig, stack_attr: ThreadAttr,
            topdown: bool = True):
    """Rebuild the process in each layout of :data:`WHAT_IFS` with the model: the kernel
    loads its executable and dynamic linker again (:func:`images_from_maps`; the modelled
    program of simulator/programs.py when the listing has none), ld.so maps its libraries
    (in load order: highest first in a top-down layout, lowest first bottom-up), then every
    other mapping the process made (file and anonymous mappings, arena heaps: one mmap of its
    size each, in the same order) and its thread stacks through pthread_create; then as many
    more threads of the same size as fit."""
    from simulator.kernel.arch import get_profile
    from simulator.kernel.exec import exec_layout
    from simulator.libc.process import start_process
    from simulator.programs import typical_process

    out = []
    images = images_from_maps(regions, profile)
    if images is not None:
        exe, rtld, libs = images
        libs = libs[::-1] if topdown else libs  # images_from_maps lists them lowest first
        loaded = {exe.path, rtld.path, *(lib.path for lib in libs)}
    made = [r for r in regions if r.kind in ("library", "file", "anonymous", "arena-heap",
                                             "arena-reserve", "shm")
            and not (images is not None and (r.name in loaded or r.detail.startswith("bss of")))]
    made.sort(key=lambda r: r.start, reverse=topdown)
    threads = sum(1 for r in regions if r.kind == "thread-stack")
    thirty_two = profile.task_bits == 32
    for label, arch32, arch64, add, clear, rlimit in WHAT_IFS:
        arch = arch32 if thirty_two else arch64
        if arch is None:
            continue
        target = get_profile(arch)
        personality = (proc.personality | add) & ~clear
        tproc = ProcessConfig(personality=personality | Personality.ADDR_NO_RANDOMIZE,
                              rlimit_stack=rlimit if rlimit is not None else proc.rlimit_stack)
        if (target.name, tproc.personality, tproc.rlimit_stack) == (
                profile.name, proc.personality | Personality.ADDR_NO_RANDOMIZE,
                proc.rlimit_stack):
            continue
        if images is None:
            process = typical_process(target, tproc)
        else:
            process = start_process(exec_layout(target, exe.elf, rtld.elf, proc=tproc),
                                    exe, rtld, libs)
        mm = process.mm
        failed = []
        for r in sorted(made, key=lambda r: -r.start):
            prot = (PROT_READ if "r" in r.perms else 0) | (PROT_WRITE if "w" in r.perms else 0)
            result = mm.mmap(0, r.size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
            if isinstance(result, Errno):
                failed.append(f"{r.kind} of {format_size(r.size)}: mmap {result.name}")
        placed = 0
        while placed < threads and not isinstance(process.threads.create(attr=stack_attr), Errno):
            placed += 1
        if placed < threads:
            failed.append(f"thread stack {placed + 1} of {threads}: pthread_create failed")
        more = 0 if placed < threads else process.threads.create_until_failure(stack_attr).threads
        out.append(WhatIf(label, target.name, ",".join(personality.names()) or "0",
                          tproc.rlimit_stack, tuple(failed), placed + more, more,
                          mm.largest_free_gap()))
    return tuple(out)


# -- the whole explanation --------------------------------------------------------------------

def explain(entries: tuple[MapsEntry, ...], profile: Profile, proc: ProcessConfig,
            source: str = "<maps>", *, what_ifs: bool = True) -> Explanation:
    """Label ``entries`` and ask the model what is left and what fits."""
    regions = label_regions(entries, profile.task_bits)
    block, guard = _thread_geometry(regions)
    mm = _mm(entries, profile, proc, source)
    current = (block - guard if block else 0, guard if guard is not None else PAGE_SIZE)
    sizes = {"current": current} | {k: (v, current[1]) for k, v in THREAD_SIZES.items()}
    more = {k: more_threads(entries, profile, proc, source, s, g) for k, (s, g) in sizes.items()}
    below = sum(e - s for s, e in _free_gaps(mm) if e <= mm.mmap_base)
    whatifs = (what_if(regions, profile, proc, ThreadAttr(stacksize=current[0],
                                                          guardsize=current[1]), mm.topdown)
               if what_ifs else ())
    return Explanation(source, profile.name, ",".join(proc.personality.names()) or "0",
                       proc.rlimit_stack, regions, block, guard, _free_gaps(mm),
                       mm.largest_free_gap(), _brk_room(mm),
                       stack_growth_room(entries, profile, proc, source), below, more,
                       largest_mmap(mm),
                       whatifs)


# -- text -------------------------------------------------------------------------------------

def _runs(regions) -> list[list[Region]]:
    """Regions grouped into runs of the same repeating unit: one region, or a pair (a thread
    guard and its stack) repeated back to back with the same sizes."""
    runs: list[list[Region]] = []
    i = 0
    n = len(regions)
    while i < n:
        for width in (2, 1):
            unit = regions[i:i + width]
            if len(unit) < width or (width == 2 and unit[0].kind == unit[1].kind):
                continue
            j = i + width
            while (j + width <= n and all(
                    regions[j + k].kind == unit[k].kind and regions[j + k].size == unit[k].size
                    and regions[j + k].perms == unit[k].perms for k in range(width))
                   and regions[j].start == regions[j - 1].end):
                j += width
            if j - i > width or width == 1:
                runs.append(list(regions[i:j]))
                i = j
                break
    return runs


def text_report(x: Explanation) -> str:
    """The explanation in sentences, pmap-style totals first."""
    rlimit = "unlimited" if x.rlimit_stack >= RLIM_INFINITY else format_size(x.rlimit_stack)
    lines = [f"{x.source}: {len(x.regions)} mappings, explained as {x.arch}"
             f" (personality {x.personality}, RLIMIT_STACK {rlimit})", ""]
    width = max(len(k) for k in KINDS)
    lines.append(f"  {'kind':<{width}}  {'count':>5}  {'size':>10}")
    for kind, t in x.totals().items():
        lines.append(f"  {kind:<{width}}  {t['count']:>5}  {format_size(t['size']):>10}")
    lines.append("")
    if x.thread_stacks:
        lines.append(f"{x.thread_stacks} thread stacks of {format_size(x.thread_stack_size)} "
                     f"(a {format_size(x.thread_guard_size)} guard below each).")
    if x.arena_heaps:
        lines.append(f"{x.arena_heaps} malloc arena heaps.")
    if x.stack_room is not None:
        lines.append(f"The main stack can grow down by {format_size(x.stack_room)} more "
                     f"(RLIMIT_STACK and the guard gap to the mapping below).")
    lines.append(f"Largest free gap: {format_size(x.largest_free_gap)}; largest mmap that "
                 f"would succeed now: {format_size(x.largest_mmap)}.")
    if x.brk_room is not None:
        lines.append(f"The heap (brk) can grow by {format_size(x.brk_room)}; "
                     f"{format_size(x.below_mmap_base)} is free below mmap_base.")
    sizes = ", ".join(f"{n} more of {k}" for k, n in x.more_threads.items() if k != "current")
    current = x.more_threads["current"]
    lines.append(f"Threads: {current} more of the current stack size would fit ({sizes}).")
    for w in x.what_if:
        status = "everything fits" if not w.failed else "does not fit: " + "; ".join(w.failed[:3])
        lines.append(f"What if {w.label} ({w.arch}): {status}; {w.threads_fit} thread stacks "
                     f"of this size fit in all ({w.more_threads} more), largest free gap "
                     f"{format_size(w.largest_free_gap)}.")
    lines.append("")
    lines.append("regions (runs of alike regions folded):")
    for run in _runs(x.regions):
        first, last = run[0], run[-1]
        if len(run) == 1:
            lines.append(f"  {first.start:#014x}-{first.end:#014x} {first.perms:4} "
                         f"{format_size(first.size):>10}  {first.kind:<13} {first.detail}")
        else:
            kinds = " + ".join(dict.fromkeys(r.kind for r in run))
            lines.append(f"  {first.start:#014x}-{last.end:#014x} {'':4} "
                         f"{format_size(last.end - first.start):>10}  {len(run) // 2} x "
                         f"{kinds}: {run[1].detail}" if len(run) % 2 == 0 and
                         run[0].kind != run[1].kind else
                         f"  {first.start:#014x}-{last.end:#014x} {first.perms:4} "
                         f"{format_size(last.end - first.start):>10}  {len(run)} x "
                         f"{first.kind}: {first.detail}")
    return "\n".join(lines) + "\n"
