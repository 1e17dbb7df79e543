"""Hermetic by default: the modelled program's output depends on nothing on this machine.

Two proofs (docs/hermetic.md): the commands of tests/hermetic_outputs.py run with every file
access outside the repository refused; and they print the same bytes on a perturbed host
(tools/perturbed-host: a larger /etc/ld.so.cache, the C libraries and dynamic linkers replaced
by copies with other devices, inodes and file system), which needs root for ``unshare -m``.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hermetic_outputs
from simulator.libc.config import GlibcConfig
from simulator.kernel.arch import PROFILES, get_profile
from simulator.programs import typical_process, typical_process_images
from simulator.units import PAGE_SIZE, align_up

REPO = hermetic_outputs.REPO
PERTURBED_HOST = REPO / "tools" / "perturbed-host"


@pytest.fixture
def host_reads(monkeypatch, tmp_path):
    """Every path this process stats or opens outside the repository, ``tmp_path`` and the
    Python installation (argparse looks for its message catalogues there): the list the test
    asserts is empty. The calls are refused too (OSError), so a read that is caught and
    papered over still shows."""
    seen = []
    allowed = tuple(str(root) + os.sep
                    for root in (REPO, tmp_path, sys.prefix, sys.base_prefix, sys.exec_prefix))

    def guard(real):
        def check(path, *args, **kwargs):
            if isinstance(path, int):             # a descriptor already open
                return real(path, *args, **kwargs)
            name = os.fsdecode(os.fspath(path))
            full = name if os.path.isabs(name) else os.path.join(os.getcwd(), name)
            if not full.startswith(allowed):
                seen.append((real.__name__, name))
                raise FileNotFoundError(2, "refused by the hermeticity test", name)
            return real(path, *args, **kwargs)
        return check

    for module, name in ((os, "stat"), (os, "lstat"), (os, "open"), (os, "access"),
                         (os, "listdir"), (os, "scandir"), (builtins, "open"), (io, "open")):
        monkeypatch.setattr(module, name, guard(getattr(module, name)))
    return seen


def test_the_modelled_program_reads_no_host_file(host_reads, tmp_path):
    """typical_process builds every profile's program from fixed values alone."""
    for name in PROFILES:
        typical_process(get_profile(name))
    assert host_reads == []


def test_the_cli_commands_on_the_modelled_program_read_no_host_file(host_reads, tmp_path):
    """vasim run (every shipped scenario), layout, threads and replay of a bare strace log:
    no stat, no open outside the repository and the logs' directory."""
    hermetic_outputs.write_traces(str(tmp_path))
    results = hermetic_outputs.run_all(str(tmp_path))
    assert host_reads == []
    for command, (status, _out, err) in results.items():
        if command.startswith("replay"):
            assert status in (0, 1), (command, err)   # 1: a divergence, still an answer
        else:
            assert status == 0, (command, err)


def test_the_bare_traces_replay_as_recorded_on_the_real_kernel(tmp_path):
    """The calls in the bare logs are the real kernel's (tests/data/recordings true64 and
    pthreads32, the first calls after execve): the modelled program reproduces them."""
    hermetic_outputs.write_traces(str(tmp_path))
    results = hermetic_outputs.run_all(str(tmp_path))
    assert results["replay bare64.strace"][0] == 0, results["replay bare64.strace"]
    assert json.loads(results["replay bare32.strace --json"][1])["matched"] == 2


def test_the_modelled_files_carry_the_reference_machines_facts():
    """Device, inode and size come from the table in simulator/programs.py, whatever this
    machine has: libc.so.6 of the reference machine (tests/data/recordings/*/final.maps,
    ``fe:00 339380`` and ``fe:00 1442188``; fstat sizes 1926232 and 2225200 in the traces)."""
    for arch, (dev, inode, size) in (("x86_64", ("fe:00", 339380, 1926232)),
                                     ("i686", ("fe:00", 1442188, 2225200))):
        _exe, _rtld, (libc,) = typical_process_images(get_profile(arch))
        f = libc.elf.file
        assert (f.dev, f.inode, f.size) == (dev, inode, size)


@pytest.mark.parametrize("arch,size", [("x86_64", None), ("i686", None), ("i686", 120 * 1024),
                                       ("x86_64", 0)])
