"""Reading the counted rows of an appended dataset, including those in the chunk a killed writer
was rewriting.

A time series keeps many rows in one uncompressed chunk, and every flush rewrites that chunk in
place. Linux lets SIGKILL stop a `write()` between two pages (and a full disk can end one
early), so a writer stopped during the rewrite leaves the chunk's first pages new and the rest,
its fletcher32 checksum included, from the version before. HDF5 then refuses the whole chunk,
although the rows both versions hold are intact. That version before was written by the flush
that made the counted rows durable: exactly "the counted rows, then the fill value". When HDF5's
checksum of exactly that equals the stored one, those rows are proven and are read from the raw
bytes. A chunk damaged in any other way does not match, and stays an error.
"""

from __future__ import annotations

import h5py
import numpy as np

__all__ = ["read_rows", "fletcher32_agrees"]


def fletcher32_agrees(data: bytes, stored: int) -> bool:
    """Whether `stored` is HDF5's fletcher32 checksum of `data`.

    HDF5 sums big-endian 16-bit words w_i (an odd last byte is the high byte of a last word):
    sum1 = Σ w_i and sum2 = Σ (W - i) w_i over the W words, folding each to 16 bits with
    65536 ≡ 1 (mod 65535) often enough never to overflow. Both halves are therefore exact modulo
    65535, where 0 may be stored as 0xffff; they are compared modulo 65535."""
    b = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
    j = np.arange(len(b), dtype=np.int64)
    high = np.where(j % 2 == 0, 256, 1)
    sum1 = int(high @ b)
    sum2 = int((high * ((len(b) + 1) // 2 - j // 2)) @ b)
    return sum1 % 65535 == (stored & 0xFFFF) % 65535 and sum2 % 65535 == (stored >> 16) % 65535


def _rewritten_in_place(ds: h5py.Dataset) -> bool:
    """Chunks of whole rows of a plain numeric type whose only filter is fletcher32: their raw
    bytes are the rows, then the 4-byte checksum, and a flush rewrites them in place."""
    return (
        ds.chunks is not None
        and ds.chunks[1:] == ds.shape[1:]
        and ds.dtype.kind in "biufc"
        and ds.fletcher32
        and ds.id.get_create_plist().get_nfilters() == 1
    )


def _proven_rows(ds: h5py.Dataset, first: int, counted: int) -> np.ndarray | None:
    """Rows [first, counted) of the chunk starting at row `first`, read raw, if its stored
    checksum is that of those rows followed by the fill value; else None."""
    per_chunk = ds.chunks[0]
    mask, raw = ds.id.read_direct_chunk((first, *(0 for _ in ds.shape[1:])))
    row = ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))
    if mask or len(raw) != per_chunk * row + 4:
        return None
    cut = (counted - first) * row
    fill = np.full((per_chunk, *ds.shape[1:]), ds.fillvalue, dtype=ds.dtype).tobytes()
    if not fletcher32_agrees(raw[:cut] + fill[cut:], int.from_bytes(raw[-4:], "little")):
        return None
    return np.frombuffer(raw[:cut], dtype=ds.dtype).reshape(counted - first, *ds.shape[1:])


def read_rows(ds: h5py.Dataset, start: int, stop: int, counted: int | None = None) -> np.ndarray:
    """`ds[start:stop]` of a dataset appended along its first axis.

    `counted`: its durable row count when the writer stopped without closing the file (killed,
    or failed on a write), else None. Then the chunk holding the last counted row may be torn
    (see the module's text): if it fails its checksum, rows up to `counted` are taken from its
    raw bytes when that checksum proves them. Any other failure is HDF5's error, raised."""
    try:
        return ds[start:stop]
    except OSError as exc:
        if counted is None or not start < stop <= counted or not _rewritten_in_place(ds) or counted % ds.chunks[0] == 0:
            raise
        error = exc
    first = (counted - 1) // ds.chunks[0] * ds.chunks[0]
    head = ds[start:first] if start < first else None  # chunks written whole before: no tear there
    rows = _proven_rows(ds, first, counted)
    if rows is None:
        raise error
    tail = rows[max(start, first) - first : stop - first]
    return tail.copy() if head is None else np.concatenate([head, tail])
