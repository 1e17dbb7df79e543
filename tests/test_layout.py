"""The layout at exec: mmap_base, legacy base, stack top, PIE base and brk start.

* x86_64 and i686 (with ``--3gb`` and ``-L``) under RLIMIT_STACK 8 MiB, 1 GiB and unlimited:
  the values observed on this machine's Linux 6.18 (linux-mm.md §2.3, plus the --3gb rows
  measured with tests/probe), checked at test time against the probe's own exec layout and
  against the model's exec layout of the same binary.
* Profiles that cannot run here (native i386 splits, arm64, arm64 compat, 32-bit arm): values
  derived in notes/profiles.md §3, with the arithmetic repeated in the comments.
* ASLR on: every randomised base lies in the range the kernel's formulas allow; one seed gives
  one layout; randomize_va_space=1 leaves brk alone; legacy_va_layout=1 means bottom-up.
* Real binaries compiled at test time: the model's ``exec_layout`` must equal what gdb shows
  at the first instruction (``starti``; the kernel's exec result before ld.so runs).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import kernel_probe
from conftest import probe_for
from simulator.host.elf import read_elf
from simulator.kernel.arch import get_profile
from simulator.kernel.config import KernelConfig, Personality, ProcessConfig
from simulator.kernel.exec import exec_layout
from simulator.programs import typical_program
from simulator.trace.procmaps import parse_maps
from simulator.units import GiB, MiB, PAGE_SIZE, RLIM_INFINITY, page_align

P = PAGE_SIZE
NORAND = Personality.ADDR_NO_RANDOMIZE
LEGACY = Personality.ADDR_COMPAT_LAYOUT
LIMIT_3GB = Personality.ADDR_LIMIT_3GB
SETARCH_FLAGS = {"-L": LEGACY, "--3gb": LIMIT_3GB}


def _stack(mm):
    return next(v for v in mm.vmas() if mm.vma_name(v) == "[stack]")


def _exe_start(mm, exe):
    """Where the executable's first PT_LOAD went."""
    return min(v.start for v in mm.vmas() if v.file is not None and v.file.path == exe.file.path)


def _brk_offset(exe):
    """fs/binfmt_elf.c: elf_brk = max(p_vaddr + p_memsz) (+ load_bias), ELF_PAGEALIGN'ed."""
    return page_align(exe.brk_end())


def _interp(mm):
    """The interpreter's VMAs (start of the first, end of the last)."""
    vmas = [v for v in mm.vmas() if v.file is not None and "ld-linux" in v.file.path]
    return vmas[0].start, vmas[-1].end


# --------------------------------------------------------------------------- x86, observed

# (setarch, rlimit) -> (stack top, top-down?, mmap_base, PIE base)
# Values: linux-mm.md §2.3 (Observed) and, for --3gb with 1 GiB / unlimited, measured on
# Linux 6.18 with tests/probe. The arithmetic is arch/x86/mm/mmap.c ``mmap_base``:
#   gap = clamp(rlim + stack_guard_gap (1 MiB), 128 MiB, ts/6*5); base = PAGE_ALIGN(ts - gap)
#   8 MiB: gap 9 MiB -> 128 MiB; 1 GiB: 1 GiB + 1 MiB; unlimited: pad overflows -> ts/6*5
#   x86_64 ts = 0x7ffffffff000: 8M 0x7ffff7fff000, 1G 0x7fffbfeff000, inf 0x155555556000
#   i686 ts = 0xffffe000:      8M 0xf7ffe000,     1G 0xbfefe000,     inf 0x2aaab000
#   --3gb ts = 0xc0000000:     8M 0xb8000000,     1G 0x7ff00000,     inf 0x20000000
#   legacy (-L): PAGE_ALIGN(ts/3) = 0x2aaaaaaab000 / 0x55555000 / 0x40000000
#   PIE: 64-bit ELF_ET_DYN_BASE = ts/3*2 = 0x555555554aaa -> 0x555555554000;
#        compat COMPAT_ELF_ET_DYN_BASE = legacy base + 16 MiB = 0x56555000 / 0x41000000
X86_OBSERVED = [
    ("x86_64 -R", 8 * MiB, 0x7FFFFFFFF000, True, 0x7FFFF7FFF000, 0x555555554000),
    ("x86_64 -R", 1 * GiB, 0x7FFFFFFFF000, True, 0x7FFFBFEFF000, 0x555555554000),
    ("x86_64 -R", RLIM_INFINITY, 0x7FFFFFFFF000, True, 0x155555556000, 0x555555554000),
    ("x86_64 -R -L", 8 * MiB, 0x7FFFFFFFF000, False, 0x2AAAAAAAB000, 0x555555554000),
    ("x86_64 -R -L", RLIM_INFINITY, 0x7FFFFFFFF000, False, 0x2AAAAAAAB000, 0x555555554000),
    ("i686 -R", 8 * MiB, 0xFFFFE000, True, 0xF7FFE000, 0x56555000),
    ("i686 -R", 1 * GiB, 0xFFFFE000, True, 0xBFEFE000, 0x56555000),
    ("i686 -R", RLIM_INFINITY, 0xFFFFE000, True, 0x2AAAB000, 0x56555000),
    ("i686 -R -L", 8 * MiB, 0xFFFFE000, False, 0x55555000, 0x56555000),
    ("i686 -R --3gb", 8 * MiB, 0xC0000000, True, 0xB8000000, 0x41000000),
    ("i686 -R --3gb", 1 * GiB, 0xC0000000, True, 0x7FF00000, 0x41000000),
    ("i686 -R --3gb", RLIM_INFINITY, 0xC0000000, True, 0x20000000, 0x41000000),
    ("i686 -R --3gb -L", 8 * MiB, 0xC0000000, False, 0x40000000, 0x41000000),
]


