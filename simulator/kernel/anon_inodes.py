"""Files with no path of their own, named as /proc/PID/maps shows their mappings (measured
on the reference machine, Linux 6.18):

* memfd_create(NAME): a shmem file, ``/memfd:NAME (deleted)`` on 00:01 (mm/memfd.c);
* anon_inode files (fs/anon_inodes.c): ``anon_inode:[io_uring]`` for io_uring's rings
  (mapped at the offsets IORING_OFF_SQ_RING 0 and IORING_OFF_SQES 0x10000000), and
  ``anon_inode:NAME`` for the others, all on the anon_inode mount (00:10 here) and sharing
  its one inode.

Use them as the ``file`` of an mmap: a shared mapping of one such FileRef merges like any
file mapping; two memfd_create calls give two files.
"""

from __future__ import annotations

from simulator.kernel.vma import FileRef

#: The anon_inode file system's device here (fs/anon_inodes.c mounts one per boot).
ANON_INODE_DEV = "00:10"


def memfd_file(name: str, size: int | None = None, inode: int = 0) -> FileRef:
    """A memfd_create(``name``) file (``MFD_`` flags do not change the name)."""
    return FileRef(f"/memfd:{name} (deleted)", dev="00:01", inode=inode, size=size)


def anon_inode_file(name: str, inode: int = 0) -> FileRef:
    """An anon_inode file such as ``[io_uring]``, ``[perf_event]`` or ``[kvm-vcpu]``."""
    return FileRef(f"anon_inode:{name}", dev=ANON_INODE_DEV, inode=inode)


def special_file(path: str, *, readable: bool = True, writable: bool = True) -> FileRef | None:
    """The FileRef for a path as strace -y and /proc show a memfd (``/memfd:NAME
    (deleted)``) or an anon_inode file (``anon_inode:[io_uring]``); None for any other path.
    Such paths exist nowhere on disk: ``realpath`` and ``stat`` would misname them."""
    if path.startswith("/memfd:"):
        name = path[len("/memfd:"):]
        name = name[: -len(" (deleted)")] if name.endswith(" (deleted)") else name
        return FileRef(f"/memfd:{name} (deleted)", dev="00:01", readable=readable,
                       writable=writable)
    if path.startswith("anon_inode:"):
        return FileRef(path, dev=ANON_INODE_DEV, readable=readable, writable=writable)
    return None


__all__ = ["memfd_file", "anon_inode_file", "special_file"]
