"""Read ``strace`` logs into the memory-management calls a process made.

The format is strace's own output (strace 6.x, ``src/strace.c`` printleader / ``src/syscall.c``
and the decoders in ``src/mem.c``), as written with or without ``-f``, ``-o``, ``-t``/``-tt``/
``-ttt``/``-r``, ``-T``, ``-y``/``-yy``, ``-Y``, ``-n``, ``-i`` and ``-e trace=...``.  One line looks like::

    [pid  5751] 05:30:01.123456 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f3a9f4d8000 <0.000012>

``-f`` prefixes ``[pid N]`` on a terminal and ``N  `` in a ``-o`` file.  On a terminal strace
drops the prefix whenever a single tracee is alive, so the same process can appear both with
and without a pid; :attr:`MemoryCall.pid` is ``None`` for unprefixed lines.

When another tracee's line interrupts a call, strace splits it::

    5654  mmap(NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0 <unfinished ...>
    5655  <... set_robust_list resumed>)    = 0
    5654  <... mmap resumed>)               = 0x7f3a9e0e7000

The two halves are joined by pid and syscall name.
"""

from __future__ import annotations

import errno as _errno
import re
from pathlib import Path

import attrs

from simulator.errors import InputError
from simulator.kernel.uapi import MAP_HUGE_SHIFT, MAP_NAMES, MREMAP_NAMES, PROT_NAMES, Errno

MEMORY_SYSCALLS = frozenset({"mmap", "mmap2", "munmap", "mprotect", "mremap", "brk"})
FILE_SYSCALLS = frozenset({"open", "openat", "openat2", "creat", "memfd_create", "close", "dup",
                           "dup2", "dup3", "fcntl", "execve"})
PROCESS_SYSCALLS = frozenset({"clone", "clone3", "fork", "vfork"})
_INTERESTING = MEMORY_SYSCALLS | FILE_SYSCALLS | PROCESS_SYSCALLS | {"personality"}

#: PID_MAX_LIMIT on 64-bit kernels (include/linux/threads.h): a bigger leading integer is a
#: whole-second ``--timestamps=unix,s`` stamp, not a ``-o -f`` pid.
_PID_MAX_LIMIT = 1 << 22


@attrs.frozen
class MemoryCall:
    """One mmap/mmap2/munmap/mprotect/mremap/brk call as strace printed it."""

    line: int
    end_line: int
    pid: int | None
    name: str
    args: tuple[int, ...]
    fd_path: str | None
    ret: int | Errno | None
    text: str


@attrs.frozen
class FileEvent:
    """A call that changes which file an fd names, or replaces the address space (execve).

    ``kind`` is the syscall name.  open/openat/openat2/creat/memfd_create: ``fd`` is the new
    descriptor (a memfd's path is ``/memfd:NAME (deleted)``, as /proc/PID/maps shows it);
    close: ``fd`` is the closed one; dup/dup2/dup3/fcntl(F_DUPFD*): ``fd`` → ``new_fd``;
    execve: ``path`` only.  ``path`` is the ``-y`` decoration when strace printed one (the
    kernel's resolved path, as /proc/PID/maps names it), else the path argument as written.
    Only successful calls become events.
    """

    line: int
    pid: int | None
    kind: str
    fd: int | None
    path: str | None
    new_fd: int | None
    #: For calls that open a file: whether it was opened for reading and for writing
    #: (O_RDONLY / O_WRONLY / O_RDWR; creat is write-only, memfd_create read-write).
    readable: bool = True
    writable: bool = False


@attrs.frozen
class ProcessEvent:
    """A new task: a thread sharing the address space (CLONE_VM; vfork until its execve), or
    a process with a copy of its own. Only successful calls become events."""

    line: int
    pid: int | None
    kind: str
    child: int
    shares_vm: bool
    #: CLONE_THREAD: a thread of the caller's process, not a process of its own.
    thread: bool = False


