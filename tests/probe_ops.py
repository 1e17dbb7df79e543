"""Random op scripts for the kernel probe (tests/probe/probe.c, driven by kernel_probe.py).

``generate(rng, n_ops, bits=64, n_files=2)`` returns ``n_ops`` op lines such as::

    mmap 0x0 0x200000 0x3 0x22 -1 0x0
    mmap r3+0x1000 0x3000 0x1 0x12 0 0x5000
    mprotect r0+0x2000 0x1000 0x1
    touch r7-0x12c000 w
    brk brk0+0x21000

Addresses refer to earlier results through ``rN`` (only ops that return an
address: mmap and mremap).  If op N fails at run time the probe substitutes 0
for rN, so the op still runs (normally it then fails harmlessly, or lands in
low memory; the probe refuses - RET SKIPPED - anything that would modify its
own initial mappings).  Arithmetic wraps at ``bits``; literal numbers in
32-bit scripts are always < 2**32.

Destructive ops (MAP_FIXED, munmap, mprotect, mremap, write touches) are aimed
inside ranges the script itself mapped: a region's requested extent
``[rN, rN+len)``, or an *arena* (a large PROT_NONE reservation into which the
generator places MAP_FIXED sub-mappings, so that adjacency - merging, splitting,
spanning munmaps, MREMAP_FIXED targets - is known at generation time).
"""

from __future__ import annotations

import dataclasses
import random

__all__ = ["generate"]

PAGE = 0x1000
KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
PROT_GROWSDOWN = 0x01000000
RW = PROT_READ | PROT_WRITE

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_32BIT = 0x40
MAP_GROWSDOWN = 0x100
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_STACK = 0x20000
MAP_FIXED_NOREPLACE = 0x100000

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4


@dataclasses.dataclass
class _Region:
    op: int  # index of the op whose result is the start address
    length: int  # page-aligned requested length
    kind: str  # "anon", "shared", "file", "growsdown", "arena"
    prot: int
    fd: int = -1
    off: int = 0
    live: bool = True


@dataclasses.dataclass
class _Arena:
    region: _Region
    subs: list[tuple[int, int, int, int]] = dataclasses.field(default_factory=list)  # (off, len, fd, foff)
    holes: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (off, len)


def _hex(v: int) -> str:
    return hex(v)


def _page_up(v: int) -> int:
    return (v + PAGE - 1) & ~(PAGE - 1)


