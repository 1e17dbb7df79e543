"""simulator/kernel/cred.py, resource.py and shm.py's permission checks, case by case.

Each expectation is derived from the kernel source named beside it (kernel/sys.c,
security/commoncap.c, ipc/util.c, mm/mlock.c of Linux 6.12/6.18), and the ones marked
"measured" were seen on this machine's kernel (tests/probe/credprobe.c, recorded in
tests/test_credentials_kernel.py).
"""

from __future__ import annotations

import attrs

from simulator.kernel.cred import (
    CAP_FULL, CAP_IPC_LOCK, CAP_IPC_OWNER, CAP_SYS_RESOURCE, SECBIT_KEEP_CAPS, Credentials,
    capable, cred_at_exec, sys_capset, sys_setgid, sys_setresgid, sys_setresuid, sys_setreuid,
    sys_setuid,
)
from simulator.kernel.exec import empty_address_space
from simulator.kernel.arch import get_profile
from simulator.kernel.resource import RLIMIT_MEMLOCK, RLIMIT_NOFILE, Rlimits, do_prlimit
from simulator.kernel.shm import S_IRUGO, S_IWUGO, Segment, ipcperms
from simulator.kernel.uapi import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, Errno
from simulator.units import PAGE_SIZE, RLIM_INFINITY

ROOT = Credentials()
NOBODY = 65534


def test_root_giving_up_its_effective_uid_keeps_permitted_caps_only():
    """commoncap.c cap_emulate_setxuid: euid 0 -> non-zero clears the effective set; the real
    and saved uids stay 0, so the permitted set stays; euid back to 0 restores effective
    from permitted (measured: mlock ENOMEM between the two, 0 after)."""
    dropped = sys_setresuid(ROOT, -1, NOBODY, -1)
    assert (dropped.uid, dropped.euid, dropped.suid, dropped.fsuid) == (0, NOBODY, 0, NOBODY)
    assert dropped.cap_effective == 0 and dropped.cap_permitted == CAP_FULL
    back = sys_setresuid(dropped, -1, 0, -1)  # 0 is the real uid: no CAP_SETUID needed
    assert back.euid == 0 and back.cap_effective == CAP_FULL


def test_setuid_as_root_sets_every_uid_and_loses_every_capability():
    """sys.c __sys_setuid with CAP_SETUID sets uid, euid, suid, fsuid; no uid left at 0
    clears permitted too, so setresuid back to 0 is EPERM (measured)."""
    nobody = sys_setuid(ROOT, NOBODY)
    assert (nobody.uid, nobody.euid, nobody.suid, nobody.fsuid) == (NOBODY,) * 4
    assert nobody.cap_permitted == nobody.cap_effective == 0
    assert sys_setresuid(nobody, -1, 0, -1) is Errno.EPERM
    assert sys_setuid(nobody, 0) is Errno.EPERM
    assert sys_setuid(nobody, NOBODY) == nobody  # its own uid: allowed without the capability


def test_keep_caps_keeps_the_permitted_set():
    """SECBIT_KEEP_CAPS: the permitted set survives losing every root uid; the effective
    set still goes with the effective uid."""
    kept = sys_setresuid(attrs.evolve(ROOT, securebits=SECBIT_KEEP_CAPS), NOBODY, NOBODY, NOBODY)
    assert kept.cap_permitted == CAP_FULL and kept.cap_effective == 0


def test_setreuid_moves_the_saved_uid_with_the_effective_one():
    """sys.c __sys_setreuid: suid = new euid when the real uid is set or the euid differs
    from the old real uid."""
    user = Credentials.of_user(1000)
    assert sys_setreuid(user, -1, 1000) == user
    swapped = sys_setreuid(ROOT, NOBODY, 0)
    assert (swapped.uid, swapped.euid, swapped.suid) == (NOBODY, 0, 0)
    assert swapped.cap_effective == CAP_FULL  # euid stays 0
    assert sys_setreuid(user, 0, -1) is Errno.EPERM


def test_gid_calls_need_cap_setgid_for_new_ids():
    user = Credentials.of_user(1000)
    assert sys_setgid(user, 0) is Errno.EPERM
    assert sys_setresgid(user, -1, 1000, -1) == user
    g = sys_setresgid(ROOT, 5, 6, 7)
    assert (g.gid, g.egid, g.sgid, g.fsgid) == (5, 6, 7, 6)


