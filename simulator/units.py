"""Pages, alignment, and sizes as people write them ("8M", "8192K", "0x1000", "unlimited")."""

from __future__ import annotations

import re

from simulator.limits import MAX_NUMBER_DIGITS

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
PiB = 1 << 50
EiB = 1 << 60

#: RLIM_INFINITY as the kernel stores it (an unsigned long of all ones).
RLIM_INFINITY = (1 << 64) - 1


def align_down(value: int, alignment: int) -> int:
    """Round ``value`` down to a multiple of ``alignment`` (a power of two)."""
    return value & ~(alignment - 1)


def align_up(value: int, alignment: int) -> int:
    """Round ``value`` up to a multiple of ``alignment`` (a power of two)."""
    return (value + alignment - 1) & ~(alignment - 1)


def page_align(value: int) -> int:
    """PAGE_ALIGN() from include/linux/mm.h: round up to a whole page."""
    return (value + PAGE_SIZE - 1) & PAGE_MASK


def check_number_length(digits: str) -> None:
    """Raise ``ValueError`` when a number written as ``digits`` is too long to be a size or
    an address; cheap, so it runs before ``int()``, whose own limit is 4,300 digits."""
    if len(digits) > MAX_NUMBER_DIGITS:
        raise ValueError(f"number too long ({len(digits)} digits; at most {MAX_NUMBER_DIGITS})")


_SIZE_RE = re.compile(r"^\s*(0[xX][0-9a-fA-F]+|\d+)\s*([kKmMgGtT]?)(i?[bB])?\s*$")
_SUFFIX = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": TiB}


def parse_size(text: str, *, allow_unlimited: bool = False) -> int:
    """Parse a byte count: ``4096``, ``0x1000``, ``8K``, ``8M``, ``1G``, ``8MiB``; optionally ``unlimited``.

    ``unlimited`` (or ``infinity``) gives :data:`RLIM_INFINITY`. Raises ``ValueError`` with a
    message fit for the one-line bad-input report.

    >>> parse_size("8M"), parse_size("8192K"), parse_size("0x1000")
    (8388608, 8388608, 4096)
    """
    if allow_unlimited and text.strip().lower() in ("unlimited", "infinity"):
        return RLIM_INFINITY
    match = _SIZE_RE.match(text)
    if not match:
        extra = " or 'unlimited'" if allow_unlimited else ""
        raise ValueError(f"{text!r} is not a size (expected e.g. 4096, 0x1000, 8K, 8M, 1G{extra})")
    number, suffix, _ = match.groups()
    check_number_length(number)
    value = int(number, 0) * _SUFFIX[suffix.lower()]
    if value > RLIM_INFINITY:
        raise ValueError(f"{text.strip()!r} does not fit in 64 bits")
    return value


def format_size(nbytes: int) -> str:
    """A size in the largest binary unit that keeps it readable: ``8 MiB``, ``4 KiB``, ``1.5 GiB``.

    Up to EiB: a 64-bit address space runs to 16 EiB, a 5-level TASK_SIZE is 64 PiB.

    >>> format_size(8392704), format_size(4096), format_size(3 * GiB // 2), format_size(1 << 56)
    ('8.00 MiB', '4 KiB', '1.50 GiB', '64 PiB')
    """
    if nbytes == RLIM_INFINITY:
        return "unlimited"
    for unit, name in ((EiB, "EiB"), (PiB, "PiB"), (TiB, "TiB"), (GiB, "GiB"), (MiB, "MiB"),
                       (KiB, "KiB")):
        if abs(nbytes) >= unit:
            if nbytes % unit == 0:
                return f"{nbytes // unit} {name}"
            return f"{nbytes / unit:.2f} {name}"
    return f"{nbytes} B"