#: include/uapi/linux/personality.h: the execution domains and flags strace prints.
PERSONALITY_NAMES = {
    "PER_LINUX": 0x0000, "PER_LINUX_32BIT": 0x0800000, "PER_LINUX32": 0x0008,
    "UNAME26": 0x0020000, "ADDR_NO_RANDOMIZE": 0x0040000, "FDPIC_FUNCPTRS": 0x0080000,
    "MMAP_PAGE_ZERO": 0x0100000, "ADDR_COMPAT_LAYOUT": 0x0200000,
    "READ_IMPLIES_EXEC": 0x0400000, "ADDR_LIMIT_32BIT": 0x0800000,
    "SHORT_INODE": 0x1000000, "WHOLE_SECONDS": 0x2000000, "STICKY_TIMEOUTS": 0x4000000,
    "ADDR_LIMIT_3GB": 0x8000000,
}


@attrs.frozen
class PersonalityEvent:
    """A successful ``personality(PERSONA)`` that sets the persona (setarch's, before it
    execs the program). ``persona`` is the raw value; a query (0xffffffff) is no event."""

    line: int
    pid: int | None
    persona: int
    kind: str = "personality"


@attrs.frozen
class Trace:
    """The memory calls and file events of a log, in completion order, and how many lines were not."""

    events: tuple[MemoryCall | FileEvent | ProcessEvent | PersonalityEvent, ...]
    skipped: int

    @property
    def memory_calls(self) -> tuple[MemoryCall, ...]:
        return tuple(e for e in self.events if isinstance(e, MemoryCall))


# Everything strace may print before the syscall name: the -f pid (with -Y its "<comm>"),
# a -t/-tt/-ttt/-r stamp, then -n "[  9]" and -i "[00007f...]" brackets.  A bare "N  " pid needs whitespace after it
# so that a "-ttt" stamp such as "1700000000.123456" is not mistaken for one.
_LEADER = re.compile(
    r"""\s*
    (?:\[pid\s+(?P<pid>\d+)(?:<[^>]*>)?\]\s+|(?P<opid>\d+)(?:<[^>]*>)?\s+)?
    (?:(?P<ts>\d+:\d\d:\d\d(?:\.\d+)?|\d+\.\d+|\d+)\s+)?
    (?:\[\s*[0-9a-fA-F?]+\]\s+)*
    (?:<\.\.\.\s(?P<rname>\w+)\sresumed>|(?P<name>\w+)\()
    """,
    re.X,
)
_UNFINISHED = " <unfinished ...>"
_DETACHED = " <detached ...>"
_DURATION = re.compile(r"\s*<\d+(?:\.\d+)?>$")  # -T
_COMMENT = re.compile(r"\s*/\*.*?\*/")  # "0x4 /* MAP_??? */", -X verbose "0x3 /* PROT_READ|PROT_WRITE */"
_NUMBER = re.compile(r"-?(?:0[xX][0-9a-fA-F]+|\d+)$")
_HUGE_SHIFT = re.compile(r"(\d+)<<MAP_HUGE_SHIFT$")
_FD = re.compile(r"(-?\d+|0[xX][0-9a-fA-F]+)(?:<(.*)>(\(deleted\))?)?$", re.S)
_YY_DEVICE = re.compile(r"<(?:char|block) \d+:\d+>$")  # -yy: "/dev/zero<char 1:5>"
_ERRNO_RET = re.compile(r"-1\s+(E[A-Z0-9]+)(?:\s+\(.*\))?$")
_HEX_RET = re.compile(r"0x[0-9a-f]+$")
_INT_RET = re.compile(r"(0[xX][0-9a-fA-F]+|\d+)(?:\s+\(.*\))?$")  # "(INJECTED)" may follow
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FD_RET = re.compile(r"(\d+)(?:<(.*)>(\(deleted\))?)?(?:\s+\(.*\))?$", re.S)
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)", re.S)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "a": "\a", "b": "\b"}

_ARG_NAMES = {
    "mmap": ("addr", "length", "prot", "flags", "fd", "offset"),
    "mmap2": ("addr", "length", "prot", "flags", "fd", "offset"),
    "munmap": ("addr", "length"),
    "mprotect": ("addr", "length", "prot"),
    "mremap": ("old_address", "old_size", "new_size", "flags", "new_address"),
    "brk": ("addr",),
}
_FLAG_TABLES = {
    ("mmap", 2): PROT_NAMES, ("mmap", 3): MAP_NAMES,
    ("mmap2", 2): PROT_NAMES, ("mmap2", 3): MAP_NAMES,
    ("mprotect", 2): PROT_NAMES,
    ("mremap", 3): MREMAP_NAMES,
}


