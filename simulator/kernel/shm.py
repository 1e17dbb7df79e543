"""SysV shared memory: shmget, shmat, shmdt, shmctl(IPC_RMID, IPC_SET) (ipc/shm.c, 6.18).

A segment is a shmem file named ``SYSV%08x`` after its key; every shmat maps it MAP_SHARED
through ``do_mmap`` (so placement is ``get_unmapped_area``'s, like a shared mapping of a
file), with a file of its own per attach: two attaches never merge. /proc shows the mapping
as ``/SYSV%08x (deleted)`` on device 00:01 with the segment's shmem inode.

The namespace (segments by id) hangs off the :class:`~simulator.kernel.mm.AddressSpace`
(``mm.shm_ns``) but is the task's: a fork shares it, an exec hands it on; ids count from 0
(``ipc_idr_alloc`` with a fresh namespace), while the kernel's ids
and inodes depend on the machine's history. Inodes are numbered with the mm's other shmem
objects, on first attach.

Permissions (ipc/util.c ``ipcperms``): a segment keeps the mode bits of its shmget, its owner
and creator (the creating task's effective uid and gid, ``ipc_addid``); shmget of an
existing key and shmat check them against the caller's effective uid, fs gid and groups
(:mod:`simulator.kernel.cred`), CAP_IPC_OWNER passing every check. shmctl(IPC_RMID,
IPC_SET) is for the owner, the creator or CAP_SYS_ADMIN (``ipcctl_obtain_check``, EPERM).

Lifetime: ``attached`` counts attaches (``shm_nattch`` counts VMAs; the two agree on when it
reaches 0). shmat adds one, a fork adds the child's copies (:func:`shm_fork`), shmdt and the
end of an address space (exit, exec: :func:`exit_shm`) take them away; a segment removed
with IPC_RMID keeps its id, attachable, until the count is 0.
"""

from __future__ import annotations

import attrs

from simulator.kernel.cred import CAP_IPC_OWNER, CAP_SYS_ADMIN, Credentials, capable, in_group_p
from simulator.kernel.mmap import do_mmap
from simulator.kernel.munmap import unmap_range
from simulator.kernel.uapi import MAP_FIXED, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE, Errno
from simulator.kernel.vma import FileRef
from simulator.units import PAGE_MASK, PAGE_SIZE, page_align

IPC_PRIVATE = 0
IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_RMID = 0
IPC_SET = 1
SHM_RDONLY = 0o10000
SHM_RND = 0o20000
SHM_REMAP = 0o40000
SHM_EXEC = 0o100000
#: x86 and arm64 SHMLBA: one page (arm's 4-page SHMLBA is not modelled).
SHMLBA = PAGE_SIZE
#: The defaults of kernel.shmmax, shmall (pages) and shmmni (include/uapi/linux/shm.h).
SHMMAX = (1 << 64) - 1 - (1 << 24)
SHMALL = (1 << 64) - 1 - (1 << 24)
SHMMNI = 4096

SHM_NAMES = {"SHM_RDONLY": SHM_RDONLY, "SHM_RND": SHM_RND, "SHM_REMAP": SHM_REMAP,
             "SHM_EXEC": SHM_EXEC}
IPC_NAMES = {"IPC_PRIVATE": IPC_PRIVATE, "IPC_CREAT": IPC_CREAT, "IPC_EXCL": IPC_EXCL,
             "SHM_HUGETLB": 0o4000, "SHM_NORESERVE": 0o10000}
IPC_CMD_NAMES = {"IPC_RMID": IPC_RMID, "IPC_SET": 1, "IPC_STAT": 2, "IPC_INFO": 3,
                 "SHM_LOCK": 11, "SHM_UNLOCK": 12, "SHM_STAT": 13, "SHM_INFO": 14,
                 "SHM_STAT_ANY": 15, "IPC_64": 0x100}


@attrs.define
class Segment:
    """One ``struct shmid_kernel``."""

    key: int
    size: int
    #: ``shm_perm``: mode bits (S_IRWXUGO), owner and creator ids.
    mode: int = 0o600
    uid: int = 0
    gid: int = 0
    cuid: int = 0
    cgid: int = 0
    inode: int | None = None
    attached: int = 0
    removed: bool = False


@attrs.define
class ShmNamespace:
    """``ipc_namespace`` shm ids: segments by id."""

    segments: dict[int, Segment] = attrs.field(factory=dict)
    next_id: int = 0

    def by_key(self, key: int) -> tuple[int, Segment] | None:
        for shmid, seg in self.segments.items():
            if seg.key == key and not seg.removed and key != IPC_PRIVATE:
                return shmid, seg
        return None


S_IRUGO = 0o444
S_IWUGO = 0o222
S_IXUGO = 0o111
S_IRWXUGO = 0o777


