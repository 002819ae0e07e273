"""Errors dps raises for bad input and failed runs.

Every error says what was wrong, where (file, config key, plugin, hook, step) and what is allowed,
so that the CLI can print it in one short line without a traceback.
"""

from __future__ import annotations

__all__ = [
    "DPSError",
    "ConfigError",
    "PluginError",
    "ArchiveError",
    "NumericalError",
    "ResourceError",
]


class DPSError(Exception):
    """Base class of every error dps raises on purpose; `exit_code` is what the CLI returns."""

    exit_code = 1


class ConfigError(DPSError, ValueError):
    """A config file, config key, CLI argument or parameter value is invalid."""

    exit_code = 2


class PluginError(DPSError):
    """A plugin failed to load, registered something invalid, or raised inside a hook."""

    exit_code = 3


class ArchiveError(DPSError):
    """An archive cannot be written, read or resumed."""

    exit_code = 4


class NumericalError(DPSError):
    """A run produced NaN or inf; the message names the step and the array."""

    exit_code = 5


class ResourceError(DPSError):
    """A run would need more memory than the machine has available."""

    exit_code = 6
