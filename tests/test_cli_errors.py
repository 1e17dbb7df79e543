"""Exit codes, one-line errors, bounds and progress of the ``vasim`` command.

One test per crash class of issue 8 (each was a traceback with exit status 1 before), the
exit statuses 3 and 130, --version, the simulator's own bounds and the progress line.
"""

from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import Path

import pytest

from simulator import cli, limits
from simulator.errors import InputError
from simulator.progress import Progress
from simulator.scenario import runner
from simulator.scenario.spec import load

ROOT = Path(__file__).resolve().parent.parent


def vasim(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def bad_input(capsys, tmp_path, text: str) -> tuple[int, str]:
    """Run a scenario that must be refused: exit 2, one line naming the file and a line."""
    path = tmp_path / "s.toml"
    path.write_text(text)
    code, _out, err = vasim(capsys, "run", str(path))
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    m = re.match(rf"^{re.escape(str(path))}:(\d+)(:\d+)?: (.+)$", err.rstrip("\n"))
    assert m, err
    return int(m.group(1)), m.group(3)


EMPTY = 'title = "x"\n[process]\nstart = "empty"\n'

#: (scenario text, the line of the error, words of the message). Each was a traceback.
CRASHES = {
    "number over 4,300 digits in an expression":
        (EMPTY + '[[step]]\ndo = "mmap"\nlength = "' + "9" * 5000 + '"\n', 6, "too long"),
    "number of 30 digits in an expression":
        (EMPTY + '[[step]]\ndo = "mmap"\nlength = "' + "9" * 30 + '"\n', 6, "number too long"),
    "TOML integer over 4,300 digits":
        (EMPTY + '[[step]]\ndo = "mmap"\nlength = ' + "9" * 5000 + "\n", 6, "number too long"),
    "TOML arrays nested 5,000 deep":
        (EMPTY + "x = " + "[" * 5000 + "]" * 5000 + "\n", 4, "nested too deeply"),
    "parentheses 3,000 deep":
        (EMPTY + '[[step]]\ndo = "mmap"\nlength = "' + "(" * 3000 + "1" + ")" * 3000 + '"\n',
         6, "too long"),
    "parentheses 9 deep":
        (EMPTY + '[[step]]\ndo = "mmap"\nlength = "' + "(" * 9 + "1" + ")" * 9 + '"\n',
         6, "nested too deeply"),
    "a sum of 100 terms":
        (EMPTY + '[[step]]\ndo = "mmap"\nlength = "' + "+".join(["4K"] * 100) + '"\n',
         6, "too long"),
    "an expectation dividing by zero":
        (EMPTY + '[[step]]\ndo = "mmap"\nlength = "4K"\nexpect = { result = "4K / 0" }\n',
         7, "division by zero"),
    "an expectation dividing by zero when it runs":
        (EMPTY + '[[step]]\ndo = "mmap"\nname = "a"\nlength = "4K"\n'
                 'expect = { result = "a / (a - a)" }\n', 8, "division by zero"),
    "an expectation naming an undefined thread":
        ('title = "x"\n[[step]]\ndo = "pthread_create"\nname = "t"\ncount = 2\n'
         'expect = { result = "t5.stack" }\n', 6, "'t5' is not defined"),
    "an expectation naming a thread that was never created":
        ('title = "x"\n[process]\narch = "i686"\n[[step]]\ndo = "pthread_create"\nname = "t"\n'
         'count = "until-failure"\n[[step]]\ndo = "munmap"\naddr = "t900.stack"\nlength = "4K"\n',
         10, "'t900' is not defined"),
    "start = maps without maps":
        ('title = "x"\n[process]\nstart = "maps"\n', 3, "needs 'maps'"),
    "start = exec without an executable, in a compare table":
        ('title = "x"\n[compare]\nprocess = [{ arch = "i686" }, { start = "exec" }]\n', 3,
         "needs 'executable'"),
    "touch at a negative address":
        (EMPTY + '[[step]]\ndo = "touch"\naddr = "-4K"\n', 6, "negative"),
    "touch below zero when it runs":
        (EMPTY + '[[step]]\ndo = "mmap"\nname = "a"\nlength = "4K"\n'
                 '[[step]]\ndo = "touch"\naddr = "a - a - 1"\n', 10, "negative"),
    "a touch result used as a number":
        (EMPTY + '[[step]]\ndo = "touch"\nname = "f"\naddr = "0x10000"\n'
                 '[[step]]\ndo = "mmap"\nlength = "f + 4K"\n', 10, "names a touch"),
    "free of a mapping's name":
        ('title = "x"\n[[step]]\ndo = "mmap"\nname = "m"\nlength = "4K"\n'
         '[[step]]\ndo = "free"\nptr = "m"\n', 8, "not a pointer"),
    "realloc of a mapping's name":
        ('title = "x"\n[[step]]\ndo = "mmap"\nname = "m"\nlength = "4K"\n'
         '[[step]]\ndo = "realloc"\nptr = "m"\nsize = 100\n', 8, "not a pointer"),
    "a double free":
        ('title = "x"\n[[step]]\ndo = "malloc"\nname = "p"\nsize = 100\nrepeat = 2\n'
         '[[step]]\ndo = "free"\nptr = "p"\n[[step]]\ndo = "free"\nptr = "p2"\n', 12,
         "not a live pointer"),
    "a thread that is a mapping":
        ('title = "x"\n[[step]]\ndo = "mmap"\nname = "m"\nlength = "4K"\n'
         '[[step]]\ndo = "pthread_join"\ntarget = "m"\n', 8, "not a thread"),
    "[expect] maps = '.'":
        (EMPTY + '[expect]\nmaps = "."\n', 5, "not a regular file"),
    "a NUL byte in a file name":
        ('title = "x"\n[process]\nstart = "maps"\nmaps = "a\\u0000b"\n', 4, "NUL"),
    "ld.so cannot map libc":
        ('title = "x"\n[process]\narch = "i686"\nrlimit_as = "1M"\n', 2,
         "the program cannot start: ld.so: cannot map"),
    "mmap with length -4K":
        (EMPTY + '[[step]]\ndo = "mmap"\nlength = "-4K"\n', 6, "negative"),
    "an address past a 32-bit process's unsigned long":
        ('title = "x"\n[process]\narch = "i686"\nstart = "empty"\n[[step]]\ndo = "munmap"\n'
         'addr = "0x100000000"\nlength = "4K"\n', 7, "does not fit in an unsigned long of 32"),
    "a size past 64 bits":
        (EMPTY + '[[step]]\ndo = "setrlimit"\nstack = 18446744073709551616\n', 6,
         "does not fit in 64 bits"),
    "a wrong type in an expectation":
        (EMPTY + '[[step]]\ndo = "mmap"\nlength = "4K"\nexpect = { result = true }\n', 7,
         "must be an address or size expression"),
    "a wrong type in an end expectation":
        (EMPTY + '[expect]\nthreads = "many"\n', 5, "must be an integer"),
    "a TOML error at the end of the document":
        ('title = "x"\nkey', 2, "malformed TOML"),
}


@pytest.mark.parametrize("name", CRASHES)
def test_each_crash_class_is_one_line_of_bad_input(capsys, tmp_path, name):
    text, line, words = CRASHES[name]
    got_line, message = bad_input(capsys, tmp_path, text)
    assert words in message
    assert got_line == line, message


def test_steps_past_the_bound_are_refused_before_anything_is_built(tmp_path):
    """count = 10,000,000 with repeat = 1,000,000 took 3.2 GB while loading: the names
    t1...t10^13 were built to check references. Now load() refuses it from the numbers."""
    path = tmp_path / "s.toml"
    path.write_text('title = "x"\n[[step]]\ndo = "pthread_create"\nname = "t"\ncount = 1000\n'
                    'repeat = 1000\n[[step]]\ndo = "munmap"\naddr = "t999999.stack"\n'
                    'length = "4K"\n')
    with pytest.raises(InputError) as err:
        load(str(path))
    assert err.value.line == 5 and f"at most {limits.MAX_THREADS:,}" in err.value.message
    path.write_text('title = "x"\n[[step]]\ndo = "mmap"\nlength = "4K"\nrepeat = 100000\n'
                    '[[step]]\ndo = "mmap"\nlength = "4K"\nrepeat = 2\n')
    with pytest.raises(InputError) as err:
        load(str(path))
    assert err.value.line == 9 and f"at most {limits.MAX_STEP_RUNS:,}" in err.value.message


def test_a_numbered_name_is_checked_without_building_the_family(tmp_path):
    """t1 to t500000 are defined by one step; t500000 is fine and t500001 is not."""
    text = ('title = "x"\n[[step]]\ndo = "pthread_create"\nname = "t"\ncount = 500000\n'
            '[[step]]\ndo = "munmap"\naddr = "t{}.stack"\nlength = "4K"\n')
    path = tmp_path / "s.toml"
    path.write_text(text.format(500000))
    load(str(path))
    path.write_text(text.format(500001))
    with pytest.raises(InputError, match="'t500001' is not defined"):
        load(str(path))


def test_threads_until_failure_stops_at_the_simulators_bound(capsys, monkeypatch, tmp_path):
    """max_map_count = 2^31 lets threads go on until vasim's own bound on mappings (6 GB
    before it had one); a small bound here shows the message without the wait."""
    monkeypatch.setattr(runner, "MAX_MAPPINGS", 3000)
    path = tmp_path / "s.toml"
    path.write_text('title = "x"\n[kernel]\nmax_map_count = 2147483648\n[[step]]\n'
                    'do = "pthread_create"\nstack_size = "16K"\ncount = "until-failure"\n')
    code, out, err = vasim(capsys, "run", str(path))
    assert code == 2 and out == ""
    assert re.match(rf"^{re.escape(str(path))}:5:1: step 1 \(pthread_create\): the process "
                    r"holds 3,00\d mappings, more than vasim builds \(3,000", err), err


def test_vasim_threads_stops_at_the_simulators_bound(capsys, monkeypatch):
    """--stack-size 16K --guard-size 0 on x86_64: the stacks merge into one mapping and the
    address space holds 8 G of them; it ran 4.5 minutes silently. Now it stops at the
    bound on threads (small here) with one line."""
    monkeypatch.setattr(cli, "MAX_THREADS", 4096)
    code, out, err = vasim(capsys, "threads", "--stack-size", "16K", "--guard-size", "0")
    assert code == 2 and out == ""
    assert err.startswith("vasim threads: stopped after 4,096 threads") and err.count("\n") == 1


def test_a_million_max_map_count_on_arm64_39_bit_finishes(capsys, tmp_path):
    """Legal knob values keep working: vm.max_map_count = 1,000,000 on a 39-bit arm64
    process, default threads until pthread_create fails.

    The arithmetic: TASK_SIZE = 2^39 (VA_BITS = 39). With ASLR off, mmap_base = TASK_SIZE -
    gap, gap = RLIMIT_STACK 8 MiB + stack_guard_gap 1 MiB raised to MIN_GAP = 128 MiB
    (mm/util.c mmap_base), so 0x7ff8000000. A thread takes one block of 8 MiB stack + 64 KiB
    guard = 0x810000 bytes (glibc rounds the guard up to aarch64's 64 KiB ARCH_MIN_GUARD_SIZE,
    measured under QEMU: docs/validation.md) and two VMAs (the PROT_NONE guard and the stack
    never merge).
    The free ranges at the start of main (PIE at 2/3 TASK_SIZE = 0x5555550000, ELF_ET_DYN_BASE
    arch/arm64/include/asm/elf.h; the libraries just below mmap_base; the stack's guard gap
    of 1 MiB below [stack] at 0x7ffffdf000):
      [0x10000, 0x5555550000)          floor(/0x810000) = 43,351
      [0x5555571000, 0x7ff7e00000)                        21,659
      [0x7ff8000000, 0x7fffedf000)  (bottom-up fallback)      15
    sum 65,025 blocks: an upper bound. glibc's own callocs (the DTV of each thread) grow the
    brk heap and fall back to 132 KiB mmaps, which take at most two blocks' worth. So about
    65,020 threads and 130,000 mappings, far below max_map_count: the address space, not the
    knob, ends it. pid_max is raised past them (the default 32,768 would stop it first:
    kernel/pid.c ``alloc_pid``)."""
    path = tmp_path / "s.toml"
    path.write_text('title = "x"\n[process]\narch = "aarch64-39"\n[kernel]\n'
                    'max_map_count = 1000000\npid_max = 4194304\n[[step]]\ndo = "pthread_create"\n'
                    'count = "until-failure"\n')
    code, out, err = vasim(capsys, "run", str(path), "--json")
    assert code == 0, err
    process = json.loads(out)["scenarios"][0]["processes"][0]
    threads, maps = process["threads"], process["map_count"]
    assert 65_025 - 2 <= threads <= 65_025
    # The mappings at main, two per thread, and the rest glibc's own: the brk heap its first
    # callocs (each thread's DTV) create, and once brk cannot grow,
    # malloc/calloc (each thread's DTV) get memory from sysmalloc's mmap, of the request plus
    # top_pad (132 KiB) or of MMAP_AS_MORECORE_SIZE (1 MiB) (malloc/malloc.c).
    extra = [line for line in process["maps"].splitlines()
             if " rw-p " in line and line.rstrip().endswith(" 0")
             and int(line.split()[0].split("-")[1], 16) - int(line.split("-")[0], 16)
             in (0x21000, 0x100000)]
    start = tmp_path / "start.toml"  # the same process at the start of main
    start.write_text('title = "x"\n[process]\narch = "aarch64-39"\n[[step]]\ndo = "brk"\n'
                     'addr = "brk"\n')
    code, out, err = vasim(capsys, "run", str(start), "--json")
    at_main = json.loads(out)["scenarios"][0]["processes"][0]["map_count"]
    heap = sum(line.endswith("[heap]") for line in process["maps"].splitlines())
    assert maps == at_main + heap + 2 * threads + len(extra)
    assert process["stopped_by"] == "mmap ENOMEM"


def test_threads_has_no_auto_arch(capsys):
    code, _out, err = vasim(capsys, "threads", "--arch", "auto")
    assert code == 2 and err.startswith("vasim threads: argument --arch: unknown arch 'auto'")


# -- exit statuses 3 and 130, --debug, --version, --help ---------------------------------------

def _explode(exc):
    def cmd(args):
        raise exc
    return cmd


@pytest.mark.parametrize("exc,words", [(ZeroDivisionError("boom"), "ZeroDivisionError: boom"),
                                       (MemoryError(), "ran out of memory"),
                                       (RecursionError("deep"), "recursed too deeply")])
def test_an_internal_error_is_exit_3_without_a_traceback(capsys, monkeypatch, exc, words):
    monkeypatch.setattr(cli, "cmd_layout", _explode(exc))
    monkeypatch.delenv("VASIM_DEBUG", raising=False)
    code, out, err = vasim(capsys, "layout")
    assert code == 3 and out == ""
    assert "Traceback" not in err and len(err.splitlines()) == 2
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert err.startswith(f"vasim: internal error in 'vasim layout' (vasim {version}): {words}")
    assert "report" in err and "--debug" in err


@pytest.mark.parametrize("how", ["flag", "flag-after", "env"])
def test_debug_shows_the_traceback(capsys, monkeypatch, how):
    monkeypatch.setattr(cli, "cmd_layout", _explode(ZeroDivisionError("boom")))
    argv = {"flag": ["--debug", "layout"], "flag-after": ["layout", "--debug"],
            "env": ["layout"]}[how]
    if how == "env":
        monkeypatch.setenv("VASIM_DEBUG", "1")
    code, _out, err = vasim(capsys, *argv)
    assert code == 3
    assert "Traceback" in err and "ZeroDivisionError: boom" in err


def test_ctrl_c_is_exit_130_and_one_line(capsys, monkeypatch):
    monkeypatch.setattr(cli, "cmd_layout", _explode(KeyboardInterrupt()))
    code, out, err = vasim(capsys, "layout")
    assert code == 130 and out == ""
    assert err.strip() == "vasim layout: interrupted"


def test_version_is_the_projects(capsys):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"vasim {version}"


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for code in ("0", "1", "2", "3", "130"):
        assert re.search(rf"^  {code} +\S", text, re.M), code


def test_an_argument_with_a_nul_byte_is_bad_input(capsys):
    code, _out, err = vasim(capsys, "run", "a\0b.toml")
    assert code == 2 and err.count("\n") == 1


# -- progress ---------------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_draws_on_a_terminal_only(monkeypatch):
    monkeypatch.delenv("VASIM_PROGRESS", raising=False)
    tty, pipe = _Terminal(), io.StringIO()
    for stream in (tty, pipe):
        with Progress("vasim threads", unit="thread", stream=stream, delay=0) as bar:
            bar.update(1000)
    assert "vasim threads: " in tty.getvalue() and "thread" in tty.getvalue()
    assert pipe.getvalue() == ""
    monkeypatch.setenv("VASIM_PROGRESS", "0")
    off = _Terminal()
    with Progress("x", stream=off, delay=0) as bar:
        bar.update(5)
    assert off.getvalue() == ""


def test_progress_waits_before_it_draws(monkeypatch):
    """A short run prints what it printed before: nothing until DELAY has passed."""
    monkeypatch.delenv("VASIM_PROGRESS", raising=False)
    tty = _Terminal()
    with Progress("x", stream=tty, delay=3600) as bar:
        bar.update(10)
    assert tty.getvalue() == ""


def test_json_output_stays_json_while_progress_is_drawn(capsys, monkeypatch):
    monkeypatch.setenv("VASIM_PROGRESS", "1")
    monkeypatch.setattr("simulator.progress.DELAY", 0)
    code, out, _err = vasim(capsys, "threads", "--arch", "i686", "--json")
    assert code == 0
    assert json.loads(out)["threads"] == 509  # tests/data/recordings/thr32-exhaust: 509


def test_a_real_ctrl_c_is_exit_130_and_one_line():
    """SIGINT to a running ``vasim threads``, sent once its progress line shows that it is
    inside the run (VASIM_PROGRESS=1 draws it into the pipe)."""
    import os
    import signal
    import subprocess
    import sys

    # Task limits raised, so that it runs long enough (pid_max would stop it in about 1 s).
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "threads", "--stack-size", "16K",
                             "--guard-size", "0", "--pid-max", "4194304", "--threads-max",
                             "4194304"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, VASIM_PROGRESS="1"),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = b""
    while b"thread/s" not in seen:  # the progress line: drawn only inside the run
        chunk = proc.stderr.read1(4096)
        assert chunk, seen
        seen += chunk
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    err = (seen + err).decode()
    assert proc.returncode == 130, err
    assert out == b"" and "Traceback" not in err
    assert err.endswith("vasim threads: interrupted\n")
