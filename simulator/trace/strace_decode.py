"""Decoding one strace call's text (``name(args) = ret``) into an event.

Arguments are read by a table per call (:data:`_SPECS`: numbers, flag tables, fds with their
``-y`` paths, iovecs), returns by :func:`_parse_return`; the lifecycle and file calls have a
decoder each (:data:`_DECODERS`).  Nothing here guesses: a token that cannot be read raises
:class:`_Bad`, which the stream turns into one ``FILE:LINE: message``.  Numbers are bounded
(64-bit words, short digit strings) before ``int()`` sees them.
"""

from __future__ import annotations

import errno as _errno
import re

from simulator.kernel.uapi import MAP_HUGE_SHIFT, MAP_NAMES, MREMAP_NAMES, PROT_NAMES, Errno
from simulator.trace import xlat
from simulator.trace.events import (
    ExecEvent, ExitEvent, FileEvent, MemoryCall, OtherMemoryCall, PersonalityEvent, ProcessEvent,
    TaskCall, _Call,
)

#: The calls replay models today, decoded into :class:`MemoryCall`.
MEMORY_SYSCALLS = frozenset({"mmap", "mmap2", "munmap", "mprotect", "mremap", "brk"})
#: Other calls that change mappings or their attributes, decoded into :class:`OtherMemoryCall`.
OTHER_MEMORY_SYSCALLS = frozenset({
    "madvise", "process_madvise", "mlock", "mlock2", "munlock", "mlockall", "munlockall",
    "mseal", "shmat", "shmdt", "shmget", "shmctl", "pkey_mprotect", "pkey_alloc", "pkey_free",
    "remap_file_pages",
})
#: Calls that change (or report) credentials and resource limits: :class:`TaskCall`.
_ID_CALLS = ("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid")
TASK_SYSCALLS = frozenset({*_ID_CALLS, *(n + "32" for n in _ID_CALLS), "capget", "capset",
                           "prlimit64", "setrlimit", "getrlimit", "ugetrlimit", "prctl"})
FILE_SYSCALLS = frozenset({"open", "openat", "openat2", "creat", "memfd_create", "close", "dup",
                           "dup2", "dup3", "fcntl", "execve", "execveat", "chdir", "fchdir",
                           "unlink", "unlinkat"})
PROCESS_SYSCALLS = frozenset({"clone", "clone2", "clone3", "fork", "vfork"})
EXIT_SYSCALLS = frozenset({"exit", "exit_group"})
_RAW_NAMES = {f"syscall_{number:#x}": name for number, name in xlat.UNIFIED_SYSCALLS.items()}
_INTERESTING = (MEMORY_SYSCALLS | OTHER_MEMORY_SYSCALLS | TASK_SYSCALLS | FILE_SYSCALLS
                | PROCESS_SYSCALLS
                | EXIT_SYSCALLS | {"personality"} | set(_RAW_NAMES))
_DECODED = MEMORY_SYSCALLS | OTHER_MEMORY_SYSCALLS | set(_RAW_NAMES)

#: PID_MAX_LIMIT on 64-bit kernels (include/linux/threads.h).
_PID_MAX_LIMIT = 1 << 22
#: Every argument and return strace prints is at most a 64-bit word.
_WORD_LIMIT = 1 << 64
#: Longest number token decoded (``0x`` and 16 digits, or 20 decimal digits, plus slack for
#: leading zeros); longer ones are refused before ``int()`` sees them.
_MAX_NUMBER_CHARS = 24

_UNFINISHED = " <unfinished ...>"
_DETACHED = " <detached ...>"
_DURATION = re.compile(r"\s*<(\d{1,19})(?:\.(\d{1,9}))?>$")  # -T
_COMMENT = re.compile(r"\s*/\*.*?\*/")  # "0x4 /* MAP_??? */", -X verbose "0x3 /* PROT_READ|PROT_WRITE */"
_NUMBER = re.compile(r"-?(?:0[xX][0-9a-fA-F]+|\d+)$")
_HUGE_SHIFT = re.compile(r"(\d{1,3})<<(?:MAP|SHM)_HUGE_SHIFT$")
_FD = re.compile(r"(-?\d{1,20}|0[xX][0-9a-fA-F]{1,16})(?:<(.*)>(\(deleted\))?)?$", re.S)
_YY_DEVICE = re.compile(r"<(?:char|block) \d+:\d+>$")  # -yy: "/dev/zero<char 1:5>"
_ERRNO_RET = re.compile(r"-1\s+(E[A-Z0-9]+)(?:\s+\(.*\))?$")
_HEX_RET = re.compile(r"0x[0-9a-f]{1,16}$")
_INT_RET = re.compile(r"(0[xX][0-9a-fA-F]{1,16}|\d{1,20})(?:\s+\(.*\))?$")  # "(INJECTED)", "(PER_LINUX)"
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?')
_FD_RET = re.compile(r"(\d{1,10})(?:<(.*)>(\(deleted\))?)?(?:\s+\(.*\))?$", re.S)
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)", re.S)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "a": "\a", "b": "\b"}
_EXITED = re.compile(r"exited with (\d{1,3}) \+\+\+$")
_KILLED = re.compile(r"killed by (\w+)( \(core dumped\))? \+\+\+$")
_SUPERSEDED = re.compile(r"superseded by execve in pid (\d{1,10}) \+\+\+$")
_IOV = re.compile(r"\{iov_base=(NULL|0x[0-9a-f]{1,16}), iov_len=(\d{1,20})\}")

