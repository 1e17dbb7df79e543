"""Tests for simulator.trace.strace against real strace 6.1 logs captured on x86-64.

The logs in tests/data/strace/ were made with (sources alongside):
  mt64_f_o.txt             strace -f -o F ./mt64            (mt.c, gcc -O1 -pthread)
  mt64_f_stderr.txt        strace -f ./mt64 2>&1            ([pid N] prefixes, program output mixed in)
  mt32_f_o.txt             strace -f -o F ./mt32            (mt.c, gcc -m32: mmap2)
  mt32_setarch_i686_R.txt  strace -f -o F setarch i686 -R ./mt32
  odd_f_yy.txt             strace -f -yy -o F ./odd          (odd.c: odd flags, fds, escapes)
  py_devzero_yy.txt        strace -yy -e trace=memory,openat -o F python3 (mmap of /dev/zero)
  py_threads_f_tt_T.txt    strace -f -tt -T -o F python3 -S -I thr.py
  py_threads_f_memory.txt  strace -f -e trace=memory -o F python3 -S -I thr.py
  mt64_f_Y.txt             strace -f -Y -o F ./mt64          (pids carry "<comm>")
  ls_ttt.txt / ls_r.txt / ls_t_y.txt   strace -ttt / -r / -t -y -o F ls /
  calls64_f_o.txt          strace -f -o F ./calls64   (calls.c, gcc -O1 -pthread; strace 6.1,
                           Linux 6.18: madvise, mlock*, mseal, shm*, pkey_*, remap_file_pages,
                           process_madvise, personality, chdir/fchdir, thread, fork + failed
                           execve, vfork + execve, clone(CLONE_VM|CLONE_VFORK), SIGKILL)
  calls64_tt_T.txt / calls64_yy.txt / calls64_Xv.txt   the same with -tt -T / -yy / -X verbose
  calls32_f_o.txt / calls32_ttt.txt                    gcc -m32 build, -f -o / -f -ttt
  setarch_i686_R_3gb_L.txt env -i PATH=/nonexistent:/usr/bin strace -f -o F setarch i686 -R --3gb -L true

Expected values are read off those files (quoted in the tests) or follow from strace's format.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.errors import InputError
from simulator.kernel.uapi import MAP_NAMES, MREMAP_NAMES, PROT_NAMES, Errno
from simulator.trace import xlat
from simulator.trace.strace import (
    ExecEvent,
    ExitEvent,
    FileEvent,
    MemoryCall,
    OtherMemoryCall,
    PersonalityEvent,
    ProcessEvent,
    Trace,
    format_return,
    iter_strace,
    parse_strace,
    read_strace,
)

DATA = Path(__file__).parent / "data" / "strace"
LOGS = sorted(DATA.glob("*.txt"))
MEMORY = ("mmap", "mmap2", "munmap", "mprotect", "mremap", "brk")


def lines_of(path: Path) -> list[str]:
    return path.read_text().split("\n")


def errno_value(name: str) -> Errno | int:
    """What a failed return decodes to: the Errno member, or -errno for one Errno lacks."""
    return Errno.__members__.get(name) or -getattr(errno, name)


def calls(trace: Trace) -> list[MemoryCall]:
    return [e for e in trace.events if isinstance(e, MemoryCall)]


def at(trace: Trace, line: int) -> MemoryCall | FileEvent:
    (event,) = [e for e in trace.events if e.line == line]
    return event


# --- every real log ------------------------------------------------------------------------

# An oracle independent of the parser: a memory call completes on a line that names it
# ("name(" or "<... name resumed>") and is not left "<unfinished ...>" -- at its end, or on
# the next line when strace's own "strace: Process N attached" cut it in two.
_NAMES_CALL = re.compile(r"(?:<\.\.\. (\w+) resumed>|\b(\w+)\()")


def completions_in(text: str) -> int:
    lines = text.split("\n") + [""]
    count = 0
    for line, following in zip(lines, lines[1:]):
        m = _NAMES_CALL.search(line)
        unfinished = line.endswith("<unfinished ...>") or following == " <unfinished ...>"
        if m and (m.group(1) or m.group(2)) in MEMORY and not unfinished:
            count += 1
    return count


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.name)
def test_real_logs_parse_and_agree_with_text(path):
    text = path.read_text()
    trace = read_strace(path)
    raw = text.split("\n")
    found = calls(trace)
    assert len(found) == completions_in(text)
    assert found, "every sample makes memory calls"
    for call in found:
        assert call.name in MEMORY
        assert f"{call.name}(" in raw[call.line - 1]
        end = raw[call.end_line - 1]
        # The return value as strace spelled it is on the completing line.
        assert re.search(r"=\s+" + re.escape(format_return(call.ret)) + r"(\s|$)", end), end
        if call.pid is not None:
            assert str(call.pid) in raw[call.line - 1]


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.name)
def test_events_are_in_completion_order(path):
    trace = read_strace(path)
    ends = [e.end_line if isinstance(e, MemoryCall) else e.line for e in trace.events]
    memory_ends = [e.end_line for e in calls(trace)]
    assert memory_ends == sorted(memory_ends)
    assert len(ends) == len(trace.events)


def test_reading_does_not_modify_the_file(tmp_path):
    target = tmp_path / "t.txt"
    target.write_bytes((DATA / "odd_f_yy.txt").read_bytes())
    before = (target.read_bytes(), os.stat(target).st_mtime_ns)
    read_strace(target)
    assert (target.read_bytes(), os.stat(target).st_mtime_ns) == before


# --- values read off the real logs -----------------------------------------------------------

def test_o_file_pid_prefix_and_simple_mmap():
    trace = read_strace(DATA / "mt64_f_o.txt")
    # 7: 5654  mmap(NULL, 38923, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f3a9f4ce000
    call = at(trace, 7)
    assert call == MemoryCall(
        line=7, end_line=7, pid=5654, name="mmap", args=(0, 38923, 0x1, 0x02, 3, 0),
        fd_path=None, ret=0x7F3A9F4CE000,
        text="mmap(NULL, 38923, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f3a9f4ce000",
    )
    # 29: 5654  munmap(0x7f3a9f4ce000, 38923)     = 0
    assert at(trace, 29).args == (0x7F3A9F4CE000, 38923) and at(trace, 29).ret == 0
    # 25: 5654  mprotect(0x7f3a9f4bb000, 16384, PROT_READ) = 0
    assert at(trace, 25).args == (0x7F3A9F4BB000, 16384, 0x1)


def test_errors_and_huge_page_flags():
    trace = read_strace(DATA / "mt64_f_o.txt")
    # 40: mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 12345, 0) = -1 EBADF (Bad file descriptor)
    ebadf = at(trace, 40)
    assert ebadf.args[4] == 12345
    assert ebadf.ret == errno_value("EBADF")
    assert format_return(ebadf.ret) == "-1 EBADF"
    # 41: mmap(NULL, 9223372036854775807, ...) = -1 ENOMEM (Cannot allocate memory)
    assert at(trace, 41).args[1] == 9223372036854775807
    assert at(trace, 41).ret is Errno.ENOMEM
    # 43: MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|21<<MAP_HUGE_SHIFT
    assert at(trace, 43).args[3] == 0x02 | 0x20 | 0x40000 | (21 << 26)
    # 45: PROT_READ|PROT_SEM, MAP_PRIVATE|MAP_ANONYMOUS|2<<MAP_HUGE_SHIFT
    assert at(trace, 45).args[2:4] == (0x1 | 0x8, 0x02 | 0x20 | (2 << 26))


def test_unfinished_resumed_pairs_join_and_order_by_completion():
    trace = read_strace(DATA / "mt64_f_o.txt")
    # 209: 5655  mmap(NULL, 65536, ... -1, 0 <unfinished ...>
    # 210: 5658  mmap(NULL, 65536, ... -1, 0 <unfinished ...>
    # 213: 5658  <... mmap resumed>)               = 0x7f3a9cff5000
    # 216: 5655  <... mmap resumed>)               = 0x7f3a9d005000
    a, b = at(trace, 209), at(trace, 210)
    assert (a.pid, a.end_line, a.ret) == (5655, 216, 0x7F3A9D005000)
    assert (b.pid, b.end_line, b.ret) == (5658, 213, 0x7F3A9CFF5000)
    assert a.args == b.args == (0, 65536, 0x3, 0x22, -1, 0)
    assert a.text.startswith("mmap(NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)")
    assert a.text.endswith("= 0x7f3a9d005000")
    assert trace.events.index(b) < trace.events.index(a)


def test_file_events_from_o_file():
    trace = read_strace(DATA / "mt64_f_o.txt")
    # 35: 5654  dup(3) = 4     36: 5654  dup2(4, 20) = 20
    assert at(trace, 35) == FileEvent(line=35, end_line=35, pid=5654, kind="dup", fd=3, path=None, new_fd=4)
    assert at(trace, 36) == FileEvent(line=36, end_line=36, pid=5654, kind="dup2", fd=4, path=None, new_fd=20)
    # 5: openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3
    assert at(trace, 5) == FileEvent(line=5, end_line=5, pid=5654, kind="openat", fd=3,
                                     path="/etc/ld.so.cache", new_fd=None)
    assert at(trace, 1).kind == "execve" and at(trace, 1).path == "./mt64"


def test_terminal_output_with_pid_brackets_and_program_output():
    path = DATA / "mt64_f_stderr.txt"
    raw = lines_of(path)
    trace = read_strace(path)
    # 3: mmap(NULL, 8192, ...) = 0x7fc4bcab0000 -- before any thread: no pid prefix
    assert at(trace, 3).pid is None and at(trace, 3).ret == 0x7FC4BCAB0000
    # 62: [pid  5751] mmap(NULL, 8392704, PROT_NONE, ... <unfinished ...>
    # 64: [pid  5751] <... mmap resumed>)         = 0x7fc4bb6bf000
    call = at(trace, 62)
    assert (call.pid, call.end_line, call.ret) == (5751, 64, 0x7FC4BB6BF000)
    assert call.args == (0, 8392704, 0, 0x02 | 0x20 | 0x20000, -1, 0)
    # 50 is the program's own "hello from the program" cut into write()'s line: skipped.
    assert raw[49] == ") = 23"
    assert not [e for e in trace.events if e.line in (49, 50)]


def test_line_cut_by_strace_attach_message_is_mended():
    trace = read_strace(DATA / "mt64_f_stderr.txt")
    # 250: [pid  5752] munmap(0xffffffffffffffff, 262144strace: Process 5754 attached
    # 251:  <unfinished ...>
    # 253: [pid  5752] <... munmap resumed>)       = -1 EINVAL (Invalid argument)
    call = at(trace, 250)
    assert (call.pid, call.args, call.end_line, call.ret) == (
        5752, (0xFFFFFFFFFFFFFFFF, 262144), 253, Errno.EINVAL)


def test_pid_with_comm():
    trace = read_strace(DATA / "mt64_f_Y.txt")
    # 7: 28692<mt64> mmap(NULL, 38923, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f1a9ad55000
    assert (at(trace, 7).pid, at(trace, 7).args, at(trace, 7).ret) == (
        28692, (0, 38923, 1, 2, 3, 0), 0x7F1A9AD55000)
    # 71: 28692<mt64> mmap(NULL, 8392704, ... <unfinished ...>
    # 73: 28692<mt64> <... mmap resumed>)         = 0x7f1a9916d000
    assert (at(trace, 71).end_line, at(trace, 71).ret) == (73, 0x7F1A9916D000)
    # [pid 28704<mt64>] as a terminal shows it
    (call,) = parse_strace("[pid 28704<mt64>] munmap(0x7f0000000000, 4096) = 0\n").events
    assert call.pid == 28704


RECORDED = LOGS + sorted((DATA.parent / "recordings").glob("*/trace.txt"))


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fast_path_agrees_with_general_path(path):
    """The one-regex fast path (issue 13) and the general decoder give the same events and
    skip counts on every recorded log, and the fast path does take most memory calls."""
    lines = path.read_text().split("\n")[:-1]
    fast = iter_strace(lines, "t")
    general = iter_strace(lines, "t", fast=False)
    assert list(fast) == list(general)
    assert fast.skipped == general.skipped
    from simulator.trace.strace import _FAST_LINE

    taken = sum(1 for line in lines if _FAST_LINE.match(line))
    if path.name.endswith("_f_o.txt") or path.name == "trace.txt":  # -f -o, no stamps
        assert taken >= 10


def test_mmap2_offset_is_in_bytes():
    trace = read_strace(DATA / "mt32_f_o.txt")
    # 13: 5762  mmap2(0xf7d3f000, 1544192, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x22000) = 0xf7d3f000
    assert at(trace, 13) == MemoryCall(
        line=13, end_line=13, pid=5762, name="mmap2",
        args=(0xF7D3F000, 1544192, 0x1 | 0x4, 0x02 | 0x10 | 0x800, 3, 0x22000),
        fd_path=None, ret=0xF7D3F000,
        text="mmap2(0xf7d3f000, 1544192, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x22000) = 0xf7d3f000",
    )


def test_setarch_trace_has_64_bit_then_32_bit_calls():
    trace = read_strace(DATA / "mt32_setarch_i686_R.txt")
    names = [e.name if isinstance(e, MemoryCall) else e.kind for e in trace.events
             if isinstance(e, (MemoryCall, FileEvent))]
    # 110: 7465  execve("./mt32", ["./mt32"], ...) = 0 -- setarch's mmap before, mmap2 after
    second_exec = names.index("execve", 1)
    assert "mmap2" not in names[:second_exec] and "mmap" in names[:second_exec]
    assert "mmap2" in names[second_exec:]
    assert at(trace, 110).path == "./mt32"


def test_yy_decorations_comments_and_escapes():
    trace = read_strace(DATA / "odd_f_yy.txt")
    # 15: mmap(0x7fcc93f9a000, 1400832, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE,
    #          3</usr/lib/x86_64-linux-gnu/libc.so.6>, 0x26000) = 0x7fcc93f9a000
    assert at(trace, 15).args == (0x7FCC93F9A000, 1400832, 0x5, 0x812, 3, 0x26000)
    assert at(trace, 15).fd_path == "/usr/lib/x86_64-linux-gnu/libc.so.6"
    # 31: mmap(NULL, 4096, PROT_READ, MAP_FILE, -1, 0) = -1 EBADF
    assert at(trace, 31).args == (0, 4096, 1, 0, -1, 0)
    # 33: mmap(NULL, 4096, PROT_READ, 0x4 /* MAP_??? */|MAP_ANONYMOUS, -1, 0) = -1 EINVAL
    assert at(trace, 33).args[3] == 0x4 | 0x20 and at(trace, 33).ret is Errno.EINVAL
    # 35: mmap(NULL, 4096, 0x10 /* PROT_??? */, MAP_PRIVATE|MAP_ANONYMOUS|0x200, -1, 0)
    assert at(trace, 35).args[2:4] == (0x10, 0x222)
    # 38: mmap(NULL, 1048576, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7fcc93e71000
    assert at(trace, 38).args[2] == 0
    # 39: mremap(0x41c39000, 8192, 16384, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7fcc93e71000)
    assert at(trace, 39).args == (0x41C39000, 8192, 16384, 3, 0x7FCC93E71000)
    # 40: mremap(0x7fcc93e71000, 4096, 4096, 0) = 0x7fcc93e71000 -- strace prints new_address
    # only with MREMAP_FIXED, so the value the kernel got is unknown: None, not a guess.
    assert at(trace, 40).args == (0x7FCC93E71000, 4096, 4096, 0, None)
    # 41: mprotect(0x7fcc93e71000, 4096, PROT_READ|PROT_GROWSDOWN) = -1 EINVAL
    assert at(trace, 41).args == (0x7FCC93E71000, 4096, 0x01000001)
    # 45: brk(0x1000) = 0x5575def01000
    assert at(trace, 45).args == (0x1000,) and at(trace, 45).ret == 0x5575DEF01000
    # 49: mmap(NULL, 4096, PROT_READ, MAP_SHARED, 4</tmp/vs/x y\76z>, 0) = -1 EACCES
    assert at(trace, 49).fd_path == "/tmp/vs/x y>z" and at(trace, 49).ret is Errno.EACCES
    # 54: mmap(..., MAP_SHARED, 4</memfd:myfd>(deleted), 0)
    assert at(trace, 54).fd_path == "/memfd:myfd (deleted)"


def test_yy_file_events():
    trace = read_strace(DATA / "odd_f_yy.txt")
    # 46: dup3(3</etc/hostname>, 9, O_CLOEXEC) = 9</etc/hostname>
    assert at(trace, 46) == FileEvent(line=46, end_line=46, pid=6235, kind="dup3", fd=3,
                                      path="/etc/hostname", new_fd=9)
    # 48: creat("/tmp/vs/x y>z", 0644) = 4</tmp/vs/x y\76z>
    # creat() is open(O_CREAT|O_WRONLY|O_TRUNC): write-only (man 2 creat).
    assert at(trace, 48) == FileEvent(line=48, end_line=48, pid=6235, kind="creat", fd=4,
                                      path="/tmp/vs/x y>z", new_fd=None,
                                      readable=False, writable=True)
    # 47: close(9</etc/hostname>) = 0
    assert at(trace, 47) == FileEvent(line=47, end_line=47, pid=6235, kind="close", fd=9,
                                      path="/etc/hostname", new_fd=None)
    # 52: memfd_create("myfd", 0) = 4</memfd:myfd>(deleted)
    assert at(trace, 52).path == "/memfd:myfd (deleted)" and at(trace, 52).fd == 4


def test_yy_device_decoration():
    trace = read_strace(DATA / "py_devzero_yy.txt")
    # 633: mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3</dev/zero<char 1:5>>, 0) = 0x7f4d9acf8000
    call = at(trace, 633)
    assert call.pid is None and call.fd_path == "/dev/zero"
    assert call.args == (0, 4096, 1, 1, 3, 0) and call.ret == 0x7F4D9ACF8000


def test_timestamps_and_durations():
    trace = read_strace(DATA / "py_threads_f_tt_T.txt")
    # 3: 7551  05:32:17.599327 mmap(NULL, 8192, ...) = 0x7f1301130000 <0.000034>
    assert at(trace, 3).pid == 7551 and at(trace, 3).ret == 0x7F1301130000
    # 465: 7553  05:32:17.651149 mmap(NULL, 134217728, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0 <unfinished ...>
    # 467: 7553  05:32:17.651181 <... mmap resumed>) = 0x7f12f0000000 <0.000023>
    call = at(trace, 465)
    assert (call.end_line, call.ret) == (467, 0x7F12F0000000)
    assert call.args == (0, 134217728, 0, 0x02 | 0x20 | 0x4000, -1, 0)


@pytest.mark.parametrize("name", ["ls_ttt.txt", "ls_r.txt", "ls_t_y.txt"])
def test_ls_with_each_timestamp_style(name):
    trace = read_strace(DATA / name)
    # line 3 of all three: mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
    assert at(trace, 3).args == (0, 8192, 3, 0x22, -1, 0)
    assert at(trace, 3).pid is None
    # The same program makes the same sequence of calls (addresses vary with ASLR).
    sizes = [(c.name, c.args[1] if c.name != "brk" else None) for c in calls(trace)]
    reference = [(c.name, c.args[1] if c.name != "brk" else None)
                 for c in calls(read_strace(DATA / "ls_ttt.txt"))]
    assert sizes == reference


def test_y_decoration_in_ls():
    trace = read_strace(DATA / "ls_t_y.txt")
    # 23: 05:32:13 mmap(NULL, 1974096, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3</usr/lib/x86_64-linux-gnu/libc.so.6>, 0)
    assert at(trace, 23).fd_path == "/usr/lib/x86_64-linux-gnu/libc.so.6"
    assert at(trace, 23).args == (0, 1974096, 1, 0x802, 3, 0)


def test_trace_memory_skips_only_the_rest():
    path = DATA / "py_threads_f_memory.txt"
    text = path.read_text()
    trace = read_strace(path)
    # madvise lines and "+++ exited with 0 +++" lines are all that is not a memory call;
    # they are events too now, so nothing is skipped.
    others = [l for l in text.splitlines() if not re.search(r"\b(mmap|munmap|mprotect|mremap|brk)\b", l)]
    assert len(others) == 9 and trace.skipped == 0
    assert sorted(type(e).__name__ for e in trace.events if not isinstance(e, MemoryCall)) == \
        ["ExitEvent"] * text.count("+++ exited") + ["OtherMemoryCall"] * text.count("madvise(")


# --- format definition: strace's leader and return spellings ----------------------------------

LINE = "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000001000"


@pytest.mark.parametrize("prefix, pid", [
    ("", None),
    ("123  ", 123),
    ("[pid   123] ", 123),
    ("[pid 4194304] ", 4194304),
    ("05:30:01 ", None),
    ("05:30:01.123456 ", None),
    ("1700000000.123456 ", None),
    ("1700000000 ", None),  # --timestamps=unix,s without -f: too big for a pid
    ("     0.000123 ", None),
    ("123  05:30:01.123456 ", 123),
    ("123  1700000000 ", 123),
    ("[pid   123] 1700000000.123456789 ", 123),
    ("[  9] ", None),  # -n
    ("[00007f1234567890] ", None),  # -i
    ("123  05:30:01 [  9] [00007f1234567890] ", 123),
])
def test_leaders(prefix, pid):
    (call,) = parse_strace(prefix + LINE + "\n").events
    assert call.pid == pid
    assert call.args == (0, 4096, 3, 0x22, -1, 0) and call.ret == 0x7F0000001000


@pytest.mark.parametrize("ret_text, ret", [
    ("0x7f0000001000", 0x7F0000001000),
    ("0x7f0000001000 <0.000012>", 0x7F0000001000),
    ("0", 0),
    ("-1 ENOMEM (Cannot allocate memory)", Errno.ENOMEM),
    ("-1 ENOMEM (Cannot allocate memory) <0.000012>", Errno.ENOMEM),
    ("-1 ENOMEM (Cannot allocate memory) (INJECTED)", Errno.ENOMEM),
    ("-1 EBADF (Bad file descriptor)", errno_value("EBADF")),
    ("-1 ENFILE (Too many open files in system)", errno_value("ENFILE")),
    ("?", None),
    ("? ERESTARTNOINTR (To be restarted)", None),
])
def test_returns(ret_text, ret):
    text = f"mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = {ret_text}\n"
    (call,) = parse_strace(text).events
    assert call.ret == ret and type(call.ret) is type(ret)


@pytest.mark.parametrize("ret, text", [
    (0x7FFFF7FC0000, "0x7ffff7fc0000"),
    (0, "0"),
    (Errno.ENOMEM, "-1 ENOMEM"),
    (Errno.EINVAL, "-1 EINVAL"),
    (-errno.ENFILE, "-1 ENFILE"),  # an errno outside Errno is kept as the kernel's -errno
    (None, "?"),
])
def test_format_return(ret, text):
    assert format_return(ret) == text


def test_call_cut_by_death_and_detach():
    # print_event_exit(): the tracee died inside the call, or strace detached (-p, ^C).
    text = ("1  mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>) = ?\n"
            "2  munmap(0x7f0000000000, 4096 <detached ...>\n")
    first, second = parse_strace(text).events
    assert first.args == (0, 4096, 1, 0x22, -1, 0) and first.ret is None
    assert second.args == (0x7F0000000000, 4096) and second.ret is None


def test_raw_fd_and_verbose_flags():
    # -X verbose prints numbers with the names as comments; -e raw prints fd -1 as 0xffffffff.
    text = ("mmap(NULL, 8192, 0x3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, "
            "0xffffffff, 0) = 0x7f0000000000\n")
    (call,) = parse_strace(text).events
    assert call.args == (0, 8192, 3, 0x22, -1, 0)


def test_resumed_args_are_concatenated():
    text = ("1  mremap(0x7f0000000000, 4096, 8192, <unfinished ...>\n"
            "2  --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---\n"
            "1  <... mremap resumed>MREMAP_MAYMOVE|MREMAP_FIXED, 0x7f0000100000) = 0x7f0000100000\n"
            "2  +++ exited with 0 +++\n")
    trace = parse_strace(text)
    call, exited = trace.events
    assert call.args == (0x7F0000000000, 4096, 8192, 3, 0x7F0000100000)
    assert (call.line, call.end_line, call.pid) == (1, 3, 1)
    assert (exited.kind, exited.pid, exited.status, exited.line) == ("exited", 2, 0, 4)
    assert trace.skipped == 1


# --- bad input: one test per kind, checking FILE:LINE: ---------------------------------------

GOOD = "12  brk(NULL) = 0x555555559000\n"


@pytest.mark.parametrize("bad, message", [
    ("12  mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_BOGUS, -1, 0) = 0x7f0000000000",
     "mmap: unknown flag 'MAP_BOGUS'"),
    ("12  mprotect(0x7f0000000000, 4096, PROT_READ|PROT_BOGUS) = 0",
     "mprotect: unknown flag 'PROT_BOGUS'"),
    ("12  mremap(0x7f0000000000, 4096, 8192, MAP_FIXED) = 0x7f0000000000",
     "mremap: unknown flag 'MAP_FIXED'"),
    ("12  mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, -1) = 0x7f0000000000",
     "mmap: expected 6 arguments, got 5"),
    ("12  munmap(0x7f0000000000) = 0", "munmap: expected 2 arguments, got 1"),
    ("12  brk() = 0x555555559000", "brk: expected 1 argument, got 0"),
    ("12  mremap(0x7f0000000000, 4096) = 0", "mremap: expected 4 or 5 arguments, got 2"),
    ("12  munmap(0x7f00zz000000, 4096) = 0", "munmap: cannot parse addr '0x7f00zz000000'"),
    ("12  mprotect(0x7f0000000000, -4096, PROT_READ) = 0", "mprotect: cannot parse length '-4096'"),
    ("12  mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, three, 0) = 0x7f0000000000",
     "mmap: cannot parse fd 'three'"),
    ("12  munmap(0x7f0000000000, 4096) = banana", "munmap: cannot parse return value 'banana'"),
    ("12  munmap(0x7f0000000000, 4096) = -1 EWHATEVER (Nope)", "munmap: unknown errno 'EWHATEVER'"),
    ("12  munmap(0x7f0000000000, 4096", "munmap: no return value (expected '... ) = RESULT')"),
    ("12  <... mmap resumed>) = 0x7f0000000000",
     "mmap: resumed without an earlier '<unfinished ...>' line"),
    ("12  mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>",
     "mmap: '<unfinished ...>' call never resumed"),
])
def test_bad_memory_lines(bad, message):
    text = GOOD * 11 + bad + "\n" + GOOD
    with pytest.raises(InputError) as info:
        parse_strace(text, "trace.txt")
    assert str(info.value) == f"trace.txt:12: {message}"


def test_second_unfinished_for_same_thread_is_bad():
    text = ("7  mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>\n"
            "7  mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>\n"
            "7  <... mmap resumed>) = 0x7f0000000000\n")
    with pytest.raises(InputError, match=r"^t:1: mmap: '<unfinished \.\.\.>' call never resumed$"):
        parse_strace(text, "t")


def test_bad_line_in_a_real_file_names_file_and_line(tmp_path):
    lines = lines_of(DATA / "mt64_f_o.txt")
    lines[6] = lines[6].replace("MAP_PRIVATE", "MAP_BOGUS")  # line 7
    target = tmp_path / "broken.txt"
    target.write_text("\n".join(lines))
    with pytest.raises(InputError) as info:
        read_strace(target)
    assert str(info.value) == f"{target}:7: mmap: unknown flag 'MAP_BOGUS'"


def test_unreadable_file(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(InputError) as info:
        read_strace(missing)
    assert str(info.value) == f"{missing}: cannot read: No such file or directory"


def test_a_binary_file_is_not_a_trace(tmp_path):
    """An ELF file (or any file with a NUL byte) is refused at the line of its first NUL,
    rather than replayed as zero calls."""
    target = tmp_path / "a.out"
    target.write_bytes(b"execve(\"/bin/true\", [], []) = 0\n\x7fELF\x02\x01\x00\x00")
    with pytest.raises(InputError) as info:
        read_strace(target)
    assert str(info.value).startswith(f"{target}:2: a binary file, not an strace log")


def test_unrecognisable_lines_are_skipped_not_errors():
    text = ("hello world\n"
            "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---\n"
            "+++ killed by SIGSEGV (core dumped) +++\n"
            "write(1, \"mmap(\", 5) = 5\n"
            "openat(AT_FDCWD, \"/nope\", O_RDONLY) = -1 ENOENT (No such file or directory)\n"
            "\n" + GOOD)
    trace = parse_strace(text)
    killed, brk = trace.events
    assert (killed.kind, killed.signal, killed.core_dumped) == ("killed", "SIGSEGV", True)
    assert trace.skipped == 5 and brk.name == "brk"


# --- generated: format a line the way strace does, parse it back ------------------------------

_PROT = [n for n in PROT_NAMES if n != "PROT_NONE"]
_MAP = [n for n in MAP_NAMES if n not in ("MAP_FILE", "MAP_ANON", "MAP_SHARED_VALIDATE")]


def flag_text(names: list[str], extra: int, none: str | None) -> str:
    parts = list(names) + ([hex(extra)] if extra else [])
    return "|".join(parts) if parts else (none or "0")


@st.composite
def mmap_lines(draw):
    addr = draw(st.sampled_from([0, 0x7F0000000000, 0x10000]))
    length = draw(st.integers(0, 1 << 47))
    prot_names = draw(st.lists(st.sampled_from(_PROT), unique=True, max_size=3))
    map_names = draw(st.lists(st.sampled_from(_MAP), unique=True, min_size=1, max_size=4))
    extra = draw(st.sampled_from([0, 0x200, 0x400000]))
    fd = draw(st.integers(-1, 1000))
    offset = draw(st.integers(0, 1 << 40)) & ~0xFFF
    ret = draw(st.one_of(st.none(), st.sampled_from(list(Errno)),
                         st.integers(0, 1 << 47).map(lambda v: v & ~0xFFF)))
    prot = sum(PROT_NAMES[n] for n in prot_names)
    flags = 0
    for n in map_names:
        flags |= MAP_NAMES[n]
    text = (f"mmap({'NULL' if addr == 0 else hex(addr)}, {length}, "
            f"{flag_text(prot_names, 0, 'PROT_NONE')}, {flag_text(map_names, extra, None)}, "
            f"{fd}, {hex(offset) if offset else 0})")
    ret_text = {None: "?"}.get(ret) if ret is None else (
        f"{ret} ({os.strerror(int(ret))})" if isinstance(ret, Errno) else format_return(ret))
    return text, ret_text, (addr, length, prot, flags | extra, fd, offset), ret


@given(mmap_lines(), st.sampled_from(["", "42  ", "[pid    42] ", "42  12:00:00.000001 "]),
       st.booleans())
@settings(max_examples=200, deadline=None)
def test_generated_mmap_lines_round_trip(line, prefix, split):
    call_text, ret_text, args, ret = line
    if split:  # strace's unfinished/resumed form with another thread in between
        text = (f"{prefix}{call_text[:-1]} <unfinished ...>\n"
                f"99  getpid() = 99\n"
                f"{prefix}<... mmap resumed>) = {ret_text}\n")
    else:
        text = f"{prefix}{call_text}{' ' * 3}= {ret_text}\n"
    (call,) = parse_strace(text).events
    assert call.args == args and call.ret == ret
    assert call.end_line == (3 if split else 1)


@given(st.lists(st.sampled_from(list(MREMAP_NAMES)), unique=True),
       st.integers(0, 1 << 40), st.integers(0, 1 << 40), st.booleans())
def test_generated_mremap_round_trip(names, old, new, with_address):
    flags = "|".join(names) or "0"
    tail = ", 0x7f0000200000" if with_address else ""
    (call,) = parse_strace(f"mremap(0x7f0000000000, {old}, {new}, {flags}{tail}) = 0\n").events
    value = sum(MREMAP_NAMES[n] for n in names)
    assert call.args == (0x7F0000000000, old, new, value, 0x7F0000200000 if with_address else None)


def test_open_access_modes_and_process_events():
    """FMODE_READ/WRITE from O_RDONLY/O_WRONLY/O_RDWR (include/uapi/asm-generic/fcntl.h), and
    which new tasks share the address space: CLONE_VM threads and vfork, not fork."""
    text = (
        '100 openat(AT_FDCWD, "/tmp/a", O_RDONLY|O_CLOEXEC) = 3\n'
        '100 openat(AT_FDCWD, "/tmp/b", O_RDWR|O_CREAT, 0644) = 4\n'
        '100 open("/tmp/c", O_WRONLY) = 5\n'
        '100 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, '
        'stack=0x7f0000000000, stack_size=0x7fff80}, 88) = 101\n'
        '100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, '
        'child_tidptr=0x7f) = 102\n'
        '100 vfork() = 103\n'
    )
    events = parse_strace(text).events
    assert [(e.readable, e.writable) for e in events[:3]] == [(True, False), (True, True),
                                                             (False, True)]
    assert [(e.kind, e.child, e.shares_vm) for e in events[3:]] == [
        ("clone3", 101, True), ("clone", 102, False), ("vfork", 103, True)]


# --- whole-program events and the other memory calls, read off real logs -------------------------

def test_other_memory_calls_64():
    trace = read_strace(DATA / "calls64_f_o.txt")
    expect = {
        # 31: madvise(0x7f65f0d82000, 16384, MADV_DONTNEED) = 0
        31: ("madvise", (0x7F65F0D82000, 16384, 4), 0),
        # 33: madvise(0x7f65f0d8a000, 8192, MADV_WIPEONFORK) = 0
        33: ("madvise", (0x7F65F0D8A000, 8192, 18), 0),
        # 35: madvise(0x7f65f0d82000, 65536, 0x3039 /* MADV_??? */) = -1 EINVAL
        35: ("madvise", (0x7F65F0D82000, 65536, 12345), Errno.EINVAL),
        # 37: mlock2(0x7f65f0d83000, 4096, MLOCK_ONFAULT) = 0
        37: ("mlock2", (0x7F65F0D83000, 4096, 1), 0),
        # 39: mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT) = 0
        39: ("mlockall", (7,), 0),
        40: ("munlockall", (), 0),
        # 41: syscall_0x1ce(0x7f65f0d8e000, 0x2000, 0, 0, 0, 0) = 0 -- strace 6.1 predates mseal (462)
        41: ("mseal", (0x7F65F0D8E000, 0x2000, 0), 0),
        # 42: shmget(IPC_PRIVATE, 12288, IPC_CREAT|0600) = 6 -- the mode is octal
        42: ("shmget", (0, 12288, 0o1000 | 0o600), 6),
        # 43: shmat(6, NULL, SHM_RDONLY) = 0x7f65f0f92000
        43: ("shmat", (6, 0, 0o10000), 0x7F65F0F92000),
        # 45: shmat(6, 0x7f65f0d9207b, SHM_RND|SHM_REMAP) = 0x7f65f0d92000
        45: ("shmat", (6, 0x7F65F0D9207B, 0o20000 | 0o40000), 0x7F65F0D92000),
        46: ("shmdt", (0x7F65F0D92000,), 0),
        # 48: pkey_alloc(0, 0) = -1 EINVAL -- this CPU has no protection keys
        48: ("pkey_alloc", (0, 0), Errno.EINVAL),
        # 49: pkey_mprotect(0x7f65f0d82000, 4096, PROT_READ, -1) = 0
        49: ("pkey_mprotect", (0x7F65F0D82000, 4096, 1, -1), 0),
        # 53: remap_file_pages(0x7f65f0f8d000, 8192, PROT_NONE, 3, MAP_FILE) = 0
        53: ("remap_file_pages", (0x7F65F0F8D000, 8192, 0, 3, 0), 0),
        # 56: process_madvise(4, [{iov_base=0x7f65f0d82000, iov_len=16384}], 1, MADV_COLD, 0) = 16384
        56: ("process_madvise", (4, None, 1, 20, 0), 16384),
    }
    for line, (name, args, ret) in expect.items():
        call = at(trace, line)
        assert isinstance(call, OtherMemoryCall) and not isinstance(call, MemoryCall)
        assert (call.name, call.args, call.ret, call.pid) == (name, args, ret, 32586), line
    assert at(trace, 56).iov == ((0x7F65F0D82000, 16384),)
    assert at(trace, 41).text.startswith("syscall_0x1ce(")
    # the six replayed calls stay MemoryCall; the others are not in memory_calls
    assert all(c.name in MEMORY for c in trace.memory_calls)


def test_other_memory_calls_32():
    trace = read_strace(DATA / "calls32_f_o.txt")
    rows = {e.name: e for e in trace.events if isinstance(e, OtherMemoryCall)}
    # syscall_0x1ce(0xf7d74000, 0x2000, 0, 0x7, 0x2000, 0x3039): glibc's variadic syscall()
    # passes stack garbage in the unused registers; mseal takes three arguments.
    assert rows["mseal"].args[1:] == (0x2000, 0)
    assert rows["shmat"].ret < 1 << 32 and rows["mlock2"].args[2] == 1


def test_xlat_tables_agree_with_strace_verbose():
    """-X verbose prints each value with its name as a comment: every name strace printed
    must decode to the number it printed next to it."""
    text = (DATA / "calls64_Xv.txt").read_text()
    tables = [xlat.MADV_NAMES, xlat.SHMAT_NAMES, xlat.CLONE_NAMES, xlat.PERSONALITY_NAMES,
              MAP_NAMES, PROT_NAMES, MREMAP_NAMES]
    checked = 0
    for number, names in re.findall(r"(0x[0-9a-f]+|\d+) /\* ([A-Z_|]+) \*/", text):
        if "???" in names:
            continue
        for table in tables:
            if all(n in table for n in names.split("|")):
                value = 0
                for n in names.split("|"):
                    value |= table[n]
                assert value == int(number, 0), (number, names)
                checked += 1
                break
    assert checked >= 15


def test_verbose_log_decodes_like_the_plain_one():
    plain = read_strace(DATA / "calls64_f_o.txt")
    verbose = read_strace(DATA / "calls64_Xv.txt")

    def shape(trace):
        return [(type(e).__name__, getattr(e, "name", getattr(e, "kind", None)),
                 getattr(e, "flags", None) if isinstance(e, ProcessEvent) else None,
                 getattr(e, "persona", None))
                for e in trace.events if not isinstance(e, FileEvent)]

    assert shape(plain) == shape(verbose)


def test_exec_events():
    trace = read_strace(DATA / "calls64_f_o.txt")
    first = at(trace, 1)  # execve("./calls64", ["./calls64"], 0x7ffdf5006e28 /* 35 vars */) = 0
    assert isinstance(first, ExecEvent) and first.succeeded
    assert (first.path, first.argv0, first.ret) == ("./calls64", "./calls64", 0)
    # 90: execve("/nonexistent/prog", ["/nonexistent/prog"], ...) = -1 ENOENT
    failed = at(trace, 90)
    assert not failed.succeeded and failed.ret == errno_value("ENOENT") and failed.pid == 32588
    # 96: 32589 execve("/bin/true", ["true-ish"], ... <unfinished ...>  99: <... execve resumed>) = 0
    vforked = at(trace, 96)
    assert (vforked.path, vforked.argv0, vforked.end_line, vforked.succeeded) == (
        "/bin/true", "true-ish", 99, True)


def test_process_events_and_clone_flags():
    trace = read_strace(DATA / "calls64_f_o.txt")
    # 72: clone3({flags=CLONE_VM|...|CLONE_THREAD|..., exit_signal=0, ...} <unfinished ...>
    # 75: <... clone3 resumed> => {parent_tid=[32587]}, 88) = 32587
    thread = at(trace, 72)
    assert (thread.kind, thread.child, thread.end_line) == ("clone3", 32587, 75)
    assert thread.shares_vm and thread.thread and not thread.vfork
    assert thread.flags == 0x3D0F00  # as -X verbose prints it (calls64_Xv.txt:72)
    # 87: clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, ...) = 32588
    fork = at(trace, 87)
    assert (fork.child, fork.flags, fork.shares_vm) == (32588, 0x1200000 | 17, False)
    # 95: vfork( <unfinished ...>   97: <... vfork resumed>) = 32589
    vfork = at(trace, 95)
    assert (vfork.kind, vfork.child, vfork.end_line, vfork.vfork, vfork.shares_vm) == (
        "vfork", 32589, 97, True, True)
    # 132: clone(child_stack=0x55fe363b3110, flags=CLONE_VM|CLONE_VFORK|SIGCHLD <unfinished ...>
    # 134: <... clone resumed>) = 32590
    shared = at(trace, 132)
    assert (shared.flags, shared.child, shared.end_line) == (0x4100 | 17, 32590, 134)


def test_exit_events():
    trace = read_strace(DATA / "calls64_f_o.txt")
    # 84: 32587 exit(0) = ?   86: 32587 +++ exited with 0 +++
    assert (at(trace, 84).kind, at(trace, 84).status) == ("exit", 0)
    assert (at(trace, 86).kind, at(trace, 86).pid, at(trace, 86).status) == ("exited", 32587, 0)
    # 91: exit_group(3) = ?   92: +++ exited with 3 +++
    assert (at(trace, 91).kind, at(trace, 91).status) == ("exit_group", 3)
    assert at(trace, 92).status == 3
    # 145: 32591 +++ killed by SIGKILL +++
    killed = at(trace, 145)
    assert (killed.kind, killed.pid, killed.signal, killed.core_dumped) == (
        "killed", 32591, "SIGKILL", False)


def test_superseded_exec_resumes_under_the_leader():
    """A non-leader thread's execve finishes in the leader's pid (fs/exec.c de_thread);
    strace says so between the halves."""
    text = ("10  execve(\"/bin/true\", [\"true\"], 0x7ffc /* 1 var */ <unfinished ...>\n"
            "11  execve(\"/bin/echo\", [\"echo\"], 0x7ffd /* 1 var */ <unfinished ...>\n"
            "10  +++ superseded by execve in pid 11 +++\n"
            "10  <... execve resumed>)             = 0\n")
    superseded, exec_ = parse_strace(text).events
    assert (superseded.kind, superseded.pid, superseded.by) == ("superseded", 10, 11)
    assert (exec_.pid, exec_.path, exec_.line, exec_.end_line) == (10, "/bin/echo", 2, 4)


def test_personality_events():
    trace = read_strace(DATA / "calls64_f_o.txt")
    # 59: personality(0xffffffff) = 0 (PER_LINUX): a query
    query = at(trace, 59)
    assert isinstance(query, PersonalityEvent) and query.query and query.ret == 0
    # 60: personality(PER_LINUX|ADDR_NO_RANDOMIZE) = 0 (PER_LINUX)
    assert (at(trace, 60).persona, at(trace, 60).query) == (0x40000, False)
    # 148: personality(PER_LINUX) = 0x40000 (PER_LINUX|ADDR_NO_RANDOMIZE)
    assert (at(trace, 148).persona, at(trace, 148).ret) == (0, 0x40000)
    setarch = read_strace(DATA / "setarch_i686_R_3gb_L.txt")
    # 34: personality(PER_LINUX32|ADDR_NO_RANDOMIZE|ADDR_COMPAT_LAYOUT|ADDR_LIMIT_3GB) = 0 (PER_LINUX)
    assert at(setarch, 34).persona == 0x8 | 0x40000 | 0x200000 | 0x8000000
    # 36: execve("/nonexistent/true", ...) = -1 ENOENT   37: execve("/usr/bin/true", ["true"], ...) = 0
    assert [(e.line, e.succeeded) for e in setarch.events if isinstance(e, ExecEvent)] == [
        (1, True), (36, False), (37, True)]


def test_chdir_and_fchdir():
    trace = read_strace(DATA / "calls64_yy.txt")
    # 61: chdir("/tmp") = 0     63: fchdir(5</tmp/trc>) = 0
    assert (at(trace, 61).kind, at(trace, 61).path) == ("chdir", "/tmp")
    assert (at(trace, 63).kind, at(trace, 63).fd, at(trace, 63).path) == ("fchdir", 5, "/tmp/trc")
    # 56: process_madvise(4<pid:32604>, ...) -- a pidfd decorated by -yy
    assert at(trace, 56).args[0] == 4 and at(trace, 56).fd_path == "pid:32604"


def test_timestamps_and_durations_in_ns():
    trace = read_strace(DATA / "calls64_tt_T.txt")
    lines = lines_of(DATA / "calls64_tt_T.txt")
    for event in trace.events:
        stamp = re.match(r"\d+ +(\d\d):(\d\d):(\d\d)\.(\d{6}) ", lines[event.line - 1])
        h, m, s, us = map(int, stamp.groups())
        assert event.time_ns == ((h * 60 + m) * 60 + s) * 10**9 + us * 1000
        duration = re.search(r"<(\d+)\.(\d{6})>$", lines[(getattr(event, "end_line", None) or event.line) - 1])
        if duration and not isinstance(event, ExitEvent):
            assert event.duration_ns == int(duration.group(1)) * 10**9 + int(duration.group(2)) * 1000
    split = [e for e in trace.events if getattr(e, "end_line", e.line) != e.line]
    assert split and all(e.end_time_ns is not None and e.end_time_ns >= e.time_ns for e in split)
    epoch = read_strace(DATA / "calls32_ttt.txt")
    # 1: 32631 1796381398.789948 execve("./calls32", ...)
    assert at(epoch, 1).time_ns == 1796381398_789948000


def test_relative_timestamps_accumulate():
    # -r prints the time since the previous line; the sum is the time since the first.
    trace = read_strace(DATA / "ls_r.txt")
    stamps = [e.time_ns for e in trace.events]
    assert stamps == sorted(stamps) and stamps[0] == 0


# --- robustness: one regression test per crash class of issue 8 ---------------------------------
# Each input is either parsed or refused as one line FILE:LINE: message; never a traceback.

HUGE = "9" * 5000  # past Python's 4,300-digit int() limit
MMAP = "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"


@pytest.mark.parametrize("bad, message", [
    # NUL bytes: strace escapes them; a path is a C string and cannot hold one
    ('openat(AT_FDCWD, "/tmp/a\\0b", O_RDONLY) = 3', "openat: path '/tmp/a\\\\0b' holds a NUL byte"),
    ("mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3</tmp/a\\0b>, 0) = 0x7f0000000000",
     "mmap: path '/tmp/a\\\\0b' holds a NUL byte"),
    ('execve("/bin/\\0x", ["x"], 0x7ffc /* 1 var */) = 0', "execve: path '/bin/\\\\0x' holds a NUL byte"),
    ("mmap(NULL, 4096\0, PROT_READ) = 0", "a binary file, not an strace log (strace -f -o FILE writes text)"),
    # absurd numbers
    (f"mmap(NULL, {HUGE}, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x1000",
     "mmap: cannot parse length '" + "9" * 55 + "...'"),
    (f"mmap(NULL, 18446744073709551616, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x1000",
     "mmap: length '18446744073709551616' does not fit in 64 bits"),
    (f"{MMAP} = {HUGE}", "mmap: cannot parse return value '" + "9" * 55 + "...'"),
    (f"{MMAP} = 0x1{'0' * 16}", "mmap: cannot parse return value '0x1" + "0" * 16 + "'"),
    (f"mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|{HUGE}, -1, 0) = 0x1000",
     "mmap: unknown flag '" + "9" * 55 + "...'"),
    (f"mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, {HUGE}, 0) = 0x1000",
     "mmap: cannot parse fd '" + "9" * 55 + "...'"),
    (f"{MMAP} = 0x1000 <{HUGE}.1>", "mmap: cannot parse return value '0x1000 <" + "9" * 47 + "...'"),
    (f"clone(child_stack=NULL, flags={HUGE}) = 5", "clone: unknown flag '" + "9" * 55 + "...'"),
    (f"personality({HUGE}) = 0", "personality: unknown flag '" + "9" * 55 + "...'"),
    (f"{HUGE}  {MMAP} = 0x1000", "mmap: '" + "9" * 55 + "...' is neither a pid nor a timestamp"),
    # negative pids
    (f"-5  {MMAP} = 0x1000", "mmap: '-5' is neither a pid nor a timestamp"),
    (f"[pid -5] {MMAP} = 0x1000", "mmap: '[pid -5]' is neither a pid nor a timestamp"),
    ("clone(child_stack=NULL, flags=SIGCHLD) = 99999999", "clone: child pid 99999999 is above PID_MAX_LIMIT"),
    # garbage after a valid prefix
    (f"{MMAP} = 0x7f0000000000 garbage", "mmap: cannot parse return value '0x7f0000000000 garbage'"),
    (f"{MMAP}garbage = 0x7f0000000000", "mmap: no return value (expected '... ) = RESULT')"),
    ("madvise(0x7f0000000000, 4096, MADV_DONTNEED) = 0 trailing", "madvise: cannot parse return value '0 trailing'"),
    # very long lines: the message stays short
    ("munmap(" + "A" * 1_000_000 + ", 4096) = 0", "munmap: cannot parse addr '" + "A" * 55 + "...'"),
    # unmatched resumed of a decoded call
    ("<... shmat resumed>) = 0x7f0000000000", "shmat: resumed without an earlier '<unfinished ...>' line"),
    # the other decoded calls are checked like the six replayed ones
    ("madvise(0x7f0000000000, 4096, MADV_BOGUS) = 0", "madvise: unknown flag 'MADV_BOGUS'"),
    ("process_madvise(3, [[[, MADV_COLD, 0) = 0", "process_madvise: unbalanced brackets in arguments '3, [[[, MADV_COLD, 0'"),
    ("mremap(0x1000, 4096, 8192, MREMAP_MAYMOVE, 0x2000, 0x3000) = 0x2000", "mremap: expected 4 or 5 arguments, got 6"),
], ids=lambda value: value[:40])
def test_bad_input_is_one_line(bad, message):
    with pytest.raises(InputError) as info:
        parse_strace(GOOD * 3 + bad + "\n" + GOOD, "trace.txt")
    assert str(info.value) == f"trace.txt:4: {message}"


def test_truncated_last_line(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text(GOOD * 2 + "12  mmap(NULL, 4096, PROT_READ, MAP_PRI")  # no newline either
    with pytest.raises(InputError) as info:
        read_strace(target)
    assert str(info.value) == f"{target}:3: mmap: no return value (expected '... ) = RESULT')"
    target.write_text(GOOD * 2 + '12  openat(AT_FDCWD, "/etc/pa')  # not a memory call: skipped
    assert read_strace(target).skipped == 1


def test_crlf_copy_parses_like_the_original(tmp_path):
    target = tmp_path / "t.txt"
    target.write_bytes((DATA / "calls64_f_o.txt").read_bytes().replace(b"\n", b"\r\n"))
    assert read_strace(target) == read_strace(DATA / "calls64_f_o.txt")


def test_unknown_syscalls_and_unmatched_resumed_of_others_are_skipped():
    text = ("12  frobnicate(1, 2) = 0\n"
            "12  syscall_0x3e7(0x1, 0x2) = -1 ENOSYS (Function not implemented)\n"
            "12  <... wait4 resumed>NULL, 0, NULL) = 13\n"
            "12  <... frobnicate resumed>) = 0\n" + GOOD)
    trace = parse_strace(text)
    assert trace.skipped == 4 and [e.line for e in trace.events] == [5]


def test_binary_file_streams_to_its_first_nul(tmp_path):
    target = tmp_path / "blob"
    target.write_bytes(b"x" * 100_000 + b"\n" + bytes(range(256)) * 40)
    with pytest.raises(InputError, match=r":2: a binary file"):
        read_strace(target)


def test_non_utf8_bytes_are_kept(tmp_path):
    # strace prints a path's bytes escaped, but program output (terminal logs) may hold raw ones
    target = tmp_path / "t.txt"
    target.write_bytes(b"hello \xff\xfe world\n" + GOOD.encode())
    trace = read_strace(target)
    assert trace.skipped == 1 and len(trace.events) == 1


def test_streaming_holds_only_unfinished_calls():
    """iter_strace consumes its input lazily: events come out while lines are still unread,
    and only pending '<unfinished ...>' calls are held (one per thread)."""
    read = []

    def lines():
        for index in range(1, 100_001):
            read.append(index)
            yield f"{index % 7 + 1}  munmap(0x7f0000000000, 4096) = 0"

    stream = iter_strace(lines(), "gen")
    first = next(stream)
    assert first.line == 1 and len(read) == 1
    assert sum(1 for _ in stream) == 99_999 and stream.skipped == 0


def test_cli_replay_of_a_bad_trace_is_exit_2(tmp_path, capsys):
    from simulator.cli import main

    target = tmp_path / "t.txt"
    target.write_text(GOOD + f"12  mmap(NULL, {HUGE}, PROT_READ, MAP_PRIVATE, -1, 0) = 0x1000\n")
    assert main(["replay", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{target}:2: mmap: cannot parse length")


def test_y_path_with_brackets_quotes_and_commas():
    # strace -y of a file named 'a"b[c{,d<e>f(g) h': only < > are escaped (as \74 \76), '"' as \"
    text = ('mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3</tmp/trc/a\\"b[c{,d\\74e\\76f(g) h>, 0)'
            ' = 0x7f761943c000\n')
    (call,) = parse_strace(text).events
    assert call.fd_path == '/tmp/trc/a"b[c{,d<e>f(g) h' and call.args[4:] == (3, 0)


def test_streaming_keeps_no_event():
    """The stream holds no event once it has handed it out (memory is flat in the length of
    the log: bench/strace_parse.py measures the peak), only unfinished calls' text."""
    import weakref

    lines = (DATA / "mt64_f_o.txt").read_text().split("\n")[:-1]
    stream = iter_strace(lines, "t")
    refs = [weakref.ref(event) for event in stream]
    assert len(refs) > 300 and all(ref() is None for ref in refs)


