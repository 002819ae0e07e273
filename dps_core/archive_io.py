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
import io
import os
import socket
import tempfile
import time
from pathlib import Path

from .errors import ArchiveError

__all__ = [
    "open_unclean",
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
    try:  # a killed process its parent has not reaped yet writes nothing
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
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
    from .archive_check import READ_ERRORS, open_h5  # bounded metadata retries: a damaged file never hangs here

    f = None
    for swmr in (False, True):
        try:
            f = open_h5(path, swmr=swmr)
            break
        except OSError as exc:
            if "unable to lock file" in str(exc):
                return "a process holding the HDF5 lock on the file"
    if f is None:
        f = open_unclean(path)  # a killed (or, without file locks, live) writer outside SWMR mode
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
    except READ_ERRORS:  # damaged metadata: no writer can be named; the caller's own read reports the damage
        return None
    if host == socket.gethostname():
        return f"process {pid} on this host" if pid_alive(pid, start) else None
    if beat is not None and time.time() - beat < STALE_SECONDS:
        return f"process {pid} on host {host} (heartbeat {time.time() - beat:.0f} s ago)"
    return None


# --- reading a file whose non-SWMR writer was killed ----------------------------------------------

_M32 = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 `hashlittle`, the checksum of HDF5 metadata (superblock v2/v3)."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & _M32
    i = 0
    while n > 12:
        a = (a + int.from_bytes(data[i : i + 4], "little")) & _M32
        b = (b + int.from_bytes(data[i + 4 : i + 8], "little")) & _M32
        c = (c + int.from_bytes(data[i + 8 : i + 12], "little")) & _M32
        a = (a - c) & _M32
        a ^= _rot(c, 4)
        c = (c + b) & _M32
        b = (b - a) & _M32
        b ^= _rot(a, 6)
        a = (a + c) & _M32
        c = (c - b) & _M32
        c ^= _rot(b, 8)
        b = (b + a) & _M32
        a = (a - c) & _M32
        a ^= _rot(c, 16)
        c = (c + b) & _M32
        b = (b - a) & _M32
        b ^= _rot(a, 19)
        a = (a + c) & _M32
        c = (c - b) & _M32
        c ^= _rot(b, 4)
        b = (b + a) & _M32
        n -= 12
        i += 12
    if n == 0:
        return c
    tail = bytes(data[i:]) + bytes(12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & _M32
    b = (b + int.from_bytes(tail[4:8], "little")) & _M32
    c = (c + int.from_bytes(tail[8:12], "little")) & _M32
    c ^= b
    c = (c - _rot(b, 14)) & _M32
    a ^= c
    a = (a - _rot(c, 11)) & _M32
    b ^= a
    b = (b - _rot(a, 25)) & _M32
    c ^= b
    c = (c - _rot(b, 16)) & _M32
    a ^= c
    a = (a - _rot(c, 4)) & _M32
    b ^= a
    b = (b - _rot(a, 14)) & _M32
    c ^= b
    c = (c - _rot(b, 24)) & _M32
    return c


def open_unclean(path: Path, *, pad: bool = False):
    """Open, read-only and in memory, an archive whose writer was killed outside SWMR mode (HDF5
    then refuses it until its consistency flags are cleared, which `h5clear -s` does on disk).
    The flags are cleared in a copy in memory, with the superblock checksum recomputed; the file
    itself is not touched. `pad`: zeros up to the recorded end of file (a writer stopped by a full
    disk). Returns an h5py.File, or None if the file is not such a case."""
    import h5py

    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:8] != b"\x89HDF\r\n\x1a\n" or len(head) < 16 or head[8] not in (2, 3) or head[11] == 0:
        return None  # not HDF5 with a v2/v3 superblock, or no consistency flags to clear
    data = bytearray(Path(path).read_bytes())
    size = data[9]
    end = 12 + 4 * size
    if len(data) < end + 4 or int.from_bytes(data[end : end + 4], "little") != lookup3(bytes(data[:end])):
        return None
    data[11] = 0
    data[end : end + 4] = lookup3(bytes(data[:end])).to_bytes(4, "little")
    if pad:  # a writer stopped by a full disk: zeros up to the end of file its superblock records
        base, eof = (int.from_bytes(data[12 + i * size : 12 + (i + 1) * size], "little") for i in (0, 2))
        data.extend(bytes(max(0, base + eof - len(data))))
    try:
        return h5py.File(io.BytesIO(bytes(data)), "r")
    except OSError:
        return None
