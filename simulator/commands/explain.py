"""``vasim explain``: where did this process's address space go, and what would still fit.

The input is a maps listing (/proc/PID/maps, smaps, gdb's ``info proc mappings``), a live PID
(its /proc/PID/smaps, personality, limits and status are read: the user points at the host),
or a recording directory (its ``final.maps`` and ``meta.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simulator.errors import InputError

EPILOG = """\
examples:
  vasim explain /proc/self/maps
  vasim explain 12345                         # a live process: its smaps, limits, personality
  vasim explain after-threads.maps --arch i686 --personality ADDR_LIMIT_3GB
  vasim explain tests/data/recordings/thr32-exhaust --json

Every region is labelled by what made it (executable, libraries, heap, main stack, glibc
thread stacks and their guards, malloc arena heaps, vdso, ...). "More threads", "largest
mmap" and "what if" are answers of the model run on these exact mappings, not arithmetic on
the text. Without --arch the profile is guessed: a listing entirely below 4 GiB is a 32-bit
process on a 64-bit kernel (i686; with ADDR_LIMIT_3GB when everything is below 3 GiB); pass
--arch i386-3g etc. for a native 32-bit kernel.
"""


def add_parser(sub) -> argparse.ArgumentParser:
    from simulator.cli import _arch_or_auto, _personality, _rlimit

    p = sub.add_parser("explain", help="label every region of a real process and say what fits",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Explain a process's address space: what made each "
                                   "region, the free gaps, how many more threads fit, the "
                                   "largest mmap that would succeed, and what another layout "
                                   "would change.")
    p.add_argument("input", metavar="MAPS|PID|RECORDING",
                   help="a maps/smaps/gdb listing, a live pid, or a recording directory")
    p.add_argument("--arch", type=_arch_or_auto, default="auto", help="profile (default: guessed)")
    p.add_argument("--personality", type=_personality, default=None, metavar="FLAGS",
                   help="personality flags (default: the recording's or process's, else guessed)")
    p.add_argument("--rlimit-stack", type=_rlimit, default=None, metavar="SIZE",
                   help="RLIMIT_STACK (default: the recording's or process's, else 8M)")
    p.add_argument("--no-what-if", action="store_true",
                   help="skip rebuilding the process under other layouts")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from simulator.explain import explain, text_report
    from simulator.trace.procmaps import guess_arch
    from simulator.kernel.arch import get_profile
    from simulator.kernel.config import Personality, ProcessConfig

    entries, facts, source = load_input(args.input)
    arch = args.arch if args.arch != "auto" else facts.get("arch") or guess_arch(entries)
    personality = args.personality
    if personality is None:
        personality = facts.get("personality")
    if personality is None:
        personality = guess_personality(entries, arch)
    rlimit = args.rlimit_stack if args.rlimit_stack is not None else facts.get("rlimit_stack",
                                                                                8 << 20)
    profile = get_profile(arch)
    proc = ProcessConfig(personality=personality | Personality.ADDR_NO_RANDOMIZE,
                         rlimit_stack=rlimit)
    result = explain(entries, profile, proc, source, what_ifs=not args.no_what_if)
    if args.json:
        json.dump(result.to_json(), sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text_report(result))
    return 0


def load_input(text: str):
    """``(entries, facts, source)``: facts may hold arch, personality and rlimit_stack."""
    from simulator.trace.procmaps import read_maps

    path = Path(text)
    if text.isdigit() and not path.exists():
        return _live(int(text))
    if path.is_dir():
        maps = path / "final.maps"
        if not maps.is_file():
            raise InputError(text, None, "a recording directory needs a final.maps file")
        return read_maps(maps), _meta(path / "meta.json"), str(maps)
    if not path.exists():
        raise InputError(text, None, "no such file, directory or process")
    return read_maps(path), {}, text


def _live(pid: int):
    from simulator.kernel.config import Personality
    from simulator.trace.procmaps import parse_maps

    base = Path(f"/proc/{pid}")
    for name in ("smaps", "maps"):
        try:
            text = (base / name).read_text()
            break
        except OSError as err:
            last = err
    else:
        raise InputError(str(base / "maps"), None, f"cannot read: {last.strerror}")
    source = str(base / name)
    facts: dict = {}
    try:
        facts["personality"] = Personality(int((base / "personality").read_text(), 16)
                                           & sum(Personality))
    except (OSError, ValueError):
        pass
    try:
        for line in (base / "limits").read_text().splitlines():
            if line.startswith("Max stack size"):
                soft = line.split()[3]
                from simulator.units import RLIM_INFINITY
                facts["rlimit_stack"] = RLIM_INFINITY if soft == "unlimited" else int(soft)
    except (OSError, ValueError, IndexError):
        pass
    return parse_maps(text, source), facts, source


def _meta(path: Path) -> dict:
    from simulator.kernel.config import Personality

    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    facts: dict = {}
    if isinstance(meta.get("arch"), str):
        facts["arch"] = meta["arch"]
    flags = meta.get("personality")
    if isinstance(flags, list):
        facts["personality"] = Personality.parse(",".join(
            f for f in flags if f in Personality.__members__) or "0")
    if isinstance(meta.get("rlimit_stack"), int):
        facts["rlimit_stack"] = meta["rlimit_stack"]
    elif meta.get("rlimit_stack") == "unlimited":
        from simulator.units import RLIM_INFINITY
        facts["rlimit_stack"] = RLIM_INFINITY
    return facts


def guess_personality(entries, arch: str):
    """ADDR_LIMIT_3GB for an i686 listing entirely below 3 GiB; ADDR_COMPAT_LAYOUT when the
    dynamic linker sits in the lower half (the legacy layout maps from TASK_SIZE / 3 up)."""
    from simulator.explain import _LD_SO
    from simulator.kernel.config import Personality

    flags = Personality(0)
    if arch != "i686" or not entries:
        return flags
    top = max(e.end for e in entries if not e.name.startswith("[v"))
    limit = 3 << 30 if top <= 3 << 30 else 1 << 32
    if limit == 3 << 30:
        flags |= Personality.ADDR_LIMIT_3GB
    ld = [e for e in entries if _LD_SO.search(e.name)]
    if ld and ld[0].start < limit // 2:
        flags |= Personality.ADDR_COMPAT_LAYOUT
    return flags
