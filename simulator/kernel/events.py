"""What happened during a call, beyond its return value: the raw material of collision reports.

The kernel returns only an address or an errno. The model also records *why*: which mappings a
MAP_FIXED destroyed, that a hint was not honoured, that the top-down search fell back to
bottom-up, that a stack could not grow and what stopped it. Events are immutable values
appended to ``AddressSpace.events``; the scenario layer turns them into sentences.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Region:
    """A summary of a VMA at the time of an event: its range, permissions and name."""

    start: int
    end: int
    perms: str
    name: str


@attrs.frozen
class Event:
    #: Index of the call in this address space's history (0-based).
    call: int


@attrs.frozen
class FixedReplaced(Event):
    """MAP_FIXED (or MREMAP_FIXED) unmapped existing mappings: the silent collision."""

    addr: int
    length: int
    destroyed: tuple[Region, ...]


@attrs.frozen
class HintIgnored(Event):
    """A non-fixed hint could not be honoured; the mapping went to ``result`` instead."""

    hint: int
    length: int
    result: int
    reason: str


@attrs.frozen
class TopDownFallback(Event):
    """arch_get_unmapped_area_topdown found nothing below mmap_base and searched bottom-up."""

    length: int
    result: int


@attrs.frozen
class PlacedInGrowthRoom(Event):
    """A mapping landed in the room a growsdown stack would grow into (only MAP_FIXED* can
    enter the guard gap; any mapping can land in the RLIMIT_STACK room below [stack])."""

    addr: int
    length: int
    stack: Region
    inside_guard_gap: bool


@attrs.frozen
class NoMemory(Event):
    """ENOMEM: no gap large enough. ``largest_gap`` is the biggest free range left."""

    syscall: str
    length: int
    largest_gap: int


@attrs.frozen
class MapCountExceeded(Event):
    """vm.max_map_count stopped the call."""

    syscall: str
    map_count: int
    max_map_count: int


@attrs.frozen
class StackGrowthRefused(Event):
    """A fault below a growsdown VMA could not grow it: SIGSEGV. ``reason`` is one of
    "guard-gap" (a neighbour within stack_guard_gap), "rlimit" (RLIMIT_STACK),
    "mmap_min_addr", "address-space" (RLIMIT_AS)."""

    addr: int
    stack: Region
    reason: str
    neighbour: Region | None


@attrs.frozen
class StackGrown(Event):
    addr: int
    old_start: int
    new_start: int


@attrs.frozen
class Segfault(Event):
    """An access that no VMA allows (and no stack can grow to cover)."""

    addr: int
    write: bool
    reason: str


@attrs.frozen
class BrkRefused(Event):
    """brk() could not move the break; ``blocker`` is the mapping in the way, if any."""

    requested: int
    current: int
    blocker: Region | None
    reason: str


@attrs.frozen
class CloneRefused(Event):
    """clone refused a new task with EAGAIN at a task limit (kernel/fork.c copy_process):
    "rlimit_nproc", "threads_max", "pid_max" or "pids_max"."""

    limit: str
