"""Shared look of every figure: the Okabe–Ito palette, hatches, fonts, deterministic saving.

Every category differs in three ways at once: hue (Okabe–Ito, safe for the common forms of
colour blindness), fill lightness (so it survives greyscale printing) and hatch pattern (so it
survives even a black-and-white photocopy). Fills are light tints so the text drawn on or
near them is always dark on light.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import attrs
import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib import colors as mcolors  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "orange": "#E69F00", "skyblue": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000",
}
#: Line/marker series order (colour, marker, line style) for charts with several lines.
SERIES = (
    (OKABE_ITO["blue"], "o", "-"),
    (OKABE_ITO["vermillion"], "s", "--"),
    (OKABE_ITO["green"], "^", "-."),
    (OKABE_ITO["purple"], "D", ":"),
    (OKABE_ITO["orange"], "v", (0, (5, 1, 1, 1, 1, 1))),
    (OKABE_ITO["skyblue"], "P", (0, (3, 1))),
    (OKABE_ITO["black"], "X", (0, (1, 1))),
)

RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "hatch.linewidth": 0.6,
    "svg.hashsalt": "vasim",
    "svg.fonttype": "path",
    "path.simplify": False,
    "figure.dpi": 100,
    "savefig.dpi": 150,
}
MONO = "DejaVu Sans Mono"


def tint(color: str, amount: float) -> tuple[float, float, float]:
    """``color`` mixed with white: ``amount`` 0 is the colour, 1 is white."""
    r, g, b = mcolors.to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def luminance(color) -> float:
    """Relative luminance (WCAG 2 / Rec. 709), 0 black to 1 white: what greyscale keeps."""
    def channel(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = mcolors.to_rgb(color)
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


@attrs.frozen
class KindStyle:
    """How one kind of region is drawn and named in legends."""

    title: str
    fill: tuple
    edge: str
    hatch: str


#: Region kinds of the layout diagram. Fill luminances are spread out and every hatch is
#: different, so no two kinds look alike in greyscale.
KINDS: dict[str, KindStyle] = {
    "exe": KindStyle("executable text/data", tint(OKABE_ITO["blue"], 0.45), OKABE_ITO["blue"], ""),
    "heap": KindStyle("heap (brk)", tint(OKABE_ITO["orange"], 0.30), "#8a5f00", "...."),
    "lib": KindStyle("file mappings, libraries", tint(OKABE_ITO["skyblue"], 0.55), "#1f6f99",
                     "\\\\\\"),
    "anon": KindStyle("anonymous mappings", tint(OKABE_ITO["yellow"], 0.25), "#7a7000", "---"),
    "thread-stack": KindStyle("thread stacks (MAP_STACK)", tint(OKABE_ITO["green"], 0.55),
                              "#006b4e", "///"),
    "thread-guard": KindStyle("thread guard page (PROT_NONE)", (0.0, 0.0, 0.0), "#000000", ""),
    "stack": KindStyle("stack ([stack], MAP_GROWSDOWN)", tint(OKABE_ITO["purple"], 0.40),
                       "#8c3f6a", "xxx"),
    "guard-gap": KindStyle("stack_guard_gap", tint(OKABE_ITO["vermillion"], 0.88),
                           OKABE_ITO["vermillion"], "|||"),
    "vdso": KindStyle("vdso / vvar", (0.62, 0.62, 0.62), "#333333", "++"),
    "free": KindStyle("free", (1.0, 1.0, 1.0), "#888888", ""),
    "reserved": KindStyle("not mappable", (0.87, 0.87, 0.87), "#555555", "oo"),
    "kernel": KindStyle("kernel space", (0.76, 0.76, 0.76), "#444444", "xx|"),
}


@contextmanager
def rc():
    """The figures' rcParams, for building and for saving."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure that belongs to no pyplot state (no GUI, nothing kept alive)."""
    return Figure(figsize=(width, height), dpi=RC["figure.dpi"])


def save(fig: Figure, path: str, formats=("png", "svg")) -> list[str]:
    """Write ``fig`` as PNG and SVG next to each other; returns the paths written.

    ``path`` may carry an extension (``out/layout.png``) or not (``out/layout``): either way
    every format in ``formats`` is written. The bytes are reproducible: fixed SVG hash salt,
    no date or software stamp.
    """
    root, ext = os.path.splitext(path)
    if ext.lower().lstrip(".") not in ("png", "svg", "pdf"):
        root = path
    directory = os.path.dirname(root)
    if directory:
        os.makedirs(directory, exist_ok=True)
    written = []
    with rc():
        for fmt in formats:
            out = f"{root}.{fmt}"
            metadata = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
            if fmt == "pdf":
                metadata = {"CreationDate": None, "Creator": None, "Producer": None}
            fig.savefig(out, format=fmt, bbox_inches="tight", pad_inches=0.08,
                        metadata=metadata, facecolor="white")
            written.append(out)
    return written
