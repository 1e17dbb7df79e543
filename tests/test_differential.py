"""Differential tests: the model against the real kernel on this machine.

Random sequences of memory calls (tests/probe_ops.py) run in the C probe (tests/probe/probe.c)
as 64- and 32-bit processes, under setarch -R, with -L and --3gb, and with several
RLIMIT_STACK values. The model starts from the probe's own initial /proc/self/smaps and must
give the same return value and the same /proc/self/maps after every call; in the smaps runs
also the same VmFlags for every VMA. ``_check()`` runs after every step.
"""

from __future__ import annotations

import random

import pytest

import differential
import kernel_probe
import probe_ops
from conftest import probe_for
from simulator.kernel.procfs import smaps_vmflags
from simulator.trace.procmaps import parse_maps
from simulator.units import GiB, MiB, RLIM_INFINITY

MODES = [
    (["x86_64", "-R"], 64),
    (["x86_64", "-R", "-L"], 64),
    (["i686", "-R"], 32),
    (["i686", "-R", "--3gb"], 32),
    (["i686", "-R", "-L"], 32),
]
RLIMITS = [8 * MiB, 1 * GiB, RLIM_INFINITY]
SEEDS = [1, 2, 3]
OPS = 250


def run_and_compare(binary, setarch, bits, rlimit, seed, scratch_files, *, smaps=False,
                    n_ops=OPS):
    rng = random.Random(seed * 1000 + len(setarch) * 10 + bits)
    ops = probe_ops.generate(rng, n_ops, bits=bits, n_files=len(scratch_files))
    run = kernel_probe.run_probe(binary, ops, setarch=setarch, rlimit_stack=rlimit,
                                 scratch_files=scratch_files, smaps=smaps)
    compare_run(run, setarch, rlimit, seed, scratch_files, smaps=smaps)


def compare_run(run, setarch, rlimit, seed, scratch_files, *, smaps=False):
    """Replay a probe run on the model: same result, maps (and with ``smaps`` VmFlags) after
    every op. Returns the model's address space."""
    mm = differential.model_for(run, setarch, rlimit)
    refs = differential.scratch_refs(scratch_files)
    mm._check()
    for step in run.steps:
        if step.result == "SKIPPED":
            continue  # the probe refused to touch its own mappings; nothing happened
        got = differential.apply(mm, step.op_line_resolved, refs)
        context = f"{' '.join(setarch)} rlimit={rlimit:#x} seed={seed} op {step.index}: " \
                  f"{step.op_line_resolved}"
        assert got == step.result, context
        assert mm.maps_text() == step.maps, context
        mm._check()
        if smaps:
            kernel = {(e.start, e.end): e.vmflags for e in parse_maps(step.smaps)}
            model = {(v.start, v.end): smaps_vmflags(v.flags) for v in mm.vmas()}
            assert model == {k: v for k, v in kernel.items() if k in model}, context
    return mm


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rlimit", RLIMITS, ids=["8M", "1G", "unlimited"])
@pytest.mark.parametrize("setarch,bits", MODES, ids=lambda m: " ".join(m) if isinstance(m, list) else None)
def test_random_sequences_match_the_kernel(probes, scratch_files, setarch, bits, rlimit, seed):
    run_and_compare(probe_for(probes, bits), setarch, bits, rlimit, seed, scratch_files)


@pytest.mark.parametrize("setarch,bits", [(["x86_64", "-R"], 64), (["i686", "-R"], 32)],
                         ids=["x86_64", "i686"])
def test_vm_flags_match_the_kernel(probes, scratch_files, setarch, bits):
    """VM_ACCOUNT, VM_NORESERVE, VM_NOHUGEPAGE, VM_GROWSDOWN... as smaps shows them: the
    flags that decide merging."""
    run_and_compare(probe_for(probes, bits), setarch, bits, 8 * MiB, 7, scratch_files,
                    smaps=True)


def test_long_sequence_64(probes, scratch_files):
    """One long run: states with hundreds of VMAs, holes and merges."""
    run_and_compare(probe_for(probes, 64), ["x86_64", "-R"], 64, 8 * MiB, 11, scratch_files,
                    n_ops=1500)
