#!/usr/bin/env python3
"""Record the replay corpus in tests/data/corpus with `vasim record` (and the raw-strace
traces in tests/data/corpus-raw with the documented recipe), on this machine.

    python tools/record_corpus.py [NAME|raw:NAME|selftest:NAME|ltp:NAME ...]   # default: everything
    python tools/record_corpus.py --list

Each program runs with the environment PATH=/usr/bin:/bin HOME=/root LANG=C, in the fixed
directory /tmp/vasim-corpus (its path appears in the traces), stdout to /dev/null. The C
programs in tests/data/corpus/src and tests/data/recordings/src are built there first; no
binary is kept in git (their program headers are in each recording's files.json).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulator.trace.recording import collect_facts, facts_json, write_text  # noqa: E402
from simulator.trace.strace import parse_strace  # noqa: E402

CORPUS = REPO / "tests" / "data" / "corpus"
RAW = REPO / "tests" / "data" / "corpus-raw"
WORK = Path("/tmp/vasim-corpus")
ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C"}

BUILDS = {
    "forkexec64": ("tests/data/corpus/src/forkexec.c",),
    "forkexec32": ("tests/data/corpus/src/forkexec.c", "-m32"),
    "maplarge64": ("tests/data/corpus/src/maplarge.c",),
    "maplarge32": ("tests/data/corpus/src/maplarge.c", "-m32"),
    "mlock": ("tests/data/corpus/src/mlock.c",),
    "dropshm32": ("tests/data/corpus/src/dropshm.c", "-m32"),
    "pthreads64": ("tests/data/recordings/src/pthreads.c", "-pthread"),
    "pthreads32": ("tests/data/recordings/src/pthreads.c", "-m32", "-pthread"),
    "map_fixed_noreplace": ("tests/data/selftests/src/map_fixed_noreplace.c",),
    "map_fixed_noreplace32": ("tests/data/selftests/src/map_fixed_noreplace.c", "-m32"),
    "mremap_dontunmap": ("tests/data/selftests/src/mremap_dontunmap.c",),
    "mremap_test": ("tests/data/selftests/src/mremap_test.c",),
    "merge": ("tests/data/selftests/src/merge.c",),
    "merge32": ("tests/data/selftests/src/merge.c", "-m32"),
    "mlock2": ("tests/data/selftests/src/mlock2.c",),
    "mlock2_32": ("tests/data/selftests/src/mlock2.c", "-m32"),
    "mseal": ("tests/data/selftests/src/mseal.c",),
    "mseal32": ("tests/data/selftests/src/mseal.c", "-m32"),
    "guard_regions": ("tests/data/selftests/src/guard_regions.c",),
    "guard_regions32": ("tests/data/selftests/src/guard_regions.c", "-m32"),
    "ltp_calls": ("tests/data/ltp/src/ltp_calls.c",),
    "ltp_calls32": ("tests/data/ltp/src/ltp_calls.c", "-m32"),
}


def w(name: str) -> str:
    return str(WORK / name)


#: name: (vasim record options, command)
CORPUS_TABLE: dict[str, tuple[list[str], list[str]]] = {
    "ls": ([], ["ls", "-la", "/usr/lib"]),
    "cat": ([], ["cat", "/etc/os-release"]),
    "sort": ([], ["sort", "-r", "/etc/services"]),
    "tar-xz": ([], ["tar", "-cJf", w("doc.tar.xz"), "-C", "/usr/share/doc", "coreutils"]),
    "xz": ([], ["xz", "-6", "-c", "/etc/services"]),
    "gzip": ([], ["gzip", "-9", "-c", "/etc/services"]),
    "sqlite3": ([], ["sqlite3", ":memory:",
                     "create table t(x); insert into t values (1), (2); select sum(x) from t;"]),
    "perl": ([], ["perl", "-e", 'my @a = (1 .. 200000); my %h = map { $_ => 1 } @a; '
                                'print scalar(keys %h), "\\n"']),
    "sh-pipeline": ([], ["sh", "-c", "ls /usr/bin | sort -r | head -n 3"]),
    "bash-subshell": ([], ["bash", "-c", "x=$(echo hello | tr a-z A-Z); echo $x"]),
    "gcc": ([], ["gcc", "-c", "-o", w("hello.o"), "hello.c"]),
    "python-cext": ([], ["python3", "-c",
                         "import json, decimal, hashlib, zlib, select, math, _ssl, sqlite3"]),
    "awk": ([], ["awk", "-F:", "{ n += length($1) } END { print n }", "/etc/passwd"]),
    "sha256sum": ([], ["sha256sum", "/etc/services"]),
    "openssl": ([], ["openssl", "sha256", "/etc/passwd"]),
    "find": ([], ["find", "/usr/share/doc/coreutils"]),
    "dd": ([], ["dd", "if=/dev/zero", "of=/dev/null", "bs=4M", "count=4"]),
    "maplarge64": ([], [w("maplarge64"), "/usr/bin/python3.11"]),
    "maplarge32": (["--32bit"], [w("maplarge32"), "/usr/bin/python3.11"]),
    "pthreads64": ([], [w("pthreads64")]),
    "pthreads64-unlimited": (["--rlimit-stack", "unlimited"], [w("pthreads64")]),
    "pthreads32": (["--32bit"], [w("pthreads32")]),
    "pthreads32-3gb": (["--32bit", "--3gb"], [w("pthreads32")]),
    "pthreads32-legacy": (["--32bit", "-L"], [w("pthreads32")]),
    "pthreads32-unlimited": (["--32bit", "--rlimit-stack", "unlimited"], [w("pthreads32")]),
    "forkexec64": ([], [w("forkexec64")]),
    "forkexec32": (["--32bit"], [w("forkexec32")]),
    # Credentials and limits (replay_creds): a set-uid program (its exec clears setarch -R's
    # ADDR_NO_RANDOMIZE: ASLR on), privileges dropped with prctl(PR_SET_KEEPCAPS)+capset,
    # runuser's fork and setuid, limits set by prlimit, SysV and POSIX shared memory.
    "setuid-mount": ([], ["mount", "--version"]),
    "setpriv": ([], ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "ls", "/"]),
    "runuser": ([], ["/usr/sbin/runuser", "-u", "nobody", "--", "cat", "/etc/os-release"]),
    "prlimit-memlock": ([], ["prlimit", "--memlock=65536:65536", "--", w("mlock")]),
    "prlimit-as": ([], ["prlimit", "--as=100000000", "--", "python3", "-c",
                        "b = bytearray(200000000)"]),
    "dropshm32": (["--32bit"], [w("dropshm32")]),
    "posix-shm": ([], ["python3", "-c", "from multiprocessing import shared_memory as s; "
                       "m = s.SharedMemory(create=True, size=100000); m.buf[0] = 1; m.close(); "
                       "m.unlink()"]),
    "ipcmk": ([], ["sh", "-c", 'id=$(ipcmk -M 65536 | sed "s/.*: //"); ipcs -m >/dev/null; '
                   'ipcrm -m "$id"']),
}

#: Ports of the kernel's selftests/mm (tests/data/selftests/src), recorded into
#: tests/data/selftests/NAME.
SELFTESTS: dict[str, tuple[list[str], list[str]]] = {
    "map_fixed_noreplace": ([], [w("map_fixed_noreplace")]),
    "map_fixed_noreplace32": (["--32bit"], [w("map_fixed_noreplace32")]),
    "mremap_dontunmap": ([], [w("mremap_dontunmap")]),
    "mremap_test": ([], [w("mremap_test")]),
    "merge": ([], [w("merge")]),
    "merge32": (["--32bit"], [w("merge32")]),
    "mlock2": ([], [w("mlock2")]),
    "mlock2_32": (["--32bit"], [w("mlock2_32")]),
    "mseal": ([], [w("mseal")]),
    "mseal32": (["--32bit"], [w("mseal32")]),
    "guard_regions": ([], [w("guard_regions")]),
    "guard_regions32": (["--32bit"], [w("guard_regions32")]),
}

#: Single-process ports of LTP's madvise, mlock, mlock2 and shmat tests
#: (tests/data/ltp/src), recorded into tests/data/ltp/NAME.
LTP_PORTS: dict[str, tuple[list[str], list[str]]] = {
    "ltp_calls": ([], [w("ltp_calls")]),
    "ltp_calls32": (["--32bit"], [w("ltp_calls32")]),
}

#: The documented raw recipe: strace -f -o T setarch -R PROG.
RAW_TABLE: dict[str, list[str]] = {
    "ls": ["/usr/bin/ls", "-la", "/usr/lib"],
    "cat": ["/usr/bin/cat", "/etc/os-release"],
    "sh-pipeline": ["/usr/bin/sh", "-c", "ls /usr/bin | sort -r | head -n 3"],
    "forkexec64": [w("forkexec64")],
    # A set-uid program: its exec clears the personality setarch set (ASLR on again).
    "setuid-mount": ["/usr/bin/mount", "--version"],
}


def build() -> None:
    WORK.mkdir(exist_ok=True)
    shutil.copy(REPO / "tests/data/corpus/src/hello.c", WORK / "hello.c")
    for out, (src, *flags) in BUILDS.items():
        # Replace a binary only when its bytes change: its inode is in earlier recordings.
        subprocess.run(["gcc", *flags, "-O1", "-Wall", "-o", w(out + ".new"), str(REPO / src)],
                       check=True)
        new, old = WORK / (out + ".new"), WORK / out
        if old.exists() and old.read_bytes() == new.read_bytes():
            new.unlink()
        else:
            new.replace(old)


def record(name: str, table=None, root=CORPUS) -> None:
    options, command = (table or CORPUS_TABLE)[name]
    dest = root / name
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "simulator", "record", "-o", str(dest), *options,
                    "--", *command], check=True, cwd=WORK, stdout=subprocess.DEVNULL,
                   env={**ENV, "PYTHONPATH": str(REPO)})
    print(f"{name}: {sorted(p.name for p in dest.iterdir())}")


def record_raw(name: str) -> None:
    dest = RAW / name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    log = dest / "trace.raw"
    subprocess.run(["strace", "-f", "-o", str(log), "setarch", "-R", *RAW_TABLE[name]],
                   check=True, cwd=WORK, env=ENV, stdout=subprocess.DEVNULL)
    text = log.read_text()
    log.unlink()
    write_text(dest / "trace.txt", text)
    files, how = collect_facts(parse_strace(text), [], cwd=str(WORK))
    (dest / "files.json").write_text(facts_json(files, how))
    (dest / "meta.json").write_text(
        '{"recipe": "strace -f -o trace.txt setarch -R PROG", "command": %s, "cwd": "%s"}\n'
        % (__import__("json").dumps(RAW_TABLE[name]), WORK))
    print(f"raw {name}: {len(text.splitlines())} lines")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--list"]:
        for name, (options, command) in CORPUS_TABLE.items():
            print(name, " ".join(options), "--", *command)
        return 0
    names = argv or (list(CORPUS_TABLE) + [f"raw:{n}" for n in RAW_TABLE]
                     + [f"selftest:{n}" for n in SELFTESTS] + [f"ltp:{n}" for n in LTP_PORTS])
    build()
    for name in names:
        if name.startswith("raw:"):
            record_raw(name[4:])
        elif name.startswith("ltp:"):
            record(name[4:], LTP_PORTS, REPO / "tests" / "data" / "ltp")
        elif name.startswith("selftest:"):
            record(name[9:], SELFTESTS, REPO / "tests" / "data" / "selftests")
        else:
            record(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
