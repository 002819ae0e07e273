"""Workload phases of serving a large language model, and each device's capability on them.

A request (prompt of S_in tokens, S_out generated tokens) needs every phase once, in fixed
proportions (Leontief). For each phase, the work per request W (FLOP) and the bytes it moves Q
(from memory, or over the network for the transfer phases) follow from the model and the batch
(P_d dense and P_e expert parameters, b bytes per value, B requests per step, L layers, width d,
key/value width d_kv, E experts of which k per token, a fast domain of g devices):

| phase | work per request | bytes per request | intensity W/Q |
| --- | --- | --- | --- |
| prefill | 2 P_d S_in + 2 L d S_in^2 (dense matmuls, causal attention) | P_d b / B (weights, shared by the batch) | ~ 2 S_in B / b |
| decode | 2 P_d S_out | P_d b S_out / B | 2 B / b |
| attention | 4 L d C (C = sum of contexts seen while decoding) | 2 L d_kv b C (KV cache) | 2 d / (d_kv b) |
| expert_ffn | 2 P_e (k/E) (S_in + S_out) | P_e b (S_out + 1) / B | 2 k B (S_in + S_out) / (E b (S_out + 1)) |
| retrieval | 2 N_v d_v (a flat scan of the index) | N_v d_v b | 2 / b |
| collectives | 0 | 4 k d b (S_in + S_out) over the network (expert-parallel all-to-all: dispatch and combine) | network-bound |
| kv_transfer | 0 | 2 L d_kv b S_in over the network (disaggregated prefill to decode) | network-bound |

Without disaggregation one device type runs a request's whole model: the tasks are then `serve`
(the model phases' times added up), `retrieval` and `collectives`, and no KV cache crosses the
network. A device's time per request on a compute phase is the roofline time (Williams, Waterman &
Patterson 2009), W / min(peak, bandwidth x W/Q), plus its tensor-parallel all-reduces over the
fast domain for prefill and decode, 4 L d b T (g - 1)/g bytes for T tokens at the interconnect
bandwidth; on a network phase, Q / network bandwidth. Capability = requests per device-hour =
3600 / time. Memory capacity bounds what fits: a device whose fast domain cannot hold the weights
and the batch's KV cache gets no capability on the model's phases, and one that cannot hold the
retrieval index none on retrieval.
"""

from __future__ import annotations

import attrs
import numpy as np

from .catalogue import Device

__all__ = [
    "PHASES",
    "MODEL_PHASES",
    "COLOCATED",
    "Workload",
    "phase_work",
    "allreduce_bytes",
    "roofline",
    "phase_times",
    "capabilities",
]

PHASES = ("prefill", "decode", "attention", "expert_ffn", "retrieval", "collectives", "kv_transfer")
MODEL_PHASES = ("prefill", "decode", "attention", "expert_ffn")
COLOCATED = ("serve", "retrieval", "collectives")
_COMPUTE = ("prefill", "decode", "attention", "expert_ffn", "retrieval")
_BIG = 1e15  # requests per hour for a phase a device does not need to do (g = 1: no collectives)


@attrs.frozen
class Workload:
    """The model and the traffic (parameters in billions; sizes in tokens)."""

    dense_params: float
    expert_params: float
    experts: int
    active_experts: int
    layers: int
    d_model: int
    d_kv: int
    bytes_per_param: float
    batch: int
    prompt: int
    output: int
    retrieval_vectors: float
    vector_dim: int
    disaggregated: bool

    @property
    def phases(self) -> tuple[str, ...]:
        """The tasks: every phase when prefill and decode may run on different devices
        (disaggregated); otherwise one device type runs a request's whole model (`serve`)."""
        return PHASES if self.disaggregated else COLOCATED

    def demand(self) -> np.ndarray:
        """Units of each task a request needs (0 for phases this workload does not have)."""
        moe = 1.0 if self.experts > 0 and self.expert_params > 0 else 0.0
        need = {"expert_ffn": moe, "collectives": moe, "retrieval": 1.0 if self.retrieval_vectors > 0 else 0.0}
        return np.array([need.get(p, 1.0) for p in self.phases])

    def weight_bytes(self) -> float:
        return (self.dense_params + self.expert_params) * 1e9 * self.bytes_per_param

    def kv_bytes_per_request(self) -> float:
        return 2 * self.layers * self.d_kv * self.bytes_per_param * (self.prompt + self.output)