def _rl_id(rlimit):
    return "unlimited" if rlimit == RLIM_INFINITY else f"{rlimit // MiB}M"


@pytest.mark.parametrize("setarch,rlimit,stack_top,topdown,base,pie", [
    pytest.param(*row, id=f"{row[0]} {_rl_id(row[1])}") for row in X86_OBSERVED])
def test_x86_exec_layout(probes, setarch, rlimit, stack_top, topdown, base, pie):
    """arch/x86/mm/mmap.c ``arch_pick_mmap_layout`` / ``mmap_base`` / ``mmap_legacy_base``
    (x86 does not treat an unlimited stack as legacy since 4.12), fs/binfmt_elf.c
    ``load_elf_binary`` (PIE at ELF_ET_DYN_BASE, ld.so placed by mmap: top-down right below
    mmap_base, bottom-up right at it), fs/exec.c ``setup_arg_pages`` (stack top = STACK_TOP).

    Kernel: the probe's own exec layout under ``setarch``. Model: ``exec_layout`` of the same
    probe binary and ld.so. Both must show the table's values."""
    argv = setarch.split()
    bits = 32 if argv[0] == "i686" else 64
    binary = probe_for(probes, bits)
    try:
        run = kernel_probe.run_probe(binary, [], setarch=argv, rlimit_stack=rlimit)
    except kernel_probe.ProbeUnavailable as exc:
        pytest.skip(f"cannot run the probe: {exc.reason}")
    maps = kernel_probe.parse_maps(run.initial_maps)
    k_stack = next(m for m in maps if m.path == "[stack]")
    k_ld = [m for m in maps if "ld-linux" in m.path]
    k_exe = next(m for m in maps if m.path == str(binary))
    assert k_stack.end == stack_top
    assert (k_ld[-1].end if topdown else k_ld[0].start) == base
    assert k_exe.start == pie

    personality = NORAND
    for flag in argv[1:]:
        personality |= SETARCH_FLAGS.get(flag, 0)
    profile = get_profile("i686" if bits == 32 else "x86_64")
    exe = read_elf(str(binary))
    mm = exec_layout(profile, exe, read_elf(exe.interp),
                     proc=ProcessConfig(personality=personality, rlimit_stack=rlimit))
    assert (mm.topdown, mm.mmap_base) == (topdown, base)
    assert _stack(mm).end == stack_top
    ld_start, ld_end = _interp(mm)
    assert (ld_end if topdown else ld_start) == base
    assert (ld_start, ld_end) == (k_ld[0].start, k_ld[-1].end)
    assert _exe_start(mm, exe) == pie
    assert mm.start_brk == run.brk0  # ELF_PAGEALIGN(end of the highest PT_LOAD)


# --------------------------------------------------------------------------- derived profiles

