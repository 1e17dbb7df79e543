"""The figures (simulator/plot): drawn from real model states, true to them, reproducible.

* the layout diagram's regions agree with ``mm.vmas()`` and with /proc/PID/maps: every VMA
  lies inside exactly one drawn region, of the kind its maps line and glibc's own record of
  the thread stacks say;
* on a linear axis every drawn height is proportional to the size; on a segmented axis each
  shown segment is linear and each break says how much it leaves out;
* every figure kind is written as PNG and SVG, twice, with identical bytes;
* categories stay apart without colour (fill luminance, hatch, marker, line style).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator.kernel.vma import VM_GROWSDOWN

from simulator.kernel.arch import get_profile
from simulator.kernel.config import Personality, ProcessConfig
from simulator.kernel.exec import exec_layout
from simulator.libc.process import start_process
from simulator.programs import typical_process_images
from simulator.plot import (
    aslr_figure, labelled_regions, layout_figure, layout_regions, save, threads_chart,
    timeline_figure,
)
from simulator.plot.axis import segmented_axis
from simulator.plot.layout import build_column
from simulator.plot.regions import axis_top
from simulator.units import format_size
from simulator.plot.style import KINDS, SERIES, luminance
from simulator.plot.threads import ThreadLayout
from simulator.plot.timeline import EVENT_STYLE
from simulator.scenario.runner import run
from simulator.scenario.spec import load
from simulator.trace.loadmaps import address_space_from_maps
from simulator.trace.procmaps import read_maps

ROOT = Path(__file__).parent.parent
NR = Personality.ADDR_NO_RANDOMIZE
SPECIAL_NAMES = {"[vdso]", "[vvar]", "[vvar_vclock]", "[sigpage]", "[vectors]"}

COLLISIONS = """
title = "collisions"
[process]
arch = "i686"
[compare]
arch = ["i686", "x86_64"]
[[step]]
do = "mmap"
name = "g"
length = "64K"
flags = "PRIVATE|ANONYMOUS|GROWSDOWN"
[[step]]
do = "mmap"
addr = "g - 512K"
length = "4K"
flags = "PRIVATE|ANONYMOUS|FIXED"
[[step]]
do = "touch"
addr = "g - 4K"
[[step]]
do = "mmap"
name = "a"
length = "16M"
[[step]]
do = "mmap"
addr = "a + 4M"
length = "1M"
flags = "PRIVATE|ANONYMOUS|FIXED"
[[step]]
do = "munmap"
addr = "a"
length = "2M"
[[step]]
do = "pthread_create"
count = 2
[[step]]
do = "mmap"
length = "3G"
"""


def process(arch, personality=NR, threads=3):
    profile = get_profile(arch)
    exe, rtld, libs = typical_process_images(profile)
    mm = exec_layout(profile, exe.elf, rtld.elf, proc=ProcessConfig(personality=personality))
    p = start_process(mm, exe, rtld, libs)
    for _ in range(threads):
        p.threads.create()
    p.malloc.malloc(p.threads.main, 1000)
    return p


@pytest.fixture(scope="module")
def states():
    """(title, mm, stacks) of model states: 32 and 64-bit, native splits, arm, legacy."""
    out = []
    for title, arch, pers in (("i686", "i686", NR), ("x86_64", "x86_64", NR),
                              ("i386-3g", "i386-3g", NR), ("arm-3g", "arm-3g", NR),
                              ("i686 -L", "i686", NR | Personality.ADDR_COMPAT_LAYOUT),
                              ("i686 --3gb", "i686", NR | Personality.ADDR_LIMIT_3GB)):
        p = process(arch, pers)
        stacks = [t.stack for t in p.threads.all if t.stack is not None]
        out.append((title, p.mm, stacks))
    maps = address_space_from_maps(read_maps(str(ROOT / "tests/data/maps/python_names.maps")),
                                   get_profile("x86_64"))
    out.append(("python (maps)", maps, []))
    return out


@pytest.fixture(scope="module")
def scenario_result():
    return run(load(str(ROOT / "scenarios/thread-stacks-32-vs-64.toml")))


@pytest.fixture(scope="module")
def collision_result(tmp_path_factory):
    path = tmp_path_factory.mktemp("scen") / "collisions.toml"
    path.write_text(COLLISIONS)
    return run(load(str(path)))


def maps_entries(mm):
    """(start, end, perms, name) from the maps text itself."""
    out = []
    for line in mm.maps_text().splitlines():
        fields = line.split(None, 5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        out.append((start, end, fields[1], fields[5] if len(fields) > 5 else ""))
    return out


def expected_kind(mm, entry, stacks, exe_path):
    """The kind a maps line must be drawn as, decided without the plot's classifier."""
    start, end, perms, name = entry
    for s in stacks:
        if s.guard and (start, end) == (s.mem, s.mem + s.guard):
            return "thread-guard"
        if s.mem + s.guard <= start and end <= s.mem + s.size:
            return "thread-stack"
    if name == "[heap]":
        return "heap"
    if name == "[stack]":
        return "stack"
    if name in SPECIAL_NAMES:
        return "vdso"
    if name.startswith("/") and name != "/dev/zero (deleted)":
        return "exe" if name == exe_path else "lib"
    return "anon"