class _Generator:
    def __init__(self, rng: random.Random, bits: int, n_files: int, file_size: int):
        if bits not in (32, 64):
            raise ValueError("bits must be 32 or 64")
        self.rng = rng
        self.bits = bits
        self.n_files = n_files
        self.file_size = file_size
        self.ops: list[str] = []
        self.regions: list[_Region] = []
        self.arenas: list[_Arena] = []
        self.growsdown: list[_Region] = []
        self.pending: list[str] = []
        self.brk_off = 0

    # ------------------------------------------------------------------ helpers
    def ref(self, region: _Region, delta: int = 0) -> str:
        if delta == 0:
            return f"r{region.op}"
        return f"r{region.op}+{_hex(delta)}" if delta > 0 else f"r{region.op}-{_hex(-delta)}"

    def lit(self, v: int) -> str:
        return _hex(v & ((1 << self.bits) - 1))

    def emit(self, line: str) -> int:
        self.ops.append(line)
        return len(self.ops) - 1

    def mmap(self, addr: str, length: int, prot: int, flags: int, fd: int = -1, off: int = 0,
             kind: str | None = None) -> _Region | None:
        idx = self.emit(f"mmap {addr} {_hex(length)} {_hex(prot)} {_hex(flags)} {fd} {_hex(off)}")
        if kind is None:
            return None
        reg = _Region(idx, _page_up(length), kind, prot, fd, off)
        if reg.length:
            self.regions.append(reg)
        return reg

    def pick_region(self, *, kinds: tuple[str, ...] | None = None, live_bias: float = 0.85) -> _Region | None:
        cands = [r for r in self.regions if kinds is None or r.kind in kinds]
        if not cands:
            return None
        live = [r for r in cands if r.live]
        if live and self.rng.random() < live_bias:
            cands = live
        # favour recent regions a little
        if self.rng.random() < 0.5:
            cands = cands[-6:]
        return self.rng.choice(cands)

    def size(self) -> int:
        r = self.rng.random()
        rng = self.rng
        if r < 0.35:
            return rng.randint(1, 16) * PAGE
        if r < 0.55:
            return rng.choice([1, 1, 2, 3, 4]) * 2 * MiB
        if r < 0.70:
            return 2 * MiB + rng.choice([-PAGE, PAGE])
        if r < 0.85:
            return rng.randint(17, 511) * PAGE
        if r < 0.95:
            big = [8, 16, 32, 64] if self.bits == 32 else [8, 16, 64, 256, 1024]
            return rng.choice(big) * MiB
        return rng.randint(1, 5 * PAGE)  # not page aligned

    def prot(self) -> int:
        return self.rng.choices([RW, PROT_READ, PROT_NONE, RW | PROT_EXEC, PROT_READ | PROT_EXEC],
                                [60, 15, 12, 5, 8])[0]

    def offset_in(self, reg: _Region, max_len: int | None = None) -> tuple[int, int]:
        """A page-aligned (offset, length) sub-range of reg."""
        pages = max(1, reg.length // PAGE)
        kind = self.rng.random()
        if pages == 1:
            return 0, PAGE
        if kind < 0.3:  # head
            n = self.rng.randint(1, pages - 1)
            return 0, n * PAGE
        if kind < 0.6:  # tail
            n = self.rng.randint(1, pages - 1)
            return (pages - n) * PAGE, n * PAGE
        if kind < 0.9 and pages >= 3:  # middle
            a = self.rng.randint(1, pages - 2)
            b = self.rng.randint(a + 1, pages - 1)
            return a * PAGE, (b - a) * PAGE
        return 0, pages * PAGE  # whole

    def file_offset(self) -> int:
        fs = self.file_size
        r = self.rng.random()
        if r < 0.35:
            return 0
        if r < 0.6:
            return self.rng.randrange(0, max(PAGE, fs), PAGE)
        if r < 0.8:
            return self.rng.randrange(0, max(2 * MiB, fs), 2 * MiB)
        if r < 0.92:
            return max(0, fs - self.rng.randint(1, 4) * PAGE)  # runs past EOF
        return fs + self.rng.choice([0, 2 * MiB])  # wholly beyond EOF

    def maybe_touch_later(self, reg: _Region, p: float = 0.4) -> None:
        if self.rng.random() < p and reg.length:
            off = self.rng.randrange(0, reg.length, PAGE)
            self.pending.append(f"touch {self.ref(reg, off)} {self.rng.choice('wwr')}")

    # ------------------------------------------------------------------ actions
    def act_anon(self) -> None:
        rng = self.rng
        length = self.size()
        prot = self.prot()
        if rng.random() < 0.08:
            flags, kind = MAP_SHARED | MAP_ANONYMOUS, "shared"
        else:
            flags, kind = MAP_PRIVATE | MAP_ANONYMOUS, "anon"
        if rng.random() < 0.12:
            flags |= MAP_NORESERVE
        if rng.random() < 0.10:
            flags |= MAP_STACK
        if rng.random() < 0.03 and length <= 64 * PAGE:
            flags |= MAP_POPULATE
        reg = self.mmap("0x0", length, prot, flags, kind=kind)
        if prot & PROT_WRITE:
            self.maybe_touch_later(reg, 0.5)

    def hint(self, length: int) -> str:
        rng = self.rng
        reg = self.pick_region()
        r = rng.random()
        if reg is not None and r < 0.25:  # just above an existing result
            return self.ref(reg, reg.length + rng.choice([0, PAGE, MiB, 16 * MiB]))
        if reg is not None and r < 0.5:  # just below
            return self.ref(reg, -(_page_up(length) + rng.choice([0, PAGE, MiB, 16 * MiB])))
        if reg is not None and r < 0.7:  # inside an existing mapping
            return self.ref(reg, rng.randrange(0, max(PAGE, reg.length), PAGE))
        if reg is not None and r < 0.75:  # unaligned
            return self.ref(reg, reg.length + 0x123)
        if self.bits == 64:
            cands = [0x1000, 0x10000, 0x400000, 0x10000000, 0x100000000, 0x7f0000000000,
                     0x7ffff7000000, 0x7ffffffde000, 0x800000000000, 0x555555554000]
        else:
            cands = [0x1000, 0x10000, 0x400000, 0x8048000, 0x10000000, 0x40000000, 0x56555000,
                     0x80000000, 0xbffff000, 0xc0000000, 0xf0000000, 0xfffff000]
        return self.lit(rng.choice(cands))

    def act_hinted(self) -> None:
        length = self.size()
        prot = self.prot()
        flags = MAP_PRIVATE | MAP_ANONYMOUS
        if self.rng.random() < 0.1:
            flags |= MAP_NORESERVE
        reg = self.mmap(self.hint(length), length, prot, flags, kind="anon")
        if prot & PROT_WRITE:
            self.maybe_touch_later(reg, 0.3)

    def act_fixed_over(self) -> None:
        reg = self.pick_region(kinds=("anon", "shared", "file", "growsdown"))
        if reg is None:
            return self.act_anon()
        off, length = self.offset_in(reg)
        prot = self.prot()
        if self.n_files and self.rng.random() < 0.3:
            fd = self.rng.randrange(self.n_files)
            foff = self.file_offset()
            flags = self.rng.choice([MAP_PRIVATE, MAP_SHARED]) | MAP_FIXED
            new = self.mmap(self.ref(reg, off), length, prot, flags, fd, foff, kind="file")
        else:
            flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
            new = self.mmap(self.ref(reg, off), length, prot, flags, kind="anon")
        if prot & PROT_WRITE:
            self.maybe_touch_later(new, 0.3)

    def new_arena(self) -> _Arena:
        size = self.rng.choice([16, 32] if self.bits == 32 else [16, 32, 64]) * MiB
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        reg = self.mmap("0x0", size, PROT_NONE, flags, kind="arena")
        arena = _Arena(reg)
        self.arenas.append(arena)
        return arena

    def act_arena_fixed(self) -> None:
        rng = self.rng
        arena = rng.choice(self.arenas) if self.arenas and rng.random() < 0.9 else self.new_arena()
        asz = arena.region.length
        r = rng.random()
        if arena.subs and r < 0.45:  # right after (or right before) an earlier sub-mapping
            soff, slen, sfd, sfoff = rng.choice(arena.subs)
            length = rng.choice([rng.randint(1, 8) * PAGE, 2 * MiB, slen])
            after = rng.random() < 0.6
            off = soff + slen if after else soff - length
            fd = sfd if rng.random() < 0.7 else -1
            foff = (sfoff + slen if after else sfoff - length) if fd >= 0 else 0
            if foff < 0:
                foff = 0
        else:
            length = rng.choice([rng.randint(1, 16) * PAGE, 2 * MiB, 4 * MiB, rng.randint(1, 600) * PAGE])
            align = rng.choice([PAGE, PAGE, 2 * MiB])
            off = rng.randrange(0, max(align, asz - length), align)
            fd = rng.randrange(self.n_files) if self.n_files and rng.random() < 0.3 else -1
            foff = self.file_offset() if fd >= 0 else 0
        if off < 0 or off + length > asz:
            off, length = 0, min(length, asz)
        prot = rng.choices([RW, PROT_READ, RW, PROT_NONE, PROT_READ | PROT_EXEC], [40, 20, 20, 10, 10])[0]
        noreplace = rng.random() < 0.15
        fixed = MAP_FIXED_NOREPLACE if noreplace else MAP_FIXED
        if noreplace and arena.holes and rng.random() < 0.7:  # aim at a hole: should succeed
            hoff, hlen = rng.choice(arena.holes)
            off, length = hoff, rng.randint(1, max(1, hlen // PAGE)) * PAGE
        if fd >= 0:
            flags = rng.choice([MAP_PRIVATE, MAP_PRIVATE, MAP_SHARED]) | fixed
            reg = self.mmap(self.ref(arena.region, off), length, prot, flags, fd, foff, kind="file")
        else:
            flags = MAP_PRIVATE | MAP_ANONYMOUS | fixed
            if rng.random() < 0.1:
                flags |= MAP_NORESERVE
            reg = self.mmap(self.ref(arena.region, off), length, prot, flags, kind="anon")
        arena.subs.append((off, length, fd, foff))
        if prot & PROT_WRITE:
            self.maybe_touch_later(reg, 0.5)

    def act_arena_unmap(self) -> None:
        if not self.arenas:
            return self.act_arena_fixed()
        rng = self.rng
        arena = rng.choice(self.arenas)
        asz = arena.region.length
        if len(arena.subs) >= 2 and rng.random() < 0.6:  # span several sub-mappings
            a, b = sorted(rng.sample(arena.subs, 2))
            start = a[0] + rng.choice([0, PAGE]) if a[1] > PAGE else a[0]
            end = b[0] + b[1] - (rng.choice([0, PAGE]) if b[1] > PAGE else 0)
            if end <= start:
                start, end = a[0], a[0] + a[1]
        else:
            start = rng.randrange(0, asz - PAGE, PAGE)
            end = min(asz, start + rng.choice([PAGE, 4 * PAGE, 2 * MiB, rng.randint(1, 300) * PAGE]))
        op = rng.choice(["munmap", "munmap", "mprotect"])
        if op == "munmap":
            self.emit(f"munmap {self.ref(arena.region, start)} {_hex(end - start)}")
            arena.holes.append((start, end - start))
        else:
            self.emit(f"mprotect {self.ref(arena.region, start)} {_hex(end - start)} {_hex(self.prot())}")

    def act_noreplace(self) -> None:
        rng = self.rng
        length = rng.choice([PAGE, 4 * PAGE, 2 * MiB])
        reg = self.pick_region()
        r = rng.random()
        if reg is not None and r < 0.5:  # collides (unless reg was unmapped meanwhile)
            addr = self.ref(reg, rng.randrange(0, max(PAGE, reg.length), PAGE))
        elif reg is not None and r < 0.8:  # probably free: far below a result
            addr = self.ref(reg, -rng.choice([256 * MiB, 512 * MiB, 64 * MiB]))
        else:
            addr = self.lit(rng.choice([0x10000000, 0x20000000, 0x30000000] if self.bits == 32
                                       else [0x100000000, 0x200000000, 0x7e0000000000]))
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE
        if rng.random() < 0.2:
            flags |= MAP_FIXED  # NOREPLACE still wins
        self.mmap(addr, length, RW, flags, kind="anon")

    def act_map32(self) -> None:
        if self.bits != 64:
            return self.act_anon()
        rng = self.rng
        length = rng.choice([PAGE, 8 * PAGE, 2 * MiB, 2 * MiB + PAGE, 64 * MiB])
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT
        addr = "0x0"
        if rng.random() < 0.3:
            addr = self.lit(rng.choice([0x40000000, 0x10000000, 0x100000000, 0x7fff0000]))
        if self.n_files and rng.random() < 0.25:
            fd = rng.randrange(self.n_files)
            self.mmap(addr, length, PROT_READ, MAP_PRIVATE | MAP_32BIT, fd, self.file_offset(), kind="file")
        else:
            reg = self.mmap(addr, length, RW, flags, kind="anon")
            self.maybe_touch_later(reg, 0.3)

    def act_growsdown(self) -> None:
        rng = self.rng
        length = rng.randint(1, 16) * PAGE
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN
        if rng.random() < 0.2:
            flags |= MAP_STACK
        addr = "0x0"
        if self.regions and rng.random() < 0.3:
            addr = self.hint(length)
        reg = self.mmap(addr, length, RW, flags, kind="growsdown")
        self.growsdown.append(reg)
        for pages in rng.sample([1, 2, 300, 256, 255, 1], rng.randint(1, 3)):
            self.pending.append(f"touch {self.ref(reg, -pages * PAGE)} {rng.choice('wwr')}")

    def act_below_growsdown(self) -> None:
        if not self.growsdown:
            return self.act_growsdown()
        rng = self.rng
        gd = rng.choice(self.growsdown)
        r = rng.random()
        if r < 0.55:  # hint just below the stack-like mapping (inside/at the guard gap)
            delta = rng.choice([0x1000, 0x101000, 0x100000, 0x102000, 0xff000])
            length = rng.choice([PAGE, 4 * PAGE, 2 * MiB])
            self.mmap(self.ref(gd, -delta), length, RW, MAP_PRIVATE | MAP_ANONYMOUS, kind="anon")
        elif r < 0.75:  # NOREPLACE right below it
            delta = rng.choice([0x1000, 0x2000, 0x101000])
            self.mmap(self.ref(gd, -delta), PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                      kind="anon")
        elif r < 0.9:  # touch further below
            pages = rng.choice([1, 2, 3, 16, 255, 256, 257, 300])
            self.emit(f"touch {self.ref(gd, -pages * PAGE)} {rng.choice('wwr')}")
        else:  # mprotect with PROT_GROWSDOWN
            self.emit(f"mprotect {self.ref(gd, PAGE if gd.length > PAGE else 0)} {_hex(PAGE)} "
                      f"{_hex(PROT_READ | PROT_GROWSDOWN)}")

    def act_file(self) -> None:
        if not self.n_files:
            return self.act_anon()
        rng = self.rng
        fd = rng.randrange(self.n_files)
        length = rng.choice([PAGE, rng.randint(2, 32) * PAGE, 2 * MiB, 4 * MiB, 2 * MiB + PAGE,
                             rng.randint(1, 3 * PAGE)])
        off = self.file_offset()
        prot = rng.choices([PROT_READ, RW, PROT_READ | PROT_EXEC], [50, 35, 15])[0]
        flags = rng.choice([MAP_PRIVATE, MAP_PRIVATE, MAP_SHARED])
        if rng.random() < 0.05:
            flags = MAP_SHARED_VALIDATE
        addr = "0x0"
        if self.regions and rng.random() < 0.25:
            addr = self.hint(length)
        reg = self.mmap(addr, length, prot, flags, fd, off, kind="file")
        if rng.random() < 0.5:
            toff = rng.randrange(0, reg.length, PAGE)
            mode = "w" if prot & PROT_WRITE and rng.random() < 0.6 else "r"
            self.pending.append(f"touch {self.ref(reg, toff)} {mode}")

    def act_mprotect(self) -> None:
        reg = self.pick_region(kinds=("anon", "shared", "file", "growsdown"))
        if reg is None:
            return self.act_anon()
        off, length = self.offset_in(reg)
        new = self.rng.choice([PROT_READ, PROT_NONE, RW, PROT_READ | PROT_EXEC, RW | PROT_EXEC])
        if self.rng.random() < 0.1:
            length -= self.rng.choice([1, 0x123])  # unaligned: the kernel rounds it back up
        self.emit(f"mprotect {self.ref(reg, off)} {_hex(length)} {_hex(new)}")
        if self.rng.random() < 0.5:  # restore later: split then re-merge
            self.pending.append(f"mprotect {self.ref(reg, off)} {_hex(length)} {_hex(reg.prot)}")

    # madvise, mlock, mseal, shm (issue 10): small lengths wherever pages get populated, so a
    # random run never faults in gigabytes.
    MADVICES = [(0, 3), (1, 3), (2, 3), (3, 3), (4, 8), (8, 4), (9, 2), (10, 5), (11, 4),
                (12, 3), (13, 2), (14, 4), (15, 4), (16, 6), (17, 4), (18, 4), (19, 3),
                (20, 2), (21, 1), (22, 2), (23, 2), (24, 2), (77, 1), (102, 4), (103, 2)]

    def act_madvise(self) -> None:
        reg = self.pick_region(kinds=("anon", "shared", "file", "growsdown", "shm"))
        if reg is None:
            return self.act_anon()
        advice = self.rng.choices([a for a, _ in self.MADVICES], [w for _, w in self.MADVICES])[0]
        off, length = self.offset_in(reg)
        if advice in (22, 23):
            length = min(length, 16 * PAGE)
        if self.rng.random() < 0.15:
            length += self.rng.choice([PAGE, 8 * PAGE])  # runs into whatever follows
        self.emit(f"madvise {self.ref(reg, off)} {_hex(length)} {advice}")

    def act_mlock(self) -> None:
        rng = self.rng
        reg = self.pick_region(kinds=("anon", "shared", "file", "growsdown", "shm"))
        if reg is None:
            return self.act_anon()
        off, length = self.offset_in(reg)
        r = rng.random()
        if r < 0.55:
            flags = 1  # mlock2(MLOCK_ONFAULT): nothing is populated
        elif r < 0.75:
            flags, length = -1, min(length, 16 * PAGE)
        else:
            self.emit(f"munlock {self.ref(reg, off)} {_hex(length)}")
            return
        self.emit(f"mlock {self.ref(reg, off)} {_hex(length)} {flags}")
        if rng.random() < 0.6:
            self.pending.append(f"munlock {self.ref(reg, off)} {_hex(length)}")

    def act_mlockall(self) -> None:
        flags = self.rng.choice([2 | 4, 1 | 4, 1 | 2 | 4, 0, 4])  # never populating
        self.emit(f"mlockall {_hex(flags)}")
        self.pending.append("munlockall")

    def act_mseal(self) -> None:
        reg = self.pick_region(kinds=("anon", "shared", "file", "arena", "shm"))
        if reg is None:
            return self.act_anon()
        off, length = self.offset_in(reg)
        self.emit(f"mseal {self.ref(reg, off)} {_hex(length)} {self.rng.choice([0, 0, 0, 1])}")

    def act_shm(self) -> None:
        rng = self.rng
        live = [r for r in self.regions if r.kind == "shm" and r.live]
        if live and rng.random() < 0.4:
            reg = rng.choice(live)
            self.emit(f"shmdt {self.ref(reg, rng.choice([0, 0, 0, PAGE]))}")
            reg.live = False
            return
        length = rng.choice([PAGE, 3 * PAGE + 5, 64 * KiB, MiB, 2 * MiB, 3 * MiB])
        flags = rng.choice([0, 0, 0o10000, 0o20000])
        target = self.pick_region() if rng.random() < 0.2 else None
        addr = self.ref(target, 5) if target is not None else "0x0"
        idx = self.emit(f"shmat {addr} {_hex(length)} {_hex(flags)}")
        self.regions.append(_Region(idx, _page_up(length), "shm", PROT_READ))

    def act_pkey(self) -> None:
        reg = self.pick_region(kinds=("anon", "shared", "file"))
        if reg is None:
            return self.act_anon()
        off, length = self.offset_in(reg)
        self.emit(f"pkey_mprotect {self.ref(reg, off)} {_hex(length)} {_hex(self.prot())} "
                  f"{self.rng.choice([-1, -1, -1, 0, 1])}")

    def act_munmap(self) -> None:
        reg = self.pick_region(kinds=("anon", "shared", "file", "growsdown"))
        if reg is None:
            return self.act_anon()
        off, length = self.offset_in(reg)
        self.emit(f"munmap {self.ref(reg, off)} {_hex(length)}")
        if off == 0 and length >= reg.length:
            reg.live = False

    def act_brk(self) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.45:
            self.brk_off += rng.choice([PAGE, 3 * PAGE, 33 * PAGE, 0x21000, MiB, 2 * MiB + 0x123])
        elif r < 0.7:
            self.brk_off = max(0, self.brk_off - rng.choice([PAGE, 2 * PAGE, 0x10000, MiB]))
        elif r < 0.8:
            self.brk_off = 0
        elif r < 0.85:
            self.emit("brk brk0-0x1000")
            return
        elif r < 0.9:
            self.emit("brk 0x0")
            return
        elif r < 0.95:
            self.emit(f"brk brk0+{_hex(rng.choice([256 * MiB, GiB]))}")
            return
        else:  # touch the heap
            if self.brk_off:
                self.emit(f"touch brk0+{_hex(rng.randrange(0, self.brk_off, PAGE))} w")
                return
            self.brk_off = 0x21000
        expr = "brk0" if self.brk_off == 0 else f"brk0+{_hex(self.brk_off)}"
        self.emit(f"brk {expr}")

    def act_mremap(self) -> None:
        rng = self.rng
        reg = self.pick_region(kinds=("anon", "shared", "file", "growsdown"))
        if reg is None:
            return self.act_anon()
        old_off, old_len = 0, reg.length
        if rng.random() < 0.25 and reg.length > PAGE:  # a sub-range
            old_off, old_len = self.offset_in(reg)
        r = rng.random()
        newaddr = "0x0"
        if r < 0.2:  # shrink in place
            new_len = max(PAGE, old_len - rng.randint(1, max(1, old_len // PAGE - 1)) * PAGE)
            flags = 0
        elif r < 0.4:  # grow in place (fails with ENOMEM if the next page is taken)
            new_len = old_len + rng.choice([PAGE, 4 * PAGE, 2 * MiB])
            flags = 0
        elif r < 0.7:  # grow, may move
            new_len = old_len + rng.choice([PAGE, 16 * PAGE, 2 * MiB, 4 * MiB])
            flags = MREMAP_MAYMOVE
        elif r < 0.9:  # move to a fixed address
            new_len = rng.choice([old_len, old_len + PAGE, max(PAGE, old_len // 2 // PAGE * PAGE)])
            flags = MREMAP_MAYMOVE | MREMAP_FIXED
            if self.arenas and rng.random() < 0.7:
                arena = rng.choice(self.arenas)
                span = max(PAGE, arena.region.length - new_len)
                newaddr = self.ref(arena.region, rng.randrange(0, span, PAGE))
            else:
                other = self.pick_region() or reg
                newaddr = self.ref(other, rng.choice([0, -_page_up(new_len), other.length]))
        else:  # DONTUNMAP (old_len == new_len, private anonymous)
            new_len = old_len
            flags = MREMAP_MAYMOVE | MREMAP_DONTUNMAP
        idx = self.emit(f"mremap {self.ref(reg, old_off)} {_hex(old_len)} {_hex(new_len)} "
                        f"{_hex(flags)} {newaddr}")
        self.regions.append(_Region(idx, new_len, reg.kind, reg.prot, reg.fd, reg.off + old_off))
        if flags & MREMAP_MAYMOVE and rng.random() < 0.3:
            self.pending.append(f"touch r{idx} {rng.choice('wr')}")

    def act_touch(self) -> None:
        reg = self.pick_region()
        if reg is None:
            return self.act_anon()
        rng = self.rng
        off = rng.randrange(0, max(PAGE, reg.length), PAGE) + rng.randrange(0, PAGE)
        if rng.random() < 0.1:
            off = reg.length  # first byte past the end
        self.emit(f"touch {self.ref(reg, off)} {rng.choice('wwwr')}")

    def act_invalid(self) -> None:
        rng = self.rng
        reg = self.pick_region()
        base = self.ref(reg, reg.length // 2 // PAGE * PAGE) if reg else self.lit(0x10000000)
        unaligned = self.ref(reg, 0x123) if reg else self.lit(0x10000123)
        choice = rng.randrange(11)
        anon = MAP_PRIVATE | MAP_ANONYMOUS
        if choice == 0:  # unaligned MAP_FIXED address
            self.emit(f"mmap {unaligned} {_hex(PAGE)} {_hex(RW)} {_hex(anon | MAP_FIXED)} -1 0x0")
        elif choice == 1:  # len 0
            self.emit(f"mmap 0x0 0x0 {_hex(RW)} {_hex(anon)} -1 0x0")
        elif choice == 2:  # bad prot bits
            self.emit(f"mmap 0x0 {_hex(PAGE)} {_hex(rng.choice([0x10, 0x80, 0x1000]) | RW)} {_hex(anon)} -1 0x0")
        elif choice == 3:
            if reg:
                self.emit(f"mprotect {base} {_hex(PAGE)} {_hex(0x10 | PROT_READ)}")
            else:
                self.emit(f"mprotect {base} {_hex(PAGE)} 0x1")
        elif choice == 4:  # unaligned munmap / len 0
            self.emit(rng.choice([f"munmap {unaligned} {_hex(PAGE)}", f"munmap {base} 0x0"]))
        elif choice == 5:  # no mapping type
            self.emit(f"mmap 0x0 {_hex(PAGE)} {_hex(RW)} {_hex(MAP_ANONYMOUS)} -1 0x0")
        elif choice == 6:  # unknown flag (or MAP_SYNC) with MAP_SHARED_VALIDATE: EOPNOTSUPP for files
            if self.n_files and rng.random() < 0.6:
                bad = MAP_SHARED_VALIDATE | rng.choice([0x200000, 0x80000])
                self.emit(f"mmap 0x0 {_hex(PAGE)} {_hex(RW)} {_hex(bad)} {rng.randrange(self.n_files)} 0x0")
            else:
                self.emit(f"mmap 0x0 {_hex(PAGE)} {_hex(RW)} {_hex(MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x200000)}"
                          f" -1 0x0")
        elif choice == 7 and self.n_files:  # unaligned file offset
            self.emit(f"mmap 0x0 {_hex(PAGE)} {_hex(PROT_READ)} {_hex(MAP_PRIVATE)} 0 0x800")
        elif choice == 8 and reg:  # mremap bad flags / zero new length / FIXED without MAYMOVE
            self.emit(rng.choice([
                f"mremap {self.ref(reg)} {_hex(PAGE)} {_hex(2 * PAGE)} 0x8 0x0",
                f"mremap {self.ref(reg)} {_hex(PAGE)} 0x0 0x1 0x0",
                f"mremap {self.ref(reg)} {_hex(PAGE)} {_hex(PAGE)} 0x2 {self.ref(reg, 16 * MiB)}",
            ]))
        elif choice == 9:  # huge length
            big = (1 << self.bits) - 16 * PAGE
            self.emit(f"mmap 0x0 {_hex(big)} {_hex(RW)} {_hex(anon)} -1 0x0")
        else:  # MAP_FIXED below mmap_min_addr
            self.emit(f"mmap 0x1000 {_hex(PAGE)} {_hex(RW)} {_hex(anon | MAP_FIXED)} -1 0x0")

    # ------------------------------------------------------------------ driver
    ACTIONS = [
        ("act_anon", 14), ("act_hinted", 7), ("act_fixed_over", 6), ("act_arena_fixed", 10),
        ("act_arena_unmap", 5), ("act_noreplace", 3), ("act_map32", 3), ("act_growsdown", 3),
        ("act_below_growsdown", 4), ("act_file", 8), ("act_mprotect", 9), ("act_munmap", 7),
        ("act_brk", 6), ("act_mremap", 8), ("act_touch", 7), ("act_invalid", 3),
        ("act_madvise", 8), ("act_mlock", 4), ("act_mlockall", 1), ("act_mseal", 2),
        ("act_shm", 3), ("act_pkey", 1),
    ]

    def run(self, n_ops: int) -> list[str]:
        names = [a for a, _ in self.ACTIONS]
        weights = [w for _, w in self.ACTIONS]
        if self.bits == 32:
            weights[names.index("act_map32")] = 0
        while len(self.ops) < n_ops:
            if self.pending and self.rng.random() < 0.45:
                self.emit(self.pending.pop(self.rng.randrange(len(self.pending))))
                continue
            getattr(self, self.rng.choices(names, weights)[0])()
        return self.ops[:n_ops]


def generate(rng: random.Random, n_ops: int, *, bits: int, n_files: int,
             file_size: int = 8 * MiB) -> list[str]:
    """``n_ops`` random probe op lines for a ``bits``-bit process with ``n_files`` scratch files.

    ``file_size`` is the scratch files' size (make_scratch_files defaults to 8 MiB);
    some file mappings deliberately extend past it.
    """
    if n_ops < 0:
        raise ValueError("n_ops must be >= 0")
    if n_files < 0:
        raise ValueError("n_files must be >= 0")
    return _Generator(rng, bits, n_files, file_size).run(n_ops)