# name -> (stack top, mmap_base with 8 MiB, layout with RLIMIT_STACK unlimited
#          (topdown?, base), legacy base, PIE start)
# Derivations (notes/profiles.md §3, ASLR off):
# native i386 (arch/x86/mm/mmap.c bases, TASK_SIZE = PAGE_OFFSET, x86: unlimited stays top-down
#   with gap = ts/6*5; ELF_ET_DYN_BASE 0x400000 since mmap_is_ia32()):
#   3G     ts 0xc0000000: 8M 0xc0000000-0x8000000 = 0xb8000000; inf ts/6*5 = 0xa0000000 ->
#          0x20000000; legacy PAGE_ALIGN(ts/3) = 0x40000000
#   3G_OPT ts 0xb0000000: 0xa8000000; ts/6*5 = 0x92aaaaa9 -> PAGE_ALIGN(0x1d555557) = 0x1d556000;
#          legacy PAGE_ALIGN(0x3aaaaaaa) = 0x3aaab000
#   2G     ts 0x80000000: 0x78000000; ts/6*5 = 0x6aaaaaa9 -> 0x15556000; legacy 0x2aaab000
#   2G_OPT ts 0x78000000: 0x70000000; ts/6*5 = 0x64000000 -> 0x14000000; legacy 0x28000000
#   1G     ts 0x40000000: 0x38000000; ts/6*5 = 0x35555551 -> PAGE_ALIGN(0x0aaaaaaf) = 0x0aaab000;
#          legacy PAGE_ALIGN(0x15555555) = 0x15556000
#   brk: PIE + ELF_PAGEALIGN(highest p_vaddr + p_memsz of the typical program)
# arm64 (mm/util.c, reference top STACK_TOP = DEFAULT_MAP_WINDOW = 2^VA_BITS_MIN; unlimited
#   stack = legacy layout at TASK_UNMAPPED_BASE = PAGE_ALIGN(window/4); ELF_ET_DYN_BASE =
#   2*window/3 aligned down to the binary's 64 KiB p_align):
#   39: top 0x8000000000, 8M 0x8000000000-0x8000000 = 0x7ff8000000, legacy 0x2000000000,
#       PIE 0x5555555555 & ~0xffff = 0x5555550000
#   48 and 52 (window 2^48): top 0x1000000000000, 8M 0xfffff8000000, legacy 0x400000000000,
#       PIE 0xaaaaaaaaaaaa & ~0xffff = 0xaaaaaaaa0000
# arm64 compat: STACK_TOP = 0xffff0000 (AARCH32_VECTORS_BASE): 8M 0xf7ff0000; legacy
#   PAGE_ALIGN(0xfffff000/4) = 0x40000000; COMPAT_ELF_ET_DYN_BASE 0x400000
# arm: TASK_SIZE = PAGE_OFFSET - 16 MiB = stack top; 8M base = top - 128 MiB; legacy
#   ALIGN(top/3, 16 MiB): 3G 0xbf000000/3 = 0x3faaaaaa -> 0x40000000; 2G 0x7f000000/3 =
#   0x2a555555 -> 0x2b000000; 1G 0x3f000000/3 = 0x15000000; PIE 0x400000
DERIVED = {
    "i386-3g": (0xC0000000, 0xB8000000, (True, 0x20000000), 0x40000000, 0x400000),
    "i386-3g-opt": (0xB0000000, 0xA8000000, (True, 0x1D556000), 0x3AAAB000, 0x400000),
    "i386-2g": (0x80000000, 0x78000000, (True, 0x15556000), 0x2AAAB000, 0x400000),
    "i386-2g-opt": (0x78000000, 0x70000000, (True, 0x14000000), 0x28000000, 0x400000),
    "i386-1g": (0x40000000, 0x38000000, (True, 0x0AAAB000), 0x15556000, 0x400000),
    "aarch64-39": (0x8000000000, 0x7FF8000000, (False, 0x2000000000), 0x2000000000,
                   0x5555550000),
    "aarch64-48": (0x1000000000000, 0xFFFFF8000000, (False, 0x400000000000), 0x400000000000,
                   0xAAAAAAAA0000),
    "aarch64-52": (0x1000000000000, 0xFFFFF8000000, (False, 0x400000000000), 0x400000000000,
                   0xAAAAAAAA0000),
    "aarch64-compat": (0xFFFF0000, 0xF7FF0000, (False, 0x40000000), 0x40000000, 0x400000),
    "arm-3g": (0xBF000000, 0xB7000000, (False, 0x40000000), 0x40000000, 0x400000),
    "arm-2g": (0x7F000000, 0x77000000, (False, 0x2B000000), 0x2B000000, 0x400000),
    "arm-1g": (0x3F000000, 0x37000000, (False, 0x15000000), 0x15000000, 0x400000),
}