class _Bad(Exception):
    """A memory call that cannot be decoded; turned into InputError with the right line."""


def parse_strace(text: str, source: str = "<trace>") -> Trace:
    """Parse strace output.  Events come in completion order.

    Completion order, not entry order, because the kernel applies a memory call while holding
    the mm's mmap_lock, somewhere between syscall entry and exit.  Calls of two threads
    overlap in the log when one of them is blocked on that lock while the other holds it; the
    blocked one changes the address space after the other finishes, so ordering by the line
    that carries the return value matches the order the kernel serialised them in the common
    case.
    """
    events: list[MemoryCall | FileEvent | ProcessEvent | PersonalityEvent] = []
    pending: dict[tuple[int | None, str], tuple[int, str]] = {}  # (pid, name) -> (line, text so far)
    skipped = 0
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    leader_match = _LEADER.match
    index, count = 0, len(lines)
    while index < count:
        raw = lines[index]
        index += 1
        number = last = index  # 1-based first and last physical line of this record
        if "strace: " in raw:
            raw, last = _rejoin(raw, lines, index)
            index = last
        m = leader_match(raw)
        if m is None:
            skipped += last - number + 1
            continue
        pid, opid, stamp, rname, name = m.groups()
        resumed = rname is not None
        if resumed:
            name = rname
        if name not in _INTERESTING:
            skipped += last - number + 1
            continue
        if pid is not None:
            pid = int(pid)
        elif opid is not None:
            pid = _bare_pid(opid, stamp)
        body = raw[m.end():].rstrip()
        is_memory = name in MEMORY_SYSCALLS
        key = (pid, name)
        if resumed:
            start = pending.pop(key, None)
            if start is None:
                if is_memory:
                    raise InputError(source, number,
                                     f"{name}: resumed without an earlier '<unfinished ...>' line")
                skipped += last - number + 1
                continue
            start_line, head = start
            body = head + body.replace(_UNFINISHED, "", 1)
        else:
            start_line = number
            body = f"{name}({body}"
        if body.endswith(_UNFINISHED):
            if key in pending:  # a thread runs one call at a time: the earlier one was lost
                if is_memory:
                    _never_resumed(source, name, pending[key][0])
                skipped += 1
            pending[key] = (start_line, body[: -len(_UNFINISHED)])
            continue
        try:
            if is_memory:
                events.append(_memory_call(name, body, pid, start_line, last))
            else:
                event = (_process_event(name, body, pid, start_line) if name in PROCESS_SYSCALLS
                         else _personality_event(body, pid, start_line) if name == "personality"
                         else _file_event(name, body, pid, start_line))
                if event is None:
                    skipped += 1 + (start_line != number)
                else:
                    events.append(event)
        except _Bad as err:
            raise InputError(source, start_line, f"{name}: {err}") from None
    for (pid, name), (start_line, _) in pending.items():
        if name in MEMORY_SYSCALLS:
            _never_resumed(source, name, start_line)
        skipped += 1
    return Trace(events=tuple(events), skipped=skipped)


def _rejoin(raw: str, lines: list[str], index: int) -> tuple[str, int]:
    """Undo strace's own message cutting a call line in two (seen without ``-o``)::

        [pid  5752] munmap(0xffffffffffffffff, 262144strace: Process 5754 attached
         <unfinished ...>

    strace writes "strace: Process N attached" to stderr, where the half-printed line of the
    current tracee also is; it then finishes that line on the next one, which starts with a
    space.  Returns the mended line and the 1-based number of its last physical line.
    """
    cut = raw.find("strace: ")
    if cut > 0 and raw[:cut].strip() and index < len(lines) and lines[index].startswith(" "):
        return raw[:cut] + lines[index], index + 1
    return raw, index


def read_strace(path) -> Trace:
    """Read and parse an strace log file."""
    try:
        # surrogateescape: strace prints non-UTF-8 bytes of program output as they are.
        text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as err:
        raise InputError(str(path), None, f"cannot read: {err.strerror or err}") from None
    nul = text.find("\0")
    if nul >= 0:
        # strace escapes every unprintable byte it prints: a NUL means this is not its output.
        raise InputError(str(path), text.count("\n", 0, nul) + 1,
                         "a binary file, not an strace log (strace -f -o FILE writes text)")
    return parse_strace(text, str(path))


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