# How each decoded call's arguments are read: (name, kind), kind one of "addr" (a number or
# NULL), "num" (unsigned), "int" (signed), "fd" (with an optional -y path), "iov", "struct" (a
# pointer strace may print as the structure it points to, e.g. shmctl(IPC_STAT)'s
# ``{shm_perm=...}``: then None, the address is not shown), or a
# table of names (flags; a single value such as MADV_* also decodes through one).
_ADDR, _LEN = ("addr", "addr"), ("length", "num")
_MMAP_SPEC = (_ADDR, _LEN, ("prot", PROT_NAMES), ("flags", MAP_NAMES), ("fd", "fd"),
              ("offset", "num"))
_SPECS = {
    "mmap": _MMAP_SPEC,
    "mmap2": _MMAP_SPEC,
    "munmap": (_ADDR, _LEN),
    "mprotect": (_ADDR, _LEN, ("prot", PROT_NAMES)),
    "mremap": (("old_address", "addr"), ("old_size", "num"), ("new_size", "num"),
               ("flags", MREMAP_NAMES), ("new_address", "addr")),
    "brk": (_ADDR,),
    "madvise": (_ADDR, _LEN, ("advice", xlat.MADV_NAMES)),
    "process_madvise": (("pidfd", "fd"), ("iovec", "iov"), ("vlen", "num"),
                        ("advice", xlat.MADV_NAMES), ("flags", "num")),
    "mlock": (_ADDR, _LEN),
    "mlock2": (_ADDR, _LEN, ("flags", xlat.MLOCK_NAMES)),
    "munlock": (_ADDR, _LEN),
    "mlockall": (("flags", xlat.MCL_NAMES),),
    "munlockall": (),
    "mseal": (_ADDR, _LEN, ("flags", "num")),
    "shmat": (("shmid", "int"), ("shmaddr", "addr"), ("shmflg", xlat.SHMAT_NAMES)),
    "shmdt": (("shmaddr", "addr"),),
    "shmget": (("key", xlat.IPC_KEY_NAMES), ("size", "num"), ("shmflg", xlat.SHMGET_NAMES)),
    "shmctl": (("shmid", "int"), ("cmd", xlat.IPC_CMD_NAMES), ("buf", "struct")),
    "pkey_mprotect": (_ADDR, _LEN, ("prot", PROT_NAMES), ("pkey", "int")),
    "pkey_alloc": (("flags", "num"), ("access_rights", xlat.PKEY_NAMES)),
    "pkey_free": (("pkey", "int"),),
    "remap_file_pages": (_ADDR, ("size", "num"), ("prot", PROT_NAMES), ("pgoff", "num"),
                         ("flags", MAP_NAMES)),
}
#: Calls whose last argument strace prints only sometimes (mremap: with MREMAP_FIXED).
_OPTIONAL_LAST = frozenset({"mremap"})


class _Bad(Exception):
    """A call that cannot be decoded; turned into InputError with the right line."""


#: Where a call sits in the log: (pid, first line, last line, start stamp, end stamp).
_Where = tuple


def _fraction_ns(frac: str) -> int:
    """``123456`` (µs) or ``123456789`` (ns) after a stamp's dot, as ns."""
    return int(frac.ljust(9, "0")) if frac else 0


def _show(token: str, limit: int = 60) -> str:
    """A token for a one-line message: quoted, escaped, cut to ``limit`` characters."""
    shown = repr(token)
    return shown if len(shown) <= limit else shown[:limit - 4] + "...'"


