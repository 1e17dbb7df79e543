"""Turn a real /proc/PID/maps (or smaps, or gdb's listing) into a simulated address space.

The maps text shows ranges, permissions, offsets and names, but not everything the kernel
uses: VM_ACCOUNT, VM_GROWSDOWN, anon_vma and the mm's brk. This module infers them the way the
kernel would have set them for an ordinary process, and documents each guess:

* flags: from smaps ``VmFlags`` when present; otherwise from the permissions, with VM_ACCOUNT
  for private writable mappings (``accountable_mapping``) and VM_GROWSDOWN for ``[stack]``;
* anon_vma: private writable mappings are assumed written (they hold data, bss, heap,
  stacks); neighbours split from one VMA (same file or anonymous, contiguous offsets) share it;
* brk: ``[heap]`` gives start_brk and brk; without it, brk starts at the page-aligned end of the
  main executable's last mapping (including an anonymous bss right after it);
* two neighbours that look mergeable were nevertheless kept apart by the kernel, so they get
  distinct ``nomerge`` tokens.
"""

from __future__ import annotations

import itertools
import os

from simulator.errors import InputError
from simulator.host.files import FileSource, HostFiles
from simulator.kernel.arch import GateArea, Profile
from simulator.kernel.config import KernelConfig, ProcessConfig
from simulator.kernel.exec import empty_address_space
from simulator.kernel.mm import AddressSpace
from simulator.kernel.vma import (
    SMAPS_FLAG_NAMES, VM_ACCOUNT, VM_DONTDUMP, VM_DONTEXPAND, VM_EXEC, VM_GROWSDOWN, VM_IO,
    VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_PFNMAP, VM_READ, VM_SHARED, VM_WRITE,
    FileRef, Vma, new_anon_vma_id,
)
from simulator.trace.procmaps import MapsEntry
from simulator.units import PAGE_SHIFT, PAGE_SIZE, page_align

#: Names of kernel-installed mappings that are VMAs in the tree.
SPECIAL_NAMES = frozenset({"[vdso]", "[vvar]", "[vvar_vclock]", "[sigpage]", "[vectors]", "[uprobes]"})
#: Names printed by /proc but not in the VMA tree (get_gate_vma).
GATE_NAMES = frozenset({"[vsyscall]"})
INTERPRETER_HINTS = ("/ld-linux", "/ld-musl", "/ld.so", "/ld64.so")

_nomerge_ids = itertools.count(1)


def _flags_from_perms(perms: str) -> int:
    flags = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    if perms[0] == "r":
        flags |= VM_READ
    if perms[1] == "w":
        flags |= VM_WRITE
    if perms[2] == "x":
        flags |= VM_EXEC
    if perms[3] == "s":
        flags |= VM_SHARED | VM_MAYSHARE
    return flags


def _flags(entry: MapsEntry) -> int:
    if entry.vmflags is not None:
        flags = 0
        for name in entry.vmflags:
            flags |= SMAPS_FLAG_NAMES.get(name, 0)
        return flags
    perms = entry.perms or "rw-p"
    flags = _flags_from_perms(perms)
    if entry.name in SPECIAL_NAMES:
        flags = flags & ~VM_MAYWRITE | VM_DONTEXPAND
        if entry.name.startswith("[vvar"):
            flags |= VM_IO | VM_PFNMAP | VM_DONTDUMP
            flags &= ~(VM_MAYEXEC | VM_MAYWRITE)
        return flags
    if flags & (VM_WRITE | VM_SHARED) == VM_WRITE:
        flags |= VM_ACCOUNT
    if entry.name == "[stack]":
        flags |= VM_GROWSDOWN
    return flags


def _file_ref(entry: MapsEntry, files: dict, source: FileSource) -> FileRef | None:
    """The open file behind an entry: one per (device, inode, path), since a library's
    mappings all come from one open(). gdb listings carry no device or inode: ``source``
    supplies them, and for every file whether its file system places large mappings
    THP-aligned."""
    name = entry.name
    if not name or name.startswith("["):
        return None
    if name.startswith("/dev/zero") or name.startswith("/SYSV") or name.startswith("/memfd:"):
        # shmem: every mapping is its own object.
        return FileRef(name, entry.dev, entry.inode, shmem=True)
    key = (entry.dev, entry.inode, name)
    if key not in files:
        path = name[: -len(" (deleted)")] if name.endswith(" (deleted)") else name
        facts = source.file_ref(path)
        dev, inode = entry.dev, entry.inode
        if dev == "00:00" and inode == 0:
            dev, inode = facts.dev, facts.inode
        files[key] = FileRef(name, dev, inode, thp_aligned=facts.thp_aligned)
    return files[key]


def _looks_like_library(name: str) -> bool:
    base = os.path.basename(name)
    return (any(h in name for h in INTERPRETER_HINTS) or base.endswith(".so")
            or ".so." in base)