def test_capset_may_only_shrink():
    """commoncap.c cap_capset: permitted may not grow, effective must be within it."""
    less = sys_capset(ROOT, 0, 1 << CAP_IPC_LOCK, 0)
    assert less.cap_permitted == 1 << CAP_IPC_LOCK
    assert sys_capset(less, 1 << CAP_IPC_OWNER, 1 << CAP_IPC_LOCK, 0) is Errno.EPERM
    assert sys_capset(less, 0, CAP_FULL, 0) is Errno.EPERM


def test_exec_gives_root_its_bounding_set_and_a_user_nothing():
    """commoncap.c cap_bprm_creds_from_file: uid or euid 0 -> permitted = bounding set,
    effective only with euid 0; saved ids take the effective ones."""
    bset = CAP_FULL & ~(1 << CAP_SYS_RESOURCE)  # this machine's container root
    half = sys_setresuid(attrs.evolve(ROOT, cap_bset=bset), -1, NOBODY, -1)
    after = cred_at_exec(half)
    assert after.cap_permitted == bset and after.cap_effective == 0 and after.suid == NOBODY
    assert cred_at_exec(sys_setuid(ROOT, NOBODY)).cap_permitted == 0


def test_do_prlimit_order_of_checks():
    """sys.c do_prlimit: soft > hard EINVAL first, RLIMIT_NOFILE over nr_open EPERM,
    raising the hard limit without CAP_SYS_RESOURCE EPERM (measured), lowering allowed."""
    rlim = Rlimits()
    user = Credentials.of_user(1000)
    assert do_prlimit(rlim, ROOT, RLIMIT_MEMLOCK, (2, 1)) is Errno.EINVAL
    lowered = do_prlimit(rlim, user, RLIMIT_MEMLOCK, (4095, 4095))
    assert lowered.get(RLIMIT_MEMLOCK) == (4095, 4095)
    assert do_prlimit(lowered, user, RLIMIT_MEMLOCK, (4096, 4096)) is Errno.EPERM
    assert do_prlimit(lowered, ROOT, RLIMIT_MEMLOCK, (4096, 4096)).memlock == 4096
    assert do_prlimit(rlim, ROOT, RLIMIT_NOFILE, (10, (1 << 20) + 1)) is Errno.EPERM
    # A hard limit the model does not know: no answer rather than a guess.
    assert do_prlimit(rlim, user, RLIMIT_NOFILE, (10, 10)) is None
    assert do_prlimit(rlim, ROOT, 16, None) is Errno.EINVAL


def test_ipcperms_takes_the_first_class_that_matches():
    """ipc/util.c ipcperms: owner class, else group class, else other; a caller in the
    segment's group gets the group bits even when 'other' would allow more (measured: 0604
    refused to nobody with gid 0)."""
    seg = Segment(key=0, size=PAGE_SIZE, mode=0o604, uid=0, gid=0, cuid=0, cgid=0)
    nobody_gid0 = attrs.evolve(sys_setuid(ROOT, NOBODY))
    assert not ipcperms(nobody_gid0, seg, S_IRUGO)
    nobody = sys_setgid(ROOT, NOBODY)
    nobody = sys_setuid(nobody, NOBODY)
    assert ipcperms(nobody, seg, S_IRUGO) and not ipcperms(nobody, seg, S_IRUGO | S_IWUGO)
    assert ipcperms(nobody, seg, 0)  # shmget(key, 0, 0) asks for nothing (measured)
    owner = attrs.evolve(seg, mode=0o600, uid=NOBODY)
    assert ipcperms(nobody, owner, S_IRUGO | S_IWUGO)
    assert ipcperms(attrs.evolve(ROOT, euid=NOBODY, cap_effective=1 << CAP_IPC_OWNER),
                    attrs.evolve(seg, mode=0), S_IRUGO | S_IWUGO)


def _user_mm(creds: Credentials, memlock: int):
    mm = empty_address_space(get_profile("x86_64"))
    mm.cred = creds
    mm.rlim = Rlimits.of(memlock=memlock)
    return mm


def test_mlock_follows_the_callers_limit_and_capability():
    """mm/mlock.c: can_do_mlock is a non-zero RLIMIT_MEMLOCK or CAP_IPC_LOCK (EPERM), the
    locked total over the limit is ENOMEM unless CAP_IPC_LOCK (measured)."""
    user = sys_setresuid(ROOT, -1, NOBODY, -1)
    mm = _user_mm(user, 2 * PAGE_SIZE)
    addr = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    assert mm.mlock(addr, 2 * PAGE_SIZE) == 0
    assert mm.mlock(addr + 2 * PAGE_SIZE, PAGE_SIZE) is Errno.ENOMEM
    mm.cred = ROOT
    assert mm.mlock(addr + 2 * PAGE_SIZE, PAGE_SIZE) == 0
    mm.cred, mm.rlim = user, Rlimits.of(memlock=0)
    assert mm.mlock(addr, PAGE_SIZE) is Errno.EPERM
    assert capable(mm.cred, CAP_IPC_LOCK) is False and mm.rlimit_memlock == 0
    mm._check()