def _split_call(body: str) -> tuple[str, str]:
    """``name(args) = ret`` → (args, ret).  The return's '=' is the last one on the line."""
    if body.endswith(_DETACHED):
        # strace stopped tracing mid-call (-p then ^C): the outcome is unknown, like "= ?".
        return body[body.index("(") + 1: -len(_DETACHED)], "?"
    eq = body.rfind("=")
    before = body[:eq].rstrip() if eq >= 0 else ""
    if eq < 0 or not before.endswith(")"):
        raise _Bad("no return value (expected '... ) = RESULT')")
    args = before[body.index("(") + 1: -1]
    if args.endswith(_UNFINISHED):  # "mmap(... <unfinished ...>) = ?": tracee died in the call
        args = args[: -len(_UNFINISHED)]
    ret = body[eq + 1:].strip()
    return args, _DURATION.sub("", ret) if ret.endswith(">") else ret


def _memory_call(name: str, body: str, pid: int | None, line: int, end_line: int) -> MemoryCall:
    args_text, ret_text = _split_call(body)
    fast = _FAST_ARGS[name].match(args_text)
    if fast is not None:
        values, fd_path = _fast_args(name, fast.groups())
    else:
        values, fd_path = _decode_args(name, args_text)
    return MemoryCall(line=line, end_line=end_line, pid=pid, name=name, args=values,
                      fd_path=fd_path, ret=_parse_return(ret_text), text=body)


# The shapes strace prints for nearly every call, matched in one go; anything else (comments,
# -y paths, odd numbers, mistakes) takes the general path, which also words the errors.
_ADDR = r"(NULL|0x[0-9a-f]+)"
_FLAGS = r"([A-Z][A-Z0-9_|]*|0)"
_MMAP_FAST = re.compile(rf"{_ADDR}, (\d+), {_FLAGS}, {_FLAGS}, (-1|\d+), (0|0x[0-9a-f]+)$")
_FAST_ARGS = {
    "mmap": _MMAP_FAST,
    "mmap2": _MMAP_FAST,
    "munmap": re.compile(rf"{_ADDR}, (\d+)$"),
    "mprotect": re.compile(rf"{_ADDR}, (\d+), {_FLAGS}$"),
    "mremap": re.compile(rf"{_ADDR}, (\d+), (\d+), {_FLAGS}(?:, {_ADDR})?$"),
    "brk": re.compile(rf"{_ADDR}$"),
}


def _addr(token: str) -> int:
    return 0 if token == "NULL" else int(token, 16)


def _fast_args(name: str, g: tuple) -> tuple[tuple[int, ...], None]:
    if name == "mmap" or name == "mmap2":
        return (_addr(g[0]), int(g[1]), _flags(g[2], PROT_NAMES), _flags(g[3], MAP_NAMES),
                int(g[4]), int(g[5], 16) if g[5] != "0" else 0), None
    if name == "munmap":
        return (_addr(g[0]), int(g[1])), None
    if name == "mprotect":
        return (_addr(g[0]), int(g[1]), _flags(g[2], PROT_NAMES)), None
    if name == "mremap":
        new = _addr(g[4]) if g[4] is not None else 0
        return (_addr(g[0]), int(g[1]), int(g[2]), _flags(g[3], MREMAP_NAMES), new), None
    return (_addr(g[0]),), None


def _decode_args(name: str, args_text: str) -> tuple[tuple[int, ...], str | None]:
    """Decode any argument text strace may print for ``name``, or raise _Bad saying why not."""
    fd_path = None
    mmap_like = name == "mmap" or name == "mmap2"
    parts = args_text.split(",") if args_text.strip() else []
    if mmap_like and len(parts) > 6 and "<" in args_text:
        # A -y path with commas: only the fd can hold one, so rejoin what lies between.
        parts = args_text.split(",", 4)
        parts[4:] = parts[4].rsplit(",", 1)
    names = _ARG_NAMES[name]
    if len(parts) != len(names) and not (name == "mremap" and len(parts) == 4):
        want = "4 or 5 arguments" if name == "mremap" else _plural(len(names), "argument")
        raise _Bad(f"expected {want}, got {len(parts)}")
    values = []
    for index, part in enumerate(parts):
        part = part.strip()
        table = _FLAG_TABLES.get((name, index))
        if table is not None:
            values.append(_flags(part, table))
        elif index == 4 and mmap_like:
            fd, fd_path = _fd(part)
            values.append(fd)
        else:
            values.append(_number(part, names[index]))
    if len(values) == 4 and name == "mremap":
        values.append(0)
    return tuple(values), fd_path


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _number(token: str, what: str) -> int:
    if _NUMBER.match(token) and token[0] != "-":
        return int(token, 16) if token[1:2] in ("x", "X") else int(token)
    if token == "NULL":
        return 0
    raise _Bad(f"cannot parse {what} {token!r}")


