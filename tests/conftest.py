"""Shared fixtures: the C probe, built once per session (skipped with a reason if it can't be).

With VASIM_REQUIRE_KERNEL=1 (set by .ci/run) a missing compiler fails instead of skipping, so
CI cannot pass without comparing the model with the real kernel.
"""

from __future__ import annotations

import os

import pytest

import kernel_probe


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("probe")


@pytest.fixture(scope="session")
def probes(probe_dir):
    """{64: path, 32: path}; a missing compiler skips the tests that need it."""
    built = {}
    for bits in (64, 32):
        try:
            built[bits] = kernel_probe.build_probe(bits, probe_dir)
        except kernel_probe.ProbeUnavailable as err:
            built[bits] = err
    return built


def probe_for(probes, bits):
    binary = probes[bits]
    if isinstance(binary, Exception):
        if os.environ.get("VASIM_REQUIRE_KERNEL") == "1":
            pytest.fail(f"no {bits}-bit probe: {binary}")
        pytest.skip(f"no {bits}-bit probe: {binary}")
    return binary


@pytest.fixture(scope="session")
def scratch_files(probe_dir):
    return kernel_probe.make_scratch_files(probe_dir)