def exe_path_of(mm):
    entries = maps_entries(mm)
    if mm.exe_start:
        return next(n for s, e, _, n in entries if s <= mm.exe_start < e)
    below = [n for s, e, _, n in entries if e <= mm.start_brk and n.startswith("/")]
    return below[-1] if below else None


# -- regions against the VMAs and the maps text ----------------------------------------------

def test_regions_cover_the_axis_once(states):
    for title, mm, _ in states:
        regions = layout_regions(mm)
        assert regions[0].start == 0 and regions[-1].end == axis_top(mm), title
        for a, b in zip(regions, regions[1:]):
            assert a.end == b.start and a.start < a.end, (title, a, b)


def test_every_vma_is_in_exactly_one_region_of_the_right_kind(states):
    for title, mm, stacks in states:
        regions = layout_regions(mm)
        exe_path = exe_path_of(mm)
        vmas = list(mm.vmas())
        entries = maps_entries(mm)
        if mm.gate is not None:
            # /proc prints the gate area last; it is no VMA. Inside the axis it is drawn as a
            # region of its own (arm's [vectors]), above it the cap says where it is.
            gate = entries.pop()
            assert gate[3] == mm.gate.name
            if gate[0] < axis_top(mm):
                assert [(r.start, r.end, r.kind) for r in regions
                        if r.label.startswith(gate[3])] == [(gate[0], gate[1], "vdso")]
            else:
                assert f"{gate[3]} at {gate[0]:x}" in build_column(title, mm).cap
        assert len(entries) == len(vmas)
        for vma, entry in zip(vmas, entries):
            assert (vma.start, vma.end) == entry[:2]
            holders = [r for r in regions if r.start <= vma.start and vma.end <= r.end]
            assert len(holders) == 1, (title, entry)
            region = holders[0]
            assert region.kind == expected_kind(mm, entry, stacks, exe_path), (title, entry, region)
            assert vma in region.vmas
            name = entry[3]
            if region.kind in ("exe", "lib"):
                assert region.label == os.path.basename(name)
            elif region.kind in ("heap", "stack", "vdso"):
                assert region.label == name
            elif region.kind == "anon":
                assert region.label.startswith(f"anon {entry[2]}")
        # Regions that stand for no VMA are empty space, guard gaps or kernel space.
        for r in regions:
            if not r.vmas:
                assert r.kind in ("free", "reserved", "kernel", "guard-gap", "vdso"), r


def test_labelled_regions_are_the_drawn_ones(states):
    title, mm, _ = states[0]
    fig = layout_figure([(title, mm)], axis="linear")
    col = fig.vasim_columns[0]
    assert [(r.start, r.end, r.label) for r, _, _ in col.boxes] == labelled_regions(mm)
    drawn = {p.get_gid() for ax in fig.axes for p in ax.patches if p.get_gid()}
    assert drawn == {f"col0-{k}-{s:x}-{e:x}" for s, e, k in
                     [(r.start, r.end, r.kind) for r in layout_regions(mm)]}


def test_gate_and_kernel_are_labelled(states):
    by_title = {t: mm for t, mm, _ in states}
    x64 = build_column("x86_64", by_title["x86_64"])
    assert "[vsyscall] at ffffffffff600000" in x64.cap
    i686 = build_column("i686", by_title["i686"])
    assert "kernel space beyond 4 GiB" in i686.cap
    assert layout_regions(by_title["i686"])[-1].label == "not usable: top 2 pages"
    assert layout_regions(by_title["i386-3g"])[-1].label == "kernel 1 GiB (3G/1G split)"
    arm = layout_regions(by_title["arm-3g"])
    assert any(r.label.startswith("[vectors]") and r.start == 0xFFFF0000 for r in arm)


def test_label_texts_name_their_regions(states):
    title, mm, _ = states[0]
    col = build_column(title, mm)
    texts = [lab.text for lab in col.labels]
    assert any(t.startswith("3 thread stacks (8 MiB + 4 KiB guard each)") for t in texts)
    assert any(t.startswith("libc.so.6 (") for t in texts)
    assert any(t.startswith("[heap] (") and "grows up" in t for t in texts)
    assert any(t.startswith("mmap_base") for t in texts)
    for lab in col.labels:
        if lab.addr:
            assert col.axis.y(int(lab.addr, 16)) == pytest.approx(lab.span[0])
    # No two labels overlap.
    ys = sorted(lab.y for lab in col.labels)
    assert all(b - a >= 9.5 for a, b in zip(ys, ys[1:]))


