"""Real kernels of other architectures and splits, replayed on the model (no QEMU needed).

tests/data/qemu/PROFILE.jsonl.gz was recorded by ``python tools/qemu/record.py PROFILE``: a
Linux kernel built for that profile (native i386 with a VMSPLIT choice, arm64 with a VA size,
...) booted under QEMU with ``norandmaps`` ran, on its serial console,

* the kernel probe (tests/probe/probe.c) on random call sequences: every call's result and
  /proc/self/maps after it ("probe" records);
* a maps printer built PIE, non-PIE, static and static-PIE: /proc/self/maps at main ("exec");
* the thread counter (tests/probe/thrcount.c): threads until pthread_create failed, with the
  maps before and after ("threads").

The first record ("meta") holds the kernel version, the config options that matter, the
sysctls and the command that made the recording. The model runs with the profile of the same
name and the recorded sysctls; where it disagrees, the model is wrong.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import attrs
import pytest

import differential
from simulator.kernel.arch import get_profile
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.kernel.vma import FileRef
from simulator.trace.loadmaps import address_space_from_maps
from simulator.trace.procmaps import parse_maps
from simulator.units import RLIM_INFINITY

DATA = Path(__file__).parent / "data" / "qemu"
RECORDINGS = sorted(DATA.glob("*.jsonl.gz"))


def stem(path: Path) -> str:
    """PROFILE, or PROFILE@VERSION for a recording of another kernel source version
    (``record.py PROFILE --source VERSION``)."""
    return path.name.removesuffix(".jsonl.gz")


def load(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


_CACHE: dict[Path, list[dict]] = {}


def records(path: Path) -> list[dict]:
    if path not in _CACHE:
        _CACHE[path] = load(path)
    return _CACHE[path]


#: x86_64@6.1 thread runs: the counts match, the final maps differ at the heap.
_BSS_HEAP_6_1 = (
    "6.1 labels the bss tail (vm_brk_flags, right below start_brk) [heap]: the before-maps "
    "show it as the only [heap], the loader takes its start for start_brk and the model grows "
    "the bss (nopie 8M: model [0x405000, 0x51d000) one VMA; kernel [0x405000, 0x415000) bss "
    "and [0x415000, 0x53e000) heap)"
)

#: Recorded runs where the model still disagrees with the kernel, with the measured and the
#: modelled values. They are strict xfails: when the model learns the rule, they fail.
KNOWN_DIFFERENCES: dict[str, str] = {
    "x86_64@6.1:threads-pie-8388608-0-4096": _BSS_HEAP_6_1,
    "x86_64@6.1:threads-pie-2097152-0-4096": _BSS_HEAP_6_1,
    "x86_64@6.1:threads-pie-67108864-0-4096": _BSS_HEAP_6_1,
    "x86_64@6.1:threads-pie-inf-0-4096": _BSS_HEAP_6_1,
    "x86_64@6.1:threads-pie-8388608-1048576-4096": _BSS_HEAP_6_1,
    "x86_64@6.1:threads-pie-8388608-3145728-65536": _BSS_HEAP_6_1,
    "x86_64@6.1:threads-nopie-8388608-0-4096": _BSS_HEAP_6_1,
    "x86_64@6.1:threads-nopie-8388608-1048576-0": _BSS_HEAP_6_1,
}


def cases(kind: str):
    out = []
    for path in RECORDINGS:
        for i, rec in enumerate(records(path)):
            if rec["kind"] == kind:
                key = f"{stem(path)}:{rec['tag']}"
                marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[key])]
                         if key in KNOWN_DIFFERENCES else [])
                out.append(pytest.param(path, i, id=key, marks=marks))
    return out


def rlimit(value: str | int) -> int:
    return RLIM_INFINITY if value == "inf" else int(value)


def _kb(text: str) -> int:
    """/proc/meminfo's "509956 kB"; MemTotal is totalram_pages() in KiB (4 KiB pages here)."""
    value, unit = text.split()
    assert unit == "kB", text
    return int(value)