def _main_executable(entries, files_of, exe_names: tuple[str, ...]):
    """The entries of the main executable: the one named in ``exe_names`` (the path as
    exec'd and as resolved); else the first file mapped from offset 0 whose name does not
    look like a shared object or ELF interpreter; else the first file mapping."""
    if exe_names:
        named = [e for e in entries if e.name in exe_names]
        if named:
            return named
    candidates = [e for e in entries
                  if files_of[e.line] is not None and not files_of[e.line].shmem
                  and e.offset == 0]
    for entry in candidates:
        if not _looks_like_library(entry.name):
            return [e for e in entries if e.name == entry.name]
    if candidates:
        return [e for e in entries if e.name == candidates[0].name]
    return []


def address_space_from_maps(entries: tuple[MapsEntry, ...], profile: Profile, *,
                            kconfig: KernelConfig = KernelConfig(),
                            proc: ProcessConfig = ProcessConfig(),
                            source: str = "<maps>", exe_path: str | None = None,
                            assume_written: bool = True,
                            files: FileSource | None = None) -> AddressSpace:
    """Build an address space holding exactly the mappings in ``entries``; file facts the
    maps do not show come from ``files`` (default: this machine's, :class:`HostFiles`)."""
    mm = empty_address_space(profile, kconfig, proc)
    file_source = HostFiles() if files is None else files
    refs: dict = {}
    files_of = {e.line: _file_ref(e, refs, file_source) for e in entries}
    gate = None
    vmas: list[Vma] = []
    for entry in entries:
        if entry.name in GATE_NAMES or (profile.gate is not None and entry.name == profile.gate.name
                                        and entry.start == profile.gate.start):
            gate = GateArea(entry.name, entry.start, entry.end, entry.perms or "--xp")
            continue
        if entry.end > mm.task_size:
            raise InputError(source, entry.line,
                             f"mapping {entry.start:#x}-{entry.end:#x} lies above TASK_SIZE "
                             f"{mm.task_size:#x} of {profile.name}; wrong --arch?")
        file = files_of[entry.line]
        flags = _flags(entry)
        special = entry.name if entry.name in SPECIAL_NAMES else None
        pgoff = entry.offset >> PAGE_SHIFT if file is not None else entry.start >> PAGE_SHIFT
        anon_name = entry.name[6:-1] if entry.name.startswith("[anon:") else None
        vma = Vma(entry.start, entry.end, flags, pgoff, file, special=special,
                  anon_name=anon_name)
        private_written = (assume_written and flags & (VM_WRITE | VM_SHARED) == VM_WRITE
                           and special is None)
        prev = vmas[-1] if vmas else None
        # The heap right after the executable's anonymous bss (brk never merges them) shares
        # its anon_vma once both are written (mm/rmap.c find_mergeable_anon_vma looks at both
        # neighbours), so mprotect or mlock over both merges them (measured under QEMU).
        heap_on_bss = (entry.name == "[heap]" and prev is not None and prev.end == vma.start
                       and prev.file is None and prev.special is None and prev.flags == flags)
        if private_written or entry.name == "[stack]":
            shared = (prev is not None and prev.end == vma.start and prev.file is file
                      and prev.anon_vma is not None
                      and prev.pgoff + prev.pages == vma.pgoff)
            vma = vma._replace(anon_vma=prev.anon_vma if shared else new_anon_vma_id())
        if vmas and mm.is_mergeable(vmas[-1], vma) and not heap_on_bss:
            vmas[-1] = vmas[-1]._replace(nomerge=next(_nomerge_ids))
            vma = vma._replace(nomerge=next(_nomerge_ids))
        vmas.append(vma)
    for vma in vmas:
        mm._insert(vma)
    mm.gate = gate if gate is not None or profile.gate is None else None
    exe_names = (exe_path, file_source.file_ref(exe_path).path) if exe_path is not None else ()
    _set_brk_and_stack(mm, entries, files_of, exe_names)
    return mm


def _set_brk_and_stack(mm: AddressSpace, entries, files_of, exe_names: tuple[str, ...]) -> None:
    for entry in entries:
        if entry.name == "[stack]":
            mm.start_stack = entry.end - PAGE_SIZE
    heap = [e for e in entries if e.name == "[heap]"]
    if heap:
        mm.start_brk, mm.current_brk = heap[0].start, heap[-1].end
        return
    exe = _main_executable(entries, files_of, exe_names)
    if not exe:
        return
    end = max(e.end for e in exe)
    # An anonymous bss directly after the executable belongs to it.
    for entry in entries:
        if entry.start == end and files_of[entry.line] is None and not entry.name:
            end = entry.end
    mm.start_brk = mm.current_brk = page_align(end)
