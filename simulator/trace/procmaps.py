"""Read and write memory maps: /proc/PID/maps, /proc/PID/smaps and gdb's ``info proc mappings``.

/proc/PID/maps is printed by fs/proc/task_mmu.c: show_vma_header_prefix() writes::

    seq_setwidth(m, 25 + sizeof(void *) * 6 - 1);
    seq_printf(m, "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu ", start, end, r, w, x, s/p,
               pgoff, MAJOR(dev), MINOR(dev), ino);

and show_map_vma() then, only when the mapping has a name, calls ``seq_pad(m, ' ')`` (pad
with spaces up to the width, then write one more space) before the name.  The width is the
*kernel's* pointer size: 72 on a 64-bit kernel, also for 32-bit processes (checked against a
``gcc -m32`` process on x86-64), and 48 on a 32-bit kernel.  A mapping without a name ends in
the prefix's own trailing space.  /proc/PID/smaps prints the same header line followed by
``Key:   value kB`` lines and ``VmFlags: rd wr ...`` (show_smap(), show_smap_vma_flags()).

gdb 13's ``info proc mappings`` (gdb/linux-tdep.c, linux_info_proc) prints, for a live process::

    process 5189
    Mapped address spaces:

              Start Addr           End Addr       Size     Offset  Perms  objfile
          0x555555554000     0x555555556000     0x2000        0x0  r--p   /usr/bin/true

(``"  %18s %18s %10s %10s  %-5.5s  %s"``; a 32-bit inferior uses ``"\\t%10s %10s %10s %10s
 %-5.5s  %s"``) and for a core file the same without the Perms column.  It has no device or
inode: entries from gdb get dev ``00:00`` and inode 0, and perms ``None`` when absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from simulator.errors import InputError
from simulator.kernel import procfs
from simulator.units import PAGE_SIZE


@attrs.frozen
class MapsEntry:
    """One mapping (VMA) as a maps-style listing shows it."""

    start: int
    end: int
    perms: str | None
    offset: int
    dev: str
    inode: int
    name: str
    vmflags: frozenset[str] | None
    line: int

    @property
    def size(self) -> int:
        return self.end - self.start


_MAPS_LINE = re.compile(
    r"([0-9a-fA-F]+)-([0-9a-fA-F]+) (\S+) ([0-9a-fA-F]+) ([0-9a-fA-F]{1,8}:[0-9a-fA-F]{1,8}) (\d+)(?: +(.*))?$",
    re.S,
)
#: Addresses, offsets and inode numbers are unsigned longs (64 bits at most).
_WORD_LIMIT = 1 << 64
_PERMS = re.compile(r"[r-][w-][x-][ps]$")
# "Rss:       8 kB", "THPeligible:    0", "VmFlags: rd wr mr mw me ac " (note the trailing space).
_SMAPS_FIELD = re.compile(r"(?:(VmFlags):(.*)|([A-Za-z_][A-Za-z0-9_]*):\s+\d+(?: kB)?)$", re.S)
_GDB_ROW = re.compile(
    r"\s*0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)(?:\s+(.*))?$",
    re.S,
)
_GDB_HEADER = re.compile(r"\s*Start Addr\s+End Addr\s+Size\s+Offset\s+(Perms\s+)?objfile\s*$")
_GDB_PROCESS = re.compile(r"process \d+$")
_GDB_TITLE = "Mapped address spaces:"


def parse_maps(text: str, source: str = "<maps>") -> tuple[MapsEntry, ...]:
    """Parse /proc/PID/maps, /proc/PID/smaps or gdb ``info proc mappings`` output (auto-detected).

    Names are taken as printed, after the padding: a name that itself begins with spaces
    cannot be told from the padding and loses them.  For gdb output, whatever precedes the
    ``Mapped address spaces:`` line (gdb's own session messages) is ignored.  A text whose
    every line ends in CR is read as a CRLF copy.  Bad input (no mapping, a malformed line,
    ranges out of order or overlapping, values past 64 bits, a NUL byte) raises
    :class:`InputError` with its line.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > 1 and all(line.endswith("\r") for line in lines):
        # A copy with CRLF line ends (the kernel and gdb write LF; a name may end in CR, but
        # not every line's).
        lines = [line[:-1] for line in lines]
    for number, line in enumerate(lines, 1):
        if "\0" in line:
            # The kernel's seq_file output never holds a NUL (names are C strings).
            raise InputError(source, number, "a NUL byte: not a maps, smaps or gdb mappings file")
    if _is_gdb(lines):
        raw = _parse_gdb(lines, source)
    else:
        raw = _parse_proc(lines, source)
    if not raw:
        raise InputError(source, None, "no mappings")
    _check_order(raw, source)
    return tuple(raw)


def guess_arch(entries) -> str:
    """The profile a listing most likely comes from: i686 (a 32-bit process on a 64-bit
    kernel) when every mapping lies below 4 GiB, else x86_64."""
    return "i686" if entries and all(e.end <= 1 << 32 for e in entries) else "x86_64"


def read_maps(path) -> tuple[MapsEntry, ...]:
    """Read and parse a maps, smaps or gdb mappings file."""
    try:
        # surrogateescape: file names are bytes; keep any that are not UTF-8 as they are.
        text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as err:
        raise InputError(str(path), None, f"cannot read: {err.strerror or err}") from None
    return parse_maps(text, str(path))


def format_maps_line(start: int, end: int, perms: str, offset: int, dev: str, inode: int,
                     name: str, *, kernel_bits: int = 64) -> str:
    """One /proc/PID/maps line, without its newline, exactly as show_map_vma() prints it
    (:func:`simulator.kernel.procfs.format_maps_line`, with checked arguments)."""
    if perms is None:
        raise ValueError("a maps line needs permissions (gdb core-file listings have none)")
    if kernel_bits not in (32, 64):
        raise ValueError(f"kernel_bits must be 32 or 64, not {kernel_bits}")
    return procfs.format_maps_line(start, end, perms, offset, dev, inode, name,
                                   kernel_bits=kernel_bits)


def format_maps(entries, *, kernel_bits: int = 64) -> str:
    """A whole /proc/PID/maps file for ``entries`` (newline-terminated lines)."""
    return "".join(
        format_maps_line(e.start, e.end, e.perms, e.offset, e.dev, e.inode, e.name,
                         kernel_bits=kernel_bits) + "\n"
        for e in entries
    )


def _is_gdb(lines: list[str]) -> bool:
    """gdb output if its title or column header appears, or the first real line is a gdb row."""
    for line in lines:
        stripped = line.strip()
        if stripped == _GDB_TITLE or _GDB_HEADER.match(line):
            return True
    for line in lines:
        if line.strip():
            return bool(_GDB_ROW.match(line) or _GDB_PROCESS.match(line.strip()))
    return False


def _parse_proc(lines: list[str], source: str) -> list[MapsEntry]:
    entries: list[MapsEntry] = []
    for number, line in enumerate(lines, 1):
        m = _MAPS_LINE.match(line)
        if m is not None:
            entries.append(_proc_entry(m, number, source))
            continue
        field = _SMAPS_FIELD.match(line)
        if field is not None:
            _smaps_field(entries, field, number, source)
            continue
        if line.strip():
            raise InputError(source, number, f"not a maps, smaps or gdb mappings line: {_show(line)}")
    return entries


def _proc_entry(m: re.Match, number: int, source: str) -> MapsEntry:
    start, end, perms, offset, dev, inode, name = m.groups()
    if not _PERMS.match(perms):
        raise InputError(source, number, f"bad permissions {_show(perms)} (expected e.g. 'r-xp')")
    if len(inode) > 20 or int(inode) >= _WORD_LIMIT:
        raise InputError(source, number, f"inode {_show(inode)} does not fit in 64 bits")
    return _entry(_word(start, "start", number, source), _word(end, "end", number, source),
                  perms, _word(offset, "offset", number, source), dev, int(inode),
                  name or "", number, source)


def _word(digits: str, what: str, number: int, source: str) -> int:
    """A hex column as an int, refused past 64 bits (before the digits become a huge int)."""
    value = int(digits, 16) if len(digits.lstrip("0")) <= 16 else _WORD_LIMIT
    if value >= _WORD_LIMIT:
        raise InputError(source, number, f"{what} {_show('0x' + digits)} does not fit in 64 bits")
    return value


def _smaps_field(entries: list[MapsEntry], field: re.Match, number: int, source: str) -> None:
    flags_key, value, other_key = field.groups()
    key = flags_key or other_key
    if not entries:
        raise InputError(source, number, f"smaps field {key!r} before any mapping")
    if key == "VmFlags":
        last = entries[-1]
        if last.vmflags is not None:
            raise InputError(source, number, "second VmFlags line for one mapping")
        entries[-1] = attrs.evolve(last, vmflags=frozenset((value or "").split()))


def _parse_gdb(lines: list[str], source: str) -> list[MapsEntry]:
    begin = next((i + 1 for i, line in enumerate(lines) if line.strip() == _GDB_TITLE), 0)
    has_perms: bool | None = None  # from the column header; guessed per row without one
    entries: list[MapsEntry] = []
    for number, line in enumerate(lines[begin:], begin + 1):
        stripped = line.strip()
        if not stripped or _GDB_PROCESS.match(stripped) or stripped == _GDB_TITLE:
            continue
        header = _GDB_HEADER.match(line)
        if header is not None:
            has_perms = header.group(1) is not None
            continue
        m = _GDB_ROW.match(line)
        if m is None:
            raise InputError(source, number, f"not a gdb 'info proc mappings' line: {_show(line)}")
        entries.append(_gdb_entry(m, has_perms, number, source))
    return entries


def _gdb_entry(m: re.Match, has_perms: bool | None, number: int, source: str) -> MapsEntry:
    start, end, size, offset = (_word(g, what, number, source)
                                for g, what in zip(m.groups()[:4], ("start", "end", "size", "offset")))
    rest = (m.group(5) or "").rstrip()
    perms = None
    head, _, tail = rest.partition(" ")
    if has_perms or (has_perms is None and _PERMS.match(head)):
        if not _PERMS.match(head):
            raise InputError(source, number, f"bad permissions {_show(head)} (expected e.g. 'r-xp')")
        perms, rest = head, tail.lstrip()
    if end > start and size != end - start:
        raise InputError(source, number,
                         f"size {size:#x} does not match end - start = {end - start:#x}")
    return _entry(start, end, perms, offset, "00:00", 0, rest, number, source)


def _entry(start: int, end: int, perms: str | None, offset: int, dev: str, inode: int,
           name: str, number: int, source: str) -> MapsEntry:
    if start >= end:
        raise InputError(source, number, f"start {start:#x} is not below end {end:#x}")
    for what, value in (("start", start), ("end", end)):
        if value % PAGE_SIZE:
            raise InputError(source, number, f"{what} {value:#x} is not page-aligned")
    return MapsEntry(start=start, end=end, perms=perms, offset=offset, dev=dev, inode=inode,
                     name=name, vmflags=None, line=number)


def _check_order(entries: list[MapsEntry], source: str) -> None:
    """The kernel lists VMAs in address order and they never overlap."""
    for prev, cur in zip(entries, entries[1:]):
        if cur.start < prev.start:
            raise InputError(source, cur.line,
                             f"mapping {cur.start:#x}-{cur.end:#x} is out of order "
                             f"(after {prev.start:#x}-{prev.end:#x} on line {prev.line})")
        if cur.start < prev.end:
            raise InputError(source, cur.line,
                             f"mapping {cur.start:#x}-{cur.end:#x} overlaps "
                             f"{prev.start:#x}-{prev.end:#x} on line {prev.line}")


def _show(line: str, limit: int = 60) -> str:
    shown = repr(line)
    return shown if len(shown) <= limit else shown[:limit - 4] + "...'"
