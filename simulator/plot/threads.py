"""How many threads fit, against the stack size, for several layouts (log-log).

Each point is a run of glibc's ``pthread_create`` until it fails
(:meth:`simulator.libc.pthread.Threads.create_until_failure`) in the typical program of the
layout's profile, ASLR off, with ``pthread_attr_setstacksize(size)``.
"""

from __future__ import annotations

import functools

import attrs
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from simulator.kernel.arch import get_profile
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.plot.style import SERIES, new_figure, rc
from simulator.units import KiB, MiB, PAGE_SIZE

NR = Personality.ADDR_NO_RANDOMIZE


@attrs.frozen
class ThreadLayout:
    """One line of the chart: a profile and a personality (and RLIMIT_STACK at exec)."""

    label: str
    arch: str
    personality: Personality = NR
    rlimit_stack: int = 8 * MiB


#: The classic 32-bit comparison: a 32-bit process on a 64-bit kernel (4 GiB, 3 GiB, legacy
#: layout) and native i386 kernels with smaller user splits.
DEFAULT_LAYOUTS = (
    ThreadLayout("i686, 4 GiB (64-bit kernel)", "i686"),
    ThreadLayout("i686 --3gb (ADDR_LIMIT_3GB)", "i686", NR | Personality.ADDR_LIMIT_3GB),
    ThreadLayout("i686 -L (ADDR_COMPAT_LAYOUT)", "i686", NR | Personality.ADDR_COMPAT_LAYOUT),
    ThreadLayout("i386 2G/2G (native)", "i386-2g"),
    ThreadLayout("i386 1G/3G (native)", "i386-1g"),
)
#: Stack sizes from 1 MiB to 64 MiB: the whole chart runs in about two seconds. Smaller
#: sizes are allowed (64 KiB reaches vm.max_map_count) but cost seconds per layout.
DEFAULT_SIZES = tuple(MiB << k for k in range(7))


@attrs.frozen
class Point:
    stack_size: int
    threads: int
    stopped_by: str


def as_layout(item) -> ThreadLayout:
    """A ThreadLayout from a ThreadLayout, a profile name, or ``(label, arch[, personality])``."""
    if isinstance(item, ThreadLayout):
        return item
    if isinstance(item, str):
        get_profile(item)
        return ThreadLayout(item, item)
    label, arch, *rest = item
    get_profile(arch)
    personality = rest[0] if rest else NR
    return ThreadLayout(label, arch, Personality(personality))


@functools.lru_cache(maxsize=256)
def count_threads(arch: str, personality: int, stack_size: int,
                  rlimit_stack: int = 8 * MiB, kconfig: KernelConfig = KernelConfig()) -> Point:
    """Threads created before pthread_create fails, with stacks of ``stack_size``."""
    from simulator.kernel.exec import exec_layout
    from simulator.libc.process import start_process
    from simulator.libc.pthread import ThreadAttr
    from simulator.programs import typical_process_images

    profile = get_profile(arch)
    exe, rtld, libs = typical_process_images(profile)
    mm = exec_layout(profile, exe.elf, rtld.elf, kconfig=kconfig,
                     proc=ProcessConfig(personality=Personality(personality),
                                        rlimit_stack=rlimit_stack))
    process = start_process(mm, exe, rtld, libs)
    result = process.threads.create_until_failure(ThreadAttr(stacksize=stack_size))
    return Point(stack_size, result.threads, result.stopped_by)


def thread_counts(layouts=DEFAULT_LAYOUTS, stack_sizes=DEFAULT_SIZES) -> dict[str, list[Point]]:
    """The chart's data: for each layout's label, one Point per stack size."""
    out = {}
    for item in layouts:
        lay = as_layout(item)
        out[lay.label] = [count_threads(lay.arch, int(lay.personality), size, lay.rlimit_stack)
                          for size in stack_sizes]
    return out


def _size_label(n: int) -> str:
    if n % MiB == 0:
        return f"{n // MiB}M"
    if n % KiB == 0:
        return f"{n // KiB}K"
    return str(n)


