"""What the layout diagram draws: the address space cut into labelled regions.

:func:`layout_regions` classifies every VMA of an :class:`AddressSpace` (the executable, the
heap, file mappings, anonymous memory, thread stacks and their guard pages, the main stack,
the vDSO), and fills everything between them (free gaps, the stack guard gap, the range below
``mmap_min_addr``, what lies above TASK_SIZE). The result covers the drawn axis without holes
or overlaps, so tests can check it against ``mm.vmas()`` and ``mm.maps_text()``, and the
figure is drawn from exactly this list.
"""

from __future__ import annotations

import os

import attrs

from simulator.kernel.arch import Placement
from simulator.kernel.vma import VM_GROWSDOWN, VM_NOHUGEPAGE, VM_READ, VM_WRITE, Vma
from simulator.units import GiB, MiB, PAGE_SIZE
from simulator.units import format_size

#: Kinds that hold nothing the process mapped: a segmented axis may leave them out.
EMPTY_KINDS = frozenset({"free", "reserved", "kernel"})


@attrs.frozen
class Region:
    """``[start, end)`` drawn as one box of kind ``kind``. ``label`` names the box (for a VMA
    the name /proc/PID/maps prints, or the file's base name); regions with the same ``group``
    share one annotation."""

    start: int
    end: int
    kind: str
    label: str
    group: int = -1
    #: The VMAs this region stands for (empty for free space and kernel space).
    vmas: tuple = ()

    @property
    def size(self) -> int:
        return self.end - self.start


@attrs.frozen
class Group:
    """One annotation: a run of regions that belong together (a library's VMAs, a run of
    thread stacks, the vDSO block) and the text written beside it."""

    start: int
    end: int
    kind: str
    text: str


def axis_top(mm) -> int:
    """The highest address a column shows: 4 GiB for a 32-bit process, the next power of two
    above TASK_SIZE (the end of the canonical lower half) for a 64-bit one."""
    if mm.profile.task_bits == 32:
        return 1 << 32
    return 1 << (mm.task_size - 1).bit_length()


def _split_name(lo: int, hi: int) -> str:
    def gib(n):
        return f"{n // GiB}G" if n % GiB == 0 else format_size(n).replace(" ", "")
    return f"{gib(lo)}/{gib(hi)}"


def kernel_regions(mm) -> list[Region]:
    """What lies between TASK_SIZE and the top of the axis, for the column's cap above it."""
    prof, task, top = mm.profile, mm.task_size, axis_top(mm)
    out = []
    if task >= top:
        return out
    if prof.task_bits == 64:
        pages = (top - task) // PAGE_SIZE
        out.append(Region(task, top, "reserved",
                          f"not usable: top {'page' if pages == 1 else f'{pages} pages'}"))
        return out
    if prof.kernel_bits == 64:
        # A 32-bit process on a 64-bit kernel: the kernel lives far above 4 GiB.
        size = top - task
        if size <= 16 * PAGE_SIZE:
            pages = size // PAGE_SIZE
            text = f"not usable: top {'page' if pages == 1 else f'{pages} pages'}"
        else:
            text = f"not usable: above TASK_SIZE ({format_size(size)}, ADDR_LIMIT_3GB)"
        out.append(Region(task, top, "reserved", text))
        return out
    page_offset = task
    if prof.placement is Placement.ARM:
        page_offset = task + 16 * MiB
        out.append(Region(task, page_offset, "kernel", "kernel modules 16 MiB"))
    size = top - page_offset
    text = f"kernel {format_size(size)} ({_split_name(page_offset, size)} split)"
    gate = mm.gate
    if gate is not None and page_offset <= gate.start < top:
        # The kernel's part around a gate page is only a piece of it: no size in the label.
        text = f"kernel ({_split_name(page_offset, size)} split, {format_size(size)})"
        if gate.start > page_offset:
            out.append(Region(page_offset, gate.start, "kernel", text))
        out.append(Region(gate.start, gate.end, "vdso", f"{gate.name} (gate page)"))
        if gate.end < top:
            out.append(Region(gate.end, top, "kernel", text))
    else:
        out.append(Region(page_offset, top, "kernel", text))
    return out


