"""File identities as the kernel shows them: path, device and inode (``stat``), size, and
whether the file system places large file mappings THP-aligned (``thp_get_unmapped_area``).

Where those facts come from is a :class:`FileSource`: :class:`HostFiles` reads this machine
(``stat``, /proc/self/mounts, the ELF headers on disk) and remembers which paths it read;
:class:`RecordedFiles` answers from the facts a recording saved (``files.json``, written by
``vasim record``) and never touches this machine, so a replay gives the same answer on every
host. A path the recording holds no facts for gets device 00:00 and inode 0 and is listed in
``missing``.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from pathlib import Path
from typing import Protocol

import attrs

from simulator.errors import InputError
from simulator.kernel.binfmt_elf import ElfImage, Segment
from simulator.kernel.anon_inodes import special_file
from simulator.kernel.vma import FileRef

#: File systems whose ``file_operations.get_unmapped_area`` is ``thp_get_unmapped_area``
#: in Linux 6.18 (fs/ext4/file.c, fs/xfs/xfs_file.c, fs/erofs/data.c, fs/fuse/file.c, fs/ext2).
THP_FILESYSTEMS = frozenset({"ext4", "ext2", "ext3", "xfs", "erofs", "fuse", "fuseblk", "bcachefs"})

#: Version of the ``files.json`` format.
FACTS_VERSION = 1


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


@attrs.frozen
class FileFacts:
    """What the kernel's mmap sees of one file: the resolved path (/proc shows it), device,
    inode, size and file-system type. A file that did not exist has device 00:00, inode 0."""

    path: str
    dev: str = "00:00"
    inode: int = 0
    size: int | None = None
    fstype: str | None = None
    #: /dev/zero (drivers/char/mem.c): its mappings follow ``get_unmapped_area_zero``.
    zero_device: bool = False
    #: Set-user-ID, or set-group-ID and group-executable, on a mount without nosuid: its
    #: exec clears PER_CLEAR_ON_SETID from the personality (fs/exec.c ``bprm_fill_uid``).
    setid: bool = False

    def file_ref(self, *, readable: bool = True, writable: bool = False) -> FileRef:
        """A fresh open file (``struct file``) of this file with the given access mode."""
        if self.zero_device:
            # get_unmapped_area_zero: THP placement for private mappings, shmem's for shared.
            return FileRef(self.path, self.dev, self.inode, thp_aligned=True,
                           readable=readable, writable=writable, zero_device=True)
        return FileRef(self.path, self.dev, self.inode,
                       thp_aligned=self.fstype in THP_FILESYSTEMS, size=self.size,
                       readable=readable, writable=writable)

    def to_json(self) -> dict:
        return {k: v for k, v in attrs.asdict(self).items()
                if v is not None and not (k == "zero_device" and not v)}


def stat_facts(path: str) -> FileFacts:
    """The facts of a file on this machine (``stat`` of its resolved path)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return FileFacts(real)
    if real == "/dev/zero":
        return FileFacts(real, dev_string(st.st_rdev and st.st_dev), st.st_ino,
                         fstype=filesystem_type(real), zero_device=True)
    return FileFacts(real, dev_string(st.st_dev), st.st_ino, st.st_size, filesystem_type(real),
                     setid=_setid(real, st.st_mode))


def _setid(path: str, mode: int) -> bool:
    """fs/exec.c ``bprm_fill_uid``: S_ISUID, or S_ISGID with S_IXGRP, and the mount allows
    set-id (``mnt_may_suid``: not nosuid)."""
    if not (mode & stat.S_ISUID or mode & (stat.S_ISGID | stat.S_IXGRP)
            == stat.S_ISGID | stat.S_IXGRP):
        return False
    try:
        return not os.statvfs(path).f_flag & os.ST_NOSUID
    except OSError:
        return True


def host_file(path: str, *, readable: bool = True, writable: bool = True) -> FileRef:
    """A :class:`FileRef` for a real file on this machine, opened with the given access; a
    memfd or anon_inode path (which no stat can see) as /proc names it."""
    special = special_file(path, readable=readable, writable=writable)
    if special is not None:
        return special
    return stat_facts(path).file_ref(readable=readable, writable=writable)


class FileSource(Protocol):
    """Where replay gets the facts of the files a trace opens and execs."""

    #: Paths whose facts were read from this machine (empty for a recording's own facts).
    host_paths: set[str]

    def file_ref(self, path: str, *, readable: bool = True, writable: bool = False) -> FileRef:
        """A fresh open file of ``path`` (a second call gives a second ``struct file``)."""

    def elf(self, path: str) -> ElfImage | None:
        """The program headers of an executable or interpreter, None when unknown."""

    def interpreter(self, path: str) -> str | None:
        """fs/binfmt_script.c ``load_script``: the interpreter a ``#!`` script names, None
        when ``path`` is not a script (or unknown)."""


