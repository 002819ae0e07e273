"""The version of dps-core (single source, read by packaging)."""

__version__ = "0.1.0"
