"""Scenario steps that make processes: ``fork`` (kernel/fork.c ``dup_mmap``) and ``exec``
(fs/exec.c ``exec_mmap``), and ``process = NAME`` to run a step in one of them."""

from __future__ import annotations

import textwrap

import pytest

from simulator.cli import main
from simulator.scenario.runner import run
from simulator.scenario.spec import load

HEAD = """\
    title = "processes"
    [process]
    arch = "ARCH"
    [[step]]
    do = "mmap"
    name = "a"
    length = "1M"
    [[step]]
    do = "madvise"
    addr = "a"
    length = "64K"
    advice = "ADVICE"
    [[step]]
    do = "fork"
    name = "child"
"""


def scenario(tmp_path, text: str):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(text))
    return load(str(path))


def lines(maps: str) -> list[str]:
    return maps.splitlines()


@pytest.mark.parametrize("arch", ["x86_64", "i686"])
def test_fork_copies_all_but_dontfork(tmp_path, arch):
    """dup_mmap skips VM_DONTCOPY VMAs (MADV_DONTFORK) and copies every other one as it is,
    so the child's maps are the parent's at the fork less the 64 KiB made DONTFORK."""
    s = scenario(tmp_path, HEAD.replace("ARCH", arch).replace("ADVICE", "MADV_DONTFORK"))
    v = run(s).variants[0]
    (name, child), = v.children
    a = next(o.result for o in v.outcomes if o.step.name == "a")
    dontfork = f"{a:08x}-{a + 0x10000:08x}"
    parent = lines(v.maps)
    assert name == "child"
    assert [l for l in parent if not l.startswith(dontfork)] == lines(child)
    assert any(l.startswith(dontfork) for l in parent)


def test_wipeonfork_is_copied(tmp_path):
    """VM_WIPEONFORK VMAs are copied (empty), so nothing is missing in the child."""
    s = scenario(tmp_path, HEAD.replace("ARCH", "x86_64").replace("ADVICE", "MADV_WIPEONFORK"))
    v = run(s).variants[0]
    assert lines(v.children[0][1]) == lines(v.maps)


def test_exec_in_the_child_starts_the_program_afresh(tmp_path):
    """After exec the child's address space is the program's layout at exec: with ASLR off
    and the same program and settings, exactly the scenario's own at its start."""
    text = HEAD.replace("ARCH", "i686").replace("ADVICE", "MADV_NORMAL") + """\
    [[step]]
    do = "mmap"
    process = "child"
    length = "4K"
    [[step]]
    do = "exec"
    process = "child"
    """
    v = run(scenario(tmp_path, text)).variants[0]
    fresh = run(scenario(tmp_path, 'title = "t"\n[process]\narch = "i686"\n'
                                   '[[step]]\ndo = "brk"\naddr = "brk"\n')).variants[0]
    assert lines(v.children[0][1]) == lines(fresh.maps)


def test_parent_steps_after_fork_do_not_touch_the_child(tmp_path):
    text = HEAD.replace("ARCH", "x86_64").replace("ADVICE", "MADV_NORMAL") + """\
    [[step]]
    do = "munmap"
    addr = "a"
    length = "1M"
    """
    v = run(scenario(tmp_path, text)).variants[0]
    a = next(o.result for o in v.outcomes if o.step.name == "a")
    assert any(int(l.split("-")[0], 16) <= a < int(l.split("-")[1].split()[0], 16)
               for l in lines(v.children[0][1]))
    assert not any(int(l.split("-")[0], 16) <= a < int(l.split("-")[1].split()[0], 16)
                   for l in lines(v.maps))


@pytest.mark.parametrize("extra, line, message", [
    # HEAD is 15 lines: the extra step's header is line 16, its keys 17, 18, 19.
    ('[[step]]\ndo = "mmap"\nprocess = "nobody"\nlength = "4K"\n', 18, "'nobody' is not defined"),
    ('[[step]]\ndo = "mmap"\nprocess = "a"\nlength = "4K"\n', 18, "is not a process"),
    ('[[step]]\ndo = "fork"\n', 16, "fork needs 'name'"),
    ('[[step]]\ndo = "fork"\nname = "c2"\nrepeat = 2\n', 19, "no repeat"),
    ('[[step]]\ndo = "mmap"\nlength = "child"\n', 18, "names a process"),
    ('[[step]]\ndo = "fork"\nname = "main"\n', 18, "'main' is the scenario's own process"),
])
def test_bad_process_steps_are_one_line(tmp_path, capsys, extra, line, message):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(HEAD.replace("ARCH", "x86_64").replace("ADVICE", "MADV_NORMAL"))
                    + extra)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{path}:{line}") and message in err[0], err
