"""File facts: replay of a recording uses the facts it saved, never this machine's files.

The recordings in tests/data/recordings were made on another machine: their maps show that
machine's inode of /usr/lib32/libc.so.6 (1442188) where this one has another. Here this
machine is perturbed further (every stat answers another inode and size), as on a host where
the C libraries were copied or upgraded, and the recordings must still replay exactly.
"""

from __future__ import annotations

import json
import os

import pytest

from simulator.errors import InputError
from simulator.host.files import FileFacts, HostFiles, RecordedFiles
from simulator.kernel.config import KernelConfig
from simulator.trace.procmaps import read_maps
from simulator.trace.replay import initial_address_space, replay
from simulator.trace.strace import read_strace
from test_replay import ROOT, normalise_shmem, recorded_files, recording_config

_real_stat = os.stat


def _perturbed_stat(path, *args, **kwargs):
    """stat as on another host: other inodes and sizes for every regular file."""
    st = _real_stat(path, *args, **kwargs)
    if not os.path.stat.S_ISREG(st.st_mode):
        return st
    fields = list(st)
    fields[1] += 7919          # st_ino
    fields[6] += 4096          # st_size
    return os.stat_result(fields)


def _replay(name, files):
    _meta, profile, proc = recording_config(name)
    trace = read_strace(ROOT / name / "trace.txt")
    entries = read_maps(ROOT / name / "initial.maps")
    mm = initial_address_space(trace, profile, proc, KernelConfig(), entries, "initial.maps",
                               files=files)
    return replay(trace, mm, files=files)


@pytest.mark.parametrize("name", ["mmapops32", "mmapops64", "ls64", "py64-pass", "pthreads32"])
def test_recordings_replay_on_a_host_with_other_inodes_and_sizes(name, monkeypatch):
    monkeypatch.setattr(os, "stat", _perturbed_stat)
    final = normalise_shmem((ROOT / name / "final.maps").read_text())
    files = recorded_files(name)
    result = _replay(name, files)
    assert result.first_divergence is None
    assert normalise_shmem(result.maps) == final
    assert files.host_paths == set()
    # The same replay with this (perturbed) machine's files shows its inodes instead: the
    # perturbation is visible, so the passing replay above did not read it.
    host = HostFiles()
    assert normalise_shmem(_replay(name, host).maps) != final
    assert any(path.endswith("/libc.so.6") for path in host.host_paths)


def test_recorded_facts_decide_thp_placement_of_large_file_mappings():
    """A file mapping of 2 MiB or more is placed 2 MiB-aligned on ext4 (thp_get_unmapped_area)
    but not on tmpfs: the recorded file-system type decides, not this machine's."""
    ext4 = RecordedFiles({"/data": FileFacts("/data", "fe:00", 12, 4 << 20, "ext4")})
    tmpfs = RecordedFiles({"/data": FileFacts("/data", "00:2a", 12, 4 << 20, "tmpfs")})
    assert ext4.file_ref("/data").thp_aligned
    assert not tmpfs.file_ref("/data").thp_aligned


def test_a_path_without_facts_is_listed_as_missing_and_gets_no_identity():
    files = RecordedFiles({"/a": FileFacts("/usr/a", "fe:00", 5, 100, "ext4")})
    ref = files.file_ref("/etc/passwd")
    assert (ref.path, ref.dev, ref.inode) == ("/etc/passwd", "00:00", 0)
    assert files.missing == {"/etc/passwd"}
    # A path as /proc shows it (resolved) finds the facts recorded under the opened name.
    assert files.file_ref("/usr/a").inode == 5
    assert files.elf("/usr/a") is None and "/usr/a" in files.missing


def test_each_open_is_a_new_struct_file():
    """Two opens of one path never share a VMA (vma->vm_file compared by pointer)."""
    files = RecordedFiles({"/a": FileFacts("/a", "fe:00", 5, 100, "ext4")})
    assert files.file_ref("/a") is not files.file_ref("/a")
    assert files.file_ref("/a", writable=True).writable


def test_facts_round_trip_through_json(tmp_path):
    files = recorded_files("ls64")
    path = tmp_path / "files.json"
    path.write_text(json.dumps(files.to_json()))
    again = RecordedFiles.load(path)
    assert again.files == files.files and again.elves == files.elves
    ls = again.elf("/bin/ls")
    # /bin/ls of Debian 12's coreutils: a PIE with four PT_LOADs (readelf -l /bin/ls).
    assert ls.dynamic and ls.interp == "/lib64/ld-linux-x86-64.so.2" and len(ls.segments) == 4
    assert (ls.file.path, ls.file.inode) == ("/usr/bin/ls", 260601)


@pytest.mark.parametrize("text,message", [
    ("{", "1:2: Expecting property name"),
    ('{"version": 99, "files": {}}', "bad file facts: unknown version 99"),
    ('{"version": 1, "files": {"/a": {"dev": "fe:00"}}}', "bad file facts:"),
    ('{"version": 1, "files": {}, "elf": {"/a": {"segments": [[1]]}}}', "bad file facts:"),
])
def test_bad_facts_are_one_line_input_errors(tmp_path, text, message):
    path = tmp_path / "files.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        RecordedFiles.load(path)
    assert str(err.value).startswith(f"{path}:") and message in str(err.value)


