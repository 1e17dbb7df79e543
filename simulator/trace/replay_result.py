"""What a replay reports: each call, each process at the end, each exec's inferred bases.

Values only (attrs, frozen; :class:`ReplayedCall`, one per call, a named tuple);
:mod:`simulator.trace.replay` produces them.
"""

from __future__ import annotations

from json.encoder import encode_basestring_ascii as _string
from typing import NamedTuple

import attrs

class ReplayedCall(NamedTuple):
    """One replayed call: ``line`` is the log line that holds its return. A named tuple
    (immutable like the attrs values here): replay makes one per call, and a frozen attrs
    instance costs three times as much to build."""

    line: int
    syscall: str
    text: str
    recorded: str
    simulated: str
    pid: int | None = None
    #: Replayed in another order than strace printed it (overlapping calls of threads).
    reordered: bool = False
    #: What the answer rests on that the log does not show (mremap's unprinted hint...).
    note: str = ""

    @property
    def matched(self) -> bool:
        return self.recorded == "?" or self.recorded == self.simulated

    def to_json(self) -> dict:
        out = {"line": self.line, "pid": self.pid, "syscall": self.syscall,
               "recorded": self.recorded, "simulated": self.simulated}
        if self.reordered:
            out["reordered"] = True
        if self.note:
            out["note"] = self.note
        return out

    def json_text(self) -> str:
        """``json.dumps(self.to_json())``, written out: replay prints one per call, and the
        generic encoder costs more than the replay of a call (bench/replay_e2e.py)."""
        pid = "null" if self.pid is None else str(self.pid)
        text = (f'{{"line": {self.line}, "pid": {pid}, "syscall": {_string(self.syscall)}, '
                f'"recorded": {_string(self.recorded)}, "simulated": {_string(self.simulated)}')
        if self.reordered:
            text += ', "reordered": true'
        if self.note:
            text += f', "note": {_string(self.note)}'
        return text + "}"


@attrs.frozen
class ProcessSummary:
    """One process at the end of the log: its pid, parent, last executable, final maps."""

    pid: int | None
    parent: int | None
    executable: str | None
    maps: str

    def to_json(self) -> dict:
        return {"pid": self.pid, "parent": self.parent, "executable": self.executable,
                "maps": self.maps}


@attrs.frozen
class InferredBases:
    """The random choices of one exec, as inferred from the log (None: not revealed)."""

    pid: int | None
    line: int
    executable: str | None
    aslr: str  # "off" (no randomisation), "on" (bases inferred) or "unknown"
    mmap_base: int | None
    load_bias: int | None
    brk: int | None
    stack_top: int | None = None

    def to_json(self) -> dict:
        hexed = lambda v: None if v is None else hex(v)
        return {"pid": self.pid, "line": self.line, "executable": self.executable,
                "aslr": self.aslr, "mmap_base": hexed(self.mmap_base),
                "load_bias": hexed(self.load_bias), "brk": hexed(self.brk),
                "stack_top": hexed(self.stack_top)}

    def describe(self) -> str:
        who = (f"pid {self.pid} exec of {self.executable}" if self.pid is not None
               else f"exec of {self.executable} (line {self.line})")
        if self.aslr == "off":
            return f"{who}: ASLR off"
        parts = [f"{name} {value:#x}" for name, value in
                 (("mmap_base", self.mmap_base), ("load_bias", self.load_bias),
                  ("brk", self.brk)) if value is not None]
        return (f"{who}: ASLR {self.aslr}, inferred "
                + (", ".join(parts) or "nothing") + "; stack top not revealed")


@attrs.frozen
class ReplayResult:
    calls: tuple[ReplayedCall, ...]
    skipped: int
    maps: str
    processes: tuple[ProcessSummary, ...] = ()
    inferred: tuple[InferredBases, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return len(self.calls)

    @property
    def matched(self) -> int:
        return sum(1 for c in self.calls if c.matched)

    @property
    def first_divergence(self) -> ReplayedCall | None:
        return next((c for c in self.calls if not c.matched), None)

    def to_json(self) -> dict:
        return {
            "calls": [c.to_json() for c in self.calls],
            "matched": self.matched,
            "total": self.total,
            "skipped": self.skipped,
            "maps": self.maps,
            "processes": [p.to_json() for p in self.processes],
            "inferred": [i.to_json() for i in self.inferred],
            "notes": list(self.notes),
        }