def test_rlimit_as_is_the_callers():
    mm = _user_mm(ROOT, 8 << 20)
    mm.rlim = mm.rlim.set(9, (mm.total_vm() + PAGE_SIZE, RLIM_INFINITY))
    assert mm.mmap(0, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS) is Errno.ENOMEM
    assert mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS) > 0
    mm._check()


LOG = """\
100 capget({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=~(1<<CAP_SYS_RESOURCE), permitted=~(1<<CAP_SYS_RESOURCE), inheritable=0}) = 0
100 clone(child_stack=0x7f00, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM) = 101
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD) = 102
101 prlimit64(0, RLIMIT_MEMLOCK, {rlim_cur=4096, rlim_max=4096}, NULL) = 0
101 setresuid(-1, 65534, -1) = 0
100 prlimit64(0, RLIMIT_MEMLOCK, {rlim_cur=8192, rlim_max=8192}, NULL) = -1 EPERM (Operation not permitted)
100 prlimit64(102, RLIMIT_CORE, NULL, {rlim_cur=0, rlim_max=RLIM64_INFINITY}) = 0
102 setuid(65534) = 0
102 prlimit64(0, RLIMIT_CORE, {rlim_cur=0, rlim_max=1024}, NULL) = 0
102 prlimit64(0, RLIMIT_CORE, {rlim_cur=0, rlim_max=2048}, NULL) = -1 EPERM (Operation not permitted)
100 prlimit64(102, RLIMIT_CORE, {rlim_cur=0, rlim_max=512}, NULL) = -1 EPERM (Operation not permitted)
102 setresuid(-1, 0, -1) = -1 EPERM (Operation not permitted)
"""


def test_replay_follows_capget_threads_and_other_pids():
    """A capget reveals a root without CAP_SYS_RESOURCE (so raising a hard limit is EPERM,
    sys.c do_prlimit); a thread's setrlimit is its whole thread group's (signal_struct)
    while its setresuid is its own (struct cred is per thread); a query of another pid
    makes that limit known, and another user's task's limits need CAP_SYS_RESOURCE
    (sys.c check_prlimit_permission: root's ids are not nobody's)."""
    from simulator.trace.replay import Replay
    from simulator.trace.strace import parse_strace

    run = Replay()
    calls = list(run.run(parse_strace(LOG).events))
    assert [(c.syscall, c.simulated) for c in calls] == [
        ("prlimit64", "0"), ("setresuid", "0"), ("prlimit64", "-1 EPERM"),
        ("setuid", "0"), ("prlimit64", "0"), ("prlimit64", "-1 EPERM"), ("prlimit64", "-1 EPERM"),
        ("setresuid", "-1 EPERM")]
    assert all(c.matched for c in calls)
    leader, thread, child = run.tasks[100], run.tasks[101], run.tasks[102]
    assert leader.rlimits.memlock == thread.rlimits.memlock == 4096
    assert child.rlimits.memlock == 8 << 20  # forked before the thread's set
    assert thread.creds.euid == NOBODY and leader.creds.euid == 0
    assert not capable(leader.creds, CAP_SYS_RESOURCE) and capable(leader.creds, CAP_IPC_LOCK)


def test_rlimit_data_bounds_private_writable_memory_only():
    """mm/mmap.c may_expand_vm: is_data_mapping is VM_WRITE without VM_SHARED or VM_STACK;
    a zero soft limit lets the hard limit decide (the Valgrind workaround)."""
    from simulator.kernel.resource import RLIMIT_DATA
    from simulator.kernel.uapi import MAP_SHARED

    mm = _user_mm(ROOT, 8 << 20)
    limit = mm.data_vm() + 4 * PAGE_SIZE
    mm.rlim = mm.rlim.set(RLIMIT_DATA, (limit, RLIM_INFINITY))
    rw, anon = PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS
    assert mm.mmap(0, 5 * PAGE_SIZE, rw, anon) is Errno.ENOMEM
    ro = mm.mmap(0, 5 * PAGE_SIZE, PROT_READ, anon)
    assert ro > 0 and mm.mmap(0, 5 * PAGE_SIZE, rw, MAP_SHARED | MAP_ANONYMOUS) > 0
    assert mm.mprotect(ro, 5 * PAGE_SIZE, rw) is Errno.ENOMEM
    assert mm.mmap(0, 4 * PAGE_SIZE, rw, anon) > 0 and mm.data_vm() == limit
    assert mm.mmap(0, PAGE_SIZE, rw, anon) is Errno.ENOMEM
    mm.rlim = mm.rlim.set(RLIMIT_DATA, (0, RLIM_INFINITY))
    assert mm.mmap(0, PAGE_SIZE, rw, anon) > 0
    mm._check()