# -- axes ---------------------------------------------------------------------------------------

def test_linear_heights_are_proportional(states):
    for title, mm, _ in states[:3]:
        fig = layout_figure([(title, mm)], axis="linear")
        col = fig.vasim_columns[0]
        scale = col.axis.scale
        rects = {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid()}
        for r, y0, y1 in col.boxes:
            assert y1 - y0 == pytest.approx(r.size * scale, rel=1e-9, abs=1e-9)
            rect = rects[f"col0-{r.kind}-{r.start:x}-{r.end:x}"]
            assert rect.get_height() == pytest.approx(r.size * scale, rel=1e-9, abs=1e-9)
            assert rect.get_y() == pytest.approx(r.start * scale, abs=1e-6)


def test_segmented_axis_is_linear_per_segment_and_labels_its_breaks(states):
    for title, mm, _ in states:
        col = build_column(title, mm)
        ax = col.axis
        assert ax.pieces[0].lo == 0 and ax.pieces[-1].hi == axis_top(mm)
        shown = [p for p in ax.pieces if not p.omitted]
        for p in shown:
            assert p.y1 - p.y0 == pytest.approx((p.hi - p.lo) * ax.scale * p.zoom, rel=1e-9)
            assert p.zoom >= 1 - 1e-9
        assert min(p.zoom for p in shown) == pytest.approx(1.0)
        texts = [t for _, t in col.inline]
        for p in ax.pieces:
            if p.omitted:
                # Only empty space is ever left out, and the break says how much.
                inside = [r for r in col.regions if p.lo <= r.start and r.end <= p.hi]
                assert all(not r.vmas for r in inside)
                assert any(format_size(p.hi - p.lo) in t or t.startswith("kernel")
                           or t.startswith("not usable") for t in texts), (title, p)


def test_segmented_axis_keeps_a_common_scale():
    spans = [(0, 1 << 30, "free"), (1 << 30, (1 << 30) + (8 << 20), "anon"),
             ((1 << 30) + (8 << 20), 3 << 30, "free"), (3 << 30, (3 << 30) + (4 << 20), "anon"),
             ((3 << 30) + (4 << 20), 1 << 32, "free")]
    ax = segmented_axis(spans, 400, min_segment=10)
    shown = [p for p in ax.pieces if not p.omitted]
    assert [(p.lo, p.hi) for p in shown] == [(1 << 30, (1 << 30) + (8 << 20)),
                                            (3 << 30, (3 << 30) + (4 << 20))]
    a, b = shown
    assert (a.y1 - a.y0) / (b.y1 - b.y0) == pytest.approx(2.0)


# -- every figure kind, as PNG and SVG, reproducibly -------------------------------------------

def _twice(make, tmp_path, name):
    paths = []
    for k in (1, 2):
        fig = make()
        written = save(fig, str(tmp_path / f"{name}-{k}"))
        assert [Path(p).suffix for p in written] == [".png", ".svg"]
        paths.append(written)
    for a, b in zip(*paths):
        data = Path(a).read_bytes()
        assert data == Path(b).read_bytes(), f"{a} and {b} differ"
        assert len(data) > 5000
    png, svg = paths[0]
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = Path(svg).read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    return fig


def test_layout_figure_32_and_64(states, tmp_path):
    by_title = {t: mm for t, mm, _ in states}
    fig = _twice(lambda: layout_figure([("i686", by_title["i686"]),
                                        ("x86_64", by_title["x86_64"])]), tmp_path, "layout")
    assert len(fig.vasim_columns) == 2


def test_save_takes_a_path_with_or_without_extension(tmp_path):
    from simulator.plot.style import new_figure
    fig = new_figure(1, 1)
    assert save(fig, str(tmp_path / "a.png")) == [str(tmp_path / "a.png"), str(tmp_path / "a.svg")]
    assert save(fig, str(tmp_path / "sub" / "b")) == [str(tmp_path / "sub" / "b.png"),
                                                      str(tmp_path / "sub" / "b.svg")]


def test_timeline_of_a_scenario(scenario_result, tmp_path):
    fig = _twice(lambda: timeline_figure(scenario_result), tmp_path, "timeline")
    for trace, variant in zip(fig.vasim_traces, scenario_result.variants):
        assert trace.exact
        n = len(variant.outcomes)
        final = sorted((b.start, b.end) for b in trace.bands
                       if b.last == n - 1 and b.kind != "guard-gap")
        assert final == [(v.start, v.end) for v in variant.mm.vmas()]
        # Below every MAP_GROWSDOWN VMA, its stack_guard_gap (mm/vma.c vm_start_gap).
        gaps = {(b.start, b.end) for b in trace.bands if b.last == n - 1 and b.kind == "guard-gap"}
        mm = variant.mm
        assert gaps == {(max(0, v.start - mm.stack_guard_gap), v.start) for v in mm.vmas()
                        if v.flags & VM_GROWSDOWN}
        for x, o in enumerate(variant.outcomes):
            for start, size in o.stacks:
                assert any(b.first == x and b.start >= start and b.end <= start + size
                           for b in trace.bands)


