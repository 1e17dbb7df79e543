"""Read ``strace`` logs into the memory-management calls and process lifecycle of a program.

The format is strace's own output (strace 6.x, ``src/strace.c`` printleader / ``src/syscall.c``
and the decoders in ``src/mem.c``), as written with or without ``-f``, ``-o``, ``-t``/``-tt``/
``-ttt``/``-r``, ``-T``, ``-y``/``-yy``, ``-Y``, ``-n``, ``-i``, ``-X verbose`` and
``-e trace=...``.  One line looks like::

    [pid  5751] 05:30:01.123456 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f3a9f4d8000 <0.000012>

``-f`` prefixes ``[pid N]`` on a terminal and ``N  `` in a ``-o`` file.  On a terminal strace
drops the prefix whenever a single tracee is alive, so the same process can appear both with
and without a pid; the events' ``pid`` is ``None`` for unprefixed lines.

When another tracee's line interrupts a call, strace splits it::

    5654  mmap(NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0 <unfinished ...>
    5655  <... set_robust_list resumed>)    = 0
    5654  <... mmap resumed>)               = 0x7f3a9e0e7000

The two halves are joined by pid and syscall name; an event keeps both line numbers
(``line``, ``end_line``) and, with timestamps, both times.

:func:`iter_strace` reads a log one line at a time and holds only the calls that are still
``<unfinished ...>`` (at most one per thread), so memory stays flat in the length of the log.
:func:`parse_strace` and :func:`read_strace` collect its events into a :class:`Trace`.

This module reads lines (leaders, split calls, the one-regex fast path); the events are in
:mod:`simulator.trace.events` (re-exported here), the decoding of one call's text in
:mod:`simulator.trace.strace_decode`, strace's names for flag values in :mod:`simulator.trace.xlat`.
"""

from __future__ import annotations

import errno as _errno
import re
from collections.abc import Iterable, Iterator

from simulator.errors import InputError
from simulator.kernel.uapi import MAP_NAMES, PROT_NAMES, Errno
from simulator.trace.events import (  # noqa: F401 - re-exported: the events live there
    Event, ExecEvent, ExitEvent, FileEvent, MemoryCall, OtherMemoryCall, PersonalityEvent,
    ProcessEvent, TaskCall, Trace,
)
from simulator.trace.strace_decode import (  # noqa: F401 - the sets are part of the API
    _DECODED, _DECODERS, _INTERESTING, _PID_MAX_LIMIT, _UNFINISHED, EXIT_SYSCALLS, FILE_SYSCALLS,
    MEMORY_SYSCALLS, OTHER_MEMORY_SYSCALLS, PROCESS_SYSCALLS, _Bad, _errno_value,
    _exit_line, _file_event, _flags, _fraction_ns, _show,
)

# Everything strace may print before the syscall name: the -f pid (with -Y its "<comm>"),
# a -t/-tt/-ttt/-r stamp, then -n "[  9]" and -i "[00007f...]" brackets.  A bare "N  " pid needs whitespace after it
# so that a "-ttt" stamp such as "1700000000.123456" is not mistaken for one.  Digit counts
# are bounded so that no absurd number reaches int().
_LEADER = re.compile(
    r"""\s*
    (?:\[pid\s+(?P<pid>\d{1,10})(?:<[^>]*>)?\]\s+|(?P<opid>\d{1,10})(?:<[^>]*>)?\s+)?
    (?:(?P<ts>\d{1,2}:\d\d:\d\d(?:\.\d{1,9})?|\d{1,19}\.\d{1,9}|\d{1,19})\s+)?
    (?:\[\s*[0-9a-fA-F?]+\]\s+)*
    (?:<\.\.\.\s(?P<rname>\w+)\sresumed>|(?P<name>\w+)\(|\+\+\+\s(?P<exit>.*))
    """,
    re.X | re.S,
)
# A line that would be a call but for its leader: a negative or absurdly long pid or stamp.
_BAD_LEADER = re.compile(r"\s*(\[pid\s+[^\]]*\]|-\d+|\d{20,})\s+(?:<\.\.\.\s)?(\w+)[( ]")


