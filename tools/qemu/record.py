"""Record a real kernel of one profile under QEMU: python tools/qemu/record.py PROFILE.

Gets Debian's kernel source, builds a small kernel for PROFILE (tinyconfig plus the fragments
in tools/qemu/profiles.toml), builds the probes static (or dynamic, with the host's glibc for
that architecture copied in) for its architecture, packs them with a tiny /init
(tools/qemu/init.c) into an initramfs, boots it under QEMU with ``norandmaps``, and turns
what the guest prints on its serial console into tests/data/qemu/PROFILE.jsonl.gz, which
tests/test_qemu_recordings.py replays on the model in CI (no QEMU needed there).

The guest runs
  * the kernel probe (tests/probe/probe.c) on random sequences from tests/probe_ops.py,
    for several RLIMIT_STACK values: every call's result and /proc/self/maps after it, and
    the profile's fixed ``hint_ops`` script if it has one (hints above 2^47 or 2^48);
  * a maps printer (tools/qemu/maps.c) built PIE, non-PIE, static and static-PIE: the
    layout exec leaves, per RLIMIT_STACK;
  * the thread counter (tests/probe/thrcount.c), PIE and non-PIE: threads until
    pthread_create fails, for several RLIMIT_STACK values and stack/guard sizes.

Host requirements (Debian 12; none of them removes gcc-multilib, check with apt-get -s):
  qemu-system-x86 qemu-system-arm flex bison bc libelf-dev cpio, gcc-multilib and
  libc6-dev-i386 (i386), clang lld llvm libc6-dev-arm64-cross libgcc-12-dev-arm64-cross
  (arm64). Never the gcc-*-linux-gnu cross compilers: they remove gcc-multilib.
Builds are cached in ~/.cache/vasim-qemu (override with VASIM_QEMU_CACHE).
``--source 6.1`` builds Debian 12's linux-source-6.1 instead (build/PROFILE@6.1) and writes
tests/data/qemu/PROFILE@6.1.jsonl.gz (recorded: x86_64@6.1).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import kernel_probe  # noqa: E402
import probe_ops  # noqa: E402

CACHE = Path(os.environ.get("VASIM_QEMU_CACHE", Path.home() / ".cache" / "vasim-qemu"))
#: Debian's kernel source package per ``--source`` version; the default records every profile,
#: another version writes PROFILE@VERSION.jsonl.gz from its own cached build tree.
SOURCES = {"6.12": "linux-source-6.12", "6.1": "linux-source-6.1"}
DEFAULT_SOURCE = "6.12"
OUT_DIR = ROOT / "tests" / "data" / "qemu"

MiB = 1 << 20
INF = "inf"
#: What the guest runs. Kept small: the serial console carries every maps text.
PROBE_RLIMITS = [8 * MiB, 1024 * MiB, INF]
PROBE_SEEDS = [1, 2]
PROBE_OPS = 200
EXEC_RLIMITS = [8 * MiB, 1024 * MiB, INF]
#: (binary, RLIMIT_STACK, stack size (0: glibc default), guard size)
THREAD_CASES = [
    ("pie", 8 * MiB, 0, 4096),
    ("pie", 2 * MiB, 0, 4096),
    ("pie", 64 * MiB, 0, 4096),
    ("pie", INF, 0, 4096),
    ("pie", 8 * MiB, 1 * MiB, 4096),
    ("pie", 8 * MiB, 3 * MiB, 65536),
    ("nopie", 8 * MiB, 0, 4096),
    ("nopie", 8 * MiB, 1 * MiB, 0),
]
SCRATCH = [("/scratch/f0", 8 * MiB), ("/scratch/f1", 8 * MiB)]


def log(msg: str) -> None:
    print(f"[record {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(shlex.quote(str(c)) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def load_profiles() -> dict:
    with open(HERE / "profiles.toml", "rb") as f:
        return tomllib.load(f)


# ----------------------------------------------------------------------------- kernel

def kernel_source(version: str = DEFAULT_SOURCE) -> Path:
    """Debian's linux-source package of ``version``, unpacked once into the cache."""
    package = SOURCES[version]
    src = CACHE / package
    if (src / "Makefile").exists():
        return src
    CACHE.mkdir(parents=True, exist_ok=True)
    debs = sorted(CACHE.glob(f"{package}_*.deb"))
    if not debs:
        # bookworm-security carries it on this machine; elsewhere add bookworm-backports
        run(["apt-get", "download", package], cwd=CACHE)
        debs = sorted(CACHE.glob(f"{package}_*.deb"))
    tarball = f"./usr/src/{package}.tar.xz"
    script = (f"dpkg-deb --fsys-tarfile {shlex.quote(str(debs[-1]))} | tar x -O {tarball} "
              f"| xz -dc | tar x -C {shlex.quote(str(CACHE))}")
    run(["sh", "-c", script])
    return src


