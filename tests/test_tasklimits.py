"""Task limits: each rule of kernel/fork.c copy_process, kernel/pid.c alloc_pid and
kernel/cgroup/pids.c pids_can_fork, with the expected values derived from the source in each
test's docstring; and glibc 2.36's pthread_create when clone3 fails.

The kernel differential tests are in test_threads_limits_kernel.py.
"""

from __future__ import annotations

import json

import pytest

from simulator.cli import main
from simulator.kernel.arch import get_profile
from simulator.kernel.config import KernelConfig, ProcessConfig
from simulator.kernel.tasklimits import (
    MAX_THREADS, MIN_THREADS, TaskCounts, TaskLimit, copy_process_errno, copy_process_limit,
    set_max_threads,
)
from simulator.kernel.uapi import Errno
from simulator.libc.pthread import ThreadAttr
from simulator.programs import typical_process
from simulator.units import RLIM_INFINITY

SMALL = ThreadAttr(stacksize=65536)


def exhaust(kconfig=KernelConfig(), proc=ProcessConfig(), arch="x86_64", attr=SMALL):
    process = typical_process(get_profile(arch), proc, kconfig=kconfig)
    result = process.threads.create_until_failure(attr)
    process.mm._check()
    return process, result


# -- each limit alone --------------------------------------------------------------------------

@pytest.mark.parametrize("nproc,others", [(1, 0), (2, 0), (100, 0), (100, 40)])
def test_rlimit_nproc_counts_the_new_task(nproc, others):
    """copy_creds charges the new task, then ``is_rlimit_overlimit`` refuses when the count
    exceeds the limit: a user with ``others`` tasks and this process's main thread creates
    nproc - 1 - others threads."""
    _p, r = exhaust(KernelConfig(tasks=0),
                    ProcessConfig(rlimit_nproc=nproc, uid=1000, user_tasks=others))
    assert (r.threads, r.stopped_by, r.error) == (nproc - 1 - others, "rlimit_nproc", Errno.EAGAIN)


@pytest.mark.parametrize("proc", [ProcessConfig(rlimit_nproc=10, uid=0),
                                  ProcessConfig(rlimit_nproc=10, uid=1000,
                                                cap_sys_resource=True)])
def test_rlimit_nproc_is_not_enforced_for_root_or_cap_sys_resource(proc):
    """``p->real_cred->user != INIT_USER && !capable(CAP_SYS_RESOURCE) &&
    !capable(CAP_SYS_ADMIN)``: the next limit (pids.max 30 here) stops them: 29 threads."""
    _p, r = exhaust(KernelConfig(pids_max=30), proc)
    assert (r.threads, r.stopped_by) == (29, "pids_max")


def test_rlimit_nproc_default_is_half_of_threads_max():
    """fork_init: ``init_task.signal->rlim[RLIMIT_NPROC] = max_threads / 2``, inherited."""
    assert ProcessConfig().effective_rlimit_nproc(KernelConfig(threads_max=1001)) == 500
    _p, r = exhaust(KernelConfig(threads_max=1001, tasks=0), ProcessConfig(uid=1000))
    assert (r.threads, r.stopped_by) == (499, "rlimit_nproc")


@pytest.mark.parametrize("threads_max,tasks", [(1000, 0), (1000, 500), (20, 0)])
def test_threads_max_is_reached_at_equality(threads_max, tasks):
    """``if (nr_threads >= max_threads) goto bad_fork``: nr_threads counts the other tasks and
    this process's; creation stops when they are threads_max, so threads_max - tasks - 1."""
    _p, r = exhaust(KernelConfig(threads_max=threads_max, tasks=tasks), ProcessConfig(uid=0))
    assert (r.threads, r.stopped_by) == (threads_max - tasks - 1, "threads_max")


