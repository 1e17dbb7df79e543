"""The model side of the libc differential tests: run a libc-probe script on the model.

The real program is the libc probe (tests/probe/libcprobe.c); the model starts from the
same binary's layout at exec (read with pyelftools), runs ld.so's start-up and then the
script's glibc operations, and records the system calls of each op.
"""

from __future__ import annotations

from simulator.host.elf import read_shared_object
from simulator.kernel.arch import get_profile
from simulator.kernel.config import Personality, ProcessConfig
from simulator.kernel.exec import exec_layout
from simulator.kernel.uapi import Errno
from simulator.libc.process import start_process
from simulator.libc.pthread import Status, ThreadAttr
from simulator.trace.strace import parse_strace

import libc_probe

LIBC = {64: "/lib/x86_64-linux-gnu/libc.so.6", 32: "/usr/lib32/libc.so.6"}


def personality_for(setarch) -> Personality:
    p = Personality(0)
    for arg in setarch:
        p |= {"-R": Personality.ADDR_NO_RANDOMIZE, "-L": Personality.ADDR_COMPAT_LAYOUT,
              "--3gb": Personality.ADDR_LIMIT_3GB}.get(arg, Personality(0))
    return p


def normalise_line(line: str):
    """A strace line as (name, args..., result) — madvise included."""
    mad = libc_probe.parse_madvise(libc_probe.strip_pid(line))
    if mad is not None:
        addr, length, advice, ret = mad
        return ("madvise", addr, length, advice.replace("MADV_", ""), ret.split()[0])
    calls = parse_strace(libc_probe.strip_pid(line)).memory_calls
    (call,) = calls
    return normalise_call(call.name, call.args, call.ret)


def normalise_call(name, args, result):
    if name in ("mmap", "mmap2"):
        args = args[:4] + args[5:]  # no fd
    if name == "mremap":
        args = args[:4]
    if name == "madvise":
        advice = {4: "DONTNEED", 102: "GUARD_INSTALL"}.get(args[2], str(args[2]))
        return ("madvise", args[0], args[1], advice, str(result))
    if isinstance(result, Errno):
        result = f"-1 {result.name}"
    return (name,) + tuple(args) + (result,)


class ModelRun:
    """The model of the probe process, run op by op."""

    def __init__(self, binary, bits: int, setarch, rlimit_stack: int, cache_size: int):
        profile = get_profile("x86_64" if bits == 64 else "i686")
        exe = read_shared_object(str(binary))
        rtld = read_shared_object(exe.elf.interp)
        libc = read_shared_object(LIBC[bits])
        proc = ProcessConfig(personality=personality_for(setarch), rlimit_stack=rlimit_stack)
        mm = exec_layout(profile, exe.elf, rtld.elf, proc=proc)
        self.process = start_process(mm, exe, rtld, [libc], cache_size=cache_size)
        self.threads = {0: self.process.threads.main}
        self.slots: dict[str, int] = {}

    def calls_since(self, mark: int):
        return [normalise_call(s.name, s.args, s.result) for s in self.process.syscalls[mark:]]

    def run(self, op: str) -> str:
        p = self.process
        words = op.split()
        t, name, args = int(words[0]), words[1], words[2:]
        thread = self.threads.get(t)
        if name in ("create", "createmany"):
            attr = ThreadAttr()
            extra = args[1:] if name == "create" else args[1:]
            if extra:
                attr = ThreadAttr(stacksize=int(extra[0], 0), guardsize=int(extra[1], 0))
            if name == "create":
                result = p.threads.create(thread, attr)
                if isinstance(result, Errno):
                    return result.name
                self.threads[int(args[0])] = result
                return "0"
            count, n = int(args[0], 0), 0
            while n < count:
                result = p.threads.create(thread, attr)
                if isinstance(result, Errno):
                    return f"{n} {result.name}"
                n += 1
            return f"{n} 0"
        if name in ("malloc", "calloc", "realloc"):
            size = int(args[1], 0)
            if name == "malloc":
                mem = p.malloc.malloc(thread, size)
            elif name == "calloc":
                mem = p.malloc.calloc(thread, size)
            else:
                old = self.slots.get(args[0])
                mem = p.malloc.realloc(thread, old, size) if old else p.malloc.malloc(thread, size)
            if mem:
                self.slots[args[0]] = mem
            return hex(mem or 0)
        if name == "free":
            mem = self.slots.pop(args[0], None)
            if mem:
                p.malloc.free(thread, mem)
            return "ok"
        if name == "exit":
            p.threads.exit(thread)
            return "ok"
        if name == "join":
            return str(p.threads.join(self.threads[int(args[0])], thread))
        if name == "detach":
            target = self.threads[int(args[0])]
            target.detached = True
            if target.status is Status.EXITED:
                p.threads._release(target)
            return "0"
        if name == "mark":
            return "ok"
        raise ValueError(op)