class StraceStream:
    """The events of a log as an iterator; see :func:`iter_strace`.

    ``skipped`` counts the lines read so far that became no event (and, once the iterator
    is exhausted, calls left ``<unfinished ...>``).
    """

    def __init__(self, lines: Iterable[str], source: str, *, fast: bool = True):
        self.source = source
        self.skipped = 0
        self._relative_ns = 0
        self._events = self._run(iter(lines), fast)

    def __iter__(self) -> StraceStream:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def _run(self, lines: Iterator[str], fast: bool) -> Iterator[Event]:
        source = self.source
        # (pid, name) -> (first line, text so far, time_ns); a thread runs one call at a time.
        pending: dict[tuple[int | None, str], tuple[int, str, int | None]] = {}
        leader_match = _LEADER.match
        fast_match = _FAST_LINE.match if fast else None
        number = 0
        held: str | None = None  # a line read ahead by _rejoin and not used
        while True:
            if held is not None:
                raw, held = held, None
            else:
                raw = next(lines, None)
                if raw is None:
                    break
            number += 1
            raw = raw.rstrip("\r\n")  # strace escapes CR; a raw one is a CRLF file's
            first = last = number  # first and last physical line of this record
            if "\0" in raw:
                # strace escapes every unprintable byte it prints: a NUL means this is not
                # its output (or a corrupted copy of it).
                raise InputError(source, number,
                                 "a binary file, not an strace log (strace -f -o FILE writes text)")
            if fast_match is not None:
                m = fast_match(raw)
                if m is not None:
                    event = _fast_event(m, raw, number)
                    if event is not None:
                        yield event
                        continue
            if "strace: " in raw:
                following = next(lines, None)
                raw, used = _rejoin(raw, following)
                if used:
                    number += 1
                    last = number
                    if "\0" in raw:
                        raise InputError(source, number, "a binary file, not an strace log "
                                         "(strace -f -o FILE writes text)")
                else:
                    held = following
            m = leader_match(raw)
            if m is None:
                bad = _BAD_LEADER.match(raw)
                if bad is not None and bad.group(2) in _INTERESTING:
                    raise InputError(source, first, f"{bad.group(2)}: {_show(bad.group(1))} is "
                                     "neither a pid nor a timestamp")
                self.skipped += last - first + 1
                continue
            pid, opid, stamp, rname, name, exit_text = m.groups()
            if pid is not None:
                pid = int(pid)
            elif opid is not None:
                pid = _bare_pid(opid, stamp)
            time_ns = self._stamp_ns(stamp) if stamp is not None else None
            if exit_text is not None:
                event = _exit_line(exit_text, pid, first, time_ns)
                if event is None:
                    self.skipped += last - first + 1
                    continue
                if event.kind == "superseded" and (event.by, "execve") in pending:
                    # The exec'ing thread's execve resumes under the leader's pid.
                    pending[(pid, "execve")] = pending.pop((event.by, "execve"))
                elif event.kind != "superseded":
                    # A task that is gone resumes nothing (its exit_group, a wait4 cut short):
                    # forget its other calls now, so that memory stays bounded by live tasks.
                    # Decoded calls stay, to be reported as never resumed.
                    for key in [k for k in pending if k[0] == pid and k[1] not in _DECODED]:
                        del pending[key]
                        self.skipped += 1
                yield event
                continue
            resumed = rname is not None
            if resumed:
                name = rname
            if name not in _INTERESTING:
                self.skipped += last - first + 1
                continue
            body = raw[m.end():].rstrip()
            decoded = name in _DECODED
            key = (pid, name)
            if resumed:
                start = pending.pop(key, None)
                if start is None:
                    if decoded:
                        raise InputError(source, first,
                                         f"{name}: resumed without an earlier '<unfinished ...>' line")
                    self.skipped += last - first + 1
                    continue
                start_line, head, start_ns = start
                body = head + body.replace(_UNFINISHED, "", 1)
                end_ns = time_ns
            else:
                start_line, start_ns, end_ns = first, time_ns, None
                body = f"{name}({body}"
            if body.endswith(_UNFINISHED):
                if key in pending:  # the earlier call of this thread was lost
                    if decoded:
                        _never_resumed(source, name, pending[key][0])
                    self.skipped += 1
                pending[key] = (start_line, body[: -len(_UNFINISHED)], start_ns)
                continue
            where = (pid, start_line, last, start_ns, end_ns)
            try:
                event = _DECODERS.get(name, _file_event)(name, body, where)
            except _Bad as err:
                raise InputError(source, start_line, f"{name}: {err}") from None
            if event is None:
                self.skipped += 1 + (start_line != first)
            else:
                yield event
        for (pid, name), (start_line, _, _) in pending.items():
            if name in _DECODED:
                _never_resumed(source, name, start_line)
            self.skipped += 1

    def _stamp_ns(self, stamp: str) -> int:
        """A -t/-tt stamp as ns since midnight, -ttt as ns since the epoch; a -r delta
        (``0.000123``: under 10**8 s, so not an epoch time) is added to a running sum."""
        if ":" in stamp:
            clock, _, frac = stamp.partition(".")
            hours, minutes, seconds = clock.split(":")
            whole = (int(hours) * 60 + int(minutes)) * 60 + int(seconds)
            return whole * 10**9 + _fraction_ns(frac)
        whole, dot, frac = stamp.partition(".")
        value = int(whole) * 10**9 + _fraction_ns(frac)
        if dot and int(whole) < 10**8:
            self._relative_ns += value
            return self._relative_ns
        return value