def cap_text(mm) -> str | None:
    """What lies above the column's top, said in words (nothing can be drawn to scale there)."""
    prof = mm.profile
    gate = mm.gate
    gate_text = ""
    if gate is not None and gate.start >= axis_top(mm):
        gate_text = f"\n{gate.name} at {gate.start:x} (gate page in the kernel half)"
    if prof.task_bits == 64:
        return f"above {axis_top(mm):#x}: non-canonical hole, then the kernel half" + gate_text
    if prof.kernel_bits == 64:
        return "kernel space beyond 4 GiB (64-bit kernel)" + gate_text
    return None


def _exe_file(mm):
    """The executable's open file: the one mapped at ``exe_start``; for an address space read
    from /proc/PID/maps (no exe_start), the file mapped highest below the heap."""
    if mm.exe_start:
        vma = mm.vma_at(mm.exe_start)
        if vma is not None and vma.file is not None:
            return vma.file
    best = None
    if mm.start_brk:
        for vma in mm.vmas_in(0, mm.start_brk):
            if vma.file is not None and not vma.file.shmem and vma.end <= mm.start_brk:
                best = vma.file
    return best


def _is_map_stack(vma: Vma) -> bool:
    return vma.is_anonymous and bool(vma.flags & VM_NOHUGEPAGE) and not vma.flags & VM_GROWSDOWN


def vma_kind(mm, vma: Vma, prev: Vma | None, nxt: Vma | None, exe_file=None) -> str:
    """The diagram kind of one VMA."""
    name = mm.vma_name(vma)
    # A file mapping, a memfd's or a SysV segment's included; shared anonymous memory is a
    # shmem file too, but /proc names it /dev/zero (deleted) and it is drawn as anonymous.
    if vma.file is not None and not (vma.file.shmem and name == "/dev/zero (deleted)"):
        return "exe" if exe_file is not None and vma.file is exe_file else "lib"
    if vma.special is not None:
        return "vdso"
    if name == "[heap]":
        return "heap"
    if name == "[stack]" or vma.flags & VM_GROWSDOWN:
        return "stack"
    if _is_map_stack(vma):
        if vma.prot == 0:
            if (nxt is not None and nxt.start == vma.end and _is_map_stack(nxt)
                    and nxt.prot & (VM_READ | VM_WRITE)):
                return "thread-guard"
        elif vma.flags & VM_WRITE:
            return "thread-stack"
    return "anon"


def _basename(path: str) -> str:
    return os.path.basename(path) or path


def _vma_label(mm, vma: Vma, kind: str) -> str:
    name = mm.vma_name(vma)
    if kind in ("exe", "lib"):
        return _basename(vma.file.path)
    if kind == "thread-guard":
        return "guard page"
    if kind == "thread-stack":
        return "thread stack"
    if kind == "anon":
        return f"anon {vma.perms()}" + (f" {name}" if name else "")
    if kind == "stack" and not name:
        return "MAP_GROWSDOWN"
    return name or kind


def _free_regions(mm, start: int, end: int) -> list[Region]:
    """The free range ``[start, end)``, split into the stack guard gaps it holds and the part
    below mmap_min_addr."""
    cuts = []
    for vma in mm.vmas_in(end, end + 1):
        if vma.start == end and vma.flags & VM_GROWSDOWN and mm.stack_guard_gap:
            lo = max(start, end - mm.stack_guard_gap)
            cuts.append((lo, end, "guard-gap",
                         f"stack_guard_gap {format_size(mm.stack_guard_gap)}"))
    out = []
    cursor = start
    low = mm.mmap_min_addr
    if cursor < low:
        hi = min(low, end)
        out.append(Region(cursor, hi, "reserved", f"below mmap_min_addr ({format_size(low)})"))
        cursor = hi
    for lo, hi, kind, label in cuts:
        lo = max(lo, cursor)
        if lo > cursor:
            out.append(Region(cursor, lo, "free", "free"))
        if hi > lo:
            out.append(Region(lo, hi, kind, label))
        cursor = max(cursor, hi)
    if cursor < end:
        out.append(Region(cursor, end, "free", "free"))
    return out


