"""An example third-party dps plugin (see README.md): copy it to start your own."""

from .plugin import gini

__version__ = "0.1.0"
__all__ = ["__version__", "gini"]