def kernel_fragment(profiles: dict, name: str) -> list[str]:
    name = profiles["profile"][name].get("kernel", name)
    prof = profiles["profile"][name]
    arch = profiles["arch"][prof["arch"]]
    return profiles["common_config"] + arch["config"] + prof["config"]


def build_dir(name: str, version: str) -> Path:
    """Where profile ``name``'s kernel for source ``version`` is built (the default version
    keeps the plain name)."""
    return CACHE / "build" / (name if version == DEFAULT_SOURCE else f"{name}@{version}")


def build_kernel(profiles: dict, name: str, jobs: int,
                 version: str = DEFAULT_SOURCE) -> tuple[Path, dict[str, str]]:
    """The kernel image for profile ``name`` and its final .config as a dict (a profile with
    ``kernel = "OTHER"`` boots OTHER's kernel, e.g. arm64 compat tasks)."""
    name = profiles["profile"][name].get("kernel", name)
    src = kernel_source(version)
    arch = profiles["arch"][profiles["profile"][name]["arch"]]
    frag = kernel_fragment(profiles, name)
    out = build_dir(name, version)
    if not out.exists():
        # seed from a built profile of the same architecture: only what the options touch
        # is rebuilt (kbuild's fixdep), which is much quicker than a fresh build
        same = [p for p, v in profiles["profile"].items() if p != name
                and v["arch"] == profiles["profile"][name]["arch"]
                and (build_dir(p, version) / "vasim-fragment").exists()]
        if same:
            run(["cp", "-a", build_dir(same[0], version), out])
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / "vasim-fragment"
    image = out / arch["image"]
    text = "\n".join(frag) + "\n"
    make = ["make", "-C", src, f"O={out}", *arch["make"]]
    if not (image.exists() and stamp.exists() and stamp.read_text() == text):
        run(make + ["tinyconfig"], stdout=subprocess.DEVNULL)
        (out / "fragment.config").write_text(text)
        run([src / "scripts/kconfig/merge_config.sh", "-m", "-O", out, out / ".config",
             out / "fragment.config"], stdout=subprocess.DEVNULL,
            env={**os.environ, **{k.split("=")[0]: k.split("=")[1] for k in arch["make"]}})
        run(make + ["olddefconfig"], stdout=subprocess.DEVNULL)
        config = read_config(out / ".config")
        missing = [opt for opt in frag if not config_has(config, opt)]
        if missing:
            raise SystemExit(f"kernel config for {name} lost {missing} in olddefconfig")
        run(make + [f"-j{jobs}", Path(arch["image"]).name], stdout=subprocess.DEVNULL)
        stamp.write_text(text)
    return image, read_config(out / ".config")


def read_config(path: Path) -> dict[str, str]:
    config = {}
    for line in path.read_text().splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, value = line.split("=", 1)
            config[key] = value
    return config


def config_has(config: dict[str, str], opt: str) -> bool:
    if opt.startswith("# "):
        return opt.split()[1] not in config
    key, value = opt.split("=", 1)
    return config.get(key) == value


# ----------------------------------------------------------------------------- guest programs

def compile_c(arch: dict, src: Path, out: Path, flags: list[str]) -> Path:
    run([*arch["cc"], "-O1", *flags, "-o", out, src])
    return out


def exec_kinds(arch: dict) -> list[str]:
    """The maps printers to build: Debian's armhf glibc has no static-PIE start file."""
    return arch.get("exec_kinds", ["pie", "nopie", "static", "static-pie"])


