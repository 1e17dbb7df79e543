"""A progress line on stderr for long runs: threads until failure, many scenarios.

Drawn by tqdm, and only when it helps: on a terminal (never into a pipe or a file, so a
``--json`` document on stdout and a log of stderr stay clean), and only once the run has
taken :data:`DELAY` seconds, so short runs print exactly what they printed before. The line
is erased when the run ends. ``VASIM_PROGRESS=0`` turns it off; ``VASIM_PROGRESS=1`` draws it
even when stderr is not a terminal.
"""

from __future__ import annotations

import os
import shutil
import sys

#: Seconds a run goes on before its progress line appears.
DELAY = 1.5


def enabled(stream) -> bool:
    """Whether to draw on ``stream``: a terminal, unless VASIM_PROGRESS says otherwise."""
    setting = os.environ.get("VASIM_PROGRESS", "")
    if setting in ("0", "1"):
        return setting == "1"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """``with Progress("vasim threads", unit="thread") as bar: ... bar.update(n)``.

    ``update`` costs an addition and a comparison when nothing is drawn (tqdm's own
    rate limit, or no line at all), so it can be called once per step or thread."""

    def __init__(self, desc: str, *, total: int | None = None, unit: str = "step",
                 stream=None, delay: float | None = None):
        stream = stream if stream is not None else sys.stderr
        delay = DELAY if delay is None else delay
        self.bar = None
        if enabled(stream):
            from tqdm import tqdm

            # A terminal that reports no size (a bare pty) would hide the line: tqdm draws
            # nothing below its last row.
            size = shutil.get_terminal_size()
            self.bar = tqdm(desc=desc, total=total, unit=unit, file=stream, delay=delay,
                            leave=False, ncols=min(size.columns or 80, 100),
                            nrows=size.lines or 24, mininterval=0.25, unit_scale=True)

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def describe(self, text: str) -> None:
        """What the run is doing now (a scenario's file name, say)."""
        if self.bar is not None:
            self.bar.set_description_str(text, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