@pytest.mark.parametrize("pid_max,tasks", [(301, 0), (1000, 0), (1000, 100), (32768, 100)])
def test_pid_max_leaves_pid_max_minus_one_pids(pid_max, tasks):
    """alloc_pid: ``idr_alloc_cyclic(..., pid_min, pid_max)`` hands out [1, pid_max); the
    tasks hold the lowest pids, the main thread the next: pid_max - 2 - tasks threads."""
    _p, r = exhaust(KernelConfig(pid_max=pid_max, tasks=tasks), ProcessConfig(uid=0),
                    arch="i686" if pid_max > 10000 else "x86_64",
                    attr=ThreadAttr(stacksize=16384, guardsize=0))
    assert (r.threads, r.stopped_by) == (pid_max - 2 - tasks, "pid_max")


@pytest.mark.parametrize("pids_max", [1, 2, 50])
def test_pids_max_counts_the_new_task(pids_max):
    """pids_try_charge: ``new = counter + 1; if (new > limit) return -EAGAIN``; the process is
    alone in its cgroup: pids_max - 1 threads (none with pids.max 1)."""
    _p, r = exhaust(KernelConfig(pids_max=pids_max))
    assert (r.threads, r.stopped_by) == (pids_max - 1, "pids_max")


# -- the order of the checks -------------------------------------------------------------------

FULL = TaskCounts(nr_threads=100, user_tasks=100, pids=99, cgroup_tasks=100)


@pytest.mark.parametrize("kconfig,proc,expected", [
    # Every limit reached at once: RLIMIT_NPROC is checked first (right after copy_creds).
    (KernelConfig(threads_max=100, pid_max=100, pids_max=100), ProcessConfig(rlimit_nproc=100),
     TaskLimit.RLIMIT_NPROC),
    # Then nr_threads (before the pid, which is allocated after copy_thread).
    (KernelConfig(threads_max=100, pid_max=100, pids_max=100), ProcessConfig(uid=0),
     TaskLimit.THREADS_MAX),
    # Then alloc_pid, before cgroup_can_fork.
    (KernelConfig(pid_max=100, pids_max=100), ProcessConfig(uid=0), TaskLimit.PID_MAX),
    (KernelConfig(pids_max=100), ProcessConfig(uid=0), TaskLimit.PIDS_MAX),
    (KernelConfig(pids_max=101, pid_max=101, threads_max=101),
     ProcessConfig(rlimit_nproc=101), None),
])
def test_checks_in_copy_process_order(kconfig, proc, expected):
    assert copy_process_limit(kconfig, proc, FULL) is expected
    assert copy_process_errno(kconfig, proc, FULL) is (None if expected is None
                                                       else Errno.EAGAIN)


def test_unlimited_rlimit_nproc_never_refuses():
    counts = TaskCounts(nr_threads=0, user_tasks=10**9, pids=0, cgroup_tasks=0)
    assert copy_process_limit(KernelConfig(threads_max=MAX_THREADS),
                              ProcessConfig(rlimit_nproc=RLIM_INFINITY), counts) is None


@pytest.mark.parametrize("free,expected", [
    (8 << 30, 65536),                   # 8 GiB / (8 * 16 KiB)
    (6_167_648 * 4096, 192739),         # the reference machine's memblock estimate at boot
    (1 << 20, MIN_THREADS),             # 1 MiB: 8 threads, clamped up to MIN_THREADS
    (1 << 60, MAX_THREADS),             # clamped down to FUTEX_TID_MASK
])
def test_set_max_threads(free, expected):
    """kernel/fork.c set_max_threads: free pages * PAGE_SIZE / (THREAD_SIZE * 8), clamped."""
    assert set_max_threads(free) == expected


# -- glibc when clone3 fails -------------------------------------------------------------------