def test_ld_so_maps_the_configured_cache_size(arch, size):
    """elf/dl-cache.c: ld.so maps /etc/ld.so.cache whole, as large as fstat says, right below
    the first minimal-malloc block (top-down: the highest gap that fits), and libc right
    below the cache; munmap at the end. The size is GlibcConfig.ld_so_cache_size, by default
    38923, the reference machine's (every recording's ``mmap(NULL, 38923, PROT_READ,
    MAP_PRIVATE, 3, 0)``); an empty cache maps nothing (elf/dl-misc.c
    _dl_sysdep_read_whole_file) and libc goes right below the malloc block."""
    glibc = GlibcConfig() if size is None else GlibcConfig(ld_so_cache_size=size)
    expected = 38923 if size is None else size
    p = typical_process(get_profile(arch), glibc=glibc)
    mmaps = [c for c in p.syscalls if c.name in ("mmap", "mmap2")]
    block, after = mmaps[0], mmaps[1:]
    assert block.args[1] == 2 * PAGE_SIZE and block.args[4] == -1
    if expected == 0:
        assert all(getattr(c.args[4], "path", "") != "/etc/ld.so.cache" for c in mmaps)
        libc = after[0]
        assert libc.result + align_up(libc.args[1], PAGE_SIZE) == block.result
        return
    cache, libc = after[0], after[1]
    assert (cache.args[1], cache.args[4].path) == (expected, "/etc/ld.so.cache")
    assert cache.result == block.result - align_up(expected, PAGE_SIZE)
    assert libc.result + align_up(libc.args[1], PAGE_SIZE) == cache.result
    assert ("munmap", (cache.result, expected)) == (p.syscalls[-1].name, p.syscalls[-1].args)
    p.mm._check()


def _perturbed(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(PERTURBED_HOST), *command], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


def test_the_same_output_on_a_perturbed_host(tmp_path):
    """tools/perturbed-host: /etc/ld.so.cache over 160,000 bytes, libc.so.6 and ld.so (64- and
    32-bit) copies on a tmpfs (other device, inode, file system). The commands print the same
    bytes there as here."""
    if sys.platform != "linux":
        pytest.skip("unshare -m is Linux's")
    driver = [sys.executable, str(REPO / "tests" / "hermetic_outputs.py"), str(tmp_path)]
    probe = _perturbed(["true"], tmp_path)
    if probe.returncode == 77:
        pytest.skip(f"no perturbed host here: {probe.stderr.strip()}")
    assert probe.returncode == 0, probe.stderr
    assert "/etc/ld.so.cache is " in probe.stderr and " is a copy: " in probe.stderr
    here = subprocess.run(driver, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert here.returncode == 0, here.stderr
    there = _perturbed(driver, tmp_path)
    assert there.returncode == 0, there.stderr
    expected, got = json.loads(here.stdout), json.loads(there.stdout)
    assert got.keys() == expected.keys()
    for command in expected:
        assert got[command] == expected[command], command


CACHE_SCENARIO = '''title = "ld.so.cache size"
[process]
arch = "i686"
{glibc}
[[step]]
do = "mmap"
length = "64K"
prot = "READ|WRITE"
flags = "PRIVATE|ANONYMOUS"
expect = {{ result = "{result}" }}
'''


@pytest.mark.parametrize("glibc,result", [
    # Default 38923 bytes = 10 pages. i686, ASLR off (tests/data/recordings/pthreads32): the
    # 8 KiB minimal-malloc block at 0xf7fbf000 is the lowest mapping above; the cache goes
    # right below it at 0xf7fbf000 - 0xa000 = 0xf7fb5000, libc (0x227ef8 -> 0x228000) below
    # that at 0xf7d8d000 (the recording's mmap2(NULL, 2259228, ...) = 0xf7d8d000). The cache's
    # 10-page hole is too small for 64 KiB (16 pages): top-down, it goes below libc,
    # 0xf7d8d000 - 0x10000 = 0xf7d7d000.
    ("", "0xf7d7d000"),
    # 120 KiB = 30 pages: the hole is 0xf7fbf000 - 0x1e000 = 0xf7fa1000 .. 0xf7fbf000, the
    # highest gap that fits 16 pages: 0xf7fbf000 - 0x10000 = 0xf7faf000.
    ('[glibc]\nld_so_cache_size = "120K"', "0xf7faf000"),
])
def test_the_cache_size_knob_moves_what_follows(tmp_path, capsys, glibc, result):
    from simulator.cli import main
    path = tmp_path / "cache.toml"
    path.write_text(CACHE_SCENARIO.format(glibc=glibc, result=result))
    assert main(["run", str(path)]) == 0, capsys.readouterr().out


def test_a_negative_cache_size_is_bad_input(tmp_path, capsys):
    from simulator.cli import main
    path = tmp_path / "cache.toml"
    path.write_text(CACHE_SCENARIO.format(glibc="[glibc]\nld_so_cache_size = -4096",
                                          result="0"))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:5:") and "'ld_so_cache_size' must not be negative" in err