# Real logs repeat a handful of flag spellings thousands of times.
_FLAG_CACHE: dict[tuple[str, int], int] = {}


def _flags(token: str, table: dict[str, int]) -> int:
    """``PROT_READ|PROT_WRITE``, ``MAP_PRIVATE|0x40000``, ``21<<MAP_HUGE_SHIFT``, ``PROT_NONE``."""
    key = (token, id(table))
    value = _FLAG_CACHE.get(key)
    if value is None:
        value = _FLAG_CACHE[key] = _decode_flags(token, table)
    return value


def _decode_flags(token: str, table: dict[str, int]) -> int:
    token = _COMMENT.sub("", token)
    if not token:
        raise _Bad("empty flags argument")
    value = 0
    for part in token.split("|"):
        part = part.strip()
        known = table.get(part)
        if known is not None:
            value |= known
        elif _NUMBER.match(part) and not part.startswith("-"):
            value |= int(part, 16) if part[:2] in ("0x", "0X") else int(part)
        elif (huge := _HUGE_SHIFT.match(part)) and table is MAP_NAMES:
            value |= int(huge.group(1)) << MAP_HUGE_SHIFT  # strace's spelling of an unnamed size
        else:
            raise _Bad(f"unknown flag {part!r}")
    return value


def _fd(token: str) -> tuple[int, str | None]:
    """``-1``, ``3``, ``3</usr/lib/libc.so.6>``, ``3</dev/zero<char 1:5>>``, ``4</memfd:x>(deleted)``."""
    m = _FD.match(token)
    if m is None:
        raise _Bad(f"cannot parse fd {token!r}")
    number, path, deleted = m.groups()
    value = int(number, 16) if number[:2] in ("0x", "0X") else int(number)
    if value >= 1 << 31:
        value -= 1 << 32  # -X raw prints fd -1 as 0xffffffff
    if path is None:
        return value, None
    path = _unescape(_YY_DEVICE.sub("", path))
    if deleted:
        path += " (deleted)"  # as /proc/PID/maps spells it
    return value, path


def _unescape(text: str) -> str:
    r"""Undo strace's quoting of paths and strings: ``\76`` ``\x3e`` ``\n`` ``\"`` ``\\``."""
    if "\\" not in text:
        return text

    def one(m: re.Match) -> str:
        code = m.group(1)
        if code[0] == "x" and len(code) == 3:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
        return _SIMPLE_ESCAPES.get(code, code)

    return _ESCAPE.sub(one, text)


def _parse_return(text: str) -> int | Errno | None:
    """``0x7f..``, ``0``, ``-1 ENOMEM (Cannot allocate memory)``, ``? ERESTARTNOINTR (...)``.

    An errno that :class:`Errno` lacks (any Linux errno name Python's errno module knows)
    comes back as the negative int ``-errno``, the kernel's own return convention, so a real
    log is never refused for a failure the simulator does not model.
    """
    if _HEX_RET.match(text):
        return int(text, 16)
    if text.startswith("?"):
        return None
    m = _ERRNO_RET.match(text)
    if m:
        name = m.group(1)
        member = Errno.__members__.get(name)
        if member is not None:
            return member
        code = getattr(_errno, name, None)
        if isinstance(code, int):
            return -code
        raise _Bad(f"unknown errno {name!r}")
    m = _INT_RET.match(text)
    if m is None:
        raise _Bad(f"cannot parse return value {text!r}")
    number = m.group(1)
    return int(number, 16) if number[:2] in ("0x", "0X") else int(number)


# --- file and process events: best effort; an undecodable one is skipped, not an error -------

