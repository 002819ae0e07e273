"""Accelerator catalogue: public spec-sheet figures, each with its source, and an editable price.

Peak dense BF16 throughput (without structured sparsity), memory bandwidth and capacity, the
fast-domain interconnect (per device), the scale-out network (per device), the size of the fast
domain (devices that share weights by tensor parallelism), and a price per device-hour. Prices are
indicative on-demand cloud prices, an assumption to replace with your own (`[scenario] prices`
or a devices file); everything else is from the vendors' data sheets named in `source`.
Extend or override with a TOML file (`[scenario] devices_file`), one table per device:

    [devices.MYCHIP]
    peak_bf16_tflops = 400.0
    memory_bandwidth_gbs = 1600.0
    memory_gb = 64.0
    interconnect_gbs = 300.0
    network_gbs = 50.0
    domain = 8
    price_per_hour = 2.0
    source = "vendor data sheet, 2026"
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import attrs

from dps_core import ConfigError

__all__ = ["Device", "CATALOGUE", "load_devices"]


def _positive(_i, attr, value):
    if not value > 0:
        raise ValueError(f"{attr.name} must be positive, got {value!r}")


@attrs.frozen
class Device:
    """One accelerator type (units: TFLOP/s, GB/s, GB, $ per device-hour)."""

    name: str
    peak_bf16_tflops: float = attrs.field(validator=_positive)
    memory_bandwidth_gbs: float = attrs.field(validator=_positive)
    memory_gb: float = attrs.field(validator=_positive)
    interconnect_gbs: float = attrs.field(validator=_positive)
    network_gbs: float = attrs.field(validator=_positive)
    domain: int = attrs.field(validator=_positive)
    price_per_hour: float = attrs.field(validator=_positive)
    source: str = ""

    @property
    def ridge(self) -> float:
        """Arithmetic intensity (FLOP/byte) where the roofline turns from memory- to compute-bound."""
        return self.peak_bf16_tflops * 1e12 / (self.memory_bandwidth_gbs * 1e9)


_NET = "scale-out network: 400 Gb/s (50 GB/s) per device, an assumption (InfiniBand NDR class)"
_PRICE = "price: indicative on-demand cloud price, an assumption to edit"

CATALOGUE: dict[str, Device] = {
    d.name: d
    for d in (
        Device(
            "H100-SXM",
            989.4,
            3350.0,
            80.0,
            900.0,
            50.0,
            8,
            4.00,
            f"NVIDIA H100 Tensor Core GPU data sheet (SXM5: BF16 1979 TFLOPS with sparsity, 3.35 TB/s HBM3, 80 GB, NVLink 900 GB/s); {_NET}; {_PRICE}",
        ),
        Device(
            "H200-SXM",
            989.4,
            4800.0,
            141.0,
            900.0,
            50.0,
            8,
            5.00,
            f"NVIDIA H200 Tensor Core GPU data sheet (BF16 1979 TFLOPS with sparsity, 4.8 TB/s HBM3e, 141 GB, NVLink 900 GB/s); {_NET}; {_PRICE}",
        ),
        Device(
            "A100-SXM-80GB",
            312.0,
            2039.0,
            80.0,
            600.0,
            25.0,
            8,
            2.20,
            f"NVIDIA A100 Tensor Core GPU data sheet (BF16 312 TFLOPS, 2039 GB/s HBM2e, 80 GB, NVLink 600 GB/s); network 200 Gb/s (assumption); {_PRICE}",
        ),
        Device(
            "MI300X",
            1307.4,
            5300.0,
            192.0,
            896.0,
            50.0,
            8,
            4.50,
            f"AMD Instinct MI300X data sheet (BF16 1307.4 TFLOPS dense, 5.3 TB/s HBM3, 192 GB, Infinity Fabric 896 GB/s); {_NET}; {_PRICE}",
        ),
        Device(
            "L40S",
            362.05,
            864.0,
            48.0,
            64.0,
            25.0,
            8,
            1.40,
            f"NVIDIA L40S data sheet (BF16 733 TFLOPS with sparsity, 864 GB/s GDDR6, 48 GB, PCIe Gen4 x16 64 GB/s); network 200 Gb/s (assumption); {_PRICE}",
        ),
        Device(
            "L4",
            121.0,
            300.0,
            24.0,
            64.0,
            12.5,
            8,
            0.80,
            f"NVIDIA L4 data sheet (BF16 242 TFLOPS with sparsity, 300 GB/s, 24 GB, PCIe Gen4 x16 64 GB/s); network 100 Gb/s (assumption); {_PRICE}",
        ),
        Device(
            "TPU-v5e",
            197.0,
            819.0,
            16.0,
            200.0,
            25.0,
            8,
            1.20,
            f"Google Cloud TPU v5e documentation (197 TFLOPS BF16, 819 GB/s HBM2, 16 GB, ICI 1600 Gbps); network 200 Gb/s (assumption); {_PRICE}",
        ),
    )
}

_FIELDS = (
    "peak_bf16_tflops",
    "memory_bandwidth_gbs",
    "memory_gb",
    "interconnect_gbs",
    "network_gbs",
    "domain",
    "price_per_hour",
)


def load_devices(path: str | Path | None, prices: dict[str, float] | None = None) -> dict[str, Device]:
    """The catalogue, extended or overridden by a TOML devices file, with prices overridden."""
    devices = dict(CATALOGUE)
    if path:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config key 'scenario.devices_file': cannot read {path}: {exc}") from None
        for name, table in (data.get("devices") or {}).items():
            base = attrs.asdict(devices[name]) if name in devices else {}
            unknown = set(table) - set(_FIELDS) - {"source"}
            if unknown:
                raise ConfigError(
                    f"{path}: device '{name}' has unknown field(s) {sorted(unknown)}; allowed: {', '.join(_FIELDS)}, source"
                )
            merged = {**base, **table, "name": name}
            missing = [f for f in _FIELDS if f not in merged]
            if missing:
                raise ConfigError(f"{path}: device '{name}' lacks {', '.join(missing)}")
            try:
                devices[name] = Device(**{k: merged[k] for k in ("name", *_FIELDS, "source") if k in merged})
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{path}: device '{name}': {exc}") from None
    for name, price in (prices or {}).items():
        if name not in devices:
            raise ConfigError(
                f"config key 'scenario.prices' names unknown device '{name}'; known: {', '.join(sorted(devices))}"
            )
        if not price > 0:
            raise ConfigError(f"config key 'scenario.prices.{name}' must be positive, got {price}")
        devices[name] = attrs.evolve(devices[name], price_per_hour=float(price))
    return devices
