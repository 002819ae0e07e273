"""File inputs of a run (a graph in `topology.file`, a device catalogue, ...): found in the config,
stored in the archive, and given back to a resume so that it rebuilds from the archive alone.

A file input is any string in a component's parameters (scenario, topology, signal, mode, demand,
metrics and plugin sections) that names an existing regular file, relative to the config's
directory (or the working directory for a config given as a dict). Files up to `MAX_BYTES` are
stored whole; larger ones are verified by SHA-256 at resume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from .errors import ArchiveError

__all__ = ["InputFile", "MAX_BYTES", "collect", "materialize"]

MAX_BYTES = 256 * 2**20
_NOT_INPUTS = ("run", "archive", "profile", "mixing", "budget", "penalty", "learn", "disperse", "init")


@attrs.frozen
class InputFile:
    """One file a run read: its config key, the value as written, the SHA-256 and (when not too
    large) the bytes."""

    key: str
    value: str
    sha256: str
    size: int
    data: bytes | None


def _strings(node: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k in sorted(node):
            yield from _strings(node[k], f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{prefix}.{i}")
    elif isinstance(node, str) and 0 < len(node) < 4096 and "\n" not in node and "\x00" not in node:
        yield prefix, node


def _resolve(value: str, base_dir: Path | None) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() or base_dir is None else base_dir / p


def collect(config_dict: dict, base_dir: Path | None) -> list[InputFile]:
    """Every file input of a config (see the module docstring), in config-key order."""
    out = []
    for section, table in sorted(config_dict.items()):
        if section in _NOT_INPUTS:
            continue
        for key, value in _strings(table, section):
            path = _resolve(value, base_dir)
            try:
                if not path.is_file():
                    continue
                size = path.stat().st_size
                digest = hashlib.sha256()
                data = path.read_bytes() if size <= MAX_BYTES else None
                if data is not None:
                    digest.update(data)
                else:
                    with open(path, "rb") as f:
                        while block := f.read(1 << 20):
                            digest.update(block)
            except OSError:
                continue
            out.append(InputFile(key, value, digest.hexdigest(), size, data))
    return out


def materialize(inputs: list[InputFile], workdir: Path, base_dir: Path | None, archive: Path) -> Path:
    """Write the stored inputs under `workdir` so that their relative paths resolve there; return
    the base directory to build with. Inputs stored by hash only (or absolute paths) must still be
    present unchanged; otherwise the resume is refused naming the key."""
    depth = 0
    for inp in inputs:
        if not Path(inp.value).is_absolute():
            depth = max(depth, sum(1 for part in Path(inp.value).parts if part == ".."))
    root = workdir.joinpath(*[f"d{i}" for i in range(depth)]) if depth else workdir
    root.mkdir(parents=True, exist_ok=True)
    for inp in inputs:
        rel = not Path(inp.value).expanduser().is_absolute()
        if inp.data is not None and rel:
            dest = root / inp.value
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(inp.data)
            continue
        path = _resolve(inp.value, base_dir)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise ArchiveError(
                f"archive {archive}: input '{inp.key}' = {inp.value!r} is not stored in the archive "
                f"(over {MAX_BYTES >> 20} MiB or absolute) and cannot be read at {path}: {exc}"
            ) from None
        if digest != inp.sha256:
            raise ArchiveError(
                f"archive {archive}: input '{inp.key}' = {inp.value!r} changed since the run started "
                f"(SHA-256 {digest[:12]}..., the archive recorded {inp.sha256[:12]}...); resuming would use other data"
            )
        if rel:
            dest = root / inp.value
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(path.resolve())
    return root
