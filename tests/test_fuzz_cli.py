"""Fuzzing the CLI: generated scenario files and command lines through ``simulator.cli.main``.

Whatever the input, vasim answers with an exit status that means one thing: 0 (held), 1 (an
expectation failed), 2 (bad input, one line on stderr saying where and what). Never 3 (an
internal error), never a traceback. The strategies are in tests/strategies.py.

The number of examples is bounded for CI; ``VASIM_FUZZ=long`` selects a profile for a long
local run (tests/README.md), ``VASIM_FUZZ=N`` runs N examples per test.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from simulator import cli
from simulator.scenario import runner, spec
from strategies import cli_argvs, runnable_scenario_documents, scenario_texts, toml_document

ROOT = Path(__file__).resolve().parent.parent

_FUZZ = os.environ.get("VASIM_FUZZ", "")
settings.register_profile("fuzz-ci", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz-long", max_examples=1_000_000, deadline=None,
                          suppress_health_check=list(HealthCheck))
FUZZ = settings.get_profile("fuzz-long" if _FUZZ == "long" else "fuzz-ci")
if _FUZZ.isdigit():
    FUZZ = settings(FUZZ, max_examples=int(_FUZZ))

#: The one line of bad input: FILE:LINE[:COL]: message, or (an argument, a whole file)
#: WHERE: message.
ONE_LINE = re.compile(r"^[^\n]+?(:\d+(:\d+)?)?: \S[^\n]*\n$")
#: Small bounds for the fuzz run, so that a generated "until-failure" on a 64-bit process
#: reaches the simulator's limit (and its message) in a fraction of a second.
SMALL_LIMITS = {"MAX_THREADS": 600, "MAX_MAPPINGS": 1500, "MAX_STEP_RUNS": 400}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory with the files generated scenarios name: a valid maps file (the modelled
    i686 program's), a garbled one; and small simulator bounds while the module runs."""
    from simulator.kernel.arch import get_profile
    from simulator.kernel.config import ProcessConfig
    from simulator.programs import typical_process

    path = tmp_path_factory.mktemp("fuzz")
    (path / "good.maps").write_text(typical_process(get_profile("i686"), ProcessConfig()).mm.maps_text())
    (path / "bad.maps").write_text("00400000-00300000 r-xp zz\n\x00\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(path)
        for module in (cli, runner, spec):
            for name, value in SMALL_LIMITS.items():
                if hasattr(module, name):
                    mp.setattr(module, name, value)
        yield path


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:  # argparse's --help and --version
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def assert_answer(code: int, out: str, err: str, argv) -> None:
    """The contract of every vasim command (BRIEF: exit codes)."""
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err and "Traceback" not in out, (argv, err)
    if code == 2:
        assert ONE_LINE.match(err), (argv, err)


@FUZZ
@given(text=scenario_texts())
def test_any_scenario_file_gets_an_answer(workdir, text):
    path = workdir / "s.toml"
    path.write_text(text, encoding="utf-8")
    argv = ["run", str(path)]
    code, out, err = run_main(argv)
    assert_answer(code, out, err, text)
    if code == 2 and err.startswith(f"{path}:"):
        # A problem inside the scenario file names its line.
        assert re.match(rf"^{re.escape(str(path))}:\d+(:\d+)?: ", err), (text, err)


@FUZZ
@given(argv=cli_argvs(scenario_paths=("s.toml", "missing.toml", str(ROOT / "scenarios" /
                                                                     "map-32bit.toml")),
                      files=("good.maps", "bad.maps", "missing")))
def test_any_command_line_gets_an_answer(workdir, argv):
    (workdir / "s.toml").write_text('title = "t"\n[process]\nstart = "empty"\n')
    code, out, err = run_main(argv)
    if argv in (["-h"], ["--version"]):
        assert code == 0 and out.strip()
        return
    assert_answer(code, out, err, argv)
    if "--json" in argv and code in (0, 1):
        import json
        json.loads(out)  # stdout is exactly the JSON document


@pytest.mark.parametrize("argv,code", [
    (["layout", "--arch", "i686", "--json"], 0),
    (["threads", "--arch", "auto"], 2),
    (["run", "/nonexistent.toml"], 2),
    (["--version"], 0),
])
def test_the_installed_entry_point_behaves_the_same(argv, code):
    """A few through a real process (``python -m simulator``), as a user runs them."""
    proc = subprocess.run([sys.executable, "-m", "simulator", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, VASIM_PROGRESS="0"))
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    if code == 2:
        assert ONE_LINE.match(proc.stderr), proc.stderr


@FUZZ
@given(doc=runnable_scenario_documents())
def test_any_runnable_scenario_gets_an_answer(workdir, doc):
    """Scenarios that mostly load, so that the run-time checks (names not yet defined,
    values out of range for the profile, dead pointers, the bounds) are reached."""
    text = toml_document(doc)
    path = workdir / "r.toml"
    path.write_text(text, encoding="utf-8")
    code, out, err = run_main(["run", str(path), "--json"])
    assert_answer(code, out, err, text)
    if code == 2:  # at a line of the scenario, or of the maps file it starts from
        where = "|".join(re.escape(str(p)) for p in (path, workdir / "good.maps"))
        assert re.match(rf"^({where}):\d+(:\d+)?: ", err), (text, err)
    else:
        import json
        assert json.loads(out)["ok"] is (code == 0)
