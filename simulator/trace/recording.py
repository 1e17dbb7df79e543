"""A recording directory, as ``vasim record`` writes it and ``vasim replay DIR`` reads it.

A trace shows the calls and their returns, but not the facts the kernel's answers depend on
outside the process: which device and inode each mapped file has (the maps' inode column),
its size, the file system it lives on (ext4 and xfs place file mappings of 2 MiB or more on
2 MiB boundaries), the program headers of each exec'd binary and its interpreter, and what
each process's address space looked like at exit. A recording saves them next to the trace:

===================  ====================================================================
``trace.txt[.gz]``   the ``strace -f -y`` log (gzip'd when over 32 KiB)
``initial.maps``     /proc/PID/maps of the first program at the end of its execve
``final.maps``       /proc/PID/maps of that process when it enters exit_group
``final-PID.maps``   the same for every other process (forks, their execs)
``files.json``       the facts of every file mapped or exec'd (:class:`RecordedFiles`)
``meta.json``        command, personality, rlimit, kernel and vasim versions
===================  ====================================================================

Large files may be stored gzip'd (NAME.gz); :func:`read_text` takes either.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import attrs

from simulator.errors import InputError
from simulator.host.files import (
    FileFacts, RecordedFiles, elf_to_json, filesystem_type, script_interpreter, stat_facts,
)
from simulator.kernel.uapi import MAP_ANONYMOUS
from simulator.trace.procmaps import MapsEntry, parse_maps
from simulator.trace.strace import FileEvent, MemoryCall, Trace, parse_strace

#: Files larger than this are stored gzip'd.
COMPRESS_ABOVE = 32 * 1024
_FINAL = re.compile(r"final-(\d+)\.maps$")
_SHMEM = re.compile(r"^(\S+ \S+ \S+ \S+ )(\d+)( +/dev/zero \(deleted\)| +/SYSV\S*( \(deleted\))?"
                    r"| +/memfd:.*| +anon_inode:.*)$",
                    re.M)


def comparable_maps(maps: str) -> str:
    """Maps text with shmem inode numbers (shared anonymous memory, SysV segments, memfds)
    and anon_inode ones (io_uring's rings...) renumbered in order of first appearance: the
    kernel draws them from a global counter (``get_next_ino``), so only their identity can
    match."""
    numbers: dict[str, str] = {}
    return _SHMEM.sub(lambda m: m.group(1) + numbers.setdefault(m.group(2), str(len(numbers)))
                      .ljust(len(m.group(2))) + m.group(3), maps)


def read_text(path: Path) -> str | None:
    """The text of ``path`` or ``path.gz``; None when neither exists."""
    try:
        if path.exists():
            return path.read_text(encoding="utf-8", errors="surrogateescape")
        gz = path.with_name(path.name + ".gz")
        if gz.exists():
            return gzip.decompress(gz.read_bytes()).decode("utf-8", "surrogateescape")
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise InputError(str(path), None, f"cannot read: {err}") from None
    return None


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path``, or gzip'd to ``path.gz`` when large (mtime 0: the same
    text gives the same bytes)."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= COMPRESS_ABOVE:
        path.write_bytes(data)
        return path
    gz = path.with_name(path.name + ".gz")
    gz.write_bytes(gzip.compress(data, mtime=0))
    return gz


@attrs.frozen
class Recording:
    """A recording directory, read."""

    directory: Path
    trace: Trace
    trace_name: str
    initial_maps: tuple[MapsEntry, ...] | None
    #: pid -> final /proc/PID/maps text; the first process under ``root_pid``.
    final_maps: dict
    root_pid: int | None
    files: RecordedFiles
    meta: dict

    @property
    def root_final_maps(self) -> str | None:
        return self.final_maps.get(self.root_pid)


def is_recording(path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "files.json").exists()


_WORD = 1 << 64


def _limit_ok(value) -> bool:
    return value == "unlimited" or (type(value) is int and 0 <= value < _WORD)


def _hex_ok(value) -> bool:
    try:
        return isinstance(value, str) and 0 <= int(value, 16) < _WORD and len(value) <= 18
    except ValueError:
        return False


def _id_list(value, count: int | None) -> bool:
    return (isinstance(value, list) and (count is None or len(value) == count)
            and all(type(v) is int and 0 <= v < 1 << 32 for v in value))


#: meta.json keys replay reads: key -> (test of the value, what it must be).
_META_CHECKS = {
    "pid": (lambda v: type(v) is int and 0 < v < 1 << 22, "a pid"),
    "arch": (lambda v: isinstance(v, str), "a profile name"),
    "personality": (lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
                    "a list of flag names"),
    "personality_raw": (_hex_ok, "a hex number"),
    "rlimit_stack": (_limit_ok, "a byte count or \"unlimited\""),
    "auxv": (lambda v: isinstance(v, dict) and all(_hex_ok(x) or type(x) is int and x >= 0
                                                   for x in v.values()),
             "an object of hex numbers"),
    "stat_mm_initial": (lambda v: isinstance(v, dict) and all(_hex_ok(x) for x in v.values()),
                        "an object of hex numbers"),
}
#: meta.json ``creds`` keys (/proc/PID/status) -> (test, what it must be).
_CREDS_CHECKS = {
    "uid": (lambda v: _id_list(v, 4), "a list of 4 ids"),
    "gid": (lambda v: _id_list(v, 4), "a list of 4 ids"),
    "groups": (lambda v: _id_list(v, None), "a list of ids"),
    **{key: (_hex_ok, "a hex mask") for key in ("CapEff", "CapPrm", "CapInh", "CapBnd")},
}


def check_meta(meta, source: str) -> None:
    """The keys of meta.json replay reads hold what ``vasim record`` writes (InputError
    naming the first that does not; null counts as absent). O(size of meta)."""
    if not isinstance(meta, dict):
        raise InputError(source, None, "not a JSON object")
    for key, (ok, what) in _META_CHECKS.items():
        value = meta.get(key)
        if value is not None and not ok(value):
            raise InputError(source, None, f"{key!r} must be {what}, not {_short(value)}")
    creds = meta.get("creds")
    if creds is not None:
        if not isinstance(creds, dict) or "uid" not in creds or "CapEff" not in creds:
            raise InputError(source, None, f"'creds' must be an object with uid, gid, CapEff... "
                                           f"(/proc/PID/status), not {_short(creds)}")
        for key, (ok, what) in _CREDS_CHECKS.items():
            if key in creds and not ok(creds[key]):
                raise InputError(source, None,
                                 f"'creds.{key}' must be {what}, not {_short(creds[key])}")
    rlimits = meta.get("rlimits")
    if rlimits is not None:
        if not isinstance(rlimits, dict):
            raise InputError(source, None, f"'rlimits' must be an object, not {_short(rlimits)}")
        for name, pair in rlimits.items():
            if not (isinstance(pair, list) and len(pair) == 2
                    and all(_limit_ok(v) for v in pair)):
                raise InputError(source, None, f"'rlimits.{name}' must be [soft, hard], each a "
                                               f"byte count or \"unlimited\", not {_short(pair)}")
            soft, hard = (_WORD - 1 if v == "unlimited" else v for v in pair)
            if soft > hard:
                raise InputError(source, None, f"'rlimits.{name}': soft limit above the hard")


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def load_recording(directory) -> Recording:
    """Read a recording directory (see the module docstring). Bad input is an InputError."""
    directory = Path(directory)
    trace_text = read_text(directory / "trace.txt")
    if trace_text is None:
        raise InputError(str(directory), None, "not a recording: no trace.txt")
    trace_name = str(directory / "trace.txt")
    trace = parse_strace(trace_text, trace_name)
    meta_text = read_text(directory / "meta.json") or "{}"
    try:
        meta = json.loads(meta_text)
    except json.JSONDecodeError as err:
        raise InputError(str(directory / "meta.json"), err.lineno, err.msg, err.colno) from None
    check_meta(meta, str(directory / "meta.json"))
    initial_text = read_text(directory / "initial.maps")
    initial = (parse_maps(initial_text, str(directory / "initial.maps"))
               if initial_text is not None else None)
    root_pid = meta.get("pid")
    if root_pid is None:
        root_pid = next((e.pid for e in trace.events if e.pid is not None), None)
    finals = {}
    root_final = read_text(directory / "final.maps")
    if root_final is not None:
        finals[root_pid] = root_final
    for path in sorted(directory.iterdir()):
        m = _FINAL.match(path.name.removesuffix(".gz"))
        if m:
            finals[int(m.group(1))] = read_text(directory / m.group(0))
    files = RecordedFiles.load(directory / "files.json")
    return Recording(directory, trace, trace_name, initial, finals, root_pid, files, meta)


def mapped_paths(trace: Trace) -> tuple[list[str], list[str]]:
    """The files a trace maps through a descriptor, and the paths it execs, in order of
    first use. A descriptor is looked up in its own task's table, else in the table of the
    task that opened that number last (threads share their process's table)."""
    tables: dict = {}
    latest: dict[int, str] = {}
    mapped: dict[str, None] = {}
    execs: dict[str, None] = {}
    for event in trace.events:
        if isinstance(event, FileEvent):
            table = tables.setdefault(event.pid, {})
            if event.kind == "execve":
                if event.path:
                    execs[event.path] = None
            elif event.kind in ("chdir", "fchdir"):
                continue
            elif event.kind == "close":
                table.pop(event.fd, None)
            elif event.new_fd is not None:
                path = table.get(event.fd) or latest.get(event.fd) or event.path
                if path:
                    table[event.new_fd] = latest[event.new_fd] = path
            elif event.fd is not None and event.path:
                table[event.fd] = latest[event.fd] = event.path
        elif (isinstance(event, MemoryCall) and event.name in ("mmap", "mmap2")
              and not event.args[3] & MAP_ANONYMOUS and event.args[4] >= 0):
            fd = event.args[4]
            path = event.fd_path or tables.get(event.pid, {}).get(fd) or latest.get(fd)
            if path:
                mapped[path] = None
    return list(mapped), list(execs)


def _maps_files(maps_texts) -> dict[str, MapsEntry]:
    """The file mappings of the given maps, by path (a deleted file's without the
    " (deleted)" mark; shmem and kernel mappings left out)."""
    named = {}
    for text in maps_texts:
        for entry in parse_maps(text):
            name = entry.name.removesuffix(" (deleted)")
            if name.startswith("/") and not name.startswith(("/dev/zero", "/SYSV", "/memfd:")):
                named.setdefault(name, entry)
    return named


def collect_facts(trace: Trace, maps_texts, *, cwd: str = "/", stat=stat_facts,
                  read_elf=None) -> tuple[RecordedFiles, dict[str, str]]:
    """The facts of every file the trace maps or execs and every file named in the maps,
    read from this machine right after the run (``stat``, the ELF headers), with how each
    was obtained. Where a maps line shows another device or inode than the file has now
    (replaced or deleted since), the maps' values are kept and the size is left unknown."""
    if read_elf is None:
        from simulator.host.elf import read_elf
    mapped, execs = mapped_paths(trace)
    in_maps = _maps_files(maps_texts)
    files: dict[str, FileFacts] = {}
    how: dict[str, str] = {}
    elves: dict[str, dict] = {}

    def add(path: str) -> None:
        if path in files:
            return
        if path.startswith("/memfd:"):
            # memfd_create: a file on the kernel's internal shmem (tmpfs) mount.
            files[path] = FileFacts(path, fstype="tmpfs")
            how[path] = "memfd: shmem, the kernel's internal tmpfs mount"
            return
        facts = stat(os.path.join(cwd, path))
        entry = in_maps.get(facts.path)
        if entry is not None and (entry.dev, entry.inode) != (facts.dev, facts.inode):
            gone = facts.inode == 0
            facts = FileFacts(facts.path, entry.dev, entry.inode, None,
                              filesystem_type(facts.path) if gone else facts.fstype)
            how[path] = ("dev/inode from the maps, fstype from the mount table (the file was "
                         "deleted by the end of the run)" if gone else
                         "dev/inode from the maps (the file changed after the run)")
        elif facts.inode == 0 and facts.dev == "00:00":
            # Gone by the end of the run and in no maps: its file system is still known.
            facts = FileFacts(facts.path, fstype=filesystem_type(facts.path))
            how[path] = ("deleted by the end of the run: fstype from the mount table, "
                         "dev/inode and size unknown (in no maps)")
        else:
            how[path] = "stat after the run" + (", matches the maps" if entry else "")
        files[path] = facts

    scripts: dict[str, str] = {}

    def add_exec(path: str, depth: int = 0) -> None:
        if path in elves or path in scripts:
            return
        try:
            image = read_elf(os.path.join(cwd, path))
        except InputError:
            # fs/binfmt_script.c: a #! script runs its interpreter (at most 4 levels deep).
            interp = script_interpreter(os.path.join(cwd, path))
            if interp is not None and depth < 4:
                add(path)
                scripts[path] = interp
                add_exec(interp, depth + 1)
            return
        add(path)
        elves[path] = elf_to_json(image)
        if image.interp and image.interp not in elves:
            add(image.interp)
            try:
                elves[image.interp] = elf_to_json(read_elf(image.interp))
            except InputError:
                pass

    for path in execs:
        add_exec(path)
    for path in mapped + list(in_maps):
        add(path)
    return RecordedFiles(files, elves, scripts=scripts), how


def facts_json(files: RecordedFiles, how: dict[str, str]) -> str:
    data = files.to_json()
    for path, fact in data["files"].items():
        if path in how:
            fact["how"] = how[path]
    text = json.dumps(data, indent=1)
    # One line per program header.
    return re.sub(r"\[\s+(-?\d+(?:,\s+-?\d+)*)\s+\]",
                  lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]",
                  text) + "\n"
