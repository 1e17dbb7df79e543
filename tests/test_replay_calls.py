"""Replay of the calls issue 10 added: their returns are checked and their effects applied.

The logs are written in strace's spelling; the recorded returns are the kernel's as measured
on this machine (tests/test_rules_calls.py runs the same calls in the probe).
"""

from __future__ import annotations

from simulator.kernel.arch import get_profile
from simulator.kernel.exec import empty_address_space
from simulator.trace.replay import replay
from simulator.trace.strace import parse_strace

B = 0x7F0000000000


def run(log: str):
    mm = empty_address_space(get_profile("x86_64"))
    return replay(parse_strace(log), mm), mm


def test_madvise_split_makes_a_later_mremap_fail():
    """The issue's first example: madvise(MADV_DONTDUMP) on the middle page splits the
    mapping, so mremap of the whole old range is EFAULT (measured); replay agrees only if it
    applies the split."""
    result, mm = run(f"""\
mmap({B:#x}, 16384, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0) = {B:#x}
madvise({B + 4096:#x}, 4096, MADV_DONTDUMP) = 0
mremap({B:#x}, 16384, 32768, MREMAP_MAYMOVE) = -1 EFAULT (Bad address)
""")
    assert [c.simulated for c in result.calls] == [hex(B), "0", "-1 EFAULT"]
    assert result.matched == 3
    assert len([v for v in mm.vmas() if B <= v.start < B + 16384]) == 3


def test_mseal_mlock_and_shm_are_checked():
    """mseal then munmap is EPERM; mlock splits; the recorded shm id (12 here) maps to the
    model's segment; shmat places the segment like the kernel would in an empty space."""
    result, mm = run(f"""\
mmap({B:#x}, 16384, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0) = {B:#x}
mseal({B:#x}, 4096, 0) = 0
munmap({B:#x}, 8192) = -1 EPERM (Operation not permitted)
mlock({B + 8192:#x}, 4096) = 0
madvise({B:#x}, 4096, MADV_DONTNEED) = 0
shmget(IPC_PRIVATE, 12293, IPC_CREAT|0600) = 12
shmat(12, {B + 0x100000:#x}, 0) = {B + 0x100000:#x}
shmctl(12, IPC_RMID, NULL) = 0
shmdt({B + 0x100000:#x}) = 0
shmat(12, NULL, 0) = -1 EINVAL (Invalid argument)
""")
    assert result.first_divergence is None, result.first_divergence
    assert result.matched == 10
    assert [v.end - v.start for v in mm.vmas() if B <= v.start < B + 16384] == \
        [4096, 4096, 4096, 4096]


def test_mremap_dontunmap_hint_is_not_guessed():
    """strace prints no new_address without MREMAP_FIXED, but the kernel uses it as a hint
    with MREMAP_DONTUNMAP: replay says so and places the copy where the kernel did."""
    result, mm = run(f"""\
mmap({B:#x}, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0) = {B:#x}
mremap({B:#x}, 8192, 8192, MREMAP_MAYMOVE|MREMAP_DONTUNMAP) = {B + 0x200000:#x}
""")
    call = result.calls[1]
    assert call.matched and "not in the trace" in call.note
    assert mm.vma_at(B) is not None and mm.vma_at(B + 0x200000) is not None
    assert "note" in result.to_json()["calls"][1]
