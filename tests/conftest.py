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


def build_each(keys, build):
    """``{key: build(key)}``, with the ProbeUnavailable saying why in place of a binary this
    machine cannot build (:func:`probe_for` turns it into a skip, or a failure in CI)."""
    built = {}
    for key in keys:
        try:
            built[key] = build(key)
        except kernel_probe.ProbeUnavailable as err:
            built[key] = err
    return built


@pytest.fixture(scope="session")
def probes(probe_dir):
    """{64: path, 32: path}; a missing compiler skips the tests that need it."""
    return build_each((64, 32), lambda bits: kernel_probe.build_probe(bits, probe_dir))


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