def ipcperms(cred: Credentials, seg: Segment, flag: int) -> bool:
    """ipc/util.c ``ipcperms``: may a task with ``cred`` have the access of ``flag``'s mode
    bits (e.g. S_IRUGO|S_IWUGO)? The owner or creator class if the effective uid is one of
    them, else the group class if the caller is in the owner's or creator's group, else the
    other class; CAP_IPC_OWNER grants everything. True means allowed."""
    requested = (flag >> 6) | (flag >> 3) | flag
    granted = seg.mode
    if cred.euid in (seg.cuid, seg.uid):
        granted >>= 6
    elif in_group_p(cred, seg.cgid) or in_group_p(cred, seg.gid):
        granted >>= 3
    return not (requested & ~granted & 0o7) or capable(cred, CAP_IPC_OWNER)


def ksys_shmget(mm, key: int, size: int, shmflg: int) -> int | Errno:
    """``ipcget`` / ``newseg``: a new segment for IPC_PRIVATE or an unknown key with
    IPC_CREAT (EINVAL for size 0 or above shmmax, ENOSPC past shmall/shmmni); an existing
    key's id (EEXIST with IPC_CREAT|IPC_EXCL, EINVAL if ``size`` exceeds it); ENOENT for an
    unknown key without IPC_CREAT. O(segments)."""
    ns = mm.shm_ns
    found = ns.by_key(key)
    if found is not None:
        shmid, seg = found
        if shmflg & IPC_CREAT and shmflg & IPC_EXCL:
            return Errno.EEXIST
        if size > seg.size:
            return Errno.EINVAL  # shm_more_checks
        if not ipcperms(mm.cred, seg, shmflg):
            return Errno.EACCES  # ipc_check_perms
        return shmid
    if key != IPC_PRIVATE and not shmflg & IPC_CREAT:
        return Errno.ENOENT
    if size < 1 or size > SHMMAX:
        return Errno.EINVAL
    if sum(1 for s in ns.segments.values() if not s.removed) >= SHMMNI:
        return Errno.ENOSPC
    shmid = ns.next_id
    ns.next_id += 1
    cred = mm.cred
    ns.segments[shmid] = Segment(key, size, mode=shmflg & S_IRWXUGO, uid=cred.euid,
                                 gid=cred.egid, cuid=cred.euid, cgid=cred.egid)
    return shmid


def do_shmat(mm, shmid: int, addr: int, shmflg: int) -> int | Errno:
    """ipc/shm.c ``do_shmat``: the attach address or an Errno, in the kernel's order:
    address rounding (SHM_RND) and alignment, SHM_REMAP without an address, the segment,
    an overlap check without SHM_REMAP (EINVAL, where MAP_FIXED would replace), then
    ``do_mmap(MAP_SHARED [| MAP_FIXED])``."""
    flags = MAP_SHARED
    if shmid < 0:
        return Errno.EINVAL
    if addr:
        if addr & (SHMLBA - 1):
            if shmflg & SHM_RND:
                addr &= ~(SHMLBA - 1)
                if not addr and shmflg & SHM_REMAP:
                    return Errno.EINVAL
            elif addr & ~PAGE_MASK:
                return Errno.EINVAL
        flags |= MAP_FIXED
    elif shmflg & SHM_REMAP:
        return Errno.EINVAL
    prot = PROT_READ if shmflg & SHM_RDONLY else PROT_READ | PROT_WRITE
    acc_mode = S_IRUGO if shmflg & SHM_RDONLY else S_IRUGO | S_IWUGO
    if shmflg & SHM_EXEC:
        prot |= PROT_EXEC
        acc_mode |= S_IXUGO
    seg = mm.shm_ns.segments.get(shmid)
    if seg is None or (seg.removed and not seg.attached):
        return Errno.EINVAL  # shm_obtain_object_check: the id is gone
    if not ipcperms(mm.cred, seg, acc_mode):
        return Errno.EACCES
    size = seg.size
    if addr and not shmflg & SHM_REMAP:
        if addr + size >= 1 << mm.profile.kernel_bits:
            return Errno.EINVAL
        if mm.vmas_in(addr, addr + size):
            return Errno.EINVAL
    if seg.inode is None:
        mm.shmem_objects += 1
        seg.inode = mm.shmem_objects
    file = FileRef(f"/SYSV{seg.key & 0xFFFFFFFF:08x} (deleted)", dev="00:01", inode=seg.inode,
                   writable=not shmflg & SHM_RDONLY, size=size, shm_id=shmid)
    result = do_mmap(mm, file, addr, size, prot, flags, 0)
    if not isinstance(result, Errno):
        seg.attached += 1
    return result


