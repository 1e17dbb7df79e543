"""Scenario files: every shipped scenario holds, bad input is one line, results round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.errors import InputError
from simulator.scenario.report import json_report, text_report
from simulator.scenario.runner import run
from simulator.scenario.spec import load

SCENARIOS = Path(__file__).parent.parent / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.toml"))


def test_at_least_twelve_scenarios_are_shipped():
    assert len(SHIPPED) >= 12, [p.name for p in SHIPPED]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_scenario_holds(path):
    scenario = load(str(path))
    assert scenario.title and scenario.steps
    text = path.read_text()
    assert text.lstrip().startswith("#"), "a scenario opens with a comment header: its question"
    result = run(scenario)
    assert result.ok, text_report(result, quiet=True)
    for variant in result.variants:
        variant.mm._check()


def _write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BAD = [
    # malformed TOML: tomllib's own position
    ('title = "x"\n[process\narch = "i686"\n', 2, "malformed TOML"),
    # an unknown key, with the nearest valid one
    ('title = "x"\n[process]\narhc = "i686"\n', 3, "unknown key 'arhc' (did you mean 'arch'?)"),
    ('title = "x"\n[process]\nprofile = "i686"\n', 3,
     "unknown key 'profile' (did you mean 'arch'?)"),
    ('title = "x"\n[[step]]\ndo = "mmap"\nlenght = "4K"\n', 4, "did you mean 'length'?"),
    ('title = "x"\n[[step]]\ndo = "mmap"\nlength = "4K"\nexpect = { erno = "ENOMEM" }\n', 5,
     "did you mean 'errno'?"),
    # wrong types
    ('title = "x"\n[kernel]\nthp = "yes"\n', 3, "'thp' must be true or false"),
    ('title = "x"\n[[step]]\ndo = "mmap"\nlength = true\n', 4, "'length' must be"),
    # out of range or unknown values the simulator refuses
    ('title = "x"\n[process]\narch = "pdp11"\n', 3, "'arch' must be one of"),
    ('title = "x"\n[[step]]\ndo = "pthread_create"\ncount = 0\n', 4, "'count' must be from 1"),
    ('title = "x"\n[kernel]\nmax_map_count = 0\n', 3, "'max_map_count' must be from 1"),
    ('title = "x"\n[[step]]\ndo = "mmap"\nlength = "4K"\nflags = "PRIVATE|ANONYMOS"\n', 5,
     "unknown flag 'ANONYMOS' (did you mean 'MAP_ANONYMOUS'?)"),
    ('title = "x"\n[process]\nrlimit_stack = "8Q"\n', 3, "'8Q' is not a size"),
    ('title = "x"\n[[step]]\ndo = "mmap"\nlength = "4K"\nexpect = { errno = "ENOMEMORY" }\n', 5,
     "unknown errno"),
    ('title = "x"\n[[step]]\ndo = "mmapp"\n', 3, "'do' must be one of"),
    # references to undefined names
    ('title = "x"\n[[step]]\ndo = "mmap"\nname = "a"\nlength = "4K"\n[[step]]\ndo = "munmap"\n'
     'addr = "b + 4K"\nlength = "4K"\n', 8, "'b' is not defined by an earlier step"),
    ('title = "x"\n[[step]]\ndo = "pthread_join"\ntarget = "t1"\n', 4, "'t1' is not defined"),
    # unreadable or missing files
    ('title = "x"\n[process]\nstart = "maps"\nmaps = "missing.maps"\n', 4, "cannot read"),
    ('title = "x"\n[expect]\nmaps = "missing.maps"\n', 3, "cannot read"),
    # a missing required key
    ('title = "x"\n[[step]]\ndo = "munmap"\naddr = 0\n', 2, "munmap needs 'length'"),
    ('[process]\narch = "i686"\n', 1, "missing 'title'"),
    # issue 10 steps
    ('title = "x"\n[[step]]\ndo = "madvise"\naddr = 0\nlength = "4K"\nadvice = "DONTDUMPP"\n',
     6, "unknown flag 'DONTDUMPP' (did you mean 'MADV_DONTDUMP'?)"),
    ('title = "x"\n[[step]]\ndo = "madvise"\naddr = 0\nlength = "4K"\nadvice = "DONTDUMP|DODUMP"\n',
     6, "'advice' is one advice"),
    ('title = "x"\n[[step]]\ndo = "mlock"\naddr = 0\n', 2, "mlock needs 'length'"),
    ('title = "x"\n[[step]]\ndo = "mlockall"\nflags = "CURENT"\n', 4,
     "(did you mean 'MCL_CURRENT'?)"),
    ('title = "x"\n[[step]]\ndo = "pkey_mprotect"\naddr = 0\nlength = 1\nprot = "READ"\n'
     'pkey = 16\n', 7, "'pkey' must be from -1"),
    ('title = "x"\n[[step]]\ndo = "shmat"\nsize = "12Q"\n', 4, "'12Q' is not a size"),
    ('title = "x"\n[process]\ncap_ipc_lock = 1\n', 3, "'cap_ipc_lock' must be true or false"),
]


@pytest.mark.parametrize("text,line,message", BAD, ids=[m for _t, _l, m in BAD])
def test_bad_input_is_one_line_with_its_position(tmp_path, capsys, text, line, message):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load(path)
    assert err.value.line == line
    assert message in str(err.value)
    code = main(["run", path])
    out = capsys.readouterr()
    assert code == 2
    assert out.err.count("\n") == 1 and "Traceback" not in out.err
    assert out.err.startswith(f"{path}:{line}:")


def test_unreadable_scenario_file(capsys):
    assert main(["run", "/nonexistent/s.toml"]) == 2
    assert capsys.readouterr().err.startswith("/nonexistent/s.toml: cannot read")


def test_kernel_errors_are_results_not_input_errors(tmp_path):
    """An unaligned MAP_FIXED is EINVAL from the kernel (mm/mmap.c __get_unmapped_area), a
    simulated result that an expectation can check."""
    path = _write(tmp_path, 'title = "x"\n[process]\nstart = "empty"\n[[step]]\ndo = "mmap"\n'
                            'addr = "0x10000123"\nlength = "4K"\nflags = "PRIVATE|ANONYMOUS|FIXED"\n'
                            'expect = { errno = "EINVAL" }\n')
    assert run(load(path)).ok


def test_failed_expectation_exits_1(tmp_path, capsys):
    path = _write(tmp_path, 'title = "x"\n[process]\nstart = "empty"\n[[step]]\ndo = "mmap"\n'
                            'length = "4K"\nexpect = { errno = "ENOMEM" }\n')
    assert main(["run", path]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_json_has_the_same_content_as_the_text(tmp_path):
    path = str(SCENARIOS / "thread-stacks-32-vs-64.toml")
    result = run(load(path))
    data = json_report(result)
    assert data["ok"] is True
    assert [p["label"] for p in data["processes"]] == [v.variant.label for v in result.variants]
    for process, variant in zip(data["processes"], result.variants):
        assert len(process["steps"]) == len(variant.outcomes)
        assert process["maps"] == variant.maps
        assert process["threads"] == variant.threads
    # json round trip
    assert json.loads(json.dumps(data)) == data


def test_maps_text_round_trips(tmp_path):
    """Run a scenario, save its final /proc/PID/maps, start another from that file with no
    steps: its maps must be the same text."""
    first = run(load(str(SCENARIOS / "thread-stacks-32-vs-64.toml"))).variants[0]
    (tmp_path / "end.maps").write_text(first.maps)
    path = _write(tmp_path, f'title = "x"\n[process]\narch = "{first.variant.process["arch"]}"\n'
                            'start = "maps"\nmaps = "end.maps"\n[expect]\nmaps = "end.maps"\n')
    result = run(load(path))
    assert result.ok
    assert result.variants[0].maps == first.maps


def test_compare_side_by_side(capsys):
    code = main(["compare", str(SCENARIOS / "thread-stacks-32-vs-64.toml"),
                 "--arch", "i686,x86_64"])
    out = capsys.readouterr().out
    assert code == 0
    header = out.splitlines()[1].split()
    assert header == ["i686", "x86_64"]