def test_refused_clone_leaves_the_stack_mapped_and_cached():
    """nptl/pthread_create.c: allocate_stack has mapped and opened the block before
    create_thread; on failure __nptl_deallocate_stack queues it in the stack cache (with its
    DTV), and pthread_create returns EAGAIN. The next attempt takes it from the cache: no
    mmap, no mprotect, and clone3 is refused again."""
    process = typical_process(get_profile("x86_64"), ProcessConfig(uid=0),
                              kconfig=KernelConfig(pids_max=3))
    threads = process.threads
    assert not isinstance(threads.create(attr=SMALL), Errno)
    assert not isinstance(threads.create(attr=SMALL), Errno)
    mark, maps = len(process.syscalls), process.mm.map_count
    assert threads.create(attr=SMALL) is Errno.EAGAIN
    assert [s.name for s in process.syscalls[mark:]] == ["mmap", "mprotect"]
    assert process.task_syscalls[-1].name == "clone3"
    assert process.task_syscalls[-1].result is Errno.EAGAIN
    assert process.mm.map_count == maps + 2          # guard + stack stay
    assert len(threads.cache) == 1 and threads.cache[0].dtv is not None
    mark = len(process.syscalls)
    assert threads.create(attr=SMALL) is Errno.EAGAIN
    assert process.syscalls[mark:] == [] and len(threads.cache) == 1
    process.mm._check()


def test_an_exited_thread_frees_its_task():
    """exit: the task goes, so a thread can be created again under pids.max."""
    process = typical_process(get_profile("x86_64"), ProcessConfig(uid=0),
                              kconfig=KernelConfig(pids_max=2))
    threads = process.threads
    first = threads.create(attr=SMALL)
    assert threads.create(attr=SMALL) is Errno.EAGAIN
    threads.exit(first)
    assert threads.join(first) == 0
    assert not isinstance(threads.create(attr=SMALL), Errno)


# -- command line and scenarios ----------------------------------------------------------------

@pytest.mark.parametrize("argv,threads,stopped", [
    (["--pid-max", "1000", "--tasks", "0"], 998, "pid_max"),
    (["--threads-max", "1000", "--tasks", "10", "--uid", "0"], 989, "threads_max"),
    (["--rlimit-nproc", "77"], 76, "rlimit_nproc"),
    (["--rlimit-nproc", "77", "--uid", "0", "--pids-max", "500"], 499, "pids_max"),
])
def test_cli_threads_reports_the_limit(capsys, argv, threads, stopped):
    assert main(["threads", "--stack-size", "64K", "--json", *argv]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["threads"], out["stopped_by"]) == (threads, stopped)


def test_cli_threads_max_map_count_comes_before_pid_max_when_lower(capsys):
    """Two VMAs a thread (guard + stack): vm.max_map_count 1000 stops near 500 threads, long
    before pid_max."""
    assert main(["threads", "--stack-size", "64K", "--json", "--max-map-count", "1000"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stopped_by"] == "max_map_count" and 450 < out["threads"] < 500
    assert out["limits"]["max_map_count"] == 1000


def test_cli_threads_text_names_the_limit(capsys):
    assert main(["threads", "--pids-max", "10"]) == 0
    out = capsys.readouterr().out
    assert "created 9 threads; pthread_create #10 failed with EAGAIN (pids_max)" in out


@pytest.mark.parametrize("bad", [["--pid-max", "300"], ["--threads-max", "19"],
                                 ["--rlimit-nproc", "-1"], ["--tasks", "x"]])
def test_cli_threads_rejects_impossible_limits(capsys, bad):
    assert main(["threads", *bad]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_scenario_keys_and_stopped_by(tmp_path):
    from simulator.scenario.runner import run
    from simulator.scenario.spec import load

    path = tmp_path / "s.toml"
    path.write_text('# pid_max in a scenario\ntitle = "pid_max"\n'
                    '[process]\narch = "x86_64"\nrlimit_nproc = "unlimited"\nuid = 1000\n'
                    '[kernel]\npid_max = 400\ntasks = 0\nthreads_max = 5000\n'
                    '[[step]]\ndo = "pthread_create"\ncount = "until-failure"\n'
                    'stack_size = "64K"\n'
                    'expect = { threads = 398, stopped_by = "pid_max", events = ["clone-refused"] }\n'
                    '[expect]\nstopped_by = "pid_max"\n')
    result = run(load(str(path)))
    assert result.ok, result