def test_a_bare_log_follows_chdir_for_relative_paths():
    """openat(AT_FDCWD, "x86_64-linux-gnu/libc.so.6") after chdir("/usr/lib") opens
    /usr/lib/x86_64-linux-gnu/libc.so.6 (fs/namei.c: a relative path starts at the cwd);
    after fchdir(fd of /) a relative path starts at /."""
    from simulator.kernel.exec import exec_layout
    from simulator.kernel.config import Personality, ProcessConfig
    from simulator.kernel.arch import get_profile
    from simulator.programs import typical_program
    from simulator.trace.strace import parse_strace

    libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"
    files = RecordedFiles({libc: FileFacts(libc, "fe:00", 339380, 1926232, "ext4"),
                           "/etc/ld.so.cache": FileFacts("/etc/ld.so.cache", "fe:00", 7, 100,
                                                         "ext4")})
    text = (
        'chdir("/usr/lib") = 0\n'
        'openat(AT_FDCWD, "x86_64-linux-gnu/libc.so.6", O_RDONLY|O_CLOEXEC) = 3\n'
        "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7ffff7fc0000\n"
        'openat(AT_FDCWD, "/", O_RDONLY|O_DIRECTORY) = 4\n'
        "fchdir(4) = 0\n"
        'openat(AT_FDCWD, "etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 5\n'
        "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 5, 0) = 0x7ffff7fbf000\n"
    )
    # Addresses: ld.so ends at mmap_base 0x7ffff7fff000 with the vDSO block (0x8000) below
    # it at 0x7ffff7fc2000 (see test_replay), so top-down the first free 8 KiB is at
    # 0x7ffff7fc0000 and the next page at 0x7ffff7fbf000.
    profile = get_profile("x86_64")
    exe, ld_so = typical_program(profile)
    mm = exec_layout(profile, exe, ld_so,
                     proc=ProcessConfig(personality=Personality.ADDR_NO_RANDOMIZE))
    result = replay(parse_strace(text), mm, files=files)
    assert result.first_divergence is None
    assert "339380" in result.maps and f" {libc}\n" in result.maps
    assert " /etc/ld.so.cache\n" in result.maps
    assert files.missing == {"/"}


def test_facts_of_an_exec_d_script_name_its_interpreter(tmp_path):
    """fs/binfmt_script.c: exec of a "#!/bin/sh" file runs /bin/sh; the recording keeps the
    script's interpreter and the interpreter's program headers, and answers from them."""
    from simulator.trace.recording import collect_facts
    from simulator.trace.strace import parse_strace

    script = tmp_path / "hello"
    script.write_text("#!/bin/sh\necho hello\n")
    script.chmod(0o755)
    trace = parse_strace(f'execve("{script}", ["hello"], 0x7ffe /* 1 var */) = 0\n')
    files, how = collect_facts(trace, [])
    assert files.scripts == {str(script): "/bin/sh"}
    assert files.interpreter(str(script)) == "/bin/sh"
    assert files.elf("/bin/sh") is not None and files.elf(str(script)) is None
    assert files.missing == set()
    again = RecordedFiles.from_json(json.loads(json.dumps(files.to_json())))
    assert again.interpreter(str(script)) == "/bin/sh" and again.interpreter("/bin/sh") is None


@pytest.mark.parametrize("name", ["corpus/maplarge64", "corpus/pthreads32-3gb",
                                  "recordings/mmapops32"])
def test_replay_of_a_recording_reads_nothing_of_this_machine(name, monkeypatch, capsys):
    """vasim replay DIR never stats or opens this machine's copy of a file the recording
    holds facts of, nor the mount table (hermetic: the recording is the input)."""
    from pathlib import Path

    from simulator.cli import main

    directory = Path(__file__).parent / "data" / name
    assert main(["replay", str(directory)]) == 0  # imports everything it needs once
    capsys.readouterr()
    facts = json.loads((directory / "files.json").read_text())
    host_copies = set(facts["files"]) | {f["path"] for f in facts["files"].values()}
    host_copies |= {"/proc/self/mounts"}
    real_stat, real_open = os.stat, open
    touched = []

    def guarded(path):
        text = os.fspath(path) if not isinstance(path, int) else ""
        if text in host_copies:
            touched.append(text)

    def stat(path, *args, **kwargs):
        guarded(path)
        return real_stat(path, *args, **kwargs)

    def opened(path, *args, **kwargs):
        guarded(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr("builtins.open", opened)
    code = main(["replay", str(directory)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert touched == []
    if (directory / "trace.txt").exists():
        # The same log replayed bare reads this machine's copies: the guard sees that.
        main(["replay", str(directory / "trace.txt"), "--initial-maps",
              str(directory / "initial.maps"), "--arch", "i686" if "32" in name else "x86_64"])
        capsys.readouterr()
        assert touched
