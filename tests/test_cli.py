"""The `dps` command: run, validate, resume, plugins, scenarios, inspect; and every kind of bad
input ends in one short line on stderr and a non-zero exit code, never a traceback."""

import json
import subprocess
import sys

import pytest

from dps_core import open_archive
from dps_core.cli import main

CONFIG = """
[run]
steps = 30
record_every = 10
[scenario]
agents = 8
tasks = 10
peaks = 2
[mode]
eta = 0.2
"""


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "small.toml"
    p.write_text(CONFIG)
    return p


def test_run_prints_summary_and_writes_archive(cfg, capsys):
    assert main(["run", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "30 steps (finished)" in out and "efficacy" in out and "archive: small.h5" in out
    with open_archive(cfg.parent / "small.h5") as ar:
        assert ar.status == "finished" and ar.last_step == 30
    # the default name never overwrites: a second run counts up
    assert main(["run", str(cfg), "--no-progress"]) == 0
    assert "archive: small-1.h5" in capsys.readouterr().out


def test_run_json_overrides_and_explicit_output(cfg, capsys):
    code = main(
        [
            "run",
            str(cfg),
            "--json",
            "-o",
            "out.h5",
            "--steps",
            "12",
            "--seed",
            "4",
            "--set",
            "mode.eta=0.1",
            "--set",
            "run.record_every=4",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["step"] == 12 and data["archive"] == "out.h5" and 0 < data["metrics"]["efficacy"] <= 1
    with open_archive(cfg.parent / "out.h5") as ar:
        c = ar.config_dict
        assert c["run"]["seed"] == 4 and c["mode"]["eta"] == 0.1 and list(ar.timeseries()["step"]) == [0, 4, 8, 12]
    assert main(["run", str(cfg), "-o", "out.h5"]) == 4
    assert "already exists" in capsys.readouterr().err
    assert main(["run", str(cfg), "-o", "out.h5", "--overwrite", "--no-progress"]) == 0


def test_validate(cfg, capsys):
    assert main(["validate", str(cfg)]) == 0
    assert "valid" in capsys.readouterr().out


def one_error_line(capsys, code, expected_code, *fragments):
    err = capsys.readouterr().err
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dps: error:"), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.mark.parametrize(
    "args,code,fragments",
    [
        (["--set", "run.stpes=3"], 2, ["unknown config key 'run.stpes'", "did you mean 'steps'"]),
        (["--set", "run.dt=-1"], 2, ["'run.dt' must be > 0"]),
        (["--set", "run.steps=abc"], 2, ["'run.steps' must be an integer, got 'abc'"]),
        (["--set", "scenario.name=nope"], 2, ["unknown scenario 'nope'", "Available:", "generic"]),
        (["--set", "topology.name=torus"], 2, ["unknown topology 'torus'", "Available:"]),
        (["--set", "steps"], 2, ["section.key=value"]),
        (["--set", "scenario.agents=2000000000"], 6, ["needs about", "GiB", "available"]),
        (["-o", "/proc/no/such/place.h5"], 4, ["cannot write archive", "does not exist"]),
        (
            ["--set", "mode.eta_w=1e308", "--set", 'signal.name="residual"', "--set", "scenario.floor=0.5"],
            5,
            ["became NaN or inf"],
        ),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(cfg, capsys, args, code, fragments):
    one_error_line(capsys, main(["run", str(cfg), "--no-progress", *args]), code, *fragments)


def test_bad_files_and_archives(tmp_path, capsys):
    one_error_line(capsys, main(["run", str(tmp_path / "missing.toml")]), 2, "config file not found")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nsteps = \n")
    one_error_line(capsys, main(["validate", str(bad)]), 2, "bad.toml: not valid TOML")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[run]\nstep = 3\n")
    one_error_line(capsys, main(["validate", str(unknown)]), 2, "unknown.toml: unknown config key 'run.step'")
    txt = tmp_path / "notes.h5"
    txt.write_text("not hdf5")
    one_error_line(capsys, main(["inspect", str(txt)]), 4, "not an HDF5 file")
    one_error_line(capsys, main(["resume", str(tmp_path / "gone.h5")]), 4, "does not exist")


def test_bad_arguments_are_usage_errors(cfg, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", str(cfg), "--steps", "-3"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "must be a non-negative integer" in err and "Traceback" not in err


def test_nan_leaves_a_readable_archive(cfg, capsys):
    code = main(
        [
            "run",
            str(cfg),
            "-o",
            "nan.h5",
            "--set",
            "mode.eta_w=1e308",
            "--set",
            "signal.name=residual",
            "--set",
            "scenario.floor=0.5",
            "--no-progress",
        ]
    )
    assert code == 5
    with open_archive(cfg.parent / "nan.h5") as ar:
        assert ar.status == "failed" and "NaN" in ar.message


def test_plugins_scenarios_inspect(cfg, capsys):
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    core = next(p for p in data["plugins"] if p["name"] == "core")
    assert data["backend"] in ("compiled", "reference")
    if data["backend"] == "compiled":
        from dps_core import compiled

        assert data["instruction_set"] == compiled.isa() and data["instruction_sets"] == compiled.isas()
    else:
        assert data["instruction_set"] == "" and data["instruction_sets"] == []
    assert "generic" in core["provides"]["scenario"] and "lca" in core["provides"]["mode"]
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "kernel backend:" in out
    assert data["backend"] == "reference" or f"instruction set {data['instruction_set']}" in out
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert "generic" in out and "peaks = 3" in out
    assert main(["run", str(cfg), "-o", "a.h5", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["inspect", "a.h5", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["status"] == "finished" and info["last_step"] == 30 and info["checkpoint_step"] == 30
    assert info["datasets"]["timeseries/efficacy"] == [4]
    assert main(["inspect", "a.h5"]) == 0
    assert "final metrics" in capsys.readouterr().out


def test_stdout_is_clean_json_in_a_subprocess(cfg):
    """The library logs nothing to stdout (structlog wraps stdlib logging); the CLI logs to stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "dps_core.cli", "-vv", "run", str(cfg), "--json", "-o", "j.h5"],
        capture_output=True,
        text=True,
        cwd=cfg.parent,
    )
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)  # nothing but the JSON document
    assert "recorded" in proc.stderr  # debug logs went to stderr


def test_library_is_silent_when_unconfigured(capsys):
    from dps_core import Simulation

    Simulation.from_config({"run": {"steps": 5, "tolerance": 10.0}}).run()
    out = capsys.readouterr()
    assert out.out == ""


HEAVY = ("networkx", "scipy.optimize", "matplotlib", "xarray", "pandas", "dask", "distributed", "pyarrow")


def _imported_after(code: str) -> list[str]:
    import subprocess
    import sys

    probe = (
        code
        + "\nimport sys\nprint(sorted({m.split('.')[0] if m.split('.')[0] != 'scipy' else m for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(eval(out.stdout.strip().splitlines()[-1]))
    return sorted(h for h in HEAVY if h in loaded)


@pytest.mark.nokernel
def test_help_and_import_load_no_heavy_library():
    """`dps --help` still finds every plugin (their commands are listed) without importing the
    libraries they use only when they run; `import dps_core` loads no scipy or h5py at all."""
    assert (
        _imported_after("from dps_core.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass") == []
    )
    assert _imported_after("import dps_core") == []
    # nor the engine's own libraries: an HDF5 file, a graph operator or a log line needs them, --help does not
    probe = "from dps_core.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    probe += (
        "import sys\nassert not {'h5py', 'scipy', 'structlog'} & {m.split('.')[0] for m in sys.modules}, sys.modules"
    )
    assert _imported_after(probe) == []
    assert (
        _imported_after("import dps_core\nimport sys\nassert 'h5py' not in sys.modules and 'scipy' not in sys.modules")
        == []
    )