def test_a_recording_starts_from_its_own_credentials(tmp_path, capsys):
    """meta.json's creds (/proc/PID/status) or else its auxv decide the first task's
    credentials; an unreadable one is bad input."""
    import json
    import shutil
    from pathlib import Path

    from simulator.cli import main
    from simulator.trace.replay_creds import initial_credentials, initial_rlimits

    status = {"uid": [0, 0, 0, 0], "gid": [0, 0, 0, 0], "groups": [0], "CapInh": "0x0",
              "CapPrm": "0x1fffeffffff", "CapEff": "0x1fffeffffff", "CapBnd": "0x1fffeffffff"}
    creds = initial_credentials({"creds": status})
    assert not capable(creds, CAP_SYS_RESOURCE) and capable(creds, CAP_IPC_LOCK)
    assert creds.groups == (0,)
    user = initial_credentials({"auxv": {"AT_UID": "0x3e8", "AT_EUID": "0x3e8",
                                         "AT_GID": "0x3e8", "AT_EGID": "0x3e8"}})
    assert user.euid == 1000 and user.cap_effective == 0
    assert initial_credentials({}) == ROOT
    rlim = initial_rlimits({"rlimits": {"RLIMIT_MEMLOCK": [65536, 65536],
                                        "RLIMIT_CORE": [0, "unlimited"]}}, 8 << 20)
    assert rlim.get(RLIMIT_MEMLOCK) == (65536, 65536) and rlim.get(4) == (0, RLIM_INFINITY)

    rec = tmp_path / "rec"
    shutil.copytree(Path(__file__).parent / "data" / "ltp" / "mlock02", rec)
    meta = json.loads((rec / "meta.json").read_text())
    meta["creds"] = dict(status, CapEff="not hex")
    (rec / "meta.json").write_text(json.dumps(meta))
    assert main(["replay", str(rec)]) == 2
    assert "meta.json: 'creds.CapEff' must be a hex mask, not \"not hex\"" in capsys.readouterr().err


def test_strace_lines_of_credential_and_limit_calls():
    """strace's spellings (src/xlat/resources.in, caps, i386's ...32 names, -X verbose
    comments, split calls) decode to TaskCall; a structure printed as an address is
    skipped, never guessed."""
    from simulator.trace.strace import TaskCall, parse_strace

    text = """\
7 setresuid32(-1, 65534, -1)        = 0
7 prlimit64(0, RLIMIT_MEMLOCK, NULL,  <unfinished ...>
8 getpid() = 8
7 <... prlimit64 resumed>{rlim_cur=8192*1024, rlim_max=8192*1024}) = 0
7 prlimit64(0, 0x8 /* RLIMIT_MEMLOCK */, {rlim_cur=4095, rlim_max=4095 /* 4095 */}, NULL) = 0
7 ugetrlimit(RLIMIT_STACK, {rlim_cur=8192*1024, rlim_max=RLIM_INFINITY}) = 0
7 capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=0, permitted=~(1<<CAP_SYS_RESOURCE), inheritable=0}) = 0
7 prlimit64(0, RLIMIT_CORE, NULL, 0x10) = -1 EFAULT (Bad address)
7 capget({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, 0x10) = -1 EFAULT (Bad address)
"""
    events = [e for e in parse_strace(text).events if isinstance(e, TaskCall)]
    assert [(e.name, e.args) for e in events] == [
        ("setresuid32", (-1, 65534, -1)),
        ("prlimit64", (0, RLIMIT_MEMLOCK, None, (8 << 20, 8 << 20))),
        ("prlimit64", (0, RLIMIT_MEMLOCK, (4095, 4095), None)),
        ("ugetrlimit", (3, (8 << 20, RLIM_INFINITY))),
        ("capset", (0, 0, CAP_FULL & ~(1 << CAP_SYS_RESOURCE), 0)),
        ("prlimit64", (0, 4, None, None)),
    ]


