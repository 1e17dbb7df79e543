"""Where ASLR puts each region, over many seeds, against what the kernel's parameters allow.

For each seed the typical program is exec'ed with ASLR on (no ADDR_NO_RANDOMIZE,
``randomize_va_space`` 2). One panel per region — the executable's load base, mmap_base
(and ld.so, placed right below it), the heap's start, the stack's top — shows the observed
addresses as a strip plot over the shaded range the kernel's randomisation can reach, and
says how many bits of entropy that range holds (log2 of the number of possible values) and
how far the observed values spread.
"""

from __future__ import annotations

import math
import random

import attrs
from matplotlib.patches import Patch, Rectangle
from matplotlib.lines import Line2D

from simulator.kernel.arch import get_profile
from simulator.kernel.aslr import mmap_rnd_bits
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.kernel.layout import mmap_base as kernel_mmap_base
from simulator.kernel.mm import AddressSpace
from simulator.plot.style import OKABE_ITO, new_figure, rc
from simulator.units import PAGE_SIZE, format_size


@attrs.frozen
class RegionSpread:
    """One panel: the observed addresses and the range the kernel can produce."""

    name: str
    samples: tuple[int, ...]
    #: Lowest and highest possible value (inclusive).
    low: int
    high: int
    #: Number of distinct values the kernel can produce.
    possible: int
    #: How that number follows from the kernel's parameters.
    why: str
    #: Short name of the row in the panel.
    short: str = ""
    #: A second row drawn in the same panel (ld.so below mmap_base): its name, samples and
    #: possible range (low, high), or None.
    extra: tuple | None = None

    @property
    def bits(self) -> float:
        return math.log2(self.possible) if self.possible > 0 else 0.0

    @property
    def distinct(self) -> int:
        return len(set(self.samples))

    @property
    def spread(self) -> int:
        return max(self.samples) - min(self.samples)


def _fmt_bits(bits: float) -> str:
    return f"{bits:.0f}" if abs(bits - round(bits)) < 0.005 else f"{bits:.2f}"


