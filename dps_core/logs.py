"""Library logging: structlog loggers that always hand their events to stdlib `logging`.

The library never configures logging. Its loggers wrap stdlib loggers explicitly, so nothing reaches
stdout even when structlog itself is unconfigured (an unconfigured structlog prints to stdout and
would corrupt `--json` output). Applications decide where records go; `configure_cli_logging` is
what the `dps` command uses (rendered key=value lines on stderr).
"""

from __future__ import annotations

import logging
import sys

__all__ = ["get_logger", "configure_cli_logging"]

logging.getLogger("dps_core").addHandler(logging.NullHandler())


def get_logger(name: str):
    """A structlog BoundLogger writing through the stdlib logger `name`."""
    import structlog

    return structlog.wrap_logger(
        logging.getLogger(name),
        wrapper_class=structlog.stdlib.BoundLogger,
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        context_class=dict,
    )


class _OncePerCommand(logging.Filter):
    """Drops a warning identical to one already shown: each plugin registry built during one
    command (the parser's, a simulation's) would otherwise report the same broken plugin again."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        msg = record.msg
        key = f"{record.name}:" + (repr(sorted(msg.items(), key=str)) if isinstance(msg, dict) else str(msg))
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


class _LazyLogger:
    """A module's logger, made on first use: importing dps (and `dps --help`) loads no structlog."""

    def __init__(self, name: str):
        self._name = name
        self._logger = None

    def __getattr__(self, attr: str):
        if self._logger is None:
            self._logger = get_logger(self._name)
        return getattr(self._logger, attr)


class _LazyFormatter(logging.Formatter):
    """structlog's ProcessorFormatter, built when the first record is formatted."""

    def __init__(self, json: bool):
        super().__init__()
        self._json = json
        self._inner: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self._inner is None:
            import structlog

            renderer = (
                structlog.processors.JSONRenderer() if self._json else structlog.dev.ConsoleRenderer(colors=False)
            )
            self._inner = structlog.stdlib.ProcessorFormatter(
                processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
                foreign_pre_chain=[structlog.stdlib.add_log_level],
            )
        return self._inner.format(record)


def configure_cli_logging(verbosity: int = 0, *, json: bool = False, new_command: bool = False) -> None:
    """Send dps log records to stderr (the `dps` command's choice, not the library's). Repeated
    identical warnings are shown once until a call with `new_command=True`."""
    level = logging.WARNING - 10 * max(0, min(verbosity, 2))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LazyFormatter(json))
    root = logging.getLogger()  # the application's choice: plugins log under their own names
    once = _OncePerCommand()
    for h in list(root.handlers):
        if getattr(h, "_dps_cli", False):
            root.removeHandler(h)
            if not new_command:
                once.seen |= next((f.seen for f in h.filters if isinstance(f, _OncePerCommand)), set())
    handler.addFilter(once)
    handler._dps_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
