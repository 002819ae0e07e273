"""Configs: defaults, TOML and dict input, JSON round trip, overrides, scenario defaults, and a
clear error naming the key and the allowed values for every kind of bad input."""

import json

import pytest

from dps_core import Config, ConfigError, Simulation, load_config
from dps_core.config import apply_overrides, merge_defaults, parse_override

pytestmark = pytest.mark.nokernel  # never steps a system: one tox environment is enough


def test_defaults_round_trip_through_json():
    cfg = Config()
    again = Config.from_json(cfg.to_json())
    assert again == cfg
    assert json.loads(cfg.to_json())["run"]["steps"] == 1000


def test_full_config_round_trip(tmp_path):
    text = """
[run]
steps = 7
dt = 0.5
[scenario]
name = "generic"
agents = 5
width = [0.2, 0.4, 0.3]
[signal]
name = "ces"
rho = -inf
[metrics]
names = ["productivity"]
"""
    p = tmp_path / "c.toml"
    p.write_text(text)
    cfg = load_config(p)
    assert cfg.run.steps == 7 and cfg.run.dt == 0.5
    assert cfg.signal.params["rho"] == float("-inf")
    assert Config.from_json(cfg.to_json()) == cfg
    assert cfg.replace(**{"run.steps": 9}).run.steps == 9


@pytest.mark.parametrize(
    "data,fragment",
    [
        ({"run": {"stpes": 3}}, "unknown config key 'run.stpes'; did you mean 'steps'?"),
        ({"runn": {}}, "unknown config section '[runn]'; did you mean 'run'?"),
        ({"run": {"steps": "many"}}, "config key 'run.steps' must be an integer, got 'many'"),
        ({"run": {"steps": -1}}, "config key 'run.steps' must be >= 0"),
        ({"run": {"dt": 0}}, "config key 'run.dt' must be > 0"),
        ({"run": {"steps": 1.5}}, "'run.steps' must be an integer"),
        ({"profile": {"family": "gaussian"}}, "must be one of 'free', 'vonmises', 'signed'"),
        ({"mixing": {"name": "conservative", "gamma": 1.5}}, "needs gamma in [0, 1]"),
        ({"profile": {"family": "signed", "alpha": 2.0}}, "alpha must be 1"),
        ({"run": 3}, "config section '[run]' must be a table"),
        ({"metrics": {"names": "productivity"}}, "'metrics.names' must be a list"),
        ({"archive": {"swmr": "yes"}}, "'archive.swmr' must be true or false"),
    ],
)
def test_bad_values_name_the_key(data, fragment):
    with pytest.raises(ConfigError) as exc:
        Config.from_dict(data)
    assert fragment in str(exc.value)


@pytest.mark.parametrize(
    "data,fragment",
    [
        (
            {"scenario": {"name": "generik"}},
            "unknown scenario 'generik' (config key 'scenario.name'). Did you mean 'generic'?",
        ),
        ({"mode": {"name": "gradiant"}}, "unknown mode 'gradiant'"),
        ({"mode": {"name": "nope"}}, "Available: gradient, imitation, lca, replicator, selfish, tatonnement"),
        (
            {"signal": {"name": "coverage", "smoothin": 1}},
            "unknown config key 'signal.smoothin'; did you mean 'smoothing'?",
        ),
        ({"scenario": {"peaks": 2, "width": [0.1, 0.2, 0.3]}}, "width must be one positive value or 2 positive values"),
        ({"scenario": {"agents": 0}}, "config key 'scenario.agents' must be > 0"),
        ({"topology": {"name": "ring", "k": -2}}, "config key 'topology.k' must be >= 0"),
        ({"metrics": {"names": ["productivity", "hapiness"]}}, "unknown metric 'hapiness'"),
        ({"mode": {"name": "tatonnement"}}, "mode 'tatonnement' works with profile families ['free']"),
        ({"archive": {"snapshots": ["S", "velocity"]}}, "archive.snapshots: unknown array 'velocity'"),
        ({"mixing": {"name": "mean_field"}, "topology": {"name": "ring"}}, "mixing 'mean_field' is the complete graph"),
        ({"mode": {"name": "lca"}, "budget": {"kind": "total"}}, "budget.kind must be 'none'"),
        ({"disperse": {"rate": 2.0}}, "disperse.rate * run.dt must be <= 1"),
        ({"budget": {"kind": "price"}}, "needs agent costs"),
    ],
)
def test_bad_components_list_what_is_allowed(data, fragment, monkeypatch):
    monkeypatch.setenv("DPS_DISABLE_PLUGINS", "all")  # the core's own names only, whatever is installed
    with pytest.raises(ConfigError) as exc:
        Simulation.from_config(data)
    assert fragment in str(exc.value)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml: config file not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nsteps = 3\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[run]\nsteps = 'x'\n")
    with pytest.raises(ConfigError, match=r"typo.toml: config key 'run.steps' must be an integer"):
        load_config(typo)


def test_overrides():
    assert parse_override("run.steps=10") == ("run.steps", 10)
    assert parse_override("profile.family=free") == ("profile.family", "free")
    assert parse_override("scenario.width=[0.1, 0.2]") == ("scenario.width", [0.1, 0.2])
    assert parse_override("metrics.robustness.fraction=0.5") == ("metrics.robustness.fraction", 0.5)
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("steps")
    with pytest.raises(ConfigError, match="must be section.key"):
        parse_override("steps=3")
    assert apply_overrides({"run": {"steps": 1}}, {"run.seed": 4}) == {"run": {"steps": 1, "seed": 4}}


def test_scenario_defaults_sit_under_the_user_config():
    defaults = {"mode": {"name": "lca", "threshold": 0.2}, "profile": {"family": "signed"}}
    user = {"mode": {"tau": 5.0}, "profile": {"family": "free"}}
    merged = merge_defaults(defaults, user)
    assert merged["mode"] == {"name": "lca", "threshold": 0.2, "tau": 5.0}
    assert merged["profile"] == {"family": "free"}
    # choosing another mode drops the scenario's parameters for the old one
    assert merge_defaults(defaults, {"mode": {"name": "gradient"}})["mode"] == {"name": "gradient"}