def _process_event(name: str, body: str, pid: int | None, line: int) -> ProcessEvent | None:
    try:
        args, ret = _split_call(body)
    except _Bad:
        return None
    child = _INT_RET.match(ret)
    if child is None or child.group(1).startswith("0x"):
        return None
    shares_vm = name == "vfork" or "CLONE_VM" in args
    return ProcessEvent(line=line, pid=pid, kind=name, child=int(child.group(1)),
                        shares_vm=shares_vm, thread="CLONE_THREAD" in args)


def _personality_event(body: str, pid: int | None, line: int) -> PersonalityEvent | None:
    """``personality(PER_LINUX32|ADDR_NO_RANDOMIZE) = 0 (PER_LINUX)``: the new persona."""
    try:
        args, ret = _split_call(body)
    except _Bad:
        return None
    if ret.startswith("-1") or ret.startswith("?"):
        return None
    value = 0
    for part in args.split("|"):
        part = _COMMENT.sub("", part).strip()
        if part in PERSONALITY_NAMES:
            value |= PERSONALITY_NAMES[part]
        elif _NUMBER.match(part) and not part.startswith("-"):
            value |= int(part, 16) if part[:2] in ("0x", "0X") else int(part)
        else:
            return None
    if value == 0xFFFFFFFF:
        return None  # a query: the persona is unchanged
    return PersonalityEvent(line=line, pid=pid, persona=value)


def _file_event(name: str, body: str, pid: int | None, line: int) -> FileEvent | None:
    try:
        args, ret = _split_call(body)
    except _Bad:
        return None
    fd_ret = _FD_RET.match(ret)
    if fd_ret is None:  # failed call ("-1 ENOENT ...") or "?": nothing changed
        return None
    result = int(fd_ret.group(1))
    ret_path = _decorated_path(fd_ret.group(2), fd_ret.group(3))
    if name == "execve":
        if result != 0:
            return None
        quoted = _QUOTED.search(args)
        return FileEvent(line=line, pid=pid, kind=name, fd=None,
                         path=_unescape(quoted.group(1)) if quoted else None, new_fd=None)
    if name in ("open", "openat", "openat2", "creat"):
        path = ret_path
        if path is None:
            quoted = _QUOTED.search(_strip_dirfd(args) if name.startswith("openat") else args)
            path = _unescape(quoted.group(1)) if quoted else None
        readable, writable = _access_mode(name, args)
        return FileEvent(line=line, pid=pid, kind=name, fd=result, path=path, new_fd=None,
                         readable=readable, writable=writable)
    if name == "memfd_create":
        quoted = _QUOTED.search(args)
        path = ret_path or (f"/memfd:{_unescape(quoted.group(1))} (deleted)" if quoted else None)
        return FileEvent(line=line, pid=pid, kind=name, fd=result, path=path, new_fd=None,
                         readable=True, writable=True)
    first = args.split(",", 1)[0].strip()
    if _FD.match(first) is None:
        return None
    old_fd, old_path = _fd(first)
    if name == "close":
        return FileEvent(line=line, pid=pid, kind=name, fd=old_fd, path=old_path, new_fd=None)
    if name == "fcntl" and "F_DUPFD" not in args:
        return None
    return FileEvent(line=line, pid=pid, kind=name, fd=old_fd, path=ret_path or old_path,
                     new_fd=result)


def _access_mode(name: str, args: str) -> tuple[bool, bool]:
    """FMODE_READ / FMODE_WRITE from the open flags (include/uapi/asm-generic/fcntl.h)."""
    if name == "creat":
        return False, True
    if "O_RDWR" in args:
        return True, True
    if "O_WRONLY" in args:
        return False, True
    return True, False


def _decorated_path(path: str | None, deleted: str | None) -> str | None:
    if path is None:
        return None
    path = _unescape(_YY_DEVICE.sub("", path))
    return path + " (deleted)" if deleted else path


def _strip_dirfd(args: str) -> str:
    """Drop openat's first argument (``AT_FDCWD</tmp>`` may hold quotes) before finding the path."""
    if args.startswith("AT_FDCWD") or args[:1].isdigit() or args.startswith("-"):
        depth = 0
        for index, char in enumerate(args):
            if char == "<":
                depth += 1
            elif char == ">" and depth:
                depth -= 1
            elif char == "," and depth == 0:
                return args[index + 1:]
    return args