def _is_attach_of(vma, addr: int) -> bool:
    """A piece of a shm attach that starts where ``addr`` would put it."""
    f = vma.file
    return (f is not None and f.shm_id is not None and vma.start >= addr
            and (vma.start - addr) // PAGE_SIZE == vma.pgoff)


def sys_shmdt(mm, addr: int) -> int | Errno:
    """ipc/shm.c ``ksys_shmdt``: unmap the attach that starts at ``addr`` (any VMA above
    ``addr`` whose page offset matches its distance from ``addr``), then every other piece
    of the same attach within the segment's size. EINVAL if there is none. Unmapping
    errors are ignored, so a sealed attach stays mapped and shmdt still returns 0."""
    if addr & ~PAGE_MASK:
        return Errno.EINVAL
    vma = mm.find_vma(addr)
    file = None
    while vma is not None:
        if _is_attach_of(vma, addr):
            file = vma.file
            unmap_range(mm, vma.start, vma.end)
            break
        vma = mm.next_vma(vma)
    if file is None:
        return Errno.EINVAL
    seg = mm.shm_ns.segments.get(file.shm_id)
    size = page_align(file.size)
    vma = mm.find_vma(addr)
    while vma is not None and vma.end - addr <= size:
        nxt = mm.next_vma(vma)
        if _is_attach_of(vma, addr) and vma.file is file:
            unmap_range(mm, vma.start, vma.end)
        vma = nxt
    if seg is not None and not any(v.file is file for v in mm.vmas_in(addr, addr + size)):
        seg.attached -= 1
        if seg.removed and seg.attached <= 0:
            del mm.shm_ns.segments[file.shm_id]
    return 0


def ipcctl_obtain_check(mm, shmid: int) -> Segment | Errno:
    """ipc/util.c ``ipcctl_obtain_check``: the segment, if the caller's effective uid owns or
    created it or it has CAP_SYS_ADMIN (EPERM); EINVAL for an unknown id. A segment marked
    for removal keeps its id until its last detach (``SHM_DEST``)."""
    seg = mm.shm_ns.segments.get(shmid)
    if seg is None:
        return Errno.EINVAL
    cred = mm.cred
    if cred.euid not in (seg.cuid, seg.uid) and not capable(cred, CAP_SYS_ADMIN):
        return Errno.EPERM
    return seg


def _attaches(mm) -> dict[int, int]:
    """Attaches in ``mm`` per segment id: distinct attach files (one per shmat). O(n)."""
    files: dict[int, object] = {}
    for vma in mm.vmas():
        f = vma.file
        if f is not None and f.shm_id is not None:
            files[id(f)] = f
    counts: dict[int, int] = {}
    for f in files.values():
        counts[f.shm_id] = counts.get(f.shm_id, 0) + 1
    return counts


def shm_fork(child) -> None:
    """The attaches a fork copies (``dup_mmap`` opens each VMA: ``shm_open`` raises
    ``shm_nattch``): counted on the segments of the shared namespace. O(n)."""
    for shmid, count in _attaches(child).items():
        seg = child.shm_ns.segments.get(shmid)
        if seg is not None:
            seg.attached += count


def exit_shm(mm) -> None:
    """The last task using ``mm`` is gone (exit, or exec replacing it: ``exit_mmap`` →
    ``shm_close``): its attaches are dropped, and a segment marked for removal goes with its
    last one (``shm_destroy``). O(n)."""
    for shmid, count in _attaches(mm).items():
        seg = mm.shm_ns.segments.get(shmid)
        if seg is not None:
            seg.attached -= count
            if seg.removed and seg.attached <= 0:
                del mm.shm_ns.segments[shmid]


def shmctl_rmid(mm, shmid: int) -> int | Errno:
    """shmctl(IPC_RMID): the key is released now, the segment when the last attach goes
    (``do_shm_rmid``). EINVAL for an unknown id, EPERM for another user's segment."""
    seg = ipcctl_obtain_check(mm, shmid)
    if isinstance(seg, Errno):
        return seg
    seg.removed = True
    if not seg.attached:
        del mm.shm_ns.segments[shmid]
    return 0


def shmctl_set(mm, shmid: int, uid: int, gid: int, mode: int) -> int | Errno:
    """shmctl(IPC_SET) (``shmctl_down`` → ``ipc_update_perm``): a new owner and mode bits,
    for the owner, the creator or CAP_SYS_ADMIN."""
    seg = ipcctl_obtain_check(mm, shmid)
    if isinstance(seg, Errno):
        return seg
    seg.uid, seg.gid = uid, gid
    seg.mode = (seg.mode & ~S_IRWXUGO) | (mode & S_IRWXUGO)
    return 0


__all__ = ["ipcperms", "shmctl_set", "shm_fork", "exit_shm", "ksys_shmget", "do_shmat",
           "sys_shmdt", "shmctl_rmid", "ShmNamespace"]
