"""Self-tests of the kernel probe, its driver and the op generator (not of the simulator).

Tests needing gcc, gcc-multilib (-m32), setarch or IA32 emulation skip with the reason.
"""

from __future__ import annotations

import random
import re
import resource

import pytest

import kernel_probe as kp
import probe_ops

PAGE = 0x1000
MAP_PRIVATE_ANON = 0x22
SETARCH = {64: ["x86_64", "-R"], 32: ["i686", "-R", "--3gb"]}


@pytest.fixture(scope="session")
def probe_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("probe-build")


@pytest.fixture(scope="session")
def scratch_files(tmp_path_factory):
    return kp.make_scratch_files(tmp_path_factory.mktemp("probe-files"), [8 << 20, 8 << 20])


def _binary(bits, workdir):
    try:
        return kp.build_probe(bits, workdir)
    except kp.ProbeUnavailable as exc:
        pytest.skip(f"{bits}-bit probe unavailable: {exc.reason}")


def _run(bits, workdir, ops, files=(), **kw):
    binary = _binary(bits, workdir)
    kw.setdefault("rlimit_stack", 8 << 20)
    try:
        return kp.run_probe(binary, ops, setarch=SETARCH[bits], scratch_files=files, **kw)
    except kp.ProbeUnavailable as exc:
        pytest.skip(f"cannot run the {bits}-bit probe: {exc.reason}")


@pytest.mark.parametrize("bits", [64, 32])
def test_build_is_cached(bits, probe_workdir):
    first = _binary(bits, probe_workdir)
    assert first.name == f"probe{bits}" and first.exists()
    assert kp.build_probe(bits, probe_workdir) == first


@pytest.mark.parametrize("bits", [64, 32])
def test_tiny_script(bits, probe_workdir, scratch_files):
    ops = [
        f"mmap 0 {4 * PAGE} 3 {MAP_PRIVATE_ANON} -1 0",  # 0
        "touch r0 w",  # 1
        f"mprotect r0+{PAGE:#x} {PAGE:#x} 1",  # 2: split into three
        f"munmap r0+{3 * PAGE:#x} {PAGE:#x}",  # 3
        f"touch r0+{3 * PAGE:#x} r",  # 4: unmapped
        "brk brk0+0x3000",  # 5
        f"mmap r0+0x123 {PAGE:#x} 3 {MAP_PRIVATE_ANON | 0x10} -1 0",  # 6: unaligned MAP_FIXED
        f"mmap 0 {2 * PAGE:#x} 1 2 0 {8 << 20:#x}",  # 7: file mapping entirely beyond EOF
        "touch r7 r",  # 8
    ]
    run = _run(bits, probe_workdir, ops, scratch_files)
    assert "VmFlags:" in run.initial_smaps
    assert len(run.steps) == len(ops)
    res = [s.result for s in run.steps]
    a = run.steps[0].value
    assert a and a % PAGE == 0 and a < (1 << bits)
    assert res[1] == "ok" and res[2] == "0x0" and res[3] == "0x0" and res[4] == "SIGSEGV"
    assert run.steps[5].value == run.brk0 + 0x3000
    assert res[6] == "-EINVAL"
    assert res[8] == "SIGBUS"
    # resolved op lines
    assert run.steps[2].op_line_resolved == f"mprotect {a + PAGE:#x} {PAGE:#x} 0x1"
    assert run.steps[5].op_line_resolved == f"brk {run.brk0 + 0x3000:#x}"
    # the maps show the split mapping
    def vma_at(maps, addr):
        return next((m for m in kp.parse_maps(maps) if m.start <= addr < m.end), None)

    after = run.steps[3].maps
    assert vma_at(after, a).perms == "rw-p" and vma_at(after, a).end == a + PAGE
    assert (vma_at(after, a + PAGE).start, vma_at(after, a + PAGE).end) == (a + PAGE, a + 2 * PAGE)
    assert vma_at(after, a + PAGE).perms == "r--p"
    assert vma_at(after, a + 2 * PAGE).perms == "rw-p"
    assert vma_at(after, a + 3 * PAGE) is None
    heap = [m for m in kp.parse_maps(run.steps[5].maps) if m.path == "[heap]"]
    assert heap and heap[0].start == run.brk0 and heap[0].end == run.brk0 + 0x3000
    f = [m for m in kp.parse_maps(run.steps[7].maps) if m.start == run.steps[7].value]
    assert f and f[0].path == str(scratch_files[0]) and f[0].offset == 8 << 20
    if bits == 32:  # --3gb
        assert all(m.end <= 0xC0000000 for m in kp.parse_maps(run.final_maps))


