"""Task limits against the real kernel: thread counts stopped by pid_max, RLIMIT_NPROC,
threads-max and pids.max, and the map glibc leaves behind.

tests/probe/thrcount.c (32- and 64-bit) creates threads until pthread_create fails, under one
limit set low, as root:

* ``kernel.pid_max`` in a private pid namespace (``unshare -p -f --mount-proc``): since 6.14
  /proc/sys/kernel/pid_max is the namespace's own (a new one starts at PID_MAX_LIMIT,
  4194304), so the host's stays as it is. The shell that writes it execs the probe, which is
  pid 1; no other pid is ever taken there.
* RLIMIT_NPROC with ``prlimit --nproc=N`` for uid 65534 (``setpriv --reuid``), which must have
  no other task.
* ``pids.max`` of a new cgroup (v1 ``pids`` controller or v2) holding only the probe.
* ``kernel.threads-max`` is global: it is set just above the machine's task count for the
  probe's run and restored right after (other tests on the machine may be creating tasks; a
  run whose count is disturbed, seen in /proc/loadavg's nr_threads, is repeated).

The model starts from the probe's /proc/self/maps before the first pthread_create
(``vasim threads --initial-maps``) with the same limit, and must create as many threads, stop by
the same limit, and end with the same map: the block glibc mapped for the refused thread stays,
queued in the stack cache (nptl/pthread_create.c → __nptl_deallocate_stack).

Not root, no unshare/prlimit/setpriv, or no pids cgroup: skipped with the reason
(VASIM_REQUIRE_KERNEL=1 turns that into a failure).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import kernel_probe
from conftest import build_each, probe_for
from simulator.cli import main

SOURCE = Path(__file__).parent / "probe" / "thrcount.c"
ENV = dict(kernel_probe.DEFAULT_ENV)


def _unavailable(reason):
    if os.environ.get("VASIM_REQUIRE_KERNEL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def thrcount():
    """{32: path, 64: path} in a directory every user can read (setpriv runs it as 65534)."""
    if os.geteuid() != 0:
        _unavailable("the task limits are set as root (unshare -p, sysctl, cgroups)")
    for tool in ("unshare", "prlimit", "setpriv", "setarch"):
        if shutil.which(tool, path=ENV["PATH"]) is None:
            _unavailable(f"{tool} is not installed")
    directory = Path(tempfile.mkdtemp(prefix="vasim-thrcount-"))
    directory.chmod(0o755)

    def build(bits):
        gcc = kernel_probe._gcc()
        if bits == 32:
            kernel_probe._check_m32(gcc, directory)
        out = directory / f"thrcount{bits}"
        cmd = [gcc, f"-m{bits}", "-O1", "-pthread", "-pie", "-o", str(out), str(SOURCE)]
        cp = subprocess.run(cmd, capture_output=True, text=True)
        if cp.returncode != 0:
            raise kernel_probe.ProbeUnavailable(f"{' '.join(cmd)}: {cp.stderr[-500:]}")
        out.chmod(0o755)
        return out

    yield build_each((32, 64), build)
    shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _sysctl(path, value):
    """Write a global sysctl for the duration of the block, and restore it whatever happens."""
    old = Path(path).read_text()
    try:
        Path(path).write_text(f"{value}\n")
        yield
    finally:
        Path(path).write_text(old)


def _setarch(bits):
    return ["setarch", "i686", "-R"] if bits == 32 else ["setarch", "x86_64", "-R"]


def run_probe(cmd):
    """The probe's output: (maps before, count, errno name, nr_threads before and after,
    maps after)."""
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    assert cp.returncode == 0, (cmd, cp.stderr)
    out = cp.stdout
    before = out.split("BEFORE\n", 1)[1].split("END\n", 1)[0]
    count, errname = out.split("COUNT ", 1)[1].split("\n", 1)[0].split()
    load = out.split("LOADAVG ", 1)[1].split("\n", 1)[0].split("|")
    nr = [int(part.split()[3].split("/")[1]) for part in load]
    after = out.split("AFTER\n", 1)[1].split("END\n", 1)[0]
    return before, int(count), errname, nr[0], nr[1], after


def ranges(maps_text):
    return [tuple(line.split()[:2]) for line in maps_text.splitlines() if line.strip()]


def model(tmp_path, bits, before, stack, guard, options):
    """``vasim threads`` from the probe's first snapshot: its JSON output and the final map."""
    maps = tmp_path / "before.maps"
    maps.write_text(before)
    argv = ["threads", "--arch", "i686" if bits == 32 else "x86_64",
            "--personality", "ADDR_NO_RANDOMIZE", "--guard-size", str(guard),
            "--initial-maps", str(maps), "--json", *options]
    if stack:
        argv += ["--stack-size", str(stack)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    result = json.loads(out.getvalue())

    from simulator.cli import build_parser, threads_config, threads_until_failure
    args = build_parser().parse_args(argv)
    profile, proc, kconfig, attr = threads_config(args)
    process, _ = threads_until_failure(profile, proc, attr, str(maps), kconfig=kconfig)
    process.mm._check()
    return result, process.mm.maps_text()


def check(tmp_path, bits, real, stack, guard, options, limit):
    before, count, errname, _nr0, _nr1, after = real
    assert errname == "EAGAIN"
    result, final = model(tmp_path, bits, before, stack, guard, options)
    assert (result["threads"], result["stopped_by"]) == (count, limit)
    assert ranges(final) == ranges(after)


# (bits, pid_max, stack size (0: default), guard size)
PID_MAX_CASES = [(32, 301, 0, 4096), (32, 2000, 65536, 0), (64, 5000, 65536, 4096),
                 (64, 700, 0, 8192)]


@pytest.mark.parametrize("case", PID_MAX_CASES, ids=lambda c: "-".join(map(str, c)))
def test_pid_max_in_a_pid_namespace(thrcount, tmp_path, case):
    """kernel/pid.c alloc_pid: pids 1 .. pid_max-1; the probe is pid 1, so pid_max - 2
    threads, then clone3 fails with EAGAIN."""
    bits, pid_max, stack, guard = case
    binary = probe_for(thrcount, bits)
    script = (f"echo {pid_max} > /proc/sys/kernel/pid_max && exec "
              + " ".join(_setarch(bits) + [str(binary), str(stack), str(guard)]))
    real = run_probe(["unshare", "-p", "-f", "--mount-proc", "sh", "-c", script])
    assert real[1] == pid_max - 2
    check(tmp_path, bits, real, stack, guard,
          ["--pid-max", str(pid_max), "--tasks", "0", "--uid", "0"], "pid_max")


def _tasks_of_uid(uid):
    count = 0
    for status in Path("/proc").glob("[0-9]*/task/[0-9]*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("Uid:") and int(line.split()[1]) == uid:
                    count += 1
    return count


# (bits, RLIMIT_NPROC, stack size, guard size)
NPROC_CASES = [(32, 100, 0, 4096), (32, 1500, 65536, 4096), (64, 3000, 65536, 0)]


@pytest.mark.parametrize("case", NPROC_CASES, ids=lambda c: "-".join(map(str, c)))
def test_rlimit_nproc_of_a_user(thrcount, tmp_path, case):
    """kernel/fork.c copy_process: the user's task count with the new one must not exceed
    RLIMIT_NPROC, so a user with no other task gets RLIMIT_NPROC - 1 threads."""
    bits, nproc, stack, guard = case
    binary = probe_for(thrcount, bits)
    if _tasks_of_uid(65534):
        _unavailable("uid 65534 has tasks running: its RLIMIT_NPROC count is not ours alone")
    real = run_probe(["prlimit", f"--nproc={nproc}", "setpriv", "--reuid=65534",
                      "--regid=65534", "--clear-groups", *_setarch(bits), str(binary),
                      str(stack), str(guard)])
    assert real[1] == nproc - 1
    check(tmp_path, bits, real, stack, guard,
          ["--rlimit-nproc", str(nproc), "--uid", "65534"], "rlimit_nproc")


def test_rlimit_nproc_is_not_enforced_for_root(thrcount, tmp_path):
    """The same limit as root (INIT_USER): the address space stops the 32-bit probe."""
    binary = probe_for(thrcount, 32)
    real = run_probe(["prlimit", "--nproc=50", *_setarch(32), str(binary), "0", "4096"])
    assert real[1] > 50
    check(tmp_path, 32, real, 0, 4096, ["--rlimit-nproc", "50", "--uid", "0"], "mmap ENOMEM")


def _pids_cgroup():
    """A new cgroup with the pids controller: (directory, the file that moves a process in)."""
    root = Path("/sys/fs/cgroup")
    name = f"vasim-tasklimits-{os.getpid()}"
    v2_controllers = root / "cgroup.subtree_control"
    if (root / "pids" / "cgroup.procs").exists():
        path = root / "pids" / name                                      # v1
    elif v2_controllers.exists() and "pids" in v2_controllers.read_text().split():
        path = root / name                                               # v2
    else:
        return None
    path.mkdir()
    return path


# (bits, pids.max, stack size, guard size)
PIDS_MAX_CASES = [(32, 40, 0, 4096), (64, 1000, 65536, 4096)]


@pytest.mark.parametrize("case", PIDS_MAX_CASES, ids=lambda c: "-".join(map(str, c)))
def test_pids_max_of_a_cgroup(thrcount, tmp_path, case):
    """kernel/cgroup/pids.c pids_can_fork: the count with the new task must not exceed
    pids.max; the probe alone in the cgroup gets pids.max - 1 threads."""
    bits, pids_max, stack, guard = case
    binary = probe_for(thrcount, bits)
    cgroup = _pids_cgroup()
    if cgroup is None:
        _unavailable("no cgroup with the pids controller")
    try:
        (cgroup / "pids.max").write_text(f"{pids_max}\n")
        script = (f"echo $$ > {cgroup}/cgroup.procs && exec "
                  + " ".join(_setarch(bits) + [str(binary), str(stack), str(guard)]))
        real = run_probe(["sh", "-c", script])
    finally:
        cgroup.rmdir()
    assert real[1] == pids_max - 1
    check(tmp_path, bits, real, stack, guard,
          ["--pids-max", str(pids_max), "--uid", "0"], "pids_max")


@pytest.mark.parametrize("bits", [32, 64])
def test_threads_max_of_the_system(thrcount, tmp_path, bits):
    """kernel/fork.c copy_process: ``nr_threads >= max_threads`` refuses. threads-max is set
    to the machine's task count + 200 for the probe's run only; nr_threads comes from
    /proc/loadavg before the first pthread_create (the probe included) and after the failure.
    Other processes may start or end meanwhile: such a run is seen (before + count != after)
    and repeated."""
    binary = probe_for(thrcount, bits)
    path = "/proc/sys/kernel/threads-max"
    for _attempt in range(5):
        with open("/proc/loadavg") as f:
            nr = int(f.read().split()[3].split("/")[1])
        limit = nr + 200
        with _sysctl(path, limit):
            real = run_probe([*_setarch(bits), str(binary), "65536", "4096"])
        _before, count, _err, nr_before, nr_after, _after = real
        if nr_before + count == nr_after == limit:
            break
    else:
        pytest.skip("the machine's task count kept changing during the runs")
    # The model: tasks = the others running before (the probe is its own main thread).
    check(tmp_path, bits, real, 65536, 4096,
          ["--threads-max", str(limit), "--tasks", str(nr_before - 1), "--uid", "0"],
          "threads_max")
    assert count == limit - nr_before