def layout_regions(mm) -> list[Region]:
    """Every region the layout diagram draws for ``mm``, in address order, covering
    ``[0, axis_top(mm))`` exactly once. Consecutive VMAs of one file become one region; each
    thread stack's guard VMA and read-write VMA stay separate (the guard is drawn apart)."""
    vmas = list(mm.vmas())
    exe_file = _exe_file(mm)
    top = axis_top(mm)
    task = mm.task_size
    out: list[Region] = []
    cursor = 0
    kinds = [vma_kind(mm, v, vmas[i - 1] if i else None, vmas[i + 1] if i + 1 < len(vmas) else None,
                      exe_file) for i, v in enumerate(vmas)]
    i = 0
    while i < len(vmas):
        vma, kind = vmas[i], kinds[i]
        if vma.start >= top:
            break
        if vma.start > cursor:
            out.extend(_free_regions(mm, cursor, min(vma.start, task)))
        # One region for consecutive VMAs of one file (a library's segments).
        j = i + 1
        if kind in ("exe", "lib"):
            while (j < len(vmas) and kinds[j] == kind and vmas[j].file is vma.file
                   and vmas[j].start == vmas[j - 1].end):
                j += 1
        group = vmas[i:j]
        out.append(Region(vma.start, group[-1].end, kind, _vma_label(mm, vma, kind),
                          vmas=tuple(group)))
        cursor = group[-1].end
        i = j
    if cursor < task:
        out.extend(_free_regions(mm, cursor, task))
        cursor = task
    out.extend(r for r in kernel_regions(mm) if r.start >= cursor)
    return _assign_groups(out)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _assign_groups(regions: list[Region]) -> list[Region]:
    """Give each region its annotation group: runs of thread stacks (with their guards), runs
    of vDSO pages and runs of anonymous mappings share one; everything else is its own."""
    out = []
    group = -1
    prev_key = None
    for r in regions:
        key = {"thread-guard": "threads", "thread-stack": "threads"}.get(r.kind, r.kind)
        joinable = key in ("threads", "vdso", "anon", "kernel")
        if not (joinable and key == prev_key and out and out[-1].end == r.start):
            group += 1
        out.append(attrs.evolve(r, group=group))
        prev_key = key
    return out


def groups(regions: list[Region]) -> list[Group]:
    """The annotations: one per group of non-empty regions, with their text."""
    by_group: dict[int, list[Region]] = {}
    for r in regions:
        by_group.setdefault(r.group, []).append(r)
    out = []
    for members in by_group.values():
        first, last = members[0], members[-1]
        kind = first.kind
        size = last.end - first.start
        if kind in ("thread-guard", "thread-stack"):
            stacks = [r for r in members if r.kind == "thread-stack"]
            guards = [r for r in members if r.kind == "thread-guard"]
            sizes = sorted({r.size for r in stacks})
            gsizes = sorted({r.size for r in guards})
            each = (format_size(sizes[0]) if len(sizes) == 1
                    else f"{format_size(sizes[0])}–{format_size(sizes[-1])}")
            if guards:
                g = format_size(gsizes[0]) if len(gsizes) == 1 else "guard"
                each += f" + {g} guard"
            text = f"{_plural(len(stacks) or len(guards), 'thread stack')} ({each}"
            text += " each)" if len(stacks) > 1 else ")"
            kind = "thread-stack"
        elif kind == "vdso":
            text = " ".join(r.label for r in members) + f" ({format_size(size)})"
        elif kind == "anon" and len(members) > 1:
            text = f"{_plural(len(members), 'anon mapping')} ({format_size(size)})"
        elif kind in ("free", "reserved", "kernel") or kind == "guard-gap":
            text = first.label if kind != "free" else f"free {format_size(size)}"
        else:
            text = f"{first.label} ({format_size(size)})"
        if kind == "exe":
            text = f"{first.label}: executable text/data ({format_size(size)})"
        out.append(Group(first.start, last.end, kind, text))
    return out


def labelled_regions(mm) -> list[tuple[int, int, str]]:
    """``(start, end, label)`` of every region the diagram draws, in address order."""
    return [(r.start, r.end, r.label) for r in layout_regions(mm)]
