"""Compare the system calls the libc model made with those strace recorded."""

from __future__ import annotations

from simulator.kernel.uapi import Errno
from simulator.trace.events import MemoryCall, OtherMemoryCall


def model_calls(process, *, skip: int = 0) -> list[tuple]:
    """(name, addr, length, prot, flags, offset, result) of the model's memory calls."""
    out = []
    for call in process.memory_syscalls()[skip:]:
        out.append(normalise(call.name, call.args, call.result))
    return out


def trace_calls(trace) -> list[tuple]:
    """The log's calls that the libc model makes too: the memory calls and madvise."""
    return [normalise(c.name, c.args, c.ret) for c in trace.events
            if isinstance(c, MemoryCall) or (isinstance(c, OtherMemoryCall)
                                             and c.name == "madvise")]


def normalise(name: str, args: tuple, result) -> tuple:
    """The fields both sides know: no fds, and munmap/mprotect lengths as given."""
    if name in ("mmap", "mmap2"):
        addr, length, prot, flags, _fd, offset = args
        key = (name, addr, length, prot, flags, offset)
    elif name == "mremap":
        key = (name,) + tuple(args[:4])
    else:
        key = (name,) + tuple(args)
    if isinstance(result, Errno):
        result = result.name
    return key + (result,)


def first_difference(model: list[tuple], real: list[tuple]):
    for index, (m, r) in enumerate(zip(model, real)):
        if m != r:
            return index, m, r
    if len(model) != len(real):
        index = min(len(model), len(real))
        return index, model[index:index + 1], real[index:index + 1]
    return None