def _split_call(body: str) -> tuple[str, str, int | None]:
    """``name(args) = ret <0.000012>`` → (args, ret, -T duration in ns or None).  The
    return's '=' is the last one on the line."""
    if body.endswith(_DETACHED):
        # strace stopped tracing mid-call (-p then ^C): the outcome is unknown, like "= ?".
        return body[body.index("(") + 1: -len(_DETACHED)], "?", None
    eq = body.rfind("=")
    before = body[:eq].rstrip() if eq >= 0 else ""
    if eq < 0 or not before.endswith(")"):
        raise _Bad("no return value (expected '... ) = RESULT')")
    args = before[body.index("(") + 1: -1]
    if args.endswith(_UNFINISHED):  # "mmap(... <unfinished ...>) = ?": tracee died in the call
        args = args[: -len(_UNFINISHED)]
    ret = body[eq + 1:].strip()
    duration = None
    if ret.endswith(">"):
        m = _DURATION.search(ret)
        if m is not None:
            duration = int(m.group(1)) * 10**9 + _fraction_ns(m.group(2) or "")
            ret = ret[: m.start()]
    return args, ret, duration


def _memory_call(name: str, body: str, where: _Where) -> _Call:
    args_text, ret_text, duration = _split_call(body)
    spec_name = _RAW_NAMES.get(name, name)
    values, fd_path, iov = _decode_args(name, args_text)
    cls = MemoryCall if spec_name in MEMORY_SYSCALLS else OtherMemoryCall
    pid, line, end_line, time_ns, end_ns = where
    return cls(line=line, end_line=end_line, pid=pid, name=spec_name, args=values,
               fd_path=fd_path, ret=_parse_return(ret_text), text=body, time_ns=time_ns,
               end_time_ns=end_ns, duration_ns=duration, iov=iov)


def _decode_args(name: str, args_text: str):
    """Decode any argument text strace may print for ``name``, or raise _Bad saying why not.
    Returns (values, fd path from -y, iovec pairs)."""
    raw = name in _RAW_NAMES  # "syscall_0x1ce(0x7f.., 0x2000, 0, 0, 0, 0)": every arg a number
    spec = _SPECS[_RAW_NAMES.get(name, name)]
    parts = _split_args(args_text)
    if raw:
        if len(parts) < len(spec):
            raise _Bad(f"expected at least {_plural(len(spec), 'argument')}, got {len(parts)}")
        parts = parts[: len(spec)]
        spec = tuple((arg, "int" if kind == "int" else "num") for arg, kind in spec)
    optional = name in _OPTIONAL_LAST
    if len(parts) != len(spec) and not (optional and len(parts) == len(spec) - 1):
        want = (f"{len(spec) - 1} or {len(spec)} arguments" if optional
                else _plural(len(spec), "argument"))
        raise _Bad(f"expected {want}, got {len(parts)}")
    values: list[int | None] = []
    fd_path = None
    iov = None
    for (what, kind), part in zip(spec, parts):
        if kind == "addr" or kind == "num":
            values.append(_number(part, what))
        elif kind == "int":
            values.append(_signed(part, what))
        elif kind == "fd":
            fd, fd_path = _fd(part)
            values.append(fd)
        elif kind == "iov":
            iov = _iovec(part)
            values.append(None)
        elif kind == "struct":
            values.append(None if part.startswith("{") else _number(part, what))
        else:
            values.append(_flags(part, kind))
    if len(values) < len(spec):
        values.append(None)  # mremap's new_address: not printed, so not known
    return tuple(values), fd_path, iov