def test_process_events_32():
    trace = read_strace(DATA / "calls32_f_o.txt")
    # 70: clone3({flags=CLONE_VM|...|CLONE_CHILD_CLEARTID, ..., exit_signal=0, ...,
    #             tls={entry_number=12, ...}} <unfinished ...>   72: <... clone3 resumed> ...) = 32623
    thread = at(trace, 70)
    assert (thread.child, thread.flags, thread.end_line, thread.thread) == (32623, 0x3D0F00, 72, True)
    # 92: vfork( <unfinished ...>  93: 32625 execve("/bin/true", ["true-ish"], ...  94: vfork resumed = 32625
    assert (at(trace, 92).child, at(trace, 92).vfork) == (32625, True)
    assert (at(trace, 93).argv0, at(trace, 93).end_line, at(trace, 93).succeeded) == ("true-ish", 96, True)
    # 87: execve("/nonexistent/prog", ...) = -1 ENOENT
    assert not at(trace, 87).succeeded


def test_shmctl_buffer_printed_as_a_struct():
    """strace prints shmctl(IPC_STAT)'s buffer as the structure the kernel filled in (a line
    of tests/data/ltp/ltp_calls): the call parses, its buffer address is unknown (None)."""
    text = ("888   shmctl(851977, IPC_STAT, {shm_perm={uid=0, gid=0, mode=0600, key=0, cuid=0, "
            "cgid=0}, shm_segsz=12288, shm_cpid=888, shm_lpid=888, shm_nattch=0, "
            "shm_atime=1796385805, shm_dtime=1796385805, shm_ctime=1796385805}) = 0\n"
            "888   shmctl(851977, IPC_RMID, NULL)    = 0\n")
    calls = [e for e in parse_strace(text).events if isinstance(e, OtherMemoryCall)]
    assert [(c.name, c.args, c.ret) for c in calls] == [
        ("shmctl", (851977, 2, None), 0), ("shmctl", (851977, 0, 0), 0)]