def _layout(name, personality=NORAND, rlimit=8 * MiB, kconfig=KernelConfig(), seed=0):
    profile = get_profile(name)
    return exec_layout(profile, *typical_program(profile), kconfig=kconfig,
                       proc=ProcessConfig(personality=personality, rlimit_stack=rlimit,
                                          seed=seed))


@pytest.mark.parametrize("name", sorted(DERIVED))
def test_derived_profile_layout(name):
    """arch/x86/mm/mmap.c (i386 bases) or mm/util.c (arm64, arm: ``arch_pick_mmap_layout``,
    ``mmap_base``, legacy when RLIMIT_STACK is unlimited), fs/binfmt_elf.c for PIE and brk.
    Derived values; the arithmetic is in the comment above DERIVED."""
    stack_top, base8, (inf_topdown, inf_base), legacy, pie = DERIVED[name]
    mm = _layout(name)
    exe = typical_program(get_profile(name))[0]
    assert mm.topdown and mm.mmap_base == base8
    assert _stack(mm).end == stack_top
    assert _interp(mm)[1] == base8  # ld.so ends at mmap_base (top-down, ASLR off)
    assert _exe_start(mm, exe) == pie
    assert mm.start_brk == pie + _brk_offset(exe)
    unlimited = _layout(name, rlimit=RLIM_INFINITY)
    assert (unlimited.topdown, unlimited.mmap_base) == (inf_topdown, inf_base)
    compat = _layout(name, personality=NORAND | LEGACY)
    assert (compat.topdown, compat.mmap_base) == (False, legacy)
    assert _interp(compat)[0] == legacy  # bottom-up: ld.so starts at the base


# --------------------------------------------------------------------------- ASLR

# name -> (mmap_base without rnd, legacy base, stack top, PIE base (aligned),
#          mmap rnd bits, STACK_RND_MASK pages, extra stack-top slack, brk range)
# mmap_base with PF_RANDOMIZE: gap = rlim 8 MiB + guard 1 MiB + STACK_RND_MASK pages, clamped:
#   x86_64: 0x800000 + 0x100000 + 0x3fffff000 = 0x4008ff000 -> 0x7ffffffff000 - it = 0x7ffbff700000
#   i686: 0x800000 + 0x100000 + 0x7ff000 = 0x10ff000 < 128 MiB -> 0xf7ffe000 (as without ASLR)
#   aarch64-48 (mm/util.c): 0x900000 + 0x3ffff000 = 0x408ff000 -> 2^48 - it = 0xffffbf701000
#   arm-3g: 0x900000 + 0x7ff000 < 128 MiB -> 0xb7000000
# then minus rnd < 2^bits pages (arch_rnd / arch_mmap_rnd). Legacy base + rnd. Stack top minus
# (rand & STACK_RND_MASK) pages (randomize_stack_top), on x86 minus < 8192 bytes more
# (arch_align_stack), page-aligned up. PIE: ELF_ET_DYN_BASE + arch_mmap_rnd(), aligned down.
# brk: ELF_PAGEALIGN(elf_brk) + PAGE_SIZE, then randomize_page(brk, 1 GiB (64-bit) / 32 MiB).
ASLR = {
    "x86_64": (0x7FFBFF700000, 0x2AAAAAAAB000, 0x7FFFFFFFF000, 0x555555554000,
               28, 0x3FFFFF, P, 1 * GiB),
    "i686": (0xF7FFE000, 0x55555000, 0xFFFFE000, 0x56555000, 8, 0x7FF, P, 32 * MiB),
    "aarch64-48": (0xFFFFBF701000, 0x400000000000, 0x1000000000000, 0xAAAAAAAA0000,
                   18, 0x3FFFF, 0, 1 * GiB),
    "arm-3g": (0xB7000000, 0x40000000, 0xBF000000, 0x400000, 8, 0x7FF, 0, 32 * MiB),
}
SEEDS = (1, 2, 3, 4, 5)