def build_programs(arch: dict, work: Path) -> dict[str, Path]:
    """guest path -> host file for everything the initramfs carries."""
    probe = ROOT / "tests" / "probe"
    files = {
        "/init": compile_c(arch, HERE / "init.c", work / "init", ["-static"]),
        "/bin/probe": compile_c(arch, probe / "probe.c", work / "probe", ["-static"]),
        "/bin/thrcount-pie": compile_c(arch, probe / "thrcount.c", work / "thrcount-pie",
                                       ["-pthread", "-pie", "-fPIE"]),
        "/bin/thrcount-nopie": compile_c(arch, probe / "thrcount.c", work / "thrcount-nopie",
                                         ["-pthread", "-no-pie", "-fno-PIE"]),
        "/bin/maps-pie": compile_c(arch, HERE / "maps.c", work / "maps-pie", ["-pie", "-fPIE"]),
        "/bin/maps-nopie": compile_c(arch, HERE / "maps.c", work / "maps-nopie",
                                     ["-no-pie", "-fno-PIE"]),
        "/bin/maps-static": compile_c(arch, HERE / "maps.c", work / "maps-static",
                                      ["-static", "-no-pie", "-fno-PIE"]),
    }
    if "static-pie" in exec_kinds(arch):
        files["/bin/maps-static-pie"] = compile_c(arch, HERE / "maps.c", work / "maps-static-pie",
                                                  ["-static-pie", "-fPIE"])
    for guest, host in arch["libs"].items():
        files[guest] = Path(host)
    return files


# ----------------------------------------------------------------------------- initramfs

def cpio_newc(entries: list[tuple[str, int, bytes, int]]) -> bytes:
    """A newc cpio archive of (name, mode, data, rdev) entries, as the kernel unpacks it."""
    out = bytearray()
    for ino, (name, mode, data, rdev) in enumerate(entries + [("TRAILER!!!", 0, b"", 0)], 1):
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF, len(nb), 0))
        out += hdr.encode() + nb
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def initramfs(files: dict[str, Path], extra: dict[str, bytes]) -> bytes:
    entries: list[tuple[str, int, bytes, int]] = []
    dirs: set[str] = set()

    def add_dirs(path: str) -> None:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                entries.append((d, 0o40755, b"", 0))

    for d in ("dev", "proc", "scratch", "tmp"):
        add_dirs(d + "/x")
    entries.append(("dev/console", 0o20600, b"", (5 << 8) | 1))
    for guest, host in sorted(files.items()):
        add_dirs(guest)
        entries.append((guest.lstrip("/"), 0o100755, host.read_bytes(), 0))
    for guest, data in sorted(extra.items()):
        add_dirs(guest)
        entries.append((guest.lstrip("/"), 0o100644, data, 0))
    return cpio_newc(entries)


# ----------------------------------------------------------------------------- plan

def rl(value) -> str:
    return INF if value == INF else str(value)