def test_failed_reference_resolves_to_zero(probe_workdir):
    run = _run(64, probe_workdir, [f"mmap 0 0 3 {MAP_PRIVATE_ANON} -1 0", "munmap r0+0x10000 0x1000",
                                   "touch r5 r"])
    assert run.steps[0].result == "-EINVAL"
    assert run.steps[1].op_line_resolved == "munmap 0x10000 0x1000"
    assert run.steps[2].op_line_resolved == "touch 0x0 r"  # forward reference
    assert run.steps[2].result == "SIGSEGV"


def test_own_mappings_are_protected(probe_workdir):
    # Unmapping the probe's own stack/bss must be refused, not executed.
    run = _run(64, probe_workdir, ["munmap brk0-0x1000 0x1000", "touch brk0-0x10 w"])
    assert [s.result for s in run.steps] == ["SKIPPED", "SKIPPED"]
    assert run.steps[-1].maps == run.initial_maps


@pytest.mark.parametrize("bits", [64, 32])
def test_noop_ops_do_not_change_maps(bits, probe_workdir, scratch_files):
    ops = ["brk 0", "munmap 0x10000 0x1000", "touch 0 r", "mprotect 0x10000 0x1000 1", "brk brk0"]
    run = _run(bits, probe_workdir, ops, scratch_files, smaps=True)
    for step in run.steps:
        assert step.maps == run.initial_maps, step.op_line_resolved
        assert step.smaps is not None and "VmFlags:" in step.smaps


@pytest.mark.parametrize("bits", [64, 32])
def test_random_script_is_reproducible(bits, probe_workdir, scratch_files):
    ops = probe_ops.generate(random.Random(1234), 60, bits=bits, n_files=len(scratch_files))
    kw = dict(rlimit_stack=resource.RLIM_INFINITY)
    first = _run(bits, probe_workdir, ops, scratch_files, **kw)
    second = _run(bits, probe_workdir, ops, scratch_files, **kw)
    assert len(first.steps) == 60
    # smaps page counters (Rss, Pss, ...) depend on other processes sharing the pages;
    # the VMA lines and VmFlags must be identical.
    assert first.initial_maps == second.initial_maps
    assert kp.parse_smaps_vmflags(first.initial_smaps) == kp.parse_smaps_vmflags(second.initial_smaps)
    assert first.steps == second.steps


def test_parser_rejects_truncated_output():
    text = "INIT-SMAPS\n00400000-00401000 r--p 00000000 00:00 0 \nEND\nBRK0 0x1000\nOP 0 brk 0x0\nRET 0 0x1000\n"
    with pytest.raises(kp.ProbeError):
        kp.parse_probe_output(text)
    run = kp.parse_probe_output(text + "MAPS\nEND\nDONE\n")
    assert run.brk0 == 0x1000 and run.steps[0].value == 0x1000 and run.steps[0].maps == ""


NAMES = {"mmap", "munmap", "mprotect", "mremap", "brk", "touch", "madvise", "mlock", "munlock",
         "mlockall", "munlockall", "mseal", "shmat", "shmdt", "pkey_mprotect"}
_EXPR = re.compile(r"^(0x[0-9a-f]+|-?\d+|r(\d+)([+-]0x[0-9a-f]+)?|brk0([+-]0x[0-9a-f]+)?)$")


@pytest.mark.parametrize("bits", [64, 32])
def test_generator(bits):
    ops = probe_ops.generate(random.Random(7), 400, bits=bits, n_files=2)
    assert ops == probe_ops.generate(random.Random(7), 400, bits=bits, n_files=2)
    assert len(ops) == 400
    kinds = set()
    for i, line in enumerate(ops):
        name, *fields = line.split()
        kinds.add(name)
        assert name in NAMES, line
        if name == "touch":
            assert fields[1] in ("r", "w")
            fields = fields[:1]
        for field in fields:
            m = _EXPR.match(field)
            assert m, line
            if m.group(2) is not None:  # rN refers to an earlier mmap/mremap
                n = int(m.group(2))
                assert n < i and ops[n].split()[0] in ("mmap", "mremap", "shmat"), line
            elif field.startswith("0x"):
                assert int(field, 16) < (1 << bits), line
        if bits == 32 and name == "mmap":
            assert not int(fields[3], 16) & 0x40, "MAP_32BIT in a 32-bit script"
    assert kinds == NAMES
