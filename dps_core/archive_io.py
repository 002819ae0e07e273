"""File-level transactions for archives: exclusive temporary files, publishing by rename, and
telling whether another process is still writing an archive.

An archive is built under a fresh temporary name beside its target (created with O_EXCL, so an
existing file or symbolic link is never followed or reused) and appears at its final path only
once it can be opened. Replacing an existing archive is refused while its writer is alive: by
process id on the same host, otherwise by the heartbeat the writer refreshes at each flush.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import tempfile
import time
from pathlib import Path

from .errors import ArchiveError

__all__ = [
    "HEARTBEAT_SECONDS",
    "STALE_SECONDS",
    "exclusive_temp",
    "live_writer",
    "pid_alive",
    "process_start",
    "publish",
    "remove_quietly",
]

#: the writer refreshes its heartbeat at least this often (at a flush; steps longer than this delay it)
HEARTBEAT_SECONDS = 30.0
#: a writer on another host whose heartbeat is older than this is taken to be dead
STALE_SECONDS = 300.0
_FINAL_STATUSES = ("finished", "converged", "failed", "interrupted")


def exclusive_temp(target: Path) -> tuple[Path, int]:
    """A new, empty temporary file in the target's directory: (path, open descriptor).

    `mkstemp` opens with O_CREAT | O_EXCL under a random name, so it never follows a symbolic link
    and never reuses a name; the caller keeps the descriptor to check it writes to this very file."""
    parent = target.parent if str(target.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise ArchiveError(
            f"cannot write archive {target}: cannot create a temporary file in {parent}: {exc}"
        ) from None
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; archives get the usual permissions
    return Path(name), fd


def same_file(fd_a: int, fd_b: int) -> bool:
    """Whether two descriptors refer to the same file (device and inode)."""
    a, b = os.fstat(fd_a), os.fstat(fd_b)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def publish(tmp: Path, target: Path, *, replace: bool) -> None:
    """Give the finished temporary file its final name. Without `replace` an existing target is
    never replaced (a hard link fails if the name exists); with it, the rename is atomic."""
    if replace:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise ArchiveError(
            f"archive {target} appeared while this run was starting; it is never replaced silently "
            "(choose another path or allow overwriting: dps run --overwrite)"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # file systems without hard links: check, then rename (a narrow race, documented)
        if os.path.lexists(target):
            raise ArchiveError(f"archive {target} appeared while this run was starting; it is never replaced") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def remove_quietly(path: Path | None) -> None:
    """Remove a temporary file if it is still there (a failed or interrupted start)."""
    if path is not None:
        with contextlib.suppress(FileNotFoundError, OSError):
            os.unlink(path)


def process_start(pid: int) -> int:
    """Start time of a process in clock ticks since boot (Linux /proc), or -1 where unknown; with
    the pid it tells a writer apart from a later process that reused its id."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return -1


def pid_alive(pid: int, start: int = -1) -> bool:
    """Whether process `pid` (started at `start`, when known) runs on this host (not this process)."""
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start >= 0:
        now = process_start(pid)
        if now >= 0 and now != start:
            return False  # the id was reused by another process
    return True


def live_writer(path: Path) -> str | None:
    """Who is still writing the archive at `path` ("process 123 on this host", ...), or None.

    Same host: the writer's process id (and start time) decide. Another host: the heartbeat the
    writer refreshes at each flush decides (younger than STALE_SECONDS means alive). A file held
    by HDF5's file lock counts as live too."""
    import h5py

    if not path.exists():
        return None
    try:
        if not h5py.is_hdf5(path):
            return None
    except OSError:
        return None
    f = None
    for kwargs in ({}, {"swmr": True}):
        try:
            f = h5py.File(path, "r", **kwargs)
            break
        except OSError as exc:
            if "unable to lock file" in str(exc):
                return "a process holding the HDF5 lock on the file"
    if f is None:
        return None
    try:
        with f:
            if "run/status" not in f or "run/pid" not in f:
                return None
            status = f["run/status"][()].decode(errors="replace").strip()
            if status in _FINAL_STATUSES:
                return None
            pid = int(f["run/pid"][()])
            host = str(f["run"].attrs.get("host", ""))
            start = int(f["run/pid_start"][()]) if "run/pid_start" in f else -1
            beat = float(f["run/heartbeat"][()]) if "run/heartbeat" in f else None
    except (OSError, KeyError, ValueError):
        return None
    if host == socket.gethostname():
        return f"process {pid} on this host" if pid_alive(pid, start) else None
    if beat is not None and time.time() - beat < STALE_SECONDS:
        return f"process {pid} on host {host} (heartbeat {time.time() - beat:.0f} s ago)"
    return None