def make_plan(bits: int, kinds: list[str], hint_ops: list[str] = ()) -> tuple[
        list[str], dict[str, bytes], dict[str, dict]]:
    """Plan lines for /init, extra files (probe scripts), and what each RUN tag is.
    ``hint_ops`` (the profile's, if any) is one more probe script, run as is."""
    lines = ["CAT /proc/version", "CAT /proc/sys/kernel/threads-max",
             "CAT /proc/sys/vm/mmap_min_addr", "CAT /proc/sys/vm/overcommit_memory",
             "CAT /proc/sys/kernel/randomize_va_space", "CAT /proc/meminfo", "CAT /proc/cmdline"]
    lines += [f"MKFILE {path} {size}" for path, size in SCRATCH]
    extra: dict[str, bytes] = {}
    tags: dict[str, dict] = {}
    for seed in PROBE_SEEDS:
        for limit in PROBE_RLIMITS:
            tag = f"probe-s{seed}-{rl(limit)}"
            rng = random.Random(f"{seed}-{bits}-{rl(limit)}")
            ops = probe_ops.generate(rng, PROBE_OPS, bits=bits, n_files=len(SCRATCH))
            extra[f"/scripts/{tag}"] = "".join(op + "\n" for op in ops).encode()
            tags[tag] = {"kind": "probe", "seed": seed, "rlimit_stack": rl(limit), "ops": ops}
            lines.append(f"RUN {tag} {rl(limit)} /bin/probe /scripts/{tag} "
                         + " ".join(p for p, _ in SCRATCH))
    if hint_ops:
        tag = f"probe-hints-{rl(PROBE_RLIMITS[0])}"
        extra[f"/scripts/{tag}"] = "".join(op + "\n" for op in hint_ops).encode()
        tags[tag] = {"kind": "probe", "seed": 0, "rlimit_stack": rl(PROBE_RLIMITS[0]),
                     "ops": list(hint_ops)}
        lines.append(f"RUN {tag} {rl(PROBE_RLIMITS[0])} /bin/probe /scripts/{tag} "
                     + " ".join(p for p, _ in SCRATCH))
    for kind in kinds:
        for limit in EXEC_RLIMITS:
            tag = f"exec-{kind}-{rl(limit)}"
            tags[tag] = {"kind": "exec", "binary": f"/bin/maps-{kind}", "rlimit_stack": rl(limit)}
            lines.append(f"RUN {tag} {rl(limit)} /bin/maps-{kind}")
    for kind, limit, stack, guard in THREAD_CASES:
        tag = f"threads-{kind}-{rl(limit)}-{stack}-{guard}"
        tags[tag] = {"kind": "threads", "binary": f"/bin/thrcount-{kind}",
                     "rlimit_stack": rl(limit), "stack_size": stack, "guard_size": guard}
        lines.append(f"RUN {tag} {rl(limit)} /bin/thrcount-{kind} {stack} {guard}")
    return lines, extra, tags


# ----------------------------------------------------------------------------- boot and parse

def boot(arch: dict, image: Path, cpio: Path, log_path: Path, timeout: float) -> list[str]:
    append = f"console={arch['console']} norandmaps quiet loglevel=1 panic=-1 rdinit=/init"
    cmd = [*arch["qemu"], "-nodefaults", "-display", "none", "-no-reboot",
           "-serial", f"file:{log_path}", "-kernel", str(image), "-initrd", str(cpio),
           "-append", append]
    log("$ " + " ".join(shlex.quote(c) for c in cmd))
    t0 = time.time()
    subprocess.run(cmd, check=True, timeout=timeout, stdin=subprocess.DEVNULL)
    log(f"guest ran {time.time() - t0:.0f}s")
    text = log_path.read_bytes().decode(errors="replace").replace("\r\n", "\n").replace("\r", "")
    return text.split("\n")


def parse_console(lines: list[str]) -> tuple[dict[str, str], dict[str, tuple], dict[str, tuple]]:
    """(CAT path -> text, STAT path -> (dev, inode, size), RUN tag -> (output, status))."""
    cats, stats, runs = {}, {}, {}
    i = 0
    while i < len(lines) and lines[i] != "@@START":
        i += 1
    if i == len(lines):
        raise SystemExit("the guest never started /init; console:\n" + "\n".join(lines[-40:]))
    i += 1
    while i < len(lines):
        line = lines[i]
        if line == "@@DONE":
            return cats, stats, runs
        if line.startswith("@@CAT "):
            j = lines.index("@@END", i + 1)
            cats[line[6:]] = "".join(x + "\n" for x in lines[i + 1:j])
            i = j + 1
        elif line.startswith("@@STAT "):
            _, path, dev, ino, size = line.split()
            stats[path] = (dev, int(ino), int(size))
            i += 1
        elif line.startswith("@@BEGIN "):
            tag = line[8:]
            j = i + 1
            while not lines[j].startswith(f"@@END {tag} "):
                j += 1
            runs[tag] = ("".join(x + "\n" for x in lines[i + 1:j]), lines[j].split()[-1])
            i = j + 1
        elif line.startswith("@@ERROR"):
            raise SystemExit(f"guest: {line}")
        else:
            i += 1  # kernel messages
    raise SystemExit("the guest did not finish the plan (no @@DONE)")