def kernel_config(meta: dict) -> KernelConfig:
    """The recorded kernel's sysctls and config choices, as the model's knobs."""
    config = meta["config"]
    lsm = config.get("CONFIG_LSM_MMAP_MIN_ADDR", "n")
    return KernelConfig(mmap_min_addr=meta["mmap_min_addr"],
                        lsm_mmap_min_addr=0 if lsm == "n" else int(lsm),
                        randomize_va_space=meta["randomize_va_space"],
                        overcommit_memory=meta["overcommit_memory"],
                        thp=config.get("CONFIG_TRANSPARENT_HUGEPAGE") == "y",
                        # tinyconfig leaves KSM out (recordings before CONFIG_KSM was
                        # recorded were all tinyconfig builds)
                        ksm=config.get("CONFIG_KSM") == "y", swap=config.get("CONFIG_SWAP") == "y",
                        totalram_pages=_kb(meta["mem_total"]) // 4,
                        total_swap_pages=_kb(meta.get("swap_total", "0 kB")) // 4,
                        version=".".join(meta["release"].split(".")[:2]))


def recorded_profile(meta: dict):
    """The profile of the recording's name, with what its kernel's config decides that the
    profile assumes: CONFIG_ARCH_HAS_PKEYS (a tinyconfig x86_64 kernel has no pkey syscalls;
    recordings made before it was recorded keep the profile's value) and, on x86_64,
    CONFIG_X86_VSYSCALL_EMULATION (tinyconfig leaves it out: no [vsyscall] gate)."""
    profile = get_profile(meta["profile"])
    pkeys = meta["config"].get("CONFIG_ARCH_HAS_PKEYS")
    if pkeys is not None:
        profile = attrs.evolve(profile, arch_has_pkeys=pkeys == "y")
    if meta["config"].get("CONFIG_X86_VSYSCALL_EMULATION") == "n":
        profile = attrs.evolve(profile, gate=None)
    return profile


def process_config(rec: dict) -> ProcessConfig:
    return ProcessConfig(personality=Personality.ADDR_NO_RANDOMIZE,
                         rlimit_stack=rlimit(rec["rlimit_stack"]))


def test_there_are_recordings():
    assert RECORDINGS, "no recordings in tests/data/qemu (python tools/qemu/record.py PROFILE)"
    for path in RECORDINGS:
        meta = records(path)[0]
        assert meta["kind"] == "meta"
        get_profile(meta["profile"])  # a profile of that name exists
        version = ".".join(meta["release"].split(".")[:2])
        assert stem(path) in (meta["profile"], f"{meta['profile']}@{version}")
        assert "norandmaps" in meta["cmdline"] and meta["randomize_va_space"] == 0
        kinds = {r["kind"] for r in records(path)}
        assert {"probe", "exec", "threads"} <= kinds


def test_provenance_says_which_profiles_were_measured():
    """A profile says "measured on Linux X.Y.Z under QEMU" only when it has a recording here,
    from a kernel of that version, and a recording of a profile that says nothing of it is a
    known difference listed in KNOWN_DIFFERENCES."""
    from simulator.kernel.arch import PROFILES

    # a profile's provenance names its default-source recording (PROFILE.jsonl.gz)
    recorded = {records(p)[0]["profile"]: records(p)[0]["release"] for p in RECORDINGS
                if "@" not in stem(p)}
    for name, profile in PROFILES.items():
        if name not in recorded:
            assert "under QEMU" not in profile.provenance, name
        elif "under QEMU" in profile.provenance:
            assert f"measured on Linux {recorded[name]} under QEMU" in profile.provenance, name
            assert not any(key.startswith(name + ":") for key in KNOWN_DIFFERENCES), name
        else:
            assert any(key.startswith(name + ":") for key in KNOWN_DIFFERENCES), name


@pytest.mark.parametrize("path,index", cases("probe"))
def test_probe_sequences_match_the_recorded_kernel(path, index):
    recs = records(path)
    meta, rec = recs[0], recs[index]
    profile = recorded_profile(meta)
    files = [FileRef(r["path"], r["dev"], r["inode"], size=r["size"])
             for r in recs if r["kind"] == "file"]
    mm = address_space_from_maps(parse_maps(rec["initial_smaps"], "<initial smaps>"), profile,
                                 proc=process_config(rec), kconfig=kernel_config(meta),
                                 assume_written=True)
    if "[heap]" not in rec["initial_smaps"]:
        mm.start_brk = mm.current_brk = rec["brk0"]
    mm._check()
    for i, (op, result, maps) in enumerate(rec["steps"]):
        if result == "SKIPPED":
            continue
        got = differential.apply(mm, op, files)
        context = f"{meta['release']} {profile.name} {rec['tag']} op {i}: {op}"
        assert got == result, context
        assert mm.maps_text() == maps, context
        mm._check()


def _ranges(maps_text: str):
    return [tuple(line.split()[:2]) for line in maps_text.splitlines() if line.strip()]


