"""Fuzz the trace and maps readers through the CLI's own entry point.

Generated strace logs (tests/strategies.py ``strace_logs``: several pids, ``<unfinished ...>`` /
``<... resumed>`` halves interleaved across them, odd flags, numbers past 64 bits and past
int()'s 4,300 digits, NULs, unicode paths, truncated and CRLF copies) and maps, smaps and gdb
listings (``maps_texts``) are written to a file and run as ``vasim replay FILE`` would run
them: :func:`simulator.cli.main`. Each run must end in exit status 0 or 1 with the usual report
and nothing on stderr, or in status 2 with exactly one line ``FILE:LINE[:COL]: message`` --
never a traceback.

A bounded number of examples runs by default (CI); ``VASIM_FUZZ=long`` runs the long profile
and ``VASIM_FUZZ=N`` N examples per test (see docs/validation.md).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.cli import main
from strategies import maps_texts, recording_meta_patches, strace_logs

_PROFILE = os.environ.get("VASIM_FUZZ", "")
#: examples per test: 60 in CI, 25,000 with VASIM_FUZZ=long, N with VASIM_FUZZ=N
EXAMPLES = 25_000 if _PROFILE == "long" else int(_PROFILE) if _PROFILE.isdigit() else 60
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])

GOOD_TRACE = "12  brk(NULL) = 0x555555559000\n"
GOOD_MAPS = "00400000-00401000 r-xp 00000000 08:01 1234                               /bin/x\n"


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def check_outcome(status: int, out: str, err: str, path: str, text: str, json_out: bool):
    assert status in (0, 1, 2), (status, err)
    if status == 2:
        # one line, naming the file and (where the input has lines) the line
        assert err.count("\n") == 1 and err.endswith("\n"), err
        m = re.match(rf"{re.escape(path)}(?::(\d+)(?::\d+)?)?: \S", err)
        assert m is not None, err
        if m.group(1) is not None:
            assert 1 <= int(m.group(1)) <= text.count("\n") + 1, err
        else:
            # the two whole-file problems: a maps file without mappings, a log without one
            # strace line
            assert (err == f"{path}: no mappings\n"
                    or err.startswith(f"{path}: no strace -f line in it (")), err
        assert out == ""
    else:
        assert err == ""
        if json_out:
            report = json.loads(out)
            assert report["total"] == len(report["calls"])
            assert (status == 0) == (report["matched"] == report["total"])
        else:
            assert out.startswith("replayed ")


def write(directory: str, name: str, text: str) -> str:
    path = Path(directory) / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return str(path)


@FUZZ
@given(text=strace_logs(), arch=st.sampled_from([[], ["--arch", "i686"]]), json_out=st.booleans())
def test_replay_of_generated_strace_logs(text, arch, json_out):
    with tempfile.TemporaryDirectory() as tmp:
        path = write(tmp, "trace.txt", text)
        status, out, err = run_cli(["replay", path, *arch, *(["--json"] if json_out else [])])
    check_outcome(status, out, err, path, text, json_out)


@FUZZ
@given(text=maps_texts(), json_out=st.booleans())
def test_replay_from_generated_maps(text, json_out):
    with tempfile.TemporaryDirectory() as tmp:
        trace = write(tmp, "trace.txt", GOOD_TRACE)
        path = write(tmp, "start.maps", text)
        status, out, err = run_cli(["replay", trace, "--initial-maps", path,
                                    *(["--json"] if json_out else [])])
    if status == 2 and not err.startswith(path):
        # The maps were accepted; the trace (one brk) cannot be wrong, but the model may
        # refuse a layout that does not fit the profile: that too is the maps file's line.
        raise AssertionError(err)
    check_outcome(status, out, err, path, text, json_out)


@FUZZ
@given(text=strace_logs())
def test_streaming_and_whole_text_agree(text):
    """read_strace (streams the file) and parse_strace (a string) see the same log."""
    from simulator.errors import InputError
    from simulator.trace.strace import parse_strace, read_strace

    def outcome(thunk):
        try:
            trace = thunk()
            return ("ok", trace.events, trace.skipped)
        except InputError as err:
            return ("error", err.line, err.message)

    with tempfile.TemporaryDirectory() as tmp:
        path = write(tmp, "trace.txt", text)
        streamed = outcome(lambda: read_strace(path))
    whole = outcome(lambda: parse_strace(text, path))
    if "\r" not in text:  # a file's CRs are line ends only where followed by LF
        assert streamed == whole


#: A small recording (one process) whose meta.json the next test edits.
RECORDING = Path(__file__).parent / "data" / "corpus" / "cat"


@FUZZ
@given(patch=recording_meta_patches(), json_out=st.booleans())
def test_replay_of_a_recording_with_generated_meta(patch, json_out):
    """A recording whose meta.json holds odd creds, rlimits, auxv, start_brk, personality or
    RLIMIT_STACK: replayed, or refused in one line naming meta.json, never a traceback."""
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "rec"
        shutil.copytree(RECORDING, rec)
        meta = json.loads((rec / "meta.json").read_text())
        meta.update(patch)
        (rec / "meta.json").write_text(json.dumps(meta))
        status, out, err = run_cli(["replay", str(rec), *(["--json"] if json_out else [])])
    assert status in (0, 1, 2), (status, err)
    if status == 2:
        assert err.count("\n") == 1 and err.startswith(f"{rec / 'meta.json'}: "), err
    else:
        assert err == ""