@pytest.mark.parametrize("name", sorted(ASLR))
def test_aslr_bases_lie_in_the_kernel_ranges(name):
    """arch/x86/mm/mmap.c ``arch_rnd``/``mmap_base``, mm/util.c ``arch_mmap_rnd``/
    ``randomize_stack_top``/``randomize_page``, arch/x86/kernel/process.c
    ``arch_align_stack``/``arch_randomize_brk``, fs/binfmt_elf.c (PIE bias, brk + PAGE_SIZE):
    with ASLR on, each base lies in its documented range (see the ASLR table's comment)."""
    base0, legacy0, top, pie0, bits, stack_mask, slack, brk_range = ASLR[name]
    exe = typical_program(get_profile(name))[0]
    brk_off = _brk_offset(exe)
    rnd_max = ((1 << bits) - 1) * P
    seen = set()
    for seed in SEEDS:
        mm = _layout(name, personality=Personality(0), seed=seed)
        assert mm.randomize
        assert base0 - rnd_max <= mm.mmap_base <= base0 and mm.mmap_base % P == 0
        assert legacy0 <= mm.mmap_legacy_base <= legacy0 + rnd_max
        assert _interp(mm)[1] == mm.mmap_base
        stack_end = _stack(mm).end
        assert top - stack_mask * P - slack <= stack_end <= top and stack_end % P == 0
        pie = _exe_start(mm, exe)
        align = 0x10000 if name.startswith("aarch64") else P
        assert pie0 <= pie <= pie0 + rnd_max and pie % align == 0
        brk_low = pie + brk_off + P
        assert brk_low <= mm.start_brk < brk_low + brk_range and mm.start_brk % P == 0
        seen.add((mm.mmap_base, stack_end, pie, mm.start_brk))
    assert len(seen) == len(SEEDS)  # every seed gave a different layout


@pytest.mark.parametrize("name", ["x86_64", "i686", "aarch64-48", "arm-3g"])
def test_same_seed_same_layout(name):
    """The model's stand-in for mm/util.c / drivers/char/random.c ``get_random_long`` is
    seeded (simulator/kernel/aslr.py): one seed, one layout, so runs are reproducible; another
    seed gives another layout."""
    a = _layout(name, personality=Personality(0), seed=42).maps_text()
    b = _layout(name, personality=Personality(0), seed=42).maps_text()
    c = _layout(name, personality=Personality(0), seed=43).maps_text()
    assert a == b
    assert a != c


@pytest.mark.parametrize("name", ["x86_64", "i686"])
def test_randomize_va_space_1_leaves_brk_alone(name):
    """fs/binfmt_elf.c: brk is randomised only ``if ((current->flags & PF_RANDOMIZE) &&
    (snapshot_randomize_va_space > 1))``; with kernel.randomize_va_space = 1 the heap starts at
    ELF_PAGEALIGN(elf_brk) right after the (randomised) executable, without the extra page;
    with 0 nothing is randomised even without ADDR_NO_RANDOMIZE (PF_RANDOMIZE not set)."""
    exe = typical_program(get_profile(name))[0]
    pies = set()
    for seed in SEEDS:
        mm = _layout(name, personality=Personality(0), seed=seed,
                     kconfig=KernelConfig(randomize_va_space=1))
        pie = _exe_start(mm, exe)
        assert mm.start_brk == pie + _brk_offset(exe)
        pies.add(pie)
    assert len(pies) > 1  # the executable itself is still randomised
    off = _layout(name, personality=Personality(0), kconfig=KernelConfig(randomize_va_space=0))
    assert off.maps_text() == _layout(name).maps_text()


def test_legacy_va_layout_sysctl_is_bottom_up():
    """arch/x86/mm/mmap.c ``mmap_is_legacy``: vm.legacy_va_layout = 1 selects the legacy
    layout like ``setarch -L``: ld.so starts at PAGE_ALIGN(TASK_SIZE/3)."""
    for name, legacy in (("x86_64", 0x2AAAAAAAB000), ("i686", 0x55555000)):
        mm = _layout(name, kconfig=KernelConfig(legacy_va_layout=1))
        assert (mm.topdown, mm.mmap_base, _interp(mm)[0]) == (False, legacy, legacy)
        assert mm.maps_text() == _layout(name, personality=NORAND | LEGACY).maps_text()


# --------------------------------------------------------------------------- real binaries

PROGRAMS = {
    # name: (gcc flags, profile)
    "pie64": ([], "x86_64"),
    "nopie64": (["-no-pie"], "x86_64"),
    "pie32": (["-m32"], "i686"),
    "nopie32": (["-m32", "-no-pie"], "i686"),
    "static-pie64": (["-static-pie"], "x86_64"),
}
_MARK = "VASIM-START-BRK"


