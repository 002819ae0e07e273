"""Errors dps raises for bad input and failed runs.

Every error says what was wrong, where (file, config key, plugin, hook, step) and what is allowed,
so that the CLI can print it in one short line without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = [
    "DPSError",
    "ConfigError",
    "PluginError",
    "ArchiveError",
    "ArchiveWriteError",
    "NumericalError",
    "ResourceError",
    "call_plugin",
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


class ArchiveWriteError(ArchiveError):
    """Writing an archive failed (disk full, file too large, I/O error); the run stopped and the
    archive keeps what was durably written before (status `failed`)."""

    exit_code = 7


class NumericalError(DPSError):
    """A run produced NaN or inf; the message names the step and the array."""

    exit_code = 5


class ResourceError(DPSError):
    """A run would need more memory than the machine has available."""

    exit_code = 6


def call_plugin(plugin: str, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call plugin code; an exception that is not a DPSError becomes a PluginError naming the plugin
    and what it was doing, chained to the original so that `--debug` shows the plugin's own frames."""
    try:
        return fn(*args, **kwargs)
    except DPSError:
        raise
    except Exception as exc:
        raise PluginError(f"plugin '{plugin}' failed in {what}: {type(exc).__name__}: {exc}") from exc
