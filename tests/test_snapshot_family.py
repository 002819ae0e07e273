"""Switching profile.family on an example needs no edit of archive.snapshots."""

from pathlib import Path

from dps_core import Simulation, open_archive

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_free_family_on_the_generic_example_drops_mu_from_snapshots(tmp_path):
    # examples/generic.toml stores 'mu', a von Mises parameter; with free profiles it is skipped
    sim = Simulation.from_config(EXAMPLES / "generic.toml", overrides={"profile.family": "free", "run.steps": 4})
    assert sim.config.archive.snapshots == ("S", "w")
    sim.run(tmp_path / "free.h5")
    with open_archive(tmp_path / "free.h5") as ar:
        assert ar.snapshots("S").shape[1:] == (48, 64)
        assert tuple(ar.config().archive.snapshots) == ("S", "w")


def test_own_family_parameters_are_kept():
    sim = Simulation.from_config(EXAMPLES / "generic.toml", overrides={"run.steps": 4})
    assert sim.config.archive.snapshots == ("S", "w", "mu")