#: Tasks a booted tiny VM has besides the thread counter's (kernel threads, init): a count
#: within this of threads-max means copy_process refused the next thread (EAGAIN), not mmap.
OTHER_TASKS = 256


@pytest.mark.parametrize("path,index", cases("threads"))
def test_thread_counts_match_the_recorded_kernel(path, index, tmp_path):
    """`vasim threads --initial-maps` on the program's own maps before its first thread: the
    same count and every stack at the same address. Where the kernel ran out of tasks
    (kernel.threads-max, fixed by the VM's RAM) before it ran out of address space, the model
    creates as many threads and must have room for all of them, at the kernel's addresses."""
    from simulator.libc.process import attach_process
    from simulator.libc.pthread import ThreadAttr
    from simulator.trace.procmaps import read_maps

    recs = records(path)
    meta, rec = recs[0], recs[index]
    assert rec["error"] == "EAGAIN"
    before = tmp_path / "before.maps"
    before.write_text(rec["before"])
    task_limited = rec["count"] >= meta["threads_max"] - OTHER_TASKS
    mm = address_space_from_maps(read_maps(str(before)), recorded_profile(meta),
                                 proc=process_config(rec), kconfig=kernel_config(meta),
                                 source=str(before))
    process = attach_process(mm)
    attr = ThreadAttr(stacksize=rec["stack_size"], guardsize=rec["guard_size"])
    result = process.threads.create_until_failure(
        attr, limit=rec["count"] if task_limited else 10_000_000)
    process.mm._check()
    if task_limited:
        assert (result.threads, result.stopped_by) == (rec["count"], "limit"), rec["tag"]
        # When clone() fails, glibc has already mapped the next stack; it keeps it in its
        # stack cache unless the block is larger than the cache (40 MiB, nptl-stack.c
        # stack_cache_maxsize), so the kernel's final map holds one block more.
        if result.stacks[-1].size <= process.glibc.stack_cache_size:
            process.threads.create(process.threads.main, attr)
    else:
        assert (result.threads, result.stopped_by) == (rec["count"], "mmap ENOMEM"), rec["tag"]
    assert _ranges(process.mm.maps_text()) == _ranges(rec["after"]), rec["tag"]


def _elf(data: dict, path: str):
    from simulator.kernel.binfmt_elf import ElfImage, Segment

    return ElfImage(FileRef(path), data["dynamic"], tuple(Segment(*s) for s in data["segments"]),
                    data["interp"], data["exec_stack"])


def _exec_view(maps_text: str, paths: tuple[str, ...]) -> dict:
    """What exec decides, as /proc/self/maps shows it at main: where each file's first mapping
    starts, the special mappings, and the top of the stack (ld.so and libc map more, and the
    stack grows, before main runs)."""
    view: dict = {}
    for e in parse_maps(maps_text):
        if e.name in paths:
            view.setdefault(e.name, e.start)
        elif e.name.startswith("[") and e.name not in ("[heap]", "[stack]"):
            view[e.name] = (e.start, e.end)
        elif e.name == "[stack]":
            view["[stack] end"] = e.end
    return view


@pytest.mark.parametrize("path,index", cases("exec"))
def test_exec_layouts_match_the_recorded_kernel(path, index):
    from simulator.kernel.exec import exec_layout

    recs = records(path)
    meta, rec = recs[0], recs[index]
    exe = _elf(rec["elf"], rec["binary"])
    interp = _elf(rec["interp_elf"], exe.interp) if exe.interp else None
    proc = ProcessConfig(personality=Personality.ADDR_NO_RANDOMIZE,
                         rlimit_stack=rlimit(rec["rlimit_stack"]),
                         exec_strings=rec["exec_strings"])
    mm = exec_layout(recorded_profile(meta), exe, interp, kconfig=kernel_config(meta),
                     proc=proc)
    mm._check()
    paths = (rec["binary"],) + ((exe.interp,) if exe.interp else ())
    assert _exec_view(mm.maps_text(), paths) == _exec_view(rec["maps"], paths), rec["tag"]
    # Static glibc moves the break before main (__libc_setup_tls uses sbrk): then the start
    # of the last [heap] VMA is where exec put it; otherwise brk(0) at main still is. (6.1
    # maps the bss tail with vm_brk_flags right below start_brk and /proc labels it [heap]
    # too, show_map_vma: it touches [start_brk, brk]; the sbrk'd heap is a VMA of its own.)
    heaps = [e.start for e in parse_maps(rec["maps"]) if e.name == "[heap]"]
    assert mm.start_brk == (heaps[-1] if heaps and not exe.interp else rec["brk"]), rec["tag"]
