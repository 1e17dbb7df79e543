#!/usr/bin/env python3
"""Write files.json for the recordings in tests/data/recordings made before `vasim record`
saved file facts (run once; kept to show how each fact was obtained).

    python tools/derive_recording_facts.py [NAME ...]

For every file a recording's trace maps or execs, and every file its maps name:

* path: the path as the trace names it; the resolved path (what /proc shows) is this
  machine's realpath of it (the same Debian 12 image, whose /lib -> usr/lib links the maps of
  the recordings confirm), checked against the names in initial.maps/final.maps;
* dev, inode: from the recording's own initial.maps or final.maps where the file appears
  there; otherwise unknown (00:00, 0) - then no maps line of the recording can show them;
* size: from the trace's own fstat/newfstatat/statx of the descriptor the file was opened
  as; otherwise unknown;
* fstype: the recording machine's root file system (device fe:00, ext4: meta.json records
  the kernel; /dev/vda on / is ext4 in that image) for every path on device fe:00;
* ELF program headers of exec'd binaries and their interpreter: read from this machine's
  copy (system binaries from the same Debian packages; the test programs rebuilt with the
  exact build command in meta.json), checked by tests/test_replay.py, which rebuilds each
  initial.maps from them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulator.errors import InputError  # noqa: E402
from simulator.host.elf import read_elf  # noqa: E402
from simulator.host.files import FileFacts, RecordedFiles, elf_to_json  # noqa: E402
from simulator.trace.procmaps import parse_maps  # noqa: E402
from simulator.trace.recording import facts_json, mapped_paths  # noqa: E402
from simulator.trace.strace import read_strace  # noqa: E402

ROOT = REPO / "tests" / "data" / "recordings"
ROOT_DEVICE, ROOT_FSTYPE = "fe:00", "ext4"
_OPEN = re.compile(r'^(\d+)\s+open(?:at)?\((?:AT_FDCWD, )?"([^"]+)".*\) = (\d+)$')
_SIZE = re.compile(r'^(\d+)\s+(?:fstat|newfstatat|statx|fstat64)\((\d+),.*?\bstx?_size=(\d+)')


def trace_sizes(text: str) -> dict[str, int]:
    """Sizes the trace's own fstat calls printed, by the path the descriptor was opened as."""
    open_fds: dict[tuple[str, str], str] = {}
    sizes = {}
    for line in text.splitlines():
        m = _OPEN.match(line)
        if m:
            open_fds[(m.group(1), m.group(3))] = m.group(2)
            continue
        m = _SIZE.match(line)
        if m and (m.group(1), m.group(2)) in open_fds:
            sizes.setdefault(open_fds[(m.group(1), m.group(2))], int(m.group(3)))
    return sizes


def derive(name: str) -> None:
    directory = ROOT / name
    meta = json.loads((directory / "meta.json").read_text())
    text = (directory / "trace.txt").read_text()
    trace = read_strace(directory / "trace.txt")
    mapped, execs = mapped_paths(trace)
    in_maps = {}
    for maps_name in ("initial.maps", "final.maps"):
        for entry in parse_maps((directory / maps_name).read_text()):
            if (entry.name.startswith("/") and entry.inode and not entry.name.endswith(
                    " (deleted)") and not entry.name.startswith(("/SYSV", "/memfd:"))):
                in_maps.setdefault(entry.name, entry)
    sizes = trace_sizes(text)
    if meta.get("build_argv"):
        subprocess.run(meta["build_argv"], check=True, cwd=REPO)
    files, how, elves = {}, {}, {}

    def add(path: str) -> None:
        if path in files:
            return
        real = os.path.realpath(path)
        entry = in_maps.get(real)
        size = sizes.get(path, next((s for p, s in sizes.items() if os.path.realpath(p) == real),
                                    None))
        dev, inode = (entry.dev, entry.inode) if entry else ("00:00", 0)
        zero = real == "/dev/zero"
        fstype = ROOT_FSTYPE if not zero and (entry is None or entry.dev == ROOT_DEVICE) else None
        files[path] = FileFacts(real, dev, inode, size, fstype, zero_device=zero)
        how[path] = "; ".join([
            "dev/inode from the recording's maps" if entry else
            "dev/inode unknown (in no recorded maps)",
            "size from the trace's fstat" if size is not None else "size unknown",
            "the character device /dev/zero" if zero else
            "fstype: the recording machine's root file system (fe:00)"])

    for path in execs:
        try:
            image = read_elf(path)
        except InputError:
            continue
        add(path)
        elves[path] = elf_to_json(image)
        if image.interp:
            add(image.interp)
            elves[image.interp] = elf_to_json(read_elf(image.interp))
    for path in mapped + list(in_maps):
        add(path)
    (directory / "files.json").write_text(facts_json(RecordedFiles(files, elves), how))
    print(f"{name}: {len(files)} files, {len(elves)} ELF headers "
          f"(build: {shlex.join(meta['build_argv']) if meta.get('build_argv') else '-'})")


if __name__ == "__main__":
    names = sys.argv[1:] or sorted(p.name for p in ROOT.iterdir() if (p / "meta.json").exists())
    for n in names:
        derive(n)
