"""Replay of the calls issue 10 added: their returns are checked and their effects applied.

The logs are written in strace's spelling; the recorded returns are the kernel's as measured
on this machine (tests/test_rules_calls.py runs the same calls in the probe).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_special_file_mappings_are_named_as_proc_shows_them():
    """Measured here (a memfd_create("demo") file and io_uring_setup's rings, mmapped):
    /proc/self/maps names them ``/memfd:demo (deleted)`` on 00:01 and
    ``anon_inode:[io_uring]`` on 00:10. strace -y shows the same paths on the descriptors;
    they exist nowhere on disk, so realpath() must not turn them into ./anon_inode:..."""
    result, mm = run("""\
memfd_create("demo", 0) = 3</memfd:demo (deleted)>
mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_SHARED, 3</memfd:demo (deleted)>, 0) = 0x7ffff7ffd000
mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_POPULATE, 4<anon_inode:[io_uring]>, 0) = 0x7ffff7ffc000
""")
    assert result.matched == 2
    fields = [line.split() for line in mm.maps_lines()[:2]]
    assert [(f[3], f[-1]) for f in fields] == [("00:10", "anon_inode:[io_uring]"),
                                               ("00:01", "(deleted)")]
    assert mm.maps_lines()[1].endswith("/memfd:demo (deleted)")


def test_shmem_names_survive_a_maps_round_trip():
    """A maps listing with a SysV attach and a memfd (lines from this machine) reads back as
    itself: their names are not those of shared anonymous memory."""
    from simulator.trace.loadmaps import address_space_from_maps
    from simulator.trace.procmaps import parse_maps
    text = ("7f4cd5002000-7f4cd5006000 r--s 00000000 00:01 12"
            "                         /SYSV00000000 (deleted)\n"
            "7ff5753d0000-7ff5753d1000 r--p 00000000 00:01 7910"
            "                       /memfd:demo (deleted)\n")
    mm = address_space_from_maps(parse_maps(text, "t.maps"), get_profile("x86_64"))
    assert [line.split()[-2:] for line in mm.maps_lines()[:2]] == [
        ["/SYSV00000000", "(deleted)"], ["/memfd:demo", "(deleted)"]]


@settings(max_examples=200, deadline=None)
@given(line=st.integers(1, 10**9), pid=st.one_of(st.none(), st.integers(1, 4194304)),
       syscall=st.text(), text=st.text(), recorded=st.text(), simulated=st.text(),
       reordered=st.booleans(), note=st.text())
def test_replayed_call_json_text_is_json_dumps_of_to_json(line, pid, syscall, text, recorded,
                                                          simulated, reordered, note):
    """``ReplayedCall.json_text`` (written out for speed) is exactly the generic encoder's
    text of ``to_json()``, for any strings (quotes, control characters, non-ASCII)."""
    import json

    from simulator.trace.replay_result import ReplayedCall
    call = ReplayedCall(line, syscall, text, recorded, simulated, pid, reordered, note)
    assert call.json_text() == json.dumps(call.to_json())
