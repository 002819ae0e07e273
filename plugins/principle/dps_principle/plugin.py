"""The principle plugin's hooks: the `dps principle` command."""

from __future__ import annotations

from dps_core import hookimpl

from .command import PRINCIPLE


@hookimpl
def dps_register_commands(register):
    register(PRINCIPLE)
