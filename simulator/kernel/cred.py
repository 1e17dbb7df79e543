"""Credentials: ``struct cred`` and the calls that change it (kernel/sys.c, kernel/cred.c,
security/commoncap.c, Linux 6.18).

A task's credentials are a value, replaced whole by each call (``prepare_creds`` /
``commit_creds``): real, effective, saved and filesystem uids and gids, supplementary groups,
and the capability sets. Capabilities are bit masks over ``include/uapi/linux/capability.h``
numbers; the model reads few of them: CAP_IPC_LOCK (mlock over RLIMIT_MEMLOCK, mm/mlock.c
``can_do_mlock``), CAP_IPC_OWNER (SysV IPC permissions, ipc/util.c ``ipcperms``),
CAP_SYS_ADMIN (shmctl on another user's segment), CAP_SYS_RESOURCE (raising a hard rlimit,
kernel/sys.c ``do_prlimit``; RLIMIT_NPROC), CAP_SYS_RAWIO (MAP_FIXED below
``vm.mmap_min_addr``, security/commoncap.c ``cap_mmap_addr``), CAP_SETUID/CAP_SETGID.

The uid rules that matter for memory: a set*uid call that moves the effective uid from 0 to
non-zero clears the effective set, moving it back to 0 restores it from the permitted set,
and leaving no uid at 0 clears the permitted set too, unless SECBIT_KEEP_CAPS
(``cap_emulate_setxuid``). Credentials are per thread in the kernel: glibc's setuid() and
friends make every thread run the call (nptl ``__nptl_setxid``), so a log shows one call
per thread.

Root by default: uid 0 with every capability (:data:`CAP_FULL`), what a process started by
root has unless its bounding set was narrowed (a container's is: the reference machine's
sandbox lacks CAP_SYS_RESOURCE, which a recording's ``capget`` shows).
"""

from __future__ import annotations

import attrs

from simulator.kernel.uapi import Errno

#: include/uapi/linux/capability.h, in bit order.
CAP_NAMES_ORDERED = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_NAMES = {name: bit for bit, name in enumerate(CAP_NAMES_ORDERED)}
CAP_SETGID = CAP_NAMES["CAP_SETGID"]
CAP_SETUID = CAP_NAMES["CAP_SETUID"]
CAP_SETPCAP = CAP_NAMES["CAP_SETPCAP"]
CAP_IPC_LOCK = CAP_NAMES["CAP_IPC_LOCK"]
CAP_IPC_OWNER = CAP_NAMES["CAP_IPC_OWNER"]
CAP_SYS_RAWIO = CAP_NAMES["CAP_SYS_RAWIO"]
CAP_SYS_ADMIN = CAP_NAMES["CAP_SYS_ADMIN"]
CAP_SYS_RESOURCE = CAP_NAMES["CAP_SYS_RESOURCE"]
#: CAP_FULL_SET: every capability this kernel knows.
CAP_FULL = (1 << len(CAP_NAMES_ORDERED)) - 1

#: include/uapi/linux/securebits.h: keep the permitted set when no uid stays 0.
SECBIT_KEEP_CAPS = 1 << 4
SECBIT_NO_SETUID_FIXUP = 1 << 2

#: ``(uid_t) -1``: "leave this id as it is" in setre*id/setres*id; never a valid id.
NO_ID = 0xFFFFFFFF


@attrs.frozen
class Credentials:
    """``struct cred``: ids, supplementary groups and capability sets (bit masks)."""

    uid: int = 0
    euid: int = 0
    suid: int = 0
    fsuid: int = 0
    gid: int = 0
    egid: int = 0
    sgid: int = 0
    fsgid: int = 0
    groups: tuple[int, ...] = ()
    cap_effective: int = CAP_FULL
    cap_permitted: int = CAP_FULL
    cap_inheritable: int = 0
    #: The bounding set: what exec may give back to a root process.
    cap_bset: int = CAP_FULL
    securebits: int = 0

    @classmethod
    def of_user(cls, uid: int, gid: int | None = None, caps: int | None = None) -> Credentials:
        """A process started by ``uid``: root's capabilities (``caps``, default all) for
        uid 0, none for any other uid (what exec gives a non-root user without file
        capabilities)."""
        gid = uid if gid is None else gid
        caps = (CAP_FULL if caps is None else caps) if uid == 0 else 0
        return cls(uid, uid, uid, uid, gid, gid, gid, gid, cap_effective=caps,
                   cap_permitted=caps, cap_bset=CAP_FULL if caps == 0 else caps)


