"""Errors for bad input: one line, ``FILE:LINE: message`` (or ``FILE:LINE:COL: message``).

Kernel refusals are never exceptions: a syscall returns an :class:`~simulator.kernel.errno.Errno`
value, as the kernel does. ``InputError`` is only for input the simulator cannot understand: a
malformed scenario, a garbled strace line, an impossible argument, an unreadable file.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input. ``str(err)`` is the single line the CLI prints before exiting with status 2."""

    def __init__(self, source: str, line: int | None, message: str, col: int | None = None):
        super().__init__(message)
        self.source = source
        self.line = line
        self.col = col
        self.message = message

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.message}"
