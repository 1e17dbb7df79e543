"""Replay of the calls that change a task's credentials and resource limits.

Replay keeps each task's :class:`~simulator.kernel.cred.Credentials` and
:class:`~simulator.kernel.resource.Rlimits` (kernel/sys.c, kernel/cred.c) and installs them
on the address space before each of that task's memory calls, so mlock's RLIMIT_MEMLOCK and
CAP_IPC_LOCK, SysV shm permissions, RLIMIT_AS, MAP_FIXED below mmap_min_addr and the stack
limit of the next exec follow what the program did:

* ``setuid``, ``setreuid``, ``setresuid``, ``setgid``, ``setregid``, ``setresgid`` (and their
  ``32`` names) and ``capset`` are replayed: their return is checked like a memory call's,
  and the model's answer is applied.
* ``prlimit64`` (own pid, 0, or another task the log shows), ``setrlimit`` are replayed the
  same way. A limit the model has no value for (RLIMIT_CORE, RLIMIT_NOFILE... until a query
  shows it) cannot be checked: a successful set then only makes it known.
* ``prctl`` PR_SET_KEEPCAPS, PR_SET_SECUREBITS and PR_CAPBSET_DROP are replayed too (the
  securebits decide what setuid leaves of the capabilities).
* ``capget``, ``getrlimit``/``ugetrlimit`` and ``prlimit64`` without a new limit are facts,
  not checked: what they report becomes the task's (a log's first ``capget`` shows the
  capabilities a recording started with, e.g. a container's root without CAP_SYS_RESOURCE).

Credentials are per thread (glibc's setuid() runs the call in every thread, and each shows in
the log); limits are per thread group (``signal_struct``): a set applies to every thread.
"""

from __future__ import annotations

import attrs

from simulator.kernel import cred as _cred
from simulator.kernel.cred import CAP_SYS_RESOURCE, Credentials, capable
from simulator.kernel.resource import (
    RLIM_NLIMITS, RLIMIT_NAMES, RLIMIT_STACK, Rlimits, do_prlimit,
)
from simulator.kernel.task import Task
from simulator.kernel.uapi import Errno
from simulator.units import RLIM_INFINITY


def _succeeded(c) -> bool:
    return isinstance(c.ret, int) and not isinstance(c.ret, Errno) and c.ret >= 0


def _id_call(function):
    def handler(run, task: Task, c):
        result = function(task.creds, *c.args)
        if isinstance(result, Errno):
            return result
        run.set_creds(c.pid, result)
        return 0
    return handler


def _capset(run, task: Task, c):
    """kernel/capability.c ``capset``: only the calling task's (EPERM for another pid)."""
    pid, effective, permitted, inheritable = c.args
    if pid not in (0, c.pid):
        return Errno.EPERM
    result = _cred.sys_capset(task.creds, effective, permitted, inheritable)
    if isinstance(result, Errno):
        return result
    run.set_creds(c.pid, result)
    return 0


def _capget(run, task: Task, c):
    """What capget reports becomes the target's capability sets. A root task's bounding set
    is taken to be its permitted set (what exec gives root back)."""
    pid, effective, permitted, inheritable = c.args
    target = c.pid if pid == 0 else pid
    old = run.tasks.get(target)
    if _succeeded(c) and old is not None:
        creds = attrs.evolve(old.creds, cap_effective=effective, cap_permitted=permitted,
                             cap_inheritable=inheritable)
        if 0 in (creds.uid, creds.euid):
            creds = attrs.evolve(creds, cap_bset=permitted)
        run.set_creds(target, creds)
    return None


_PR_GET_KEEPCAPS, _PR_SET_KEEPCAPS, _PR_CAPBSET_READ, _PR_CAPBSET_DROP = 7, 8, 23, 24
_PR_GET_SECUREBITS, _PR_SET_SECUREBITS = 27, 28
_PRCTL_SETS = {_PR_SET_KEEPCAPS: _cred.prctl_set_keepcaps,
               _PR_SET_SECUREBITS: _cred.prctl_set_securebits,
               _PR_CAPBSET_DROP: _cred.cap_prctl_drop}


def _prctl(run, task: Task, c):
    """security/commoncap.c ``cap_task_prctl``: PR_SET_KEEPCAPS, PR_SET_SECUREBITS and
    PR_CAPBSET_DROP are checked and applied; PR_GET_KEEPCAPS, PR_GET_SECUREBITS and
    PR_CAPBSET_READ are facts (what they return becomes the task's)."""
    option, arg = c.args
    change = _PRCTL_SETS.get(option)
    if change is not None:
        result = change(task.creds, arg)
        if isinstance(result, Errno):
            return result
        run.set_creds(c.pid, result)
        return 0
    if not _succeeded(c):
        return None
    creds, ret = task.creds, c.ret
    if option == _PR_GET_SECUREBITS:
        creds = attrs.evolve(creds, securebits=ret)
    elif option == _PR_GET_KEEPCAPS:
        keep = _cred.SECBIT_KEEP_CAPS
        creds = attrs.evolve(creds, securebits=creds.securebits & ~keep | (keep if ret else 0))
    elif option == _PR_CAPBSET_READ and ret in (0, 1) and 0 <= arg < 64:
        bit = 1 << arg
        creds = attrs.evolve(creds, cap_bset=creds.cap_bset & ~bit | (bit if ret else 0))
    run.set_creds(c.pid, creds)
    return None