def iter_strace(lines: Iterable[str], source: str = "<trace>", *, fast: bool = True) -> StraceStream:
    """The events of strace output, one line at a time, in completion order.

    ``lines`` are the log's lines (with or without their newline).  Completion order, not
    entry order, because the kernel applies a memory call while holding the mm's mmap_lock,
    somewhere between syscall entry and exit.  Calls of two threads overlap in the log when
    one of them is blocked on that lock while the other holds it; the blocked one changes
    the address space after the other finishes, so ordering by the line that carries the
    return value matches the order the kernel serialised them in the common case (the
    stamps, with -tt/-T, let a consumer do better).

    Memory held: the calls still ``<unfinished ...>`` (one per thread).  ``fast=False``
    decodes every line through the general path (the fast one must give the same events;
    tests/test_strace.py checks it).  Bad input raises :class:`InputError` with the line.
    """
    return StraceStream(lines, source, fast=fast)


def parse_strace(text: str, source: str = "<trace>") -> Trace:
    """Parse strace output held in a string; see :func:`iter_strace`."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    stream = iter_strace(lines, source)
    events = tuple(stream)
    return Trace(events=events, skipped=stream.skipped)


def open_strace(path) -> StraceStream:
    """Stream the events of an strace log file (see :func:`iter_strace`).  The file is
    read one line at a time; it stays open until the stream is exhausted."""
    try:
        # surrogateescape: strace prints non-UTF-8 bytes of program output as they are.
        # newline="\n": only LF ends a line (a CR is stripped by the parser).
        handle = open(path, encoding="utf-8", errors="surrogateescape", newline="\n")  # noqa: SIM115
    except OSError as err:
        raise InputError(str(path), None, f"cannot read: {err.strerror or err}") from None
    return iter_strace(_lines_of(handle, str(path)), str(path))


def _lines_of(handle, source: str) -> Iterator[str]:
    with handle:
        try:
            yield from handle
        except OSError as err:  # a directory, a vanished NFS file
            raise InputError(source, None, f"cannot read: {err.strerror or err}") from None


def read_strace(path) -> Trace:
    """Read and parse an strace log file."""
    stream = open_strace(path)
    events = tuple(stream)
    return Trace(events=events, skipped=stream.skipped)


def _rejoin(raw: str, following: str | None) -> tuple[str, bool]:
    """Undo strace's own message cutting a call line in two (seen without ``-o``)::

        [pid  5752] munmap(0xffffffffffffffff, 262144strace: Process 5754 attached
         <unfinished ...>

    strace writes "strace: Process N attached" to stderr, where the half-printed line of the
    current tracee also is; it then finishes that line on the next one, which starts with a
    space.  Returns the mended line and whether ``following`` was used.
    """
    cut = raw.find("strace: ")
    if cut > 0 and raw[:cut].strip() and following is not None and following.startswith(" "):
        return raw[:cut] + following.rstrip("\r\n"), True
    return raw, False


def format_return(ret: int | Errno | None) -> str:
    """A return value as strace prints it: ``0x7ffff7fc0000``, ``0``, ``-1 ENOMEM``, ``?``.

    The memory calls print addresses in hex (their decoders return RVAL_HEX), so any non-zero
    success is hex.  A negative int is an errno outside :class:`Errno` (see :func:`_parse_return`).
    """
    if ret is None:
        return "?"
    if isinstance(ret, Errno):
        return str(ret)
    if ret < 0:
        return f"-1 {_errno.errorcode.get(-ret, str(-ret))}"
    return "0" if ret == 0 else hex(ret)


def _bare_pid(opid: str, stamp: str | None) -> int | None:
    """The ``N  `` of ``-f -o``, unless it is a ``--timestamps=unix,s`` stamp without ``-f``."""
    value = int(opid)
    return None if value > _PID_MAX_LIMIT and stamp is None else value


def _never_resumed(source: str, name: str, line: int):
    raise InputError(source, line, f"{name}: '<unfinished ...>' call never resumed")


# --- the fast path: one regex for the line shapes strace prints for nearly every memory call
# in a -f -o log (no stamps, no -y, no comments).  Anything else takes the general path, which
# also words the errors; both must give the same event (tests/test_strace.py checks it).

_HEX = r"0x[0-9a-f]{1,16}"
_A = rf"(NULL|{_HEX})"
_L = r"(\d{1,19})"
_F = r"([A-Z][A-Z0-9_|]*|0)"
_FAST_LINE = re.compile(
    rf"(?:(\d{{1,7}}) +|\[pid +(\d{{1,7}})\] )?+"  # possessive: fails fast (3.11+)
    rf"(?:(mmap2?)\({_A}, {_L}, {_F}, {_F}, (-1|\d{{1,9}}), (0|{_HEX})\)"
    rf"|(munmap)\({_A}, {_L}\)"
    rf"|(mprotect)\({_A}, {_L}, {_F}\)"
    rf"|(brk)\({_A}\)"
    rf") +=\ (?:({_HEX}|0)|-1 (E[A-Z0-9]+) \([A-Za-z ,'/-]*\))$"
)


def _addr(token: str) -> int:
    return 0 if token == "NULL" else int(token, 16)


def _fast_event(m: re.Match, raw: str, number: int) -> MemoryCall | None:
    (opid, bpid, mmap, ma, ml, mp, mf, mfd, mo, unmap, ua, ul, prot, pa, pl, pp, brk, ba,
     ret, err) = m.groups()
    pid = int(bpid) if bpid is not None else (_bare_pid(opid, None) if opid is not None else None)
    try:
        if mmap is not None:
            name, start = mmap, m.start(3)
            args = (_addr(ma), int(ml), _flags(mp, PROT_NAMES), _flags(mf, MAP_NAMES),
                    int(mfd), int(mo, 16) if mo != "0" else 0)
        elif unmap is not None:
            name, start, args = unmap, m.start(10), (_addr(ua), int(ul))
        elif prot is not None:
            name, start, args = prot, m.start(13), (_addr(pa), int(pl), _flags(pp, PROT_NAMES))
        else:
            name, start, args = brk, m.start(17), (_addr(ba),)
        value = (int(ret, 16) if ret != "0" else 0) if ret is not None else _errno_value(err)
    except _Bad:
        return None  # let the general path word the error
    return MemoryCall(line=number, end_line=number, pid=pid, name=name, args=args,
                      fd_path=None, ret=value, text=raw[start:])