def test_capset_inheritable_from_permitted_needs_no_setpcap():
    """commoncap.c cap_capset: without CAP_SETPCAP (cap_inh_is_capped) a new inheritable bit
    must be in the old inheritable or permitted set; measured (tests/probe/capprobe.c):
    CAP_IPC_LOCK, permitted, is allowed, CAP_SETPCAP, not permitted, is EPERM."""
    from simulator.kernel.cred import CAP_SETPCAP

    nopcap = attrs.evolve(ROOT, cap_effective=CAP_FULL & ~(1 << CAP_SETPCAP),
                          cap_permitted=CAP_FULL & ~(1 << CAP_SETPCAP))
    eff = nopcap.cap_effective
    assert sys_capset(nopcap, eff, eff, 1 << CAP_IPC_LOCK).cap_inheritable == 1 << CAP_IPC_LOCK
    assert sys_capset(nopcap, eff, eff, 1 << CAP_IPC_LOCK | 1 << CAP_SETPCAP) is Errno.EPERM
    # Bits past the last capability are dropped first (kernel/capability.c mk_kernel_cap).
    assert sys_capset(ROOT, 0, CAP_FULL, 1 << 42).cap_inheritable == 0


def test_prctl_keepcaps_securebits_and_bounding_set():
    """commoncap.c cap_task_prctl, as measured by tests/probe/capprobe.c: PR_SET_KEEPCAPS 2
    is EINVAL; with KEEP_CAPS setresuid to nobody keeps the permitted set; nobody without
    CAP_SETPCAP cannot drop a bounding capability (EPERM); cap 99 is EINVAL; securebits
    1<<8 and 1<<10 are accepted, 1<<12 is EPERM; after KEEP_CAPS|KEEP_CAPS_LOCKED (0x30),
    PR_SET_KEEPCAPS is EPERM; exec clears KEEP_CAPS."""
    from simulator.kernel.cred import (
        CAP_SYS_ADMIN, cap_prctl_drop, prctl_set_keepcaps, prctl_set_securebits,
    )

    assert prctl_set_keepcaps(ROOT, 2) is Errno.EINVAL
    keep = prctl_set_keepcaps(ROOT, 1)
    nobody = sys_setresuid(keep, NOBODY, NOBODY, NOBODY)
    assert nobody.cap_permitted == CAP_FULL and nobody.cap_effective == 0
    assert cap_prctl_drop(sys_setresuid(ROOT, NOBODY, NOBODY, NOBODY), CAP_SYS_ADMIN) \
        is Errno.EPERM
    assert cap_prctl_drop(ROOT, 99) is Errno.EINVAL
    assert cap_prctl_drop(ROOT, CAP_SYS_ADMIN).cap_bset == CAP_FULL & ~(1 << CAP_SYS_ADMIN)
    assert prctl_set_securebits(ROOT, 1 << 8).securebits == 1 << 8
    assert prctl_set_securebits(ROOT, 1 << 10).securebits == 1 << 10
    assert prctl_set_securebits(ROOT, 1 << 12) is Errno.EPERM
    locked = prctl_set_securebits(ROOT, 0x30)
    assert prctl_set_keepcaps(locked, 0) is Errno.EPERM
    assert prctl_set_securebits(locked, 0x20) is Errno.EPERM  # a locked bit cannot change
    assert cred_at_exec(keep).securebits == 0