def _split_args(text: str) -> list[str]:
    """Split an argument list at its top-level commas: not inside ``[...]``, ``{...}``,
    quotes, -y ``<path>`` decorations (strace escapes ``<`` and ``>`` in those) or
    ``/* -X comments */``; ``N<<MAP_HUGE_SHIFT`` is not a bracket."""
    text = text.strip()
    if not text:
        return []
    if not any(c in text for c in '[{"</'):
        return [part.strip() for part in text.split(",")]
    parts, begin, index, size = [], 0, 0, len(text)
    closing = {"[": "]", "{": "}", "<": ">"}
    stack: list[str] = []
    while index < size:
        char = text[index]
        if stack and stack[-1] == ">":
            # inside a -y path: only its own (escaped) brackets count; "[", "{", '"' are text
            if char == "\\":
                index += 1
            elif char == "<":
                stack.append(">")
            elif char == ">":
                stack.pop()
        elif char == '"':
            index += 1
            while index < size and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif char == "/" and text.startswith("/*", index) and not stack:
            end = text.find("*/", index + 2)
            index = size if end < 0 else end + 1
        elif char == "<" and text.startswith("<<", index) and not stack:
            index += 1
        elif char in closing:
            stack.append(closing[char])
        elif stack and char == stack[-1]:
            stack.pop()
        elif char == "," and not stack:
            parts.append(text[begin:index].strip())
            begin = index + 1
        index += 1
    if stack:
        raise _Bad(f"unbalanced brackets in arguments {_show(text)}")
    parts.append(text[begin:].strip())
    return parts


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _number(token: str, what: str) -> int:
    """An unsigned word: ``NULL``, ``4096``, ``0x7f..``, ``0`` (-X verbose comments dropped)."""
    if "/*" in token:
        token = _COMMENT.sub("", token).strip()
    if token == "NULL":
        return 0
    if len(token) <= _MAX_NUMBER_CHARS and _NUMBER.match(token) and token[0] != "-":
        value = int(token, 16) if token[1:2] in ("x", "X") else int(token)
        if value < _WORD_LIMIT:
            return value
        raise _Bad(f"{what} {_show(token)} does not fit in 64 bits")
    raise _Bad(f"cannot parse {what} {_show(token)}")


def _signed(token: str, what: str) -> int:
    """A signed int (a pkey, a shm id): ``-1``, ``3``."""
    if "/*" in token:
        token = _COMMENT.sub("", token).strip()
    if token.startswith("-") and len(token) <= _MAX_NUMBER_CHARS and token[1:].isdigit():
        value = int(token)
        if value >= -(1 << 63):
            return value
        raise _Bad(f"{what} {_show(token)} does not fit in 64 bits")
    return _number(token, what)


def _iovec(token: str) -> tuple[tuple[int, int], ...] | None:
    """``[{iov_base=0x7f.., iov_len=16384}, ...]``; ``None`` when strace abbreviated it
    (``...``) or printed only its address."""
    if not token.startswith("[") or not token.endswith("]"):
        if _NUMBER.match(token) or token == "NULL":
            return None  # an unreadable iovec: strace prints its address
        raise _Bad(f"cannot parse iovec {_show(token)}")
    inner = token[1:-1].strip()
    if inner.endswith("..."):
        return None
    pairs = []
    for item in _split_args(inner):
        m = _IOV.fullmatch(item)
        if m is None:
            raise _Bad(f"cannot parse iovec element {_show(item)}")
        pairs.append((_number(m.group(1), "iov_base"), _number(m.group(2), "iov_len")))
    return tuple(pairs)


# Real logs repeat a handful of flag spellings thousands of times.
_FLAG_CACHE: dict[tuple[str, int], int] = {}


def _flags(token: str, table: dict[str, int]) -> int:
    """``PROT_READ|PROT_WRITE``, ``MAP_PRIVATE|0x40000``, ``21<<MAP_HUGE_SHIFT``, ``PROT_NONE``,
    ``IPC_CREAT|0600`` (octal, as strace prints modes), ``MADV_DONTNEED``."""
    key = (token, id(table))
    value = _FLAG_CACHE.get(key)
    if value is None:
        value = _decode_flags(token, table)
        if len(_FLAG_CACHE) < 4096:
            _FLAG_CACHE[key] = value
    return value


def _decode_flags(token: str, table: dict[str, int]) -> int:
    token = _COMMENT.sub("", token)
    if not token.strip():
        raise _Bad("empty flags argument")
    value = 0
    for part in token.split("|"):
        part = part.strip()
        known = table.get(part)
        if known is not None:
            value |= known
        elif len(part) <= _MAX_NUMBER_CHARS and _NUMBER.match(part) and not part.startswith("-"):
            if part[:2] in ("0x", "0X"):
                value |= int(part, 16)
            else:
                value |= int(part, 8) if part[0] == "0" and len(part) > 1 else int(part)
        elif (huge := _HUGE_SHIFT.match(part)) and (table is MAP_NAMES
                                                     or table is xlat.SHMGET_NAMES):
            value |= int(huge.group(1)) << MAP_HUGE_SHIFT  # strace's spelling of an unnamed size
        else:
            raise _Bad(f"unknown flag {_show(part)}")
    if value >= _WORD_LIMIT:
        raise _Bad(f"flags {_show(token)} do not fit in 64 bits")
    return value


