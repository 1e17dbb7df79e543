"""`vasim record`: the trace fix-up and stop bookkeeping (from strace's own output format),
and one live recording of a forking pipeline on this machine's kernel."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.trace.procmaps import parse_maps
from simulator.trace.record import Run, Stop, execve_results, fix_trace, maps_files
from simulator.trace.recording import load_recording, mapped_paths

# strace 6.1's lines for a delayed execve, split and whole, and a failed one (PATH search).
LOG = """\
100 execve("/tmp/w/execwrap", ["/tmp/w/execwrap", "/usr/bin/sh", "sh"], 0x7ffe /* 3 vars */) = 0
100 execve("/usr/bin/sh", ["sh"], 0x7ffe /* 3 vars */) = 0 (DELAYED)
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 101
101 execve("/usr/local/bin/ls", ["ls"], 0x5555 /* 3 vars */) = -1 ENOENT (No such file or directory) (DELAYED)
101 execve("/usr/bin/ls", ["ls"], 0x5555 /* 3 vars */ <unfinished ...>
100 wait4(-1,  <unfinished ...>
101 <... execve resumed>)             = 0 (DELAYED)
101 exit_group(0)                     = ?
100 exit_group(0)                     = ?
"""


def _stop(kind, pid, maps="00400000-00401000 r--p 00000000 00:00 0 \n"):
    return Stop(kind, pid, pid, "/x", 64, maps, 0x40000, {}, {}, b"")


def test_fix_trace_drops_the_wrapper_and_the_delay_marks():
    trace, root = fix_trace(LOG, "/tmp/w/execwrap")
    assert root == 100
    lines = trace.splitlines()
    assert lines[0] == '100 execve("/usr/bin/sh", ["sh"], 0x7ffe /* 3 vars */) = 0'
    assert "(DELAYED)" not in trace
    assert lines[2].endswith("= -1 ENOENT (No such file or directory)")
    assert len(lines) == len(LOG.splitlines()) - 1


def test_execve_results_in_order_per_pid():
    trace, _root = fix_trace(LOG, "/tmp/w/execwrap")
    assert execve_results(trace) == {100: [True], 101: [False, True]}


def test_maps_files_pairs_stops_with_successful_execs():
    """The failed execve's stop (the old program still mapped) is not an exec's maps."""
    trace, root = fix_trace(LOG, "/tmp/w/execwrap")
    stops = (_stop("execve", 100, "A\n"), _stop("execve", 101, "failed\n"),
             _stop("execve", 101, "B\n"), _stop("exit_group", 101, "C\n"),
             _stop("exit_group", 100, "D\n"))
    files, notes = maps_files(Run(trace, root, stops, 0, 1.0))
    assert files == {"initial.maps": "A\n", "exec-101-1.maps": "B\n", "final-101.maps": "C\n",
                     "final.maps": "D\n"}
    assert notes == []


def test_a_missed_stop_is_reported_not_guessed():
    trace, root = fix_trace(LOG, "/tmp/w/execwrap")
    stops = (_stop("execve", 100, "A\n"), _stop("execve", 101, "B\n"))
    files, notes = maps_files(Run(trace, root, stops, 0, 1.0))
    assert "exec-101-1.maps" not in files and notes and "pid 101" in notes[0]


def _can_record() -> str | None:
    if shutil.which("strace") is None or shutil.which("setarch") is None:
        return "strace or setarch missing"
    if shutil.which("gcc") is None:
        return "gcc missing (the exec wrapper is built with it)"
    return None


def test_record_a_forking_pipeline_on_this_kernel(tmp_path, capsys, monkeypatch):
    reason = _can_record()
    if reason:
        if os.environ.get("VASIM_REQUIRE_KERNEL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "rec"
    code = main(["record", "-o", str(out), "--rlimit-stack", "8M", "--",
                 "sh", "-c", "ls / | cat"])
    assert code == 0, capsys.readouterr()
    meta = json.loads((out / "meta.json").read_text())
    rec = load_recording(out)
    # sh and its two children (ls, cat): three processes, each held at exit_group.
    assert len(meta["processes"]) == 3 and meta["no_final_maps"] == []
    assert set(rec.final_maps) == set(meta["processes"])
    assert "ADDR_NO_RANDOMIZE" in meta["personality"] and meta["rlimit_stack"] == 8 << 20
    assert meta["kernel"] == os.uname().release
    # Each child's exec was caught: its maps name its own program.
    children = [p for p in meta["processes"] if p != rec.root_pid]
    programs = {p: (out / f"exec-{p}-1.maps").read_text() for p in children}
    assert sorted("/usr/bin/ls" in m or "/usr/bin/cat" in m for m in programs.values()) == \
        [True, True]
    # The facts of every mapped file agree with the kernel's own maps columns.
    for text in rec.final_maps.values():
        for entry in parse_maps(text):
            if entry.name.startswith("/usr/"):
                facts = rec.files.facts(entry.name)
                assert (facts.dev, facts.inode) == (entry.dev, entry.inode), entry.name
                assert facts.fstype is not None and facts.size > 0
    # Program headers of every program exec'd (the three), and of their interpreter.
    _mapped, execs = mapped_paths(rec.trace)
    assert len(execs) == 3 and set(execs) | {"/lib64/ld-linux-x86-64.so.2"} <= set(rec.files.elves)
    capsys.readouterr()
    # Replaying it refuses an existing recording rather than overwrite it.
    assert main(["record", "-o", str(out), "--", "true"]) == 2
    assert "already exists" in capsys.readouterr().err


CAT = Path(__file__).parent / "data" / "corpus" / "cat"


def _copy_recording(tmp_path):
    dest = tmp_path / "cat"
    shutil.copytree(CAT, dest)
    return dest


def test_replay_of_a_recording_reports_a_final_map_that_differs(tmp_path, capsys):
    rec = _copy_recording(tmp_path)
    final = (rec / "final.maps").read_text()
    # One inode changed in the kernel's final maps: the replay can no longer match it.
    changed = final.replace(" 339380 ", " 339381 ", 1)
    assert changed != final
    (rec / "final.maps").write_text(changed)
    assert main(["replay", str(rec)]) == 1
    out = capsys.readouterr().out
    assert "matched" in out and "(final.maps): differ" in out


def test_replay_of_a_recording_names_mapped_files_without_facts(tmp_path, capsys):
    rec = _copy_recording(tmp_path)
    facts = json.loads((rec / "files.json").read_text())
    libc = next(p for p in facts["files"] if p.endswith("/libc.so.6"))
    del facts["files"][libc]
    (rec / "files.json").write_text(json.dumps(facts))
    code = main(["replay", str(rec), "--json"])
    out = json.loads(capsys.readouterr().out)
    # Without its facts libc is device 00:00, inode 0: the final maps show the difference.
    assert out["missing_facts"] == [libc]
    assert set(out["final_maps"].values()) == {"differ"} and code == 1


@pytest.mark.parametrize("program,message", [
    ("/nonexistent/prog", "/nonexistent/prog: not an executable file"),
    ("no-such-program-here", "no-such-program-here: not found in PATH"),
])
def test_record_of_a_program_that_cannot_run_is_bad_input(tmp_path, capsys, program, message):
    code = main(["record", "-o", str(tmp_path / "r"), "--", program])
    err = capsys.readouterr().err
    assert code == 2 and err == message + "\n"
    assert not (tmp_path / "r").exists()


def test_record_without_a_program_is_bad_input(tmp_path, capsys):
    assert main(["record", "-o", str(tmp_path / "r")]) == 2
    assert "no program given" in capsys.readouterr().err


def test_comparable_maps_renumbers_shmem_inodes_by_identity():
    """The kernel numbers shmem inodes (shared anonymous memory, SysV segments, memfds)
    from a global counter: only which lines share one can match. Lines from the mseal
    recording's final maps (memfd 25210), with another numbering and with the two merged."""
    from simulator.trace.recording import comparable_maps

    kernel = ("7ffff7cc3000-7ffff7cc7000 r--p 00000000 00:01 25210                      "
              "/memfd:test (deleted)\n"
              "7ffff7cc7000-7ffff7ccb000 r--s 00000000 00:01 25211                      "
              "/dev/zero (deleted)\n"
              "7ffff7ccb000-7ffff7ccc000 r--p 00000000 00:01 25210                      "
              "/memfd:test (deleted)\n")
    same = kernel.replace("25210", "31337").replace("25211", "31338")
    merged = kernel.replace("25211", "25210")
    assert comparable_maps(kernel) == comparable_maps(same)
    assert comparable_maps(kernel) != comparable_maps(merged)
    assert "/memfd:test" in comparable_maps(kernel)


@pytest.mark.parametrize("patch, message", [
    ({"rlimit_stack": None}, None),  # null is absent: the default 8 MiB (was exit 3)
    ([], "not a JSON object"),
    ({"rlimit_stack": -1}, "'rlimit_stack' must be a byte count"),
    ({"rlimits": {"RLIMIT_AS": ["unlimited", 4096]}}, "'rlimits.RLIMIT_AS': soft limit above"),
    ({"rlimits": {"RLIMIT_DATA": [1 << 64, "unlimited"]}}, "'rlimits.RLIMIT_DATA' must be"),
    ({"creds": {"uid": [0, 0, 0], "CapEff": "0x0"}}, "'creds.uid' must be a list of 4 ids"),
    ({"creds": {"uid": [0, 0, 0, 0], "CapEff": "0x0", "groups": [-1]}}, "'creds.groups'"),
    ({"stat_mm_initial": {"start_brk": "0x1001"}}, None),  # ASLR off: not read
    ({"personality_raw": "0x0", "personality": ["PER_LINUX"],
      "stat_mm_initial": {"start_brk": "0x1001"}}, "start_brk '0x1001' is not a page address"),
    ({"auxv": {"AT_BASE": "zz"}}, "'auxv' must be an object of hex numbers"),
])
def test_a_recordings_malformed_meta_is_one_line_of_bad_input(tmp_path, capsys, patch, message):
    rec = tmp_path / "rec"
    shutil.copytree(Path(__file__).parent / "data" / "corpus" / "cat", rec)
    meta = json.loads((rec / "meta.json").read_text())
    meta = dict(meta, **patch) if isinstance(patch, dict) else patch
    (rec / "meta.json").write_text(json.dumps(meta))
    code = main(["replay", str(rec)])
    err = capsys.readouterr().err
    if message is None:
        assert code == 0 and err == ""
    else:
        assert code == 2 and err.count("\n") == 1, err
        assert err.startswith(f"{rec / 'meta.json'}: ") and message in err, err