def capable(cred: Credentials, cap: int) -> bool:
    """kernel/capability.c ``capable``: ``cap`` is in the effective set."""
    return bool(cred.cap_effective >> cap & 1)


def in_group_p(cred: Credentials, gid: int) -> bool:
    """kernel/groups.c ``in_group_p``: the fs gid or a supplementary group."""
    return gid == cred.fsgid or gid in cred.groups


def cap_emulate_setxuid(new: Credentials, old: Credentials) -> Credentials:
    """security/commoncap.c ``cap_emulate_setxuid`` (via ``cap_task_fix_setuid``)."""
    if old.securebits & SECBIT_NO_SETUID_FIXUP:
        return new
    had_root = 0 in (old.uid, old.euid, old.suid)
    if had_root and 0 not in (new.uid, new.euid, new.suid) \
            and not old.securebits & SECBIT_KEEP_CAPS:
        new = attrs.evolve(new, cap_permitted=0, cap_effective=0)
    if old.euid == 0 and new.euid != 0:
        new = attrs.evolve(new, cap_effective=0)
    if old.euid != 0 and new.euid == 0:
        new = attrs.evolve(new, cap_effective=new.cap_permitted)
    return new


def _ids(*ids: int) -> tuple[int, ...]:
    return tuple(i & 0xFFFFFFFF for i in ids)


def sys_setuid(old: Credentials, uid: int) -> Credentials | Errno:
    """kernel/sys.c ``__sys_setuid``: with CAP_SETUID every uid becomes ``uid``; without it
    only the effective (and fs) uid, and only to the real or saved uid (EPERM)."""
    (uid,) = _ids(uid)
    if uid == NO_ID:
        return Errno.EINVAL
    if capable(old, CAP_SETUID):
        new = attrs.evolve(old, uid=uid, suid=uid, euid=uid, fsuid=uid)
    elif uid in (old.uid, old.suid):
        new = attrs.evolve(old, euid=uid, fsuid=uid)
    else:
        return Errno.EPERM
    return cap_emulate_setxuid(new, old)


def sys_setreuid(old: Credentials, ruid: int, euid: int) -> Credentials | Errno:
    """kernel/sys.c ``__sys_setreuid``: a new real uid must be the old real or effective one,
    a new effective uid the old real, effective or saved one, unless CAP_SETUID; the saved
    uid follows the effective one when the real uid is set or the effective one leaves
    the real one."""
    ruid, euid = _ids(ruid, euid)
    setuid_cap = capable(old, CAP_SETUID)
    new_uid, new_euid = old.uid, old.euid
    if ruid != NO_ID:
        if ruid not in (old.uid, old.euid) and not setuid_cap:
            return Errno.EPERM
        new_uid = ruid
    if euid != NO_ID:
        if euid not in (old.uid, old.euid, old.suid) and not setuid_cap:
            return Errno.EPERM
        new_euid = euid
    suid = old.suid
    if ruid != NO_ID or (euid != NO_ID and euid != old.uid):
        suid = new_euid
    new = attrs.evolve(old, uid=new_uid, euid=new_euid, suid=suid, fsuid=new_euid)
    return cap_emulate_setxuid(new, old)