def _fd(token: str) -> tuple[int, str | None]:
    """``-1``, ``3``, ``3</usr/lib/libc.so.6>``, ``3</dev/zero<char 1:5>>``, ``4</memfd:x>(deleted)``."""
    m = _FD.match(token)
    if m is None:
        raise _Bad(f"cannot parse fd {_show(token)}")
    number, path, deleted = m.groups()
    value = int(number, 16) if number[:2] in ("0x", "0X") else int(number)
    if value >= 1 << 31:
        value -= 1 << 32  # -X raw prints fd -1 as 0xffffffff
    if not -(1 << 31) <= value < 1 << 31:
        raise _Bad(f"fd {_show(number)} out of range")
    if path is None:
        return value, None
    path = _path(_YY_DEVICE.sub("", path))
    if deleted:
        path += " (deleted)"  # as /proc/PID/maps spells it
    return value, path


def _path(text: str) -> str:
    """A path as strace quoted it, unescaped.  Paths are C strings: one holding a NUL can
    only come from a damaged or made-up log."""
    path = _unescape(text)
    if "\0" in path:
        raise _Bad(f"path {_show(text)} holds a NUL byte")
    return path


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


_ERRNO_CACHE: dict[str, Errno | int] = {}


def _errno_value(name: str) -> Errno | int:
    """An errno name as :class:`Errno`, else ``-errno`` (the kernel's return convention) for
    one Python's errno module knows, so a real log is never refused for a failure the
    simulator does not model."""
    value = _ERRNO_CACHE.get(name)
    if value is None:
        member = Errno.__members__.get(name)
        if member is not None:
            value = member
        else:
            code = getattr(_errno, name, None)
            if not isinstance(code, int):
                raise _Bad(f"unknown errno {_show(name)}")
            value = -code
        _ERRNO_CACHE[name] = value
    return value


def _parse_return(text: str) -> int | Errno | None:
    """``0x7f..``, ``0``, ``-1 ENOMEM (Cannot allocate memory)``, ``? ERESTARTNOINTR (...)``,
    ``0 (PER_LINUX)``."""
    if _HEX_RET.match(text):
        return int(text, 16)
    if text.startswith("?"):
        return None
    m = _ERRNO_RET.match(text)
    if m:
        return _errno_value(m.group(1))
    m = _INT_RET.match(text)
    if m is None:
        raise _Bad(f"cannot parse return value {_show(text)}")
    number = m.group(1)
    value = int(number, 16) if number[:2] in ("0x", "0X") else int(number)
    if value >= _WORD_LIMIT:
        raise _Bad(f"return value {_show(number)} does not fit in 64 bits")
    return value


# --- lifecycle and file events ---------------------------------------------------------------

def _exit_line(text: str, pid: int | None, line: int, time_ns: int | None) -> ExitEvent | None:
    """``+++ exited with 0 +++``, ``+++ killed by SIGSEGV (core dumped) +++``,
    ``+++ superseded by execve in pid 5678 +++`` (strace.c print_exited and friends)."""
    text = text.rstrip()
    if m := _EXITED.match(text):
        return ExitEvent(line=line, pid=pid, kind="exited", status=int(m.group(1)), time_ns=time_ns)
    if m := _KILLED.match(text):
        return ExitEvent(line=line, pid=pid, kind="killed", signal=m.group(1),
                         core_dumped=m.group(2) is not None, time_ns=time_ns)
    if m := _SUPERSEDED.match(text):
        return ExitEvent(line=line, pid=pid, kind="superseded", by=int(m.group(1)), time_ns=time_ns)
    return None


def _exit_call(name: str, body: str, where: _Where) -> ExitEvent | None:
    """``exit_group(3) = ?``: the status is the argument (the call never returns)."""
    try:
        args, _, _ = _split_call(body)
        status = _signed(args.strip(), "status")
    except _Bad:
        return None
    pid, line, _end, time_ns, _ = where
    return ExitEvent(line=line, pid=pid, kind=name, status=status, time_ns=time_ns)


def _personality(name: str, body: str, where: _Where) -> PersonalityEvent | None:
    """``personality(PER_LINUX32|ADDR_NO_RANDOMIZE) = 0 (PER_LINUX)``, ``personality(0xffffffff)``."""
    args, ret_text, duration = _split_call(body)
    persona = _flags(args.strip(), xlat.PERSONALITY_NAMES)
    pid, line, end_line, time_ns, end_ns = where
    return PersonalityEvent(line=line, end_line=end_line, pid=pid, persona=persona,
                            ret=_parse_return(ret_text), time_ns=time_ns, end_time_ns=end_ns,
                            duration_ns=duration)