def aslr_samples(profile_name: str, seeds=range(200), *,
                 kconfig: KernelConfig = KernelConfig()) -> list[RegionSpread]:
    """Exec the typical program once per seed with ASLR on; one RegionSpread per region."""
    from simulator.kernel.exec import exec_layout
    from simulator.programs import typical_process_images

    profile = get_profile(profile_name)
    exe, rtld, _ = typical_process_images(profile)
    aslr = Personality(0)
    rows = []
    for seed in seeds:
        mm = exec_layout(profile, exe.elf, rtld.elf, kconfig=kconfig,
                         proc=ProcessConfig(personality=aslr, seed=seed))
        stack = mm.vma_at(mm.start_stack)
        rows.append((mm.exe_start, mm.mmap_base, mm.interp_base, mm.start_brk, stack.end))
    ref = exec_layout(profile, exe.elf, rtld.elf, kconfig=kconfig,
                      proc=ProcessConfig(personality=Personality.ADDR_NO_RANDOMIZE))
    probe = AddressSpace(profile, kconfig, ProcessConfig(personality=aslr))
    bits = mmap_rnd_bits(probe)
    randomize = probe.randomize

    # The executable: ELF_ET_DYN_BASE + arch_mmap_rnd(), aligned down to its largest p_align.
    align = max(exe.elf.maximum_alignment(), PAGE_SIZE)
    pie = exe.elf.dynamic and exe.elf.interp is not None
    exe_lo = ref.exe_start
    if pie and randomize:
        exe_values = max((1 << bits) * PAGE_SIZE // align, 1)
        exe_hi = exe_lo + (exe_values - 1) * align
        exe_why = (f"mmap_rnd_bits = {bits} random pages"
                   + (f", aligned to p_align {format_size(align)}" if align > PAGE_SIZE else ""))
    else:
        exe_values, exe_hi = 1, exe_lo
        exe_why = "not randomised (not a PIE, or ASLR off)"
    spreads = [RegionSpread("executable load base (PIE)", tuple(r[0] for r in rows), exe_lo,
                            exe_hi, exe_values, exe_why, "exe_start")]

    # mmap_base: top - gap - rnd; the gap includes the stack's random range when ASLR is on.
    rlimit = probe.rlimit_stack
    base_hi = kernel_mmap_base(probe, 0, rlimit)
    rnd_max = ((1 << bits) - 1) << 12 if randomize else 0
    base_lo = kernel_mmap_base(probe, rnd_max, rlimit)
    ld_gap = ref.mmap_base - ref.interp_base
    spreads.append(RegionSpread(
        "mmap_base (top-down layout)", tuple(r[1] for r in rows), base_lo, base_hi,
        (base_hi - base_lo) // PAGE_SIZE + 1,
        f"mmap_rnd_bits = {bits} random pages", "mmap_base",
        extra=("ld.so", tuple(r[2] for r in rows), base_lo - ld_gap, base_hi - ld_gap)))

    # brk: page after the executable's bss + randomize_page(range): both randomisations add.
    brk_range = profile.brk_rnd_range
    brk_pages = brk_range // PAGE_SIZE if randomize and kconfig.randomize_va_space > 1 else 1
    offset = ref.start_brk - ref.exe_start + (PAGE_SIZE if brk_pages > 1 else 0)
    brk_lo = exe_lo + offset
    brk_hi = exe_hi + offset + (brk_pages - 1) * PAGE_SIZE
    if brk_pages > 1:
        own = math.log2(brk_pages)
        brk_why = (f"{_fmt_bits(own)} bits of its own (brk range {format_size(brk_range)} / "
                   f"4 KiB) on top of the executable's {_fmt_bits(math.log2(exe_values))}")
    else:
        brk_why = "follows the executable (brk not randomised)"
    spreads.append(RegionSpread("heap start (start_brk)", tuple(r[3] for r in rows), brk_lo,
                                brk_hi, (brk_hi - brk_lo) // PAGE_SIZE + 1, brk_why,
                                "start_brk"))

    # Stack top: STACK_TOP - (random & STACK_RND_MASK) pages, then arch_align_stack's
    # sub-page offset, which can cost one more page when it reaches beyond a page.
    stack_hi = ref.vma_at(ref.start_stack).end
    mask = profile.stack_rnd_mask if randomize else 0
    extra_page = 1 if randomize and profile.stack_align_random > PAGE_SIZE else 0
    stack_lo = stack_hi - (mask + extra_page) * PAGE_SIZE
    stack_why = f"STACK_RND_MASK {mask:#x} pages"
    if extra_page:
        stack_why += (" + up to a page from arch_align_stack "
                      f"({format_size(profile.stack_align_random)})")
    spreads.append(RegionSpread("stack top ([stack] end)", tuple(r[4] for r in rows), stack_lo,
                                stack_hi, mask + 1 + extra_page, stack_why,
                                "stack top"))
    return spreads


def _hex_ticks(lo: float, hi: float, target: int = 5) -> list[int]:
    """Tick positions at multiples of a power of two, about ``target`` of them."""
    span = max(hi - lo, 1)
    step = 1 << max(math.ceil(math.log2(span / target)), 0)
    first = math.ceil(lo / step) * step
    return list(range(int(first), int(hi) + 1, step))


def aslr_figure(profile_name: str, seeds=range(200), *, kconfig: KernelConfig = KernelConfig(),
                title: str | None = None):
    """One panel per region: observed addresses over ``seeds`` against the possible range,
    annotated with the entropy in bits and the observed spread."""
    spreads = aslr_samples(profile_name, seeds, kconfig=kconfig)
    profile = get_profile(profile_name)
    width = 12 if profile.task_bits == 64 else 8
    n = len(spreads)
    seeds = list(seeds)
    colors = [OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["orange"], OKABE_ITO["purple"]]
    markers = ["o", "s", "^", "D"]
    jitter_rng = random.Random(12345)
    with rc():
        fig = new_figure(7.6, 1.55 * n + 0.9)
        top = 1 - 0.55 / (1.55 * n + 0.9)
        bottom = 0.35 / (1.55 * n + 0.9)
        h = (top - bottom) / n
        for i, sp in enumerate(spreads):
            ax = fig.add_axes([0.04, top - (i + 1) * h + h * 0.36, 0.93, h * 0.44])
            rows = [(sp.short, sp.samples, sp.low, sp.high)]
            if sp.extra is not None:
                rows.append(sp.extra)
            lo, hi = sp.low, sp.high
            all_vals = [v for row in rows for v in (*row[1], row[2], row[3])]
            vmin, vmax = min(all_vals), max(all_vals)
            pad = max((vmax - vmin) * 0.04, PAGE_SIZE * 4)
            for k, (_, _, rlo, rhi) in enumerate(rows):
                ax.add_patch(Rectangle((rlo, k + 0.04), max(rhi - rlo, PAGE_SIZE), 0.92,
                                       facecolor="#e6e6e6", hatch="////", edgecolor="#bbbbbb",
                                       lw=0, zorder=0))
            for k, (name, vals, _, _) in enumerate(rows):
                ys = [k + 0.15 + 0.7 * jitter_rng.random() for _ in vals]
                ax.plot(vals, ys, ls="none", marker=markers[i] if k == 0 else "x",
                        markersize=3.2 if k == 0 else 3.4, alpha=0.8,
                        markerfacecolor=colors[i] if k == 0 else "none",
                        markeredgecolor="black" if k == 0 else colors[i],
                        markeredgewidth=0.3 if k == 0 else 0.8, zorder=3)
            ax.set_ylim(0, len(rows))
            ax.set_yticks([k + 0.5 for k in range(len(rows))])
            ax.set_yticklabels([row[0] for row in rows], fontsize=6.5)
            ax.tick_params(axis="y", length=0)
            ax.set_xlim(vmin - pad, vmax + pad)
            ticks = _hex_ticks(vmin - pad, vmax + pad)
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:0{width}x}" for t in ticks])
            ax.tick_params(axis="x", labelsize=6.3)
            for label in ax.get_xticklabels():
                label.set_family("DejaVu Sans Mono")
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            ax.set_title(f"{sp.name}:  {_fmt_bits(sp.bits)} bits of entropy "
                         f"({sp.possible:,} possible values: {sp.why})",
                         loc="left", fontsize=7.2, pad=3)
            inside = sum(lo <= v <= hi for v in sp.samples)
            ax.text(1.0, -0.42, f"observed over {len(sp.samples)} seeds: {sp.distinct} distinct, "
                    f"spread {format_size(sp.spread)} (possible range {format_size(hi - lo)}); "
                    f"{inside}/{len(sp.samples)} inside it",
                    transform=ax.transAxes, ha="right", va="top", fontsize=6.3,
                    color="#222222")
        handles = [Patch(facecolor="#e6e6e6", edgecolor="#bbbbbb", hatch="////",
                         label="possible range (kernel's parameters)"),
                   Line2D([], [], ls="none", marker="o", markerfacecolor="#888888",
                          markeredgecolor="black", markersize=4,
                          label="one seed (jittered vertically)")]
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.04, 0.0), ncol=2,
                   frameon=False, fontsize=6.6)
        fig.suptitle(title or f"ASLR on {profile_name}: {profile.summary}\n"
                     f"{len(seeds)} seeds, randomize_va_space={kconfig.randomize_va_space}, "
                     "typical program (PIE + ld.so)",
                     x=0.04, y=1.0, ha="left", va="top", fontsize=8.5, weight="bold")
        fig.vasim_spreads = spreads
    return fig


__all__ = ["aslr_figure", "aslr_samples", "RegionSpread"]