def test_timeline_marks_collisions(collision_result, tmp_path):
    fig = timeline_figure(collision_result)
    save(fig, str(tmp_path / "collisions"))
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    for needed in ("MAP_FIXED replaced a mapping", "placed in a stack's growth room",
                   "stack growth refused", "ENOMEM (no gap large enough)"):
        assert needed in legend
    # An unmapped range's band ends before the last step.
    trace = fig.vasim_traces[0]
    n = len(trace.outcomes)
    assert any(b.last < n - 1 and b.kind == "anon" for b in trace.bands)


def test_timeline_of_a_variant_alone(collision_result):
    variant = collision_result.variants[0]
    trace = timeline_figure(variant).vasim_traces[0]
    assert not trace.exact
    assert sorted((b.start, b.end) for b in trace.bands) == [(v.start, v.end)
                                                              for v in variant.mm.vmas()]
    x = next(i for i, o in enumerate(variant.outcomes) if o.stacks)
    for start, size in variant.outcomes[x].stacks:
        inside = [b for b in trace.bands if start <= b.start and b.end <= start + size]
        assert inside and all(b.first == x for b in inside)


def test_threads_chart(tmp_path):
    layouts = [ThreadLayout("i686", "i686"), ("i386 1G/3G", "i386-1g")]
    fig = _twice(lambda: threads_chart(layouts, [8 << 20, 64 << 20]), tmp_path, "threads")
    data = fig.vasim_data
    # docs/threads.md: 509 and 126 threads with 8 MiB stacks.
    assert [p.threads for p in data["i686"]] == [509, 62]
    assert [p.threads for p in data["i386 1G/3G"]] == [126, 14]


def test_aslr_figure(tmp_path):
    fig = _twice(lambda: aslr_figure("i686", seeds=range(40)), tmp_path, "aslr32")
    spreads = {s.short: s for s in fig.vasim_spreads}
    assert spreads["exe_start"].bits == pytest.approx(8)
    assert spreads["mmap_base"].bits == pytest.approx(8)
    assert spreads["start_brk"].bits == pytest.approx(13.04, abs=0.01)
    assert spreads["stack top"].bits == pytest.approx(11, abs=0.01)
    fig64 = aslr_figure("x86_64", seeds=range(40))
    save(fig64, str(tmp_path / "aslr64"))
    bits64 = {s.short: s.bits for s in fig64.vasim_spreads}
    assert bits64["exe_start"] == pytest.approx(28) and bits64["stack top"] == pytest.approx(22)
    for s in list(fig.vasim_spreads) + list(fig64.vasim_spreads):
        assert all(s.low <= v <= s.high for v in s.samples), s.name
        assert s.distinct <= s.possible
        if s.extra is not None:
            _, samples, lo, hi = s.extra
            assert all(lo <= v <= hi for v in samples)


# -- without colour ----------------------------------------------------------------------------

def test_kinds_differ_in_greyscale():
    looks = [(round(luminance(s.fill), 2), s.hatch) for s in KINDS.values()]
    assert len(set(looks)) == len(looks)
    assert len({s.hatch for s in KINDS.values()}) >= len(KINDS) - 2
    # Dark text on light fills: every fill a label sits near is light.
    for kind, s in KINDS.items():
        if kind != "thread-guard":
            assert luminance(s.fill) > 0.3, kind


def test_markers_and_lines_differ_without_colour():
    markers = [m for _, m, _, _ in EVENT_STYLE.values()]
    assert len(set(markers)) == len(markers)
    assert len({m for _, m, _ in SERIES}) == len(SERIES)
    assert len({str(ls) for _, _, ls in SERIES}) == len(SERIES)


def test_cli_plot_writes_png_and_svg_or_says_why_not(tmp_path, capsys):
    """`vasim plot`: both formats without an extension, one with; an output it cannot write
    is one line and status 2, not a traceback."""
    from simulator.cli import main
    assert main(["plot", "--arch", "i686", "-o", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig.png").stat().st_size > 0 and (tmp_path / "fig.svg").stat().st_size > 0
    assert main(["plot", "--arch", "i686", "-o", str(tmp_path / "one.svg")]) == 0
    assert not (tmp_path / "one.png").exists()
    capsys.readouterr()
    blocker = tmp_path / "file"
    blocker.write_text("")
    target = str(blocker / "x.png")  # a directory that is a file
    assert main(["plot", "--arch", "i686", "-o", target]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{target}: cannot write")