def _process_event(name: str, body: str, where: _Where) -> ProcessEvent | None:
    """clone(child_stack=..., flags=CLONE_VM|...|SIGCHLD, ...) = CHILD, clone3({flags=...,
    exit_signal=SIGCHLD, ...}, 88) = CHILD, fork() = CHILD, vfork() = CHILD."""
    try:
        args, ret, duration = _split_call(body)
        child = _parse_return(ret)
    except _Bad:
        return None
    if not isinstance(child, int) or isinstance(child, Errno) or child <= 0:
        return None  # failed or unknown: no new task
    if child > _PID_MAX_LIMIT:
        raise _Bad(f"child pid {child} is above PID_MAX_LIMIT")
    flags = xlat.FORK_FLAGS.get(name)
    if flags is None:
        flags = _clone_flags(args)
    pid, line, end_line, time_ns, end_ns = where
    shares_vm = flags & xlat.CLONE_VM != 0 if flags is not None else "CLONE_VM" in args
    return ProcessEvent(line=line, pid=pid, kind=name, child=child, shares_vm=shares_vm,
                        flags=flags, end_line=end_line, time_ns=time_ns, end_time_ns=end_ns,
                        duration_ns=duration)


_CLONE_FIELD = re.compile(r"(?:^|[{,]\s*)(flags|exit_signal)=([^,}]*)")
_CLONE_TABLE = {**xlat.CLONE_NAMES, **xlat.SIGNAL_NAMES}


def _clone_flags(args: str) -> int | None:
    """``flags=`` of clone (exit signal in its low byte) or clone3 (plus ``exit_signal=``);
    ``None`` when strace printed neither (clone with -e raw)."""
    fields = {key: value for key, value in _CLONE_FIELD.findall(args)}
    if "flags" not in fields:
        return None
    flags = _flags(fields["flags"].strip(), _CLONE_TABLE)
    if "exit_signal" in fields:
        flags |= _flags(fields["exit_signal"].strip(), xlat.SIGNAL_NAMES) & 0xFF
    return flags


def _exec_event(name: str, body: str, where: _Where) -> ExecEvent | None:
    """``execve("/bin/true", ["true"], 0x7ffd.. /* 35 vars */) = 0`` (or ``-1 ENOENT``);
    execveat's path is its second argument."""
    try:
        args, ret_text, duration = _split_call(body)
        ret = _parse_return(ret_text)
    except _Bad:
        return None
    if name == "execveat":
        args = _strip_dirfd(args)
    strings = list(_QUOTED.finditer(args))
    path = _path(strings[0].group(1)) if strings else None
    argv0, complete = None, True
    if strings and args[strings[0].end():].lstrip(", ").startswith('["'):
        argv0 = _path(strings[1].group(1)) if len(strings) > 1 else None
        complete = len(strings) > 1 and strings[1].group(2) is None
    pid, line, end_line, time_ns, end_ns = where
    return ExecEvent(line=line, pid=pid, kind=name, fd=None, path=path, new_fd=None,
                     end_line=end_line, time_ns=time_ns, end_time_ns=end_ns, duration_ns=duration,
                     argv0=argv0, argv0_complete=complete, ret=ret)


def _file_event(name: str, body: str, where: _Where) -> FileEvent | None:
    try:
        args, ret, duration = _split_call(body)
    except _Bad:
        return None
    fd_ret = _FD_RET.match(ret)
    if fd_ret is None:  # failed call ("-1 ENOENT ...") or "?": nothing changed
        return None
    result = int(fd_ret.group(1))
    ret_path = _decorated_path(fd_ret.group(2), fd_ret.group(3))
    pid, line, end_line, time_ns, end_ns = where
    common = dict(line=line, pid=pid, kind=name, end_line=end_line, time_ns=time_ns,
                  end_time_ns=end_ns, duration_ns=duration)
    if name in ("chdir", "unlink", "unlinkat"):
        # unlinkat(dirfd, "path", flags): a relative path is taken against the cwd (AT_FDCWD;
        # -y shows any other dirfd's path, which replay does not follow).
        quoted = _QUOTED.search(_strip_dirfd(args) if name == "unlinkat" else args)
        if result != 0 or quoted is None or (name == "unlinkat" and "AT_REMOVEDIR" in args):
            return None
        return FileEvent(fd=None, path=_path(quoted.group(1)), new_fd=None, **common)
    if name in ("open", "openat", "openat2", "creat"):
        path = ret_path
        if path is None:
            quoted = _QUOTED.search(_strip_dirfd(args) if name.startswith("openat") else args)
            path = _path(quoted.group(1)) if quoted else None
        readable, writable = _access_mode(name, args)
        return FileEvent(fd=result, path=path, new_fd=None, readable=readable,
                         writable=writable, **common)
    if name == "memfd_create":
        quoted = _QUOTED.search(args)
        path = ret_path or (f"/memfd:{_path(quoted.group(1))} (deleted)" if quoted else None)
        return FileEvent(fd=result, path=path, new_fd=None, readable=True, writable=True,
                         **common)
    first = args.split(",", 1)[0].strip()
    if _FD.match(first) is None:
        return None
    old_fd, old_path = _fd(first)
    if name == "close" or name == "fchdir":
        if name == "fchdir" and result != 0:
            return None
        return FileEvent(fd=old_fd, path=old_path, new_fd=None, **common)
    if name == "fcntl" and "F_DUPFD" not in args:
        return None
    return FileEvent(fd=old_fd, path=ret_path or old_path, new_fd=result, **common)


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
    path = _path(_YY_DEVICE.sub("", path))
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