def script_interpreter(path: str) -> str | None:
    """The interpreter named by the ``#!`` line of a file on this machine."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    return os.fsdecode(words[0]) if words else None


class HostFiles:
    """Facts read from this machine: what a bare strace log replays against."""

    def __init__(self):
        self.host_paths: set[str] = set()

    def file_ref(self, path: str, *, readable: bool = True, writable: bool = False) -> FileRef:
        self.host_paths.add(path)
        return host_file(path, readable=readable, writable=writable)

    def elf(self, path: str) -> ElfImage | None:
        from simulator.host.elf import read_elf  # host/elf.py builds on this module

        if not os.path.isfile(path):
            return None
        self.host_paths.add(path)
        try:
            return read_elf(path)
        except InputError:
            return None

    def interpreter(self, path: str) -> str | None:
        self.host_paths.add(path)
        return script_interpreter(path)

    def setid(self, path: str) -> bool:
        """The exec of ``path`` is a set-id exec (:attr:`FileFacts.setid`)."""
        self.host_paths.add(path)
        return stat_facts(path).setid


def elf_to_json(image: ElfImage) -> dict:
    return {"dynamic": image.dynamic, "interp": image.interp, "exec_stack": image.exec_stack,
            "segments": [attrs.astuple(seg) for seg in image.segments]}


class RecordedFiles:
    """Facts saved by a recording: ``files`` maps each path as the program named it (open,
    execve, PT_INTERP) to its :class:`FileFacts`; ``elves`` each exec'd path to its program
    headers. Nothing is read from this machine."""

    def __init__(self, files: dict[str, FileFacts], elves: dict[str, dict] | None = None,
                 source: str = "<facts>", scripts: dict[str, str] | None = None):
        self.files = dict(files)
        self.elves = dict(elves or {})
        #: exec'd ``#!`` scripts: path -> the interpreter their first line names.
        self.scripts = dict(scripts or {})
        self.source = source
        self.host_paths: set[str] = set()
        #: Paths asked for that the recording holds no facts of.
        self.missing: set[str] = set()

    def facts(self, path: str) -> FileFacts:
        facts = self.files.get(path) or self.files.get(os.path.normpath(path))
        if facts is None:
            by_resolved = [f for f in self.files.values() if f.path == path]
            if by_resolved:
                return by_resolved[0]
            self.missing.add(path)
            return FileFacts(path)
        return facts

    def file_ref(self, path: str, *, readable: bool = True, writable: bool = False) -> FileRef:
        special = special_file(path, readable=readable, writable=writable)
        if special is not None:
            return special
        return self.facts(path).file_ref(readable=readable, writable=writable)

    def elf(self, path: str) -> ElfImage | None:
        entry = self.elves.get(path)
        if entry is None:
            if path not in self.scripts:
                self.missing.add(path)
            return None
        segments = tuple(Segment(*seg) for seg in entry["segments"])
        return ElfImage(self.file_ref(path), entry["dynamic"], segments, entry.get("interp"),
                        entry.get("exec_stack", False))

    def interpreter(self, path: str) -> str | None:
        return self.scripts.get(path)

    def setid(self, path: str) -> bool:
        """As recorded (recordings before this fact was saved: False)."""
        return bool(self.facts(path).setid)

    def to_json(self) -> dict:
        data = {"version": FACTS_VERSION,
                "files": {p: f.to_json() for p, f in sorted(self.files.items())},
                "elf": dict(sorted(self.elves.items()))}
        if self.scripts:
            data["scripts"] = dict(sorted(self.scripts.items()))
        return data

    @classmethod
    def from_json(cls, data, source: str = "<facts>") -> RecordedFiles:
        """Read the ``files.json`` form; malformed facts are an InputError."""
        try:
            if data.get("version") != FACTS_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            files = {p: FileFacts(**{k: v for k, v in f.items() if k != "how"})
                     for p, f in data["files"].items()}
            elves = {}
            for path, entry in data.get("elf", {}).items():
                [Segment(*seg) for seg in entry["segments"]]  # checks the shape
                elves[path] = entry
            scripts = {str(p): str(i) for p, i in data.get("scripts", {}).items()}
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise InputError(source, None, f"bad file facts: {err}") from None
        return cls(files, elves, source, scripts)

    @classmethod
    def load(cls, path) -> RecordedFiles:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            raise InputError(str(path), None, f"cannot read: {err.strerror or err}") from None
        except json.JSONDecodeError as err:
            raise InputError(str(path), err.lineno, err.msg, err.colno) from None
        return cls.from_json(data, str(path))