def threads_chart(layouts=DEFAULT_LAYOUTS, stack_sizes=DEFAULT_SIZES, *,
                  title: str | None = None):
    """Threads until failure against the stack size, one line per layout (log-log).

    ``layouts``: ThreadLayouts, profile names, or ``(label, arch, personality)`` tuples.
    Points where vm.max_map_count (not address space) stopped creation are hollow.
    """
    data = thread_counts(layouts, stack_sizes)
    sizes = sorted(set(stack_sizes))
    with rc():
        fig = new_figure(7.4, 4.8)
        ax = fig.add_axes([0.1, 0.1, 0.86, 0.8])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ymax = max(p.threads for pts in data.values() for p in pts)
        ymin = min(max(p.threads, 1) for pts in data.values() for p in pts)
        handles = []
        for k, (label, pts) in enumerate(data.items()):
            color, marker, ls = SERIES[k % len(SERIES)]
            xs = [p.stack_size for p in pts]
            ys = [max(p.threads, 0.8) for p in pts]
            ax.plot(xs, ys, color=color, ls=ls, lw=1.4, zorder=3)
            for p, y in zip(pts, ys):
                hollow = p.stopped_by == "max_map_count"
                ax.plot([p.stack_size], [y], marker=marker, ls="none", markersize=5.5,
                        markerfacecolor="white" if hollow else color, markeredgecolor=color,
                        markeredgewidth=1.2, zorder=4)
            at8 = [p.threads for p in pts if p.stack_size == 8 * MiB]
            text = f"{label}: {at8[0]:,} threads at 8M" if at8 else label
            handles.append(Line2D([], [], color=color, ls=ls, marker=marker, lw=1.4,
                                  markersize=5.5, label=text))
        # References: the address-space ceiling and the map-count ceiling.
        ceiling = [0]
        if all(get_profile(as_layout(i).arch).task_bits == 32 for i in layouts):
            ceiling = [(1 << 32) / (s + PAGE_SIZE) for s in sizes]
            ax.plot(sizes, ceiling, color="#777777", lw=0.9, ls=(0, (1, 2)), zorder=2)
            handles.append(Line2D([], [], color="#777777", lw=0.9, ls=(0, (1, 2)),
                                  label="4 GiB ÷ (stack + 4 KiB guard): the 32-bit ceiling"))
        max_map = KernelConfig().max_map_count
        if ymax > max_map / 4:
            ax.axhline(max_map / 2, color="black", lw=0.8, ls=(0, (6, 3)), zorder=2)
            handles.append(Line2D([], [], color="black", lw=0.8, ls=(0, (6, 3)),
                                  label=f"vm.max_map_count {max_map} ÷ 2 VMAs per stack"))
        if any(p.stopped_by == "max_map_count" for pts in data.values() for p in pts):
            handles.append(Line2D([], [], color="black", marker="o", ls="none",
                                  markerfacecolor="white", label="stopped by vm.max_map_count"))
        if sizes[0] <= 8 * MiB <= sizes[-1]:
            ax.axvline(8 * MiB, color="#999999", lw=0.8, zorder=1)
            ax.text(8 * MiB * 1.05, ymin * 0.75, "8M: glibc's default\n(ulimit -s 8192)",
                    fontsize=6.5, va="top", ha="left", color="#333333")
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _size_label(int(round(v)))))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else ""))
        ax.set_xlim(sizes[0] / 1.25, sizes[-1] * 1.25)
        ax.set_ylim(ymin * 0.35, max(ymax, max(ceiling)) * 1.6)
        ax.set_xlabel("thread stack size (pthread_attr_setstacksize), log scale")
        ax.set_ylabel("threads created before pthread_create fails, log scale")
        ax.grid(True, which="major", color="#dddddd", lw=0.5)
        ax.grid(True, which="minor", axis="y", color="#f0f0f0", lw=0.4)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.1, 0.0), ncol=2,
                   fontsize=6.6, frameon=False, handlelength=3.2, columnspacing=1.6)
        bits = {get_profile(as_layout(i).arch).task_bits for i in layouts}
        what = "32-bit layouts" if bits == {32} else "by layout"
        ax.set_title(title or f"How many threads fit: {what} (ASLR off, typical program)",
                     loc="left", fontsize=9.5, weight="bold")
        fig.vasim_data = data
    return fig


__all__ = ["threads_chart", "thread_counts", "count_threads", "ThreadLayout",
           "DEFAULT_LAYOUTS", "DEFAULT_SIZES"]