def test_strace_spellings_of_capability_sets_and_prctl():
    """strace 6.1's print_cap_bits prints the low and the high 32-bit word: names, or with
    -X raw two numbers (a lone one is ambiguous: the call is skipped), with -X verbose a
    comment naming the word (lines as strace printed tests/probe/capprobe.c's calls)."""
    from simulator.trace.strace import TaskCall, parse_strace

    head = "1 capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, "
    text = "\n".join([
        head + "{effective=1<<CAP_CHOWN|1<<CAP_MAC_OVERRIDE, permitted=1<<CAP_MAC_OVERRIDE|"
               "1<<CAP_CHECKPOINT_RESTORE, inheritable=0x400 /* CAP_??? */}) = 0",
        head + "{effective=0x1|0x1, permitted=0xfeffffff|0x1ff, inheritable=0}) = 0",
        head + "{effective=0x1 /* 1<<CAP_MAC_OVERRIDE */, permitted=0x101 /* 1<<CAP_MAC_OVERRIDE"
               "|1<<CAP_CHECKPOINT_RESTORE */, inheritable=0x1 /* 1<<CAP_CHOWN */}) = 0",
        head + "{effective=0x1, permitted=0x101, inheritable=0}) = 0",  # -X raw: skipped
        "1 prctl(PR_SET_KEEPCAPS, 1)         = 0",
        "1 prctl(0x1c, 0x30)                 = 0",
        "1 prctl(0x18 /* PR_CAPBSET_DROP */, 0x15 /* CAP_SYS_ADMIN */) = 0",
        "1 prctl(PR_CAPBSET_DROP, 0x63 /* CAP_??? */) = -1 EINVAL (Invalid argument)",
        "1 prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS|SECBIT_KEEP_CAPS_LOCKED) = 0",
        "1 prctl(PR_GET_SECUREBITS)          = 0x30 (SECBIT_KEEP_CAPS|SECBIT_KEEP_CAPS_LOCKED)",
        "1 prctl(PR_SET_NAME, \"x\") = 0",  # not followed: skipped
        "",
    ])
    events = [e for e in parse_strace(text).events if isinstance(e, TaskCall)]
    assert [(e.name, e.args) for e in events] == [
        ("capset", (0, 1 | 1 << 32, 1 << 32 | 1 << 40, 0x400 << 32)),
        ("capset", (0, 1 | 1 << 32, 0x1fffeffffff, 0)),
        ("capset", (0, 1 << 32, 1 << 32 | 1 << 40, 1)),
        ("prctl", (8, 1)), ("prctl", (28, 0x30)), ("prctl", (24, 21)), ("prctl", (24, 99)),
        ("prctl", (28, 0x30)), ("prctl", (27, None)),
    ]


import pytest  # noqa: E402


@pytest.mark.parametrize("line, message", [
    ("setuid()                    = 0", "setuid: expected 1 argument, got 0"),  # was exit 3
    ("setresuid(1, 2, 3, 4) = 0", "setresuid: expected 3 arguments, got 4"),  # was exit 3
    ("setresuid32(-1, -1) = 0", "expected 3 arguments, got 2"),
    ("setgid32(99999999999999999999999) = 0", "does not fit in 64 bits"),
    ("setuid(", "no return value"),
    ("capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=1<<CAP_BOGUS, "
     "permitted=0, inheritable=0}) = 0", "unknown capability 'CAP_BOGUS'"),
    ("prctl(PR_SET_KEEPCAPS) = 0", "without its argument"),
    ("prlimit64(0, RLIMIT_AS, {rlim_cur=1}, NULL) = 0", "cannot parse rlimit '{rlim_cur=1}'"),
    ("setrlimit(RLIMIT_AS) = 0", "setrlimit: expected 2 arguments, got 1"),
])
def test_a_credential_line_no_strace_prints_is_one_line_of_bad_input(tmp_path, capsys, line,
                                                                      message):
    from simulator.cli import main

    trace = tmp_path / "t.txt"
    trace.write_text(f"5 brk(NULL) = 0x555555559000\n5 {line}\n")
    assert main(["replay", str(trace)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{trace}:2: ") and message in err and err.count("\n") == 1, err


def test_odd_but_possible_credential_lines_replay(tmp_path, capsys):
    """Queries of a resource or capability out of range (no such answer from the kernel, but
    not a crash: was an IndexError / a 1<<huge shift), and a note about a skipped call stays
    with that call instead of landing on the next one."""
    import json

    from simulator.cli import main

    trace = tmp_path / "t.txt"
    trace.write_text(
        "5 brk(NULL) = 0x555555559000\n"
        "5 prlimit64(0, 0x63 /* RLIMIT_??? */, NULL, {rlim_cur=1, rlim_max=2}) = 0\n"
        "5 prctl(PR_CAPBSET_READ, 0x7fffffffffffffff /* CAP_??? */) = 1\n"
        "5 prlimit64(99999, RLIMIT_AS, {rlim_cur=1, rlim_max=2}, NULL) = 0\n"
        "5 prlimit64(0, 0x63, {rlim_cur=1, rlim_max=2}, NULL) = -1 EINVAL (Invalid argument)\n")
    assert main(["replay", str(trace), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(c["line"], c["simulated"], c.get("note", "")) for c in out["calls"]] == [
        (1, "0x555555559000", ""), (5, "-1 EINVAL", "")]
    assert "prlimit64 at line 4: pid 99999 is not in the log" in out["notes"]