def sys_setresuid(old: Credentials, ruid: int, euid: int, suid: int) -> Credentials | Errno:
    """kernel/sys.c ``__sys_setresuid``: each id that is set must be one of the old three,
    unless CAP_SETUID (EPERM); the fs uid follows the effective uid."""
    ruid, euid, suid = _ids(ruid, euid, suid)
    if ((ruid == NO_ID or ruid == old.uid)
            and (euid == NO_ID or (euid == old.euid and euid == old.fsuid))
            and (suid == NO_ID or suid == old.suid)):
        return old  # the no-op check
    olds = (old.uid, old.euid, old.suid)
    if any(i != NO_ID and i not in olds for i in (ruid, euid, suid)) \
            and not capable(old, CAP_SETUID):
        return Errno.EPERM
    new_euid = old.euid if euid == NO_ID else euid
    new = attrs.evolve(old, uid=old.uid if ruid == NO_ID else ruid, euid=new_euid,
                       suid=old.suid if suid == NO_ID else suid, fsuid=new_euid)
    return cap_emulate_setxuid(new, old)


def sys_setgid(old: Credentials, gid: int) -> Credentials | Errno:
    """kernel/sys.c ``__sys_setgid``: every gid with CAP_SETGID, else the effective one to
    the real or saved gid."""
    (gid,) = _ids(gid)
    if gid == NO_ID:
        return Errno.EINVAL
    if capable(old, CAP_SETGID):
        return attrs.evolve(old, gid=gid, egid=gid, sgid=gid, fsgid=gid)
    if gid in (old.gid, old.sgid):
        return attrs.evolve(old, egid=gid, fsgid=gid)
    return Errno.EPERM


def sys_setregid(old: Credentials, rgid: int, egid: int) -> Credentials | Errno:
    """kernel/sys.c ``__sys_setregid``: as setreuid, for gids and CAP_SETGID."""
    rgid, egid = _ids(rgid, egid)
    cap = capable(old, CAP_SETGID)
    new_gid, new_egid = old.gid, old.egid
    if rgid != NO_ID:
        if rgid not in (old.gid, old.egid) and not cap:
            return Errno.EPERM
        new_gid = rgid
    if egid != NO_ID:
        if egid not in (old.gid, old.egid, old.sgid) and not cap:
            return Errno.EPERM
        new_egid = egid
    sgid = old.sgid
    if rgid != NO_ID or (egid != NO_ID and egid != old.gid):
        sgid = new_egid
    return attrs.evolve(old, gid=new_gid, egid=new_egid, sgid=sgid, fsgid=new_egid)


def sys_setresgid(old: Credentials, rgid: int, egid: int, sgid: int) -> Credentials | Errno:
    """kernel/sys.c ``__sys_setresgid``: as setresuid, for gids and CAP_SETGID."""
    rgid, egid, sgid = _ids(rgid, egid, sgid)
    olds = (old.gid, old.egid, old.sgid)
    if any(i != NO_ID and i not in olds for i in (rgid, egid, sgid)) \
            and not capable(old, CAP_SETGID):
        return Errno.EPERM
    new_egid = old.egid if egid == NO_ID else egid
    return attrs.evolve(old, gid=old.gid if rgid == NO_ID else rgid, egid=new_egid,
                        sgid=old.sgid if sgid == NO_ID else sgid, fsgid=new_egid)


def sys_capset(old: Credentials, effective: int, permitted: int,
               inheritable: int) -> Credentials | Errno:
    """kernel/capability.c ``capset`` (each set masked to the valid capabilities,
    ``mk_kernel_cap``) and security/commoncap.c ``cap_capset`` for the calling task: new
    inheritable bits must come from the old inheritable or permitted set unless CAP_SETPCAP
    (``cap_inh_is_capped``), and from the old inheritable or bounding set in any case; the
    permitted set may only shrink; the effective set must be within the new permitted one
    (EPERM). Measured: without CAP_SETPCAP, an inheritable bit of the permitted set is
    allowed and one outside it refused."""
    effective, permitted, inheritable = (v & CAP_FULL for v in (effective, permitted,
                                                                 inheritable))
    if not capable(old, CAP_SETPCAP) and inheritable & ~(old.cap_inheritable
                                                         | old.cap_permitted):
        return Errno.EPERM
    if inheritable & ~(old.cap_inheritable | old.cap_bset):
        return Errno.EPERM
    if permitted & ~old.cap_permitted:
        return Errno.EPERM
    if effective & ~permitted:
        return Errno.EPERM
    return attrs.evolve(old, cap_effective=effective, cap_permitted=permitted,
                        cap_inheritable=inheritable)


