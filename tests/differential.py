"""The simulator side of the differential tests: replay a probe run on the model.

The model starts from the probe's own initial /proc/self/smaps, runs the same ops with the
arguments the kernel saw, and must give the same return value and the same /proc/self/maps
after every op.
"""

from __future__ import annotations

from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.kernel.uapi import Errno
from simulator.kernel.arch import get_profile
from simulator.trace.loadmaps import address_space_from_maps
from simulator.trace.procmaps import parse_maps

import kernel_probe


def personality_for(setarch: list[str]) -> Personality:
    p = Personality(0)
    for arg in setarch:
        if arg in ("-R", "--addr-no-randomize"):
            p |= Personality.ADDR_NO_RANDOMIZE
        elif arg in ("-L", "--addr-compat-layout"):
            p |= Personality.ADDR_COMPAT_LAYOUT
        elif arg in ("-3", "--3gb"):
            p |= Personality.ADDR_LIMIT_3GB
    return p


def model_for(run: kernel_probe.ProbeRun, setarch: list[str], rlimit_stack: int):
    arch = "i686" if setarch[0] in ("i686", "i386", "linux32") else "x86_64"
    proc = ProcessConfig(personality=personality_for(setarch), rlimit_stack=rlimit_stack)
    entries = parse_maps(run.initial_smaps, "<initial smaps>")
    mm = address_space_from_maps(entries, get_profile(arch), proc=proc, kconfig=KernelConfig(),
                                 assume_written=True)
    if not any(e.name == "[heap]" for e in entries):
        mm.start_brk = mm.current_brk = run.brk0
    return mm


def format_result(value) -> str:
    if isinstance(value, Errno):
        return f"-{value.name}"
    if isinstance(value, int):
        return hex(value)
    return str(value)


def apply(mm, op_line: str, files) -> str:
    """Run one resolved probe op on the model; the result in the probe's spelling."""
    parts = op_line.split()
    name, args = parts[0], parts[1:]
    num = lambda s: int(s, 0)
    if name == "mmap":
        addr, length, prot, flags, fd, off = (num(a) for a in args)
        file = files[fd] if fd >= 0 else None
        return format_result(mm.mmap(addr, length, prot, flags, file, off))
    if name == "munmap":
        return format_result(mm.munmap(num(args[0]), num(args[1])))
    if name == "mprotect":
        return format_result(mm.mprotect(num(args[0]), num(args[1]), num(args[2])))
    if name == "mremap":
        return format_result(mm.mremap(*(num(a) for a in args)))
    if name == "brk":
        return format_result(mm.brk(num(args[0])))
    if name == "touch":
        return format_result(mm.touch(num(args[0]), args[1] == "w"))
    handler = _CALLS.get(name)
    if handler is None:
        raise ValueError(op_line)
    return format_result(handler(mm, *(num(a) for a in args)))


def _mlock(mm, addr, length, flags):
    return mm.mlock(addr, length) if flags < 0 else mm.mlock(addr, length, flags)


def _shmat(mm, addr, size, shmflg):
    """The probe's composite: shmget(IPC_PRIVATE, size), shmat, shmctl(IPC_RMID)."""
    shmid = mm.shmget(0, size, 0o1000 | 0o600)
    if isinstance(shmid, Errno):
        return shmid
    result = mm.shmat(shmid, addr, shmflg)
    mm.shmctl_rmid(shmid)
    return result


#: The probe's other ops: name -> model call with the resolved numbers.
_CALLS = {
    "madvise": lambda mm, a, n, adv: mm.madvise(a, n, adv),
    "mlock": _mlock,
    "munlock": lambda mm, a, n: mm.munlock(a, n),
    "mlockall": lambda mm, fl: mm.mlockall(fl),
    "munlockall": lambda mm: mm.munlockall(),
    "mseal": lambda mm, a, n, fl: mm.mseal(a, n, fl),
    "pkey_mprotect": lambda mm, a, n, prot, key: mm.pkey_mprotect(a, n, prot, key),
    "remap_file_pages": lambda mm, a, n, prot, pgoff, fl: mm.remap_file_pages(a, n, prot,
                                                                            pgoff, fl),
    "shmat": _shmat,
    "shmdt": lambda mm, a: mm.shmdt(a),
}


def scratch_refs(paths):
    from simulator.host.files import host_file
    return [host_file(str(p)) for p in paths]