# --- credentials and resource limits ----------------------------------------------------------

_RLIM_VALUE = re.compile(r"(\d{1,20})(?:\*(\d{1,10}))?$")  # "4095", "8192*1024"
_RLIM_FIELDS = re.compile(r"\{rlim_cur=([^,]*), rlim_max=([^}]*)\}$")
_CAP_FIELD = re.compile(r"(effective|permitted|inheritable)=((?:~\()?[^,}]*\)?)")
_CAP_PID = re.compile(r"pid=(-?\d{1,10})")


def _rlim_value(token: str) -> int:
    token = _COMMENT.sub("", token).strip()  # -X verbose: "8388608 /* 8192*1024 */"
    if token in ("RLIM_INFINITY", "RLIM64_INFINITY"):
        return xlat.RLIM_INFINITY
    m = _RLIM_VALUE.match(token.strip())
    if m is None:
        raise _Bad(f"cannot parse rlimit value {_show(token)}")
    return min(int(m.group(1)) * int(m.group(2) or 1), xlat.RLIM_INFINITY)


def _rlimit(token: str) -> tuple[int, int] | None:
    """``{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}``; None for NULL or an address."""
    token = token.strip()
    m = _RLIM_FIELDS.match(token)
    if m is None:
        _number(token, "rlimit")  # an address (strace could not read it), else bad
        return None
    return _rlim_value(m.group(1)), _rlim_value(m.group(2))


_CAP_ITEM = re.compile(r"\s*(?:1<<(CAP_\w+)|(0[xX][0-9a-fA-F]{1,16}|\d{1,20}))"
                       r"\s*(?:/\*(.*?)\*/)?\s*(?:\||$)")


def _cap_set(token: str) -> int:
    """A capability set as strace prints its two 32-bit words (capability.c
    ``print_cap_bits``: the low word, ``|``, the high word, each left out when it is 0 and the
    other is not): ``1<<CAP_CHOWN|1<<CAP_MAC_OVERRIDE``, ``0``, ``~(1<<CAP_SYS_RESOURCE)``
    (all but these). A number among names is the high word's unnamed bits
    (``0x400 /* CAP_??? */``); with -X raw two numbers are the low and high word
    (``0xfeffffff|0x1ff``), and a lone one is the word its -X verbose comment names. A lone
    raw number could be either word: refused (_Bad), not guessed."""
    token = token.strip()
    if token.startswith("~(") and token.endswith(")"):
        return xlat.CAP_FULL & ~_cap_set(token[2:-1])
    names, numbers, index = 0, [], 0
    while index < len(token):
        m = _CAP_ITEM.match(token, index)
        if m is None or m.end() == index:
            raise _Bad(f"cannot parse capability set {_show(token)}")
        name, number, comment = m.groups()
        if name is not None:
            if name not in xlat.CAP_NAMES:
                raise _Bad(f"unknown capability {_show(name)}")
            names |= 1 << xlat.CAP_NAMES[name]
        else:
            numbers.append((_number(number, "capability set"), comment))
        index = m.end()
    if any(value >= 1 << 32 for value, _ in numbers):
        raise _Bad(f"capability word {_show(token)} does not fit in 32 bits")
    if names:
        return names | sum(value for value, _ in numbers) << 32
    if len(numbers) == 2:
        return numbers[0][0] | numbers[1][0] << 32
    if len(numbers) != 1:
        raise _Bad(f"cannot parse capability set {_show(token)}")
    value, comment = numbers[0]
    if value == 0:
        return 0
    if comment is None:
        raise _Unread(f"capability set {_show(token)}: a lone -X raw word, low or high")
    bits = [xlat.CAP_NAMES.get(n) for n in re.findall(r"1<<(CAP_\w+)", comment)]
    high = "CAP_???" in comment or any(b is not None and b >= 32 for b in bits)
    return value << 32 if high else value