def normalize_shmem_inodes(prun):
    """Renumber shmem inodes 1, 2, 3... in order of first appearance, as
    kernel_probe.normalize_shmem_inodes does on the host, keeping the kernel's own column
    padding (which is narrower on a 32-bit kernel). A SysV segment's inode is its shm id
    (ipc/shm.c newseg), which in a fresh VM is small and may equal a /dev/zero inode: the
    numbering tells the two kinds apart."""
    numbering: dict[tuple[str, str], str] = {}

    def fix(text):
        if text is None or not any(p in text for p in kernel_probe._SHMEM_PATHS):
            return text
        out = []
        for line in text.split("\n"):
            m = kernel_probe._INODE_LINE_RE.match(line)
            if m and m.group(4).startswith(kernel_probe._SHMEM_PATHS):
                column = len(m.group(1)) + len(m.group(2)) + len(m.group(3))
                key = ("/SYSV" if m.group(4).startswith("/SYSV") else "shmem", m.group(2))
                head = m.group(1) + numbering.setdefault(key, str(len(numbering) + 1))
                line = head + " " * max(1, column - len(head)) + m.group(4)
            out.append(line)
        return "\n".join(out)

    steps = [dataclasses.replace(st, maps=fix(st.maps)) for st in prun.steps]
    return dataclasses.replace(prun, initial_smaps=fix(prun.initial_smaps), steps=steps)


def elf_record(host: Path) -> dict:
    """The program headers exec reads (simulator.host.elf.read_elf), as JSON."""
    from simulator.host.elf import read_elf

    image = read_elf(str(host))
    return {"dynamic": image.dynamic, "interp": image.interp, "exec_stack": image.exec_stack,
            "segments": [[s.vaddr, s.memsz, s.filesz, s.offset, s.flags, s.align]
                         for s in image.segments]}


def exec_strings(argv: list[str], env: dict[str, str]) -> int:
    """Bytes fs/exec.c copies onto the new stack: filename, environment and argv strings."""
    return (len(argv[0]) + 1 + sum(len(f"{k}={v}") + 1 for k, v in env.items())
            + sum(len(a) + 1 for a in argv))


