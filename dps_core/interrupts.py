"""SIGINT and SIGTERM during a run: the handlers only note the signal; the run loop stops at the
next point where the archive is consistent, marks it `interrupted` and raises `RunInterrupted`.

Raising from a signal handler can land anywhere (inside h5py, a weakref callback, a finaliser),
which loses records, prints "Exception ignored" or is swallowed; noting a flag cannot.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["RunInterrupted", "deferred_signals", "pending", "clear"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state: dict[str, int | None] = {"signum": None}


class RunInterrupted(KeyboardInterrupt):
    """A run stopped on SIGINT or SIGTERM after writing its archive (status `interrupted`).

    A KeyboardInterrupt, so code that stops on Ctrl-C keeps doing so; `exit_code` is 128 + signal."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


def _note(signum, frame) -> None:
    if _state["signum"] is None:
        _state["signum"] = signum


def pending() -> int | None:
    """The first signal received since handlers were installed, or None."""
    return _state["signum"]


def clear() -> None:
    _state["signum"] = None


@contextlib.contextmanager
def deferred_signals(*, restore: bool = True) -> Iterator[None]:
    """Within the block SIGINT and SIGTERM only set a flag (see `pending`); with `restore=False`
    they keep doing so after it (a command line process, until it exits). Nested use and use
    outside the main thread (where Python cannot set handlers) change nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    if all(h is _note for h in previous.values()):
        yield
        return
    for s in _SIGNALS:
        signal.signal(s, _note)
    try:
        yield
    finally:
        for s, h in previous.items() if restore else ():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
