"""A cluster serving a model: device types are agents, workload phases are tasks.

w_i = devices of type i (continuous), s_ik = share of their time on phase k, C_ik = requests per
device-hour on phase k (roofline), so Y_ik = w_i C_ik s_ik is phase-k capacity and the cluster's
throughput is the Leontief minimum over phases (a request needs every phase once). The price
budget sum_i price_i w_i = B makes every comparison one at equal cost. Capabilities are expressed
in units of the best homogeneous cluster's throughput, so the optimiser works on numbers near 1.

The independent benchmark is a linear programme: with h_ik = devices of type i on phase k,
maximise X subject to sum_i C_ik h_ik >= X d_k and sum_ik price_i h_ik <= B, h >= 0. The best
homogeneous cluster (type i alone) has X_i = B / (price_i sum_k d_k / C_ik) in closed form.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np

from dps_core import ConfigError, MetricSpec, ScenarioSpec, Setup, params

from .catalogue import load_devices
from .workload import Workload, capabilities

__all__ = [
    "ClusterParams",
    "CLUSTER",
    "cluster_problem",
    "best_homogeneous",
    "best_whole_homogeneous",
    "optimal_mix",
    "whole_mix",
    "THROUGHPUT",
    "PER_COST",
]


@attrs.frozen
class ClusterParams:
    devices: tuple[str, ...] = params.param(
        ("H100-SXM", "H200-SXM", "L40S"), doc="device types available (catalogue names)"
    )
    budget: float = params.param(1000.0, doc="spend on devices", unit="$ per hour", validator=params.positive)
    prices: dict[str, float] = params.param(factory=dict, doc="price overrides per device type ($ per device-hour)")
    devices_file: str = params.param(
        "", doc="TOML file extending or overriding the catalogue (relative to the config file)"
    )
    dense_params: float = params.param(
        70.0, doc="non-expert parameters", unit="billions", validator=params.non_negative
    )
    expert_params: float = params.param(
        0.0,
        doc="expert parameters, all experts together (0: a dense model)",
        unit="billions",
        validator=params.non_negative,
    )
    experts: int = params.param(0, doc="experts per MoE layer (0: dense)", validator=params.non_negative)
    active_experts: int = params.param(0, doc="experts each token uses", validator=params.non_negative)
    layers: int = params.param(64, doc="transformer layers", validator=params.at_least(1))
    d_model: int = params.param(8192, doc="model width", validator=params.at_least(1))
    d_kv: int = params.param(1024, doc="key/value width per layer (kv heads x head dim)", validator=params.at_least(1))
    bytes_per_param: float = params.param(
        2.0, doc="bytes per parameter and activation (2: BF16)", validator=params.positive
    )
    batch: int = params.param(128, doc="concurrent requests per step", validator=params.at_least(1))
    prompt: int = params.param(2048, doc="prompt tokens per request", validator=params.at_least(1))
    output: int = params.param(1024, doc="generated tokens per request", validator=params.at_least(1))
    retrieval_vectors: float = params.param(
        2e7, doc="vectors scanned per request for retrieval (0: none)", validator=params.non_negative
    )
    vector_dim: int = params.param(768, doc="dimension of a retrieval vector", validator=params.at_least(1))
    disaggregated: bool = params.param(
        True, doc="prefill and decode may run on different device types: the KV cache then crosses the network"
    )

    def __attrs_post_init__(self):
        if not self.devices:
            raise ValueError("devices must name at least one device type")
        if self.experts and not 1 <= self.active_experts <= self.experts:
            raise ValueError(
                f"active_experts must be between 1 and experts ({self.experts}), got {self.active_experts}"
            )

    def workload(self) -> Workload:
        return Workload(
            self.dense_params,
            self.expert_params,
            self.experts,
            self.active_experts,
            self.layers,
            self.d_model,
            self.d_kv,
            self.bytes_per_param,
            self.batch,
            self.prompt,
            self.output,
            self.retrieval_vectors,
            self.vector_dim,
            self.disaggregated,
        )


def cluster_problem(prm: ClusterParams, base_dir: Path | None = None):
    """(device list, capabilities C (types x phases, requests per device-hour), demand d, prices)."""
    path = prm.devices_file
    if path and base_dir is not None and not Path(path).is_absolute():
        path = str(base_dir / path)
    catalogue = load_devices(path or None, prm.prices)
    unknown = [d for d in prm.devices if d not in catalogue]
    if unknown:
        raise ConfigError(
            f"config key 'scenario.devices' names unknown device(s) {unknown}; known: {', '.join(sorted(catalogue))}"
        )
    devs = [catalogue[d] for d in prm.devices]
    wl = prm.workload()
    C = np.array([capabilities(wl, d) for d in devs])
    return devs, C, wl.demand(), np.array([d.price_per_hour for d in devs])


def best_homogeneous(C: np.ndarray, d: np.ndarray, prices: np.ndarray, budget: float) -> tuple[int, float]:
    """(type, requests per hour) of the best single-type cluster: X_i = B / (p_i sum_k d_k / C_ik)."""
    best, arg = 0.0, -1
    for i in range(len(prices)):
        need = d > 0
        if np.any(C[i, need] <= 0):
            continue
        x = budget / (prices[i] * (d[need] / C[i, need]).sum())
        if x > best:
            best, arg = x, i
    return arg, best


def optimal_mix(C: np.ndarray, d: np.ndarray, prices: np.ndarray, budget: float) -> tuple[float, np.ndarray]:
    """(requests per hour, devices h_ik per type and phase) of the best heterogeneous cluster (LP)."""
    n, K = C.shape
    # variables: h (n*K), X; maximise X
    c = np.zeros(n * K + 1)
    c[-1] = -1.0
    A, b = [], []
    for k in range(K):
        if d[k] > 0:
            row = np.zeros(n * K + 1)
            row[k : n * K : K] = -C[:, k]
            row[-1] = d[k]
            A.append(row)
            b.append(0.0)
    row = np.zeros(n * K + 1)
    row[: n * K] = np.repeat(prices, K)
    A.append(row)
    b.append(budget)
    from scipy.optimize import linprog  # imported where used: `dps --help` stays fast

    res = linprog(c, A_ub=np.array(A), b_ub=np.array(b), bounds=[(0, None)] * (n * K + 1), method="highs")
    if not res.success:
        raise ConfigError(f"the cluster problem has no solution: {res.message}")
    return float(res.x[-1]), res.x[:-1].reshape(n, K)


def whole_mix(C: np.ndarray, d: np.ndarray, prices: np.ndarray, budget: float) -> tuple[float, np.ndarray, np.ndarray]:
    """(requests per hour, whole devices m_i per type, device time h_ik per type and phase) of the
    best cluster one can buy: the LP of `optimal_mix` with integer device counts (a mixed-integer
    programme, HiGHS), sum_k h_ik <= m_i, sum_i price_i m_i <= B. A device may split its time
    between phases, so h_ik stays fractional."""
    n, K = C.shape
    unit, _ = optimal_mix(C, d, prices, budget)  # X in units of the LP optimum keeps HiGHS well scaled
    unit = unit if unit > 0 else 1.0
    nv = n * K + n + 1  # h, m, x (X = unit * x)
    c = np.zeros(nv)
    c[-1] = -1.0
    rows, lo, hi = [], [], []
    for k in range(K):
        if d[k] > 0:
            row = np.zeros(nv)
            row[k : n * K : K] = -C[:, k] / unit
            row[-1] = d[k]
            rows.append(row)
            lo.append(-np.inf)
            hi.append(0.0)
    for i in range(n):
        row = np.zeros(nv)
        row[i * K : (i + 1) * K] = 1.0
        row[n * K + i] = -1.0
        rows.append(row)
        lo.append(-np.inf)
        hi.append(0.0)
    row = np.zeros(nv)
    row[n * K : n * K + n] = prices
    rows.append(row)
    lo.append(-np.inf)
    hi.append(budget)
    integrality = np.zeros(nv)
    integrality[n * K : n * K + n] = 1
    from scipy.optimize import Bounds, LinearConstraint, milp  # imported where used

    res = milp(
        c,
        constraints=LinearConstraint(np.array(rows), lo, hi),
        integrality=integrality,
        bounds=Bounds(0, np.inf),
        options={"mip_rel_gap": 1e-6},
    )
    if not res.success:
        raise ConfigError(f"the whole-device cluster problem has no solution: {res.message}")
    m = np.round(res.x[n * K : n * K + n]).astype(np.int64)
    return float(res.x[-1] * unit), m, res.x[: n * K].reshape(n, K)


def best_whole_homogeneous(C: np.ndarray, d: np.ndarray, prices: np.ndarray, budget: float) -> tuple[int, int, float]:
    """(type, devices, requests per hour) of the best single-type cluster of whole devices:
    floor(B / price_i) devices, X_i = m_i / sum_k d_k / C_ik."""
    best, arg, count = 0.0, -1, 0
    need = d > 0
    for i in range(len(prices)):
        if np.any(C[i, need] <= 0):
            continue
        m = int(np.floor(budget / prices[i] + 1e-9))
        x = m / (d[need] / C[i, need]).sum()
        if x > best:
            best, arg, count = x, i, m
    return arg, count, best


def _size(p: ClusterParams) -> tuple[int, int]:
    return len(p.devices), len(p.workload().phases)


def _build(ctx) -> Setup:
    p: ClusterParams = ctx.params
    devs, C, d, prices = cluster_problem(p, ctx.base_dir)
    usable = [i for i in range(len(devs)) if np.all(C[i, d > 0] > 0)]
    if not usable and not np.any(C > 0):
        raise ConfigError(
            "no device type in scenario.devices can hold the model (weights and KV cache) in its fast domain"
        )
    _, unit = best_homogeneous(C, d, prices, p.budget)
    if unit <= 0:  # no single type serves every phase: scale by the heterogeneous optimum instead
        unit, _ = optimal_mix(C, d, prices, p.budget)
    n = len(devs)
    w0 = np.full(n, p.budget / n) / prices  # equal spend on every type
    return Setup(
        demand=d[None, :],
        n_agents=n,
        capability=C / unit,
        resources=w0,
        costs=prices,
        agent_labels=tuple(dv.name for dv in devs),
        task_labels=p.workload().phases,
        info={"unit_requests_per_hour": unit, "budget": p.budget, "sources": {dv.name: dv.source for dv in devs}},
    )


CLUSTER = ScenarioSpec(
    "cluster",
    _build,
    _size,
    ClusterParams,
    defaults={
        "run": {"steps": 20000, "dt": 0.05, "record_every": 200},
        "profile": {"family": "free"},
        "topology": {"name": "complete"},
        "mixing": {"name": "mean_field", "gamma": 1.0, "pool": "sum"},
        "signal": {"name": "ces", "rho": -30.0},
        "mode": {"name": "gradient", "eta": 0.5, "eta_w": 2.0},
        "budget": {"kind": "price", "equality": True},
        "init": {"kind": "homogeneous", "perturbation": 0.01},
        "metrics": {"names": ["throughput", "throughput_per_cost", "hill", "specialisation"]},
        "archive": {"snapshots": ["S", "w"]},
    },
    doc="device types serving an LLM workload's phases at equal cost (price-weighted budget)",
)


# --- metrics ------------------------------------------------------------------------------------------


def throughput(ctx) -> float:
    """Requests per hour: the Leontief minimum over the phases a request needs."""
    d = ctx.D[0]
    supply = ctx.Y.sum(axis=0)
    need = d > 0
    unit = ctx.simulation.setup_info.get("unit_requests_per_hour", 1.0) if ctx.simulation else 1.0
    return float((supply[need] / d[need]).min() * unit)


def _per_cost(ctx):
    spend = float(ctx.model.costs @ ctx.w) if ctx.model.costs is not None else float(ctx.w.sum())
    return throughput(ctx) / spend if spend > 0 else float("nan")


THROUGHPUT = MetricSpec("throughput", throughput, doc="requests per hour the cluster completes (Leontief over phases)")
PER_COST = MetricSpec("throughput_per_cost", _per_cost, doc="requests per hour per $ per hour")