#: include/uapi/linux/securebits.h: the bits PR_SET_SECUREBITS may set (NOROOT,
#: NO_SETUID_FIXUP, KEEP_CAPS, NO_CAP_AMBIENT_RAISE, and since 6.14 EXEC_RESTRICT_FILE and
#: EXEC_DENY_INTERACTIVE: measured, 1<<8 and 1<<10 are accepted, 1<<12 refused), and the lock
#: bit above each.
SECURE_ALL_BITS = 0x555
SECURE_ALL_LOCKS = SECURE_ALL_BITS << 1
SECBIT_KEEP_CAPS_LOCKED = 1 << 5


def prctl_set_keepcaps(old: Credentials, arg2: int) -> Credentials | Errno:
    """security/commoncap.c ``cap_task_prctl`` PR_SET_KEEPCAPS: 0 or 1 (EINVAL), refused
    once SECBIT_KEEP_CAPS_LOCKED is set (EPERM)."""
    if arg2 > 1:
        return Errno.EINVAL
    if old.securebits & SECBIT_KEEP_CAPS_LOCKED:
        return Errno.EPERM
    bits = old.securebits | SECBIT_KEEP_CAPS if arg2 else old.securebits & ~SECBIT_KEEP_CAPS
    return attrs.evolve(old, securebits=bits)


def prctl_set_securebits(old: Credentials, bits: int) -> Credentials | Errno:
    """``cap_task_prctl`` PR_SET_SECUREBITS: no change to a locked bit, no unlocking, no
    unknown bit, and CAP_SETPCAP (EPERM)."""
    locks = old.securebits & SECURE_ALL_LOCKS
    if ((locks >> 1) & (old.securebits ^ bits) or locks & ~bits
            or bits & ~(SECURE_ALL_LOCKS | SECURE_ALL_BITS) or not capable(old, CAP_SETPCAP)):
        return Errno.EPERM
    return attrs.evolve(old, securebits=bits)


def cap_prctl_drop(old: Credentials, cap: int) -> Credentials | Errno:
    """security/commoncap.c ``cap_prctl_drop`` (PR_CAPBSET_DROP): CAP_SETPCAP (EPERM), then
    a capability this kernel knows (EINVAL); the bounding set loses it."""
    if not capable(old, CAP_SETPCAP):
        return Errno.EPERM
    if not 0 <= cap < len(CAP_NAMES_ORDERED):
        return Errno.EINVAL
    return attrs.evolve(old, cap_bset=old.cap_bset & ~(1 << cap))


def cred_at_exec(old: Credentials) -> Credentials:
    """security/commoncap.c ``cap_bprm_creds_from_file`` for a file without set-id bits or
    file capabilities: a task with a real or effective uid 0 gets the bounding set as its
    permitted set (effective too if its euid is 0); any other task loses its capabilities
    (no ambient set is modelled). The saved ids take the effective ones (``bprm_fill_uid``);
    SECBIT_KEEP_CAPS is cleared."""
    if 0 in (old.uid, old.euid) and not old.securebits & 1:  # SECBIT_NOROOT
        permitted = old.cap_bset | old.cap_inheritable
        effective = permitted if old.euid == 0 else 0
    else:
        permitted = effective = 0
    return attrs.evolve(old, suid=old.euid, sgid=old.egid, fsuid=old.euid, fsgid=old.egid,
                        cap_permitted=permitted, cap_effective=effective,
                        securebits=old.securebits & ~SECBIT_KEEP_CAPS)


ROOT = Credentials()

__all__ = ["Credentials", "capable", "in_group_p", "sys_setuid", "sys_setreuid",
           "sys_setresuid", "sys_setgid", "sys_setregid", "sys_setresgid", "sys_capset",
           "prctl_set_keepcaps", "prctl_set_securebits", "cap_prctl_drop", "cred_at_exec",
           "CAP_NAMES", "CAP_FULL", "ROOT"]
