"""Where each key of a TOML file is: line and column, for one-line error messages.

tomllib gives values without positions. This scanner walks the text once and records, for
every key, the position of the key itself, under its full path: ``("process", "arch")``,
``("step", 3, "expect", "errno")`` for the 4th ``[[step]]``'s inline table. It understands
what scenario files use: table headers, arrays of tables, ``key = value`` with dotted keys,
one level of inline tables, and multi-line strings and arrays (whose inner lines are skipped).
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^(\s*)((?:[A-Za-z0-9_\-]+|\"[^\"]*\")(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"))*)\s*=")
_INLINE_KEY = re.compile(r"([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


def _split_dotted(text: str) -> list[str]:
    return [part.strip().strip('"').strip("'") for part in re.findall(r'"[^"]*"|[^.]+', text)]


def locate(text: str) -> dict[tuple, tuple[int, int]]:
    """{key path: (line, column)}, 1-based. Tables map to their header's position."""
    positions: dict[tuple, tuple[int, int]] = {}
    counts: dict[tuple, int] = {}
    prefix: tuple = ()
    in_string: str | None = None
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        if depth > 0:
            depth += line.count("[") - line.count("]")
            continue
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            names = tuple(_split_dotted(header.group(2)))
            # A sub-table of an array of tables belongs to its last element.
            resolved: tuple = ()
            for i, name in enumerate(names):
                resolved += (name,)
                if names[:i + 1] in counts and i + 1 < len(names):
                    resolved += (counts[names[:i + 1]] - 1,)
            if header.group(1) == "[[":
                index = counts.get(names, 0)
                counts[names] = index + 1
                prefix = resolved + (index,)
            else:
                prefix = resolved
            positions.setdefault(prefix, (number, line.index(header.group(1)) + 1))
            continue
        key = _KEY.match(line)
        if not key:
            continue
        path = prefix + tuple(_split_dotted(key.group(2)))
        positions.setdefault(path, (number, len(key.group(1)) + 1))
        value = line[key.end():]
        for quote in ('"""', "'''"):
            if value.count(quote) % 2 == 1:
                in_string = quote
        brace = value.find("{")
        if brace >= 0 and value.lstrip().startswith("{"):
            offset = key.end() + brace
            for inner in _INLINE_KEY.finditer(line, offset):
                name = inner.group(1).strip('"')
                positions.setdefault(path + (name,), (number, inner.start() + 1))
        opened = value.count("[") - value.count("]")
        if value.lstrip().startswith("[") and opened > 0:
            depth = opened
    return positions


def position(positions: dict, path: tuple) -> tuple[int | None, int | None]:
    """The position of ``path``, or of its nearest recorded ancestor; a problem with the file
    as a whole (a missing top-level key) is reported at its first line."""
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return 1, None