class _Unread(_Bad):
    """A call strace printed in a form that does not show its values (an address for a
    structure, a lone -X raw capability word): skipped, not refused."""


#: Arguments of each id call (kernel/sys.c): setuid 1, setreuid 2, setresuid 3.
_ID_ARITY = {name + tail: count for name, count in (
    ("setuid", 1), ("setgid", 1), ("setreuid", 2), ("setregid", 2), ("setresuid", 3),
    ("setresgid", 3)) for tail in ("", "32")}
_TASK_ARITY = {**_ID_ARITY, "prlimit64": 4, "setrlimit": 2, "getrlimit": 2, "ugetrlimit": 2}


def _task_call(name: str, body: str, where: _Where) -> TaskCall | None:
    """set*id, capget/capset, prlimit64/setrlimit/getrlimit, prctl; None if strace printed
    something else than the values (an address for a structure it could not read) or a prctl
    option replay does not follow. A line no strace prints (a wrong number of arguments, an
    id that is not a number) is bad input (_Bad), as for the memory calls."""
    args_text, ret_text, duration = _split_call(body)
    try:
        if name in ("capget", "capset"):
            # "1<<CAP_..." inside braces: not for _split_args, whose "<" opens a -y path
            header, _, data = args_text.partition("}")
            pid = _CAP_PID.search(header)
            fields = dict(_CAP_FIELD.findall(data))
            if pid is None or len(fields) < 3:
                return None
            args = (int(pid.group(1)), *(_cap_set(fields[k]) for k in
                                         ("effective", "permitted", "inheritable")))
        elif name == "prctl":
            args = _prctl_args(_split_args(args_text))
            if args is None:
                return None
        else:
            parts = _split_args(args_text)
            if len(parts) != _TASK_ARITY[name]:
                raise _Bad(f"expected {_plural(_TASK_ARITY[name], 'argument')}, got {len(parts)}")
            if name == "prlimit64":
                args = (_signed(parts[0], "pid"), _flags(parts[1], xlat.RLIMIT_NAMES),
                        _rlimit(parts[2]), _rlimit(parts[3]))
            elif name in ("setrlimit", "getrlimit", "ugetrlimit"):
                args = (_flags(parts[0], xlat.RLIMIT_NAMES), _rlimit(parts[1]))
            else:
                args = tuple(_signed(p, "id") for p in parts)
    except _Unread:
        return None
    ret = _parse_return(ret_text)
    pid, line, end_line, time_ns, end_ns = where
    return TaskCall(line=line, end_line=end_line, pid=pid, name=name, args=args, fd_path=None,
                    ret=ret, text=body, time_ns=time_ns, end_time_ns=end_ns,
                    duration_ns=duration)


_PRCTL_ARG = {8: "num", 28: xlat.SECBIT_NAMES, 23: xlat.CAP_NAMES, 24: xlat.CAP_NAMES}


def _prctl_args(parts: list[str]) -> tuple[int, int | None] | None:
    """``prctl(PR_SET_KEEPCAPS, 1)``, ``prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS|...)``,
    ``prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN)``, ``prctl(PR_GET_SECUREBITS)`` and their -X raw
    and verbose forms: (option, arg2 or None). None for the options replay does not follow."""
    if not parts:
        raise _Bad("prctl without an option")
    option = _COMMENT.sub("", parts[0]).strip()
    value = xlat.PR_NAMES.get(option)
    if value is None and _NUMBER.match(option) and len(option) <= _MAX_NUMBER_CHARS:
        value = _number(option, "option")
    if value not in xlat.PR_NAMES.values():
        return None
    kind = _PRCTL_ARG.get(value)
    if kind is None:
        return value, None
    if len(parts) < 2:
        raise _Bad(f"prctl option {option} without its argument")
    arg = parts[1]
    return value, _number(arg, "arg2") if kind == "num" else _flags(arg, kind)


#: How each interesting call's text becomes an event; file calls default to _file_event.
_DECODERS = {
    **{name: _task_call for name in TASK_SYSCALLS},
    **{name: _memory_call for name in _DECODED},
    **{name: _process_event for name in PROCESS_SYSCALLS},
    **{name: _exit_call for name in EXIT_SYSCALLS},
    "personality": _personality,
    "execve": _exec_event,
    "execveat": _exec_event,
}
