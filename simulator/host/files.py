"""File identities as the kernel shows them: path, device and inode (``stat``), and whether
the file system places large file mappings THP-aligned (``thp_get_unmapped_area``)."""

from __future__ import annotations

import functools
import os

from simulator.kernel.anon_inodes import special_file
from simulator.kernel.vma import FileRef

#: File systems whose ``file_operations.get_unmapped_area`` is ``thp_get_unmapped_area``
#: in Linux 6.18 (fs/ext4/file.c, fs/xfs/xfs_file.c, fs/erofs/data.c, fs/fuse/file.c, fs/ext2).
THP_FILESYSTEMS = frozenset({"ext4", "ext2", "ext3", "xfs", "erofs", "fuse", "fuseblk", "bcachefs"})


def dev_string(st_dev: int) -> str:
    """The MAJ:MIN column of /proc/PID/maps."""
    return f"{os.major(st_dev):02x}:{os.minor(st_dev):02x}"


@functools.lru_cache(maxsize=None)
def _mounts() -> tuple[tuple[str, str], ...]:
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            entries = [line.split()[1:3] for line in f if len(line.split()) > 2]
    except OSError:
        return ()
    return tuple(sorted(((mp, fs) for mp, fs in entries), key=lambda e: len(e[0]), reverse=True))


def filesystem_type(path: str) -> str | None:
    """The type of the file system holding ``path`` (longest matching mount point)."""
    real = os.path.realpath(path)
    for mount_point, fstype in _mounts():
        if real == mount_point or real.startswith(mount_point.rstrip("/") + "/"):
            return fstype
    return None


def host_file(path: str, *, readable: bool = True, writable: bool = True) -> FileRef:
    """A :class:`FileRef` for a real file, opened with the given access: its resolved path (as
    /proc shows it), device, inode, size and THP placement. A file that does not exist here
    gets device 00:00 and inode 0."""
    special = special_file(path, readable=readable, writable=writable)
    if special is not None:
        return special
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return FileRef(real, readable=readable, writable=writable)
    if real == "/dev/zero":
        # get_unmapped_area_zero: THP placement for private mappings, shmem's for shared.
        return FileRef(real, dev_string(st.st_rdev and st.st_dev), st.st_ino, thp_aligned=True,
                       readable=readable, writable=writable, zero_device=True)
    return FileRef(real, dev_string(st.st_dev), st.st_ino,
                   thp_aligned=filesystem_type(real) in THP_FILESYSTEMS, size=st.st_size,
                   readable=readable, writable=writable)