def phase_work(wl: Workload) -> tuple[np.ndarray, np.ndarray]:
    """(work W in FLOP, bytes Q) per request and phase."""
    b, B, L, d = wl.bytes_per_param, wl.batch, wl.layers, wl.d_model
    Pd, Pe = wl.dense_params * 1e9, wl.expert_params * 1e9
    S_in, S_out = wl.prompt, wl.output
    context = S_out * (S_in + (S_out + 1) / 2)  # sum of context lengths while decoding
    W = np.zeros(len(PHASES))
    Q = np.zeros(len(PHASES))
    W[0], Q[0] = 2 * Pd * S_in + 2 * L * d * S_in**2, Pd * b / B
    W[1], Q[1] = 2 * Pd * S_out, Pd * b * S_out / B
    W[2], Q[2] = 4 * L * d * context, 2 * L * wl.d_kv * b * context
    if wl.experts > 0:
        W[3] = 2 * Pe * (wl.active_experts / wl.experts) * (S_in + S_out)
        Q[3] = Pe * b * (S_out + 1) / B
        Q[5] = 4 * wl.active_experts * d * b * (S_in + S_out)
    W[4], Q[4] = 2 * wl.retrieval_vectors * wl.vector_dim, wl.retrieval_vectors * wl.vector_dim * b
    Q[6] = 2 * L * wl.d_kv * b * S_in
    return W, Q


def allreduce_bytes(wl: Workload, tokens: float, g: int) -> float:
    """Bytes a device moves for tensor-parallel all-reduces (two per layer, ring) over T tokens."""
    return 4 * wl.layers * wl.d_model * wl.bytes_per_param * tokens * (g - 1) / g


def roofline(dev: Device, intensity: float) -> float:
    """Attainable FLOP/s at an arithmetic intensity: min(peak, bandwidth x intensity)."""
    return min(dev.peak_bf16_tflops * 1e12, dev.memory_bandwidth_gbs * 1e9 * intensity)


def phase_times(wl: Workload, dev: Device) -> np.ndarray:
    """Device-seconds per request on each phase (inf where it cannot run it, 0 if not needed)."""
    W, Q = phase_work(wl)
    t = np.zeros(len(PHASES))
    for k, phase in enumerate(PHASES):
        if phase in _COMPUTE:
            t[k] = W[k] / roofline(dev, W[k] / Q[k]) if W[k] > 0 else 0.0
        else:
            t[k] = Q[k] / (dev.network_gbs * 1e9)
    link = dev.interconnect_gbs * 1e9
    t[PHASES.index("prefill")] += allreduce_bytes(wl, wl.prompt, dev.domain) / link
    t[PHASES.index("decode")] += allreduce_bytes(wl, wl.output, dev.domain) / link
    domain_memory = dev.memory_gb * 1e9 * dev.domain
    if wl.weight_bytes() + wl.batch * wl.kv_bytes_per_request() > domain_memory:
        for phase in ("prefill", "decode", "attention", "expert_ffn", "collectives", "kv_transfer"):
            t[PHASES.index(phase)] = np.inf
    if wl.retrieval_vectors * wl.vector_dim * wl.bytes_per_param > domain_memory:
        t[PHASES.index("retrieval")] = np.inf
    return t


def capabilities(wl: Workload, dev: Device) -> np.ndarray:
    """Requests per device-hour on each task of `wl.phases` (0 where it cannot run; very large
    where it has nothing to do). Colocated serving adds up the model phases' times."""
    t = phase_times(wl, dev)
    if not wl.disaggregated:
        serve = sum(t[PHASES.index(p)] for p in MODEL_PHASES)
        t = np.array([serve, t[PHASES.index("retrieval")], t[PHASES.index("collectives")]])
    with np.errstate(divide="ignore"):
        return np.where(t > 0, 3600.0 / t, _BIG)