@pytest.fixture(scope="session")
def gdb_layouts(tmp_path_factory):
    """Compile each program and run it to its first instruction under gdb and setarch -R;
    returns {name: (binary, gdb output) or skip reason}."""
    gcc, gdb, setarch = shutil.which("gcc"), shutil.which("gdb"), shutil.which("setarch")
    if not (gcc and gdb and setarch):
        return {name: "gcc, gdb or setarch missing" for name in PROGRAMS}
    workdir = tmp_path_factory.mktemp("exec-layout")
    src = workdir / "t.c"
    src.write_text("int main(void) { return 0; }\n")
    out = {}
    for name, (flags, arch) in PROGRAMS.items():
        binary = workdir / name
        cp = subprocess.run([gcc, *flags, "-o", str(binary), str(src)], capture_output=True,
                            text=True)
        if cp.returncode != 0:
            out[name] = f"gcc {' '.join(flags)} failed: {cp.stderr.strip()[-300:]}"
            continue
        cmd = ["env", "-i", "PATH=/usr/bin:/bin", setarch, "x86_64" if arch == "x86_64" else
               "i686", "-R", gdb, "-nx", "-batch", "-ex", "starti",
               "-ex", f'python print("{_MARK}", open("/proc/%d/stat" % '
                      'gdb.selected_inferior().pid).read().rsplit(")", 1)[1].split()[44])',
               "-ex", "info proc mappings", str(binary)]
        gp = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if "Mapped address spaces:" not in gp.stdout:
            out[name] = f"gdb did not list the mappings: {gp.stderr.strip()[-300:]}"
            continue
        out[name] = (binary, gp.stdout)
    return out


def _gdb_result(gdb_layouts, name):
    result = gdb_layouts[name]
    if isinstance(result, str):
        pytest.skip(result)
    return result


def _model_for(binary, arch):
    exe = read_elf(str(binary))
    interp = read_elf(exe.interp) if exe.interp else None
    return exec_layout(get_profile(arch), exe, interp)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_exec_layout_of_real_binaries_matches_gdb(gdb_layouts, name):
    """fs/binfmt_elf.c ``load_elf_binary``/``load_elf_interp`` + fs/exec.c + vDSO
    (arch/x86/entry/vdso/vma.c): at the first instruction the kernel's exec result is all
    there is. Every VMA's start, end, perms, offset and name from gdb's ``info proc mappings``
    (``starti``, ``setarch -R``) must equal the model's ``exec_layout`` of the same ELF files
    (PIE at ELF_ET_DYN_BASE, non-PIE at its link address, static-pie placed by mmap right
    below mmap_base, ld.so below mmap_base, vvar/vvar_vclock/vdso below it, [stack] at the top)."""
    binary, text = _gdb_result(gdb_layouts, name)
    arch = PROGRAMS[name][1]
    kernel = [(e.start, e.end, e.perms, e.offset, e.name) for e in parse_maps(text, "gdb")]
    mm = _model_for(binary, arch)
    model = [(v.start, v.end, v.perms(), v.file_offset(), mm.vma_name(v)) for v in mm.vmas()]
    if mm.gate is not None:
        model.append((mm.gate.start, mm.gate.end, mm.gate.perms, 0, mm.gate.name))
    assert model == kernel


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_brk_start_of_real_binaries(gdb_layouts, name):
    """fs/binfmt_elf.c: ``start_brk = ELF_PAGEALIGN(elf_brk)`` with ASLR off; a static PIE's
    brk moves to ELF_ET_DYN_BASE even with ASLR off (6.15 "binfmt_elf: Move brk for static
    PIE even if ASLR disabled") = 0x555555555000 here. Kernel value: field 47 (start_brk) of
    /proc/PID/stat at the first instruction."""
    binary, text = _gdb_result(gdb_layouts, name)
    m = re.search(rf"^{_MARK} (\d+)$", text, re.M)
    if m is None:
        pytest.skip("this gdb has no Python support")
    kernel = int(m.group(1))
    mm = _model_for(binary, PROGRAMS[name][1])
    assert mm.start_brk == kernel
    if name == "static-pie64":
        assert kernel == 0x555555555000  # PAGE_ALIGN(ELF_ET_DYN_BASE 0x555555554aaa)