def check_prlimit_permission(caller: Credentials, target: Credentials) -> bool:
    """kernel/sys.c ``check_prlimit_permission`` for another task: the caller's real ids
    equal all of the target's, or CAP_SYS_RESOURCE."""
    same = (caller.uid == target.euid == target.suid == target.uid
            and caller.gid == target.egid == target.sgid == target.gid)
    return same or capable(caller, CAP_SYS_RESOURCE)


def _rlimit(run, task: Task, c, pid: int, resource: int, new, old):
    target = task if pid in (0, c.pid) else run.tasks.get(pid)
    if target is None:
        run.note(c, f"pid {pid} is not in the log")
        return None
    if target is not task and not check_prlimit_permission(task.creds, target.creds):
        return Errno.EPERM
    if new is None:  # a query: the log shows the limit
        if _succeeded(c) and old is not None and 0 <= resource < RLIM_NLIMITS:
            run.set_rlimits(target.pid, target.rlimits.set(resource, old))
        return None
    result = do_prlimit(target.rlimits, task.creds, resource, new)
    if result is None:  # the hard limit before is not known
        if _succeeded(c):
            run.set_rlimits(target.pid, target.rlimits.set(resource, new))
        return None
    if isinstance(result, Errno):
        return result
    run.set_rlimits(target.pid, result)
    return 0


def _prlimit64(run, task: Task, c):
    pid, resource, new, old = c.args
    return _rlimit(run, task, c, pid, resource, new, old)


def _setrlimit(run, task: Task, c):
    resource, new = c.args
    return _rlimit(run, task, c, 0, resource, new, None)


def _getrlimit(run, task: Task, c):
    resource, old = c.args
    return _rlimit(run, task, c, 0, resource, None, old)


#: name -> handler(replay, calling task, call): the model's return, or None for a call that
#: is a fact rather than a check (a query, or a set the model cannot judge).
TASK_HANDLERS = {
    "setuid": _id_call(_cred.sys_setuid),
    "setreuid": _id_call(_cred.sys_setreuid),
    "setresuid": _id_call(_cred.sys_setresuid),
    "setgid": _id_call(_cred.sys_setgid),
    "setregid": _id_call(_cred.sys_setregid),
    "setresgid": _id_call(_cred.sys_setresgid),
    "capset": _capset,
    "capget": _capget,
    "prlimit64": _prlimit64,
    "setrlimit": _setrlimit,
    "getrlimit": _getrlimit,
    "ugetrlimit": _getrlimit,
    "prctl": _prctl,
}
TASK_HANDLERS.update({name + "32": TASK_HANDLERS[name] for name in
                      ("setuid", "setreuid", "setresuid", "setgid", "setregid", "setresgid")})


def is_query(c) -> bool:
    """A call that only reports (capget, getrlimit, prlimit64 without a new limit)."""
    return (c.name in ("capget", "getrlimit", "ugetrlimit")
            or (c.name == "prlimit64" and c.args[2] is None)
            or (c.name == "prctl" and c.args[0] not in _PRCTL_SETS))


def initial_credentials(meta: dict | None) -> Credentials:
    """The credentials a recording started with: its ``creds`` (/proc/PID/status at the
    first exec: ids, groups, capability sets), else its auxv's AT_UID/AT_EUID/AT_GID/AT_EGID
    with root's capabilities for uid 0 (until a ``capget`` in the log tells more), else
    root with every capability."""
    meta = meta or {}
    status = meta.get("creds")
    if status and "uid" in status and "CapEff" in status:
        uid, gid = status["uid"], status.get("gid", [0, 0, 0, 0])
        return Credentials(*uid, *gid, groups=tuple(status.get("groups", ())),
                           cap_effective=int(status["CapEff"], 16),
                           cap_permitted=int(status.get("CapPrm", "0"), 16),
                           cap_inheritable=int(status.get("CapInh", "0"), 16),
                           cap_bset=int(status.get("CapBnd", hex(_cred.CAP_FULL)), 16))
    auxv = meta.get("auxv")
    if not auxv or "AT_UID" not in auxv:
        return _cred.ROOT

    def value(key: str, default: int) -> int:
        raw = auxv.get(key)
        return int(raw, 0) if isinstance(raw, str) else raw if isinstance(raw, int) else default

    uid, gid = value("AT_UID", 0), value("AT_GID", 0)
    euid, egid = value("AT_EUID", uid), value("AT_EGID", gid)
    caps = _cred.CAP_FULL if 0 in (uid, euid) else 0
    return Credentials(uid, euid, euid, euid, gid, egid, egid, egid, cap_permitted=caps,
                       cap_effective=caps if euid == 0 else 0)


def initial_rlimits(meta: dict | None, stack: int) -> Rlimits:
    """The limits a recording started with (its ``rlimits``, /proc/PID/limits at the first
    exec), else the documented defaults; RLIMIT_STACK's soft limit is ``stack`` (the
    recording's own, or the command line's)."""
    rlim = Rlimits.of(stack=stack)
    for name, pair in ((meta or {}).get("rlimits") or {}).items():
        if name in RLIMIT_NAMES and len(pair) == 2:
            soft, hard = (RLIM_INFINITY if v == "unlimited" else int(v) for v in pair)
            rlim = rlim.set(RLIMIT_NAMES[name], (soft, hard))
    old = rlim.get(RLIMIT_STACK)
    return rlim.set(RLIMIT_STACK, (stack, max(stack, old[1])))


__all__ = ["TASK_HANDLERS", "is_query", "initial_credentials", "initial_rlimits", "check_prlimit_permission"]