def meminfo(text: str, key: str) -> str:
    """One /proc/meminfo value ("509956 kB"; "0 kB" when the kernel has no such line, as
    SwapTotal without CONFIG_SWAP)."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    return "0 kB"


def records(profile: str, cats, stats, runs, tags, config, frag, command, qemu,
            files: dict[str, Path]) -> list[dict]:
    keys = sorted({opt.split()[1] if opt.startswith("# ") else opt.split("=")[0] for opt in frag}
                  | {"CONFIG_PAGE_OFFSET", "CONFIG_ARM64_VA_BITS", "CONFIG_PGTABLE_LEVELS",
                     "CONFIG_X86_5LEVEL", "CONFIG_HIGHMEM", "CONFIG_TRANSPARENT_HUGEPAGE",
                     "CONFIG_LSM_MMAP_MIN_ADDR", "CONFIG_DEFAULT_MMAP_MIN_ADDR",
                     "CONFIG_ARCH_MMAP_RND_BITS", "CONFIG_COMPAT_BRK", "CONFIG_SMP",
                     "CONFIG_KSM", "CONFIG_ARCH_HAS_PKEYS", "CONFIG_SWAP",
                     "CONFIG_X86_VSYSCALL_EMULATION"})
    version = cats["/proc/version"].strip()
    out = [{
        "kind": "meta", "profile": profile, "version": version,
        "release": version.split()[2],
        "config": {k: config.get(k, "n") for k in keys},
        "threads_max": int(cats["/proc/sys/kernel/threads-max"]),
        "mmap_min_addr": int(cats["/proc/sys/vm/mmap_min_addr"]),
        "overcommit_memory": int(cats["/proc/sys/vm/overcommit_memory"]),
        "randomize_va_space": int(cats["/proc/sys/kernel/randomize_va_space"]),
        "mem_total": meminfo(cats["/proc/meminfo"], "MemTotal"),
        "swap_total": meminfo(cats["/proc/meminfo"], "SwapTotal"),
        "cmdline": cats["/proc/cmdline"].strip(),
        "command": command, "qemu": qemu,
        "env": dict(kernel_probe.DEFAULT_ENV, VASIM_PROBE_SMAPS="0"),
    }]
    for path, (dev, ino, size) in stats.items():
        out.append({"kind": "file", "path": path, "dev": dev, "inode": ino, "size": size})
    for tag, info in tags.items():
        text, status = runs[tag]
        rec = {"tag": tag, **info, "status": status}
        if info["kind"] == "probe":
            if status != "0":
                raise SystemExit(f"{tag}: probe exited {status}:\n{text[-2000:]}")
            prun = normalize_shmem_inodes(kernel_probe.parse_probe_output(text, ops=info["ops"]))
            rec.update(initial_smaps=prun.initial_smaps, brk0=prun.brk0,
                       steps=[[s.op_line_resolved, s.result, s.maps] for s in prun.steps])
            del rec["ops"]
        elif info["kind"] == "exec":
            exe = elf_record(files[info["binary"]])
            rec["elf"] = exe
            rec["interp_elf"] = elf_record(files[exe["interp"]]) if exe["interp"] else None
            rec["exec_strings"] = exec_strings([info["binary"]], out[0]["env"])
            rec["maps"] = text.split("MAPS\n", 1)[1].split("END\n", 1)[0]
            rec["brk"] = int(text.split("BRK ", 1)[1].split()[0], 16)
        else:
            rec["before"] = text.split("BEFORE\n", 1)[1].split("END\n", 1)[0]
            count, err = text.split("COUNT ", 1)[1].split("\n", 1)[0].split()
            rec.update(count=int(count), error=err,
                       after=text.split("AFTER\n", 1)[1].split("END\n", 1)[0])
        out.append({"kind": info["kind"], **{k: v for k, v in rec.items() if k != "kind"}})
    return out


def main(argv=None) -> int:
    profiles = load_profiles()
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", choices=sorted(profiles["profile"]))
    ap.add_argument("-j", "--jobs", type=int, default=2, help="make -j (default 2)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds the guest may run")
    ap.add_argument("--source", choices=sorted(SOURCES), default=DEFAULT_SOURCE,
                    help="Debian kernel source version to build (default %(default)s; another "
                         "one writes PROFILE@VERSION.jsonl.gz)")
    ap.add_argument("--out", type=Path, default=None,
                    help="default tests/data/qemu/PROFILE.jsonl.gz (PROFILE@VERSION.jsonl.gz)")
    ap.add_argument("--keep-console", type=Path, default=None, help="also keep the raw console log")
    ap.add_argument("--reparse", action="store_true",
                    help="parse the last console log again instead of booting (after a change "
                         "to the parser; the programs must be unchanged)")
    args = ap.parse_args(argv)
    name = args.profile
    arch = profiles["arch"][profiles["profile"][name]["arch"]]
    image, config = build_kernel(profiles, name, args.jobs, args.source)
    stem = name if args.source == DEFAULT_SOURCE else f"{name}@{args.source}"
    work = CACHE / "guest" / stem
    if not args.reparse:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    files = build_programs(arch, work)
    plan, extra, tags = make_plan(arch["bits"], exec_kinds(arch),
                                  profiles["profile"][name].get("hint_ops", []))
    extra["/plan"] = "".join(line + "\n" for line in plan).encode()
    cpio = work / "initramfs.cpio"
    cpio.write_bytes(initramfs(files, extra))
    console = args.keep_console or work / "console.log"
    if args.reparse:
        text = console.read_bytes().decode(errors="replace")
        lines = text.replace("\r\n", "\n").replace("\r", "").split("\n")
    else:
        lines = boot(arch, image, cpio, console, args.timeout)
    cats, stats, runs = parse_console(lines)
    qemu = " ".join(arch["qemu"])
    recs = records(name, cats, stats, runs, tags, config, kernel_fragment(profiles, name),
                   "python tools/qemu/record.py " + name
                   + ("" if args.source == DEFAULT_SOURCE else f" --source {args.source}"),
                   qemu, files)
    out = args.out or OUT_DIR / f"{stem}.jsonl.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(out, "wb", mtime=0) as f:
        for rec in recs:
            f.write((json.dumps(rec, sort_keys=True) + "\n").encode())
    log(f"wrote {out} ({out.stat().st_size} bytes, {len(recs)} records, {recs[0]['release']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
