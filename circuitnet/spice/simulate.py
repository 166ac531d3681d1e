"""Method "spice": a layer's spike times from an ngspice transient of its netlist.

    spice_spike_times(circuit, t_in [B, J], weight [I, J]) -> (t_out [B, I], fired [B, I])

Same conventions as every other method (circuitnet.solve): normalised times, t_out counted from the
start of the first comparator phase, t_max (the end of the comparator window) and fired = False
for a neuron that never fires. The comparator is ideal: the neuron fires at the first time in a
comparator phase at which its normalised voltage v = (V - V0) / (V_th - V0) reaches 1 (linear
interpolation between ngspice's time points), or at the phase start if it is already there.
Samples and neurons are split into netlists of at most about ``devices_per_run`` transistors (one
sample's neurons share its input edges; a layer wider than that is cut into groups of neurons),
run in parallel ngspice processes. The result carries no gradient (SPICE is the ground truth, not a training method):
a backward pass through it fails with that reason.
"""
import math

import numpy as np
import torch

from ..compile import compile_circuit
from ..inputs import check_layer_inputs
from ..nodes import MultiNodeCircuit
from .extract import device_table
from .netlist import LayerNetlist
from .nodes_netlist import nodes_spike_times
from .runner import SpiceUnavailable, run_many

MAX_STEP = 10e-9      # s: transient step bound; 2 ns moves spike times by < 0.07 ns (measured), at 3x the cost


def realised_tables(circuit, tech):
    """{element name: DeviceTable} for every element declared with silicon."""
    tables = {}
    for e in circuit.all_elements:
        if e.silicon is None:
            continue
        if tech is None:
            raise SpiceUnavailable(f"element {e.name!r} is realised as {e.silicon!r} but the circuit names no "
                                   f"technology: declare the circuit with technology=circuitnet.spice.Sky130(), or "
                                   f"simulate with method=circuitnet.solve.Spice(technology=circuitnet.spice.Sky130())")
        tables[e.name] = device_table(tech, e.silicon, circuit.Vth_value, circuit.V0_value)
    return tables


def comparator(time, V, circuit, offset=None):
    """Spike times (normalised, from the first comparator phase) and fired flags of waveforms
    V [n_time, n_nodes] (volts) sampled at ``time`` [n_time] (s), by the compiled circuit's timeline
    (circuitnet.timeline: the clip where the window opens, the first crossing of v = 1 inside it,
    t_max for none), with v and the crossing linearly interpolated between ngspice's time points.
    offset [n_nodes] (V): each comparator's input offset, firing at V = V_th + offset."""
    tl = compile_circuit(circuit).timeline
    T = circuit.time_unit
    level = 1.0 if offset is None else 1.0 + np.asarray(offset, float) / (circuit.Vth_value - circuit.V0_value)
    v = (V - circuit.V0_value) / (circuit.Vth_value - circuit.V0_value) - (level - 1.0)
    n = V.shape[1]
    t_out = np.full(n, tl.t_max)
    fired = np.zeros(n, dtype=bool)
    a = tl.window_start * T
    r = int(np.clip(np.searchsorted(time, a), 1, len(time) - 1))        # v where the window opens
    v_a = v[r - 1] + (v[r] - v[r - 1]) * (a - time[r - 1]) / max(time[r] - time[r - 1], 1e-30)
    t_out[v_a >= 1], fired[v_a >= 1] = 0.0, True
    for k in tl.comparator:
        a, b = tl.starts[k] * T, tl.starts[k + 1] * T
        idx = np.nonzero((time > a) & (time <= b))[0]
        if idx.size == 0:
            continue
        hit = v[idx] >= 1                                        # [n_in, n]
        first = hit.argmax(0)
        q = np.nonzero(~fired & hit.any(0))[0]
        k1 = idx[first[q]]
        k0 = k1 - 1
        t_a, t_b = time[k0], time[k1]
        v_a, v_b = v[k0, q], v[k1, q]
        frac = np.clip((1 - v_a) / np.where(v_b > v_a, v_b - v_a, 1.0), 0, 1)
        t_out[q] = tl.in_window(k, (np.maximum(t_a + frac * (t_b - t_a), a) - a) / T)
        fired[q] = True
    return t_out, fired


def spice_spike_times(circuit, t_in, weight, technology=None, edge=1e-9, devices_per_run=200, workers=None,
                      record=None, chip=None):
    """See the module docstring. technology: default ``circuit.technology``; edge: gate edge (s);
    record: a list that receives (time [n_t] in s, V [n_t, samples, neurons] in volts) per netlist run
    (in the order samples, then groups of neurons); chip: a circuitnet.spice.chip.LayerChip of the
    weight's shape, the drawn (programmed, trimmed) devices and comparators the layer runs on.
    A several-node circuit (circuitnet.nodes.MultiNodeCircuit) runs as behavioural sources
    (circuitnet.spice.nodes_netlist; no technology, no chip; record: its comparator nodes)."""
    check_layer_inputs(t_in, weight)
    if isinstance(circuit, MultiNodeCircuit):
        if chip is not None:
            raise ValueError("method 'spice': a several-node circuit has no realised devices to draw a chip of; "
                             "leave chip out")
        t_out, fired = nodes_spike_times(circuit, t_in.detach().cpu().double().numpy(),
                                         weight.detach().cpu().double().numpy(), edge=edge,
                                         devices_per_run=devices_per_run, workers=workers, record=record)
        return _measured(t_out, fired, t_in, weight)
    tech = technology if technology is not None else getattr(circuit, "technology", None)
    if chip is not None:
        if tuple(chip.shape) != tuple(weight.shape):
            raise ValueError(f"method 'spice': the chip was drawn for a layer of shape {tuple(chip.shape)}, "
                             f"the weight is {tuple(weight.shape)}")
        if tech is None or getattr(tech, "mismatch", False):
            raise ValueError("method 'spice': a chip sets every device's mismatch itself; simulate it with a "
                             "technology without random mismatch (Sky130(mismatch=False))")
    tables = realised_tables(circuit, tech)
    builder = LayerNetlist(circuit, tech, tables, edge=edge)
    ti = t_in.detach().cpu().double().numpy()
    w = weight.detach().cpu().double().numpy()
    B, J = ti.shape
    I = w.shape[0]
    if isinstance(devices_per_run, bool) or not isinstance(devices_per_run, int) or devices_per_run < 1:
        raise ValueError(f"devices_per_run must be an integer >= 1, got {devices_per_run!r}")
    per_neuron = 2 * J + 1                         # its crossbar points and its discharger
    n_chunk = max(1, min(I, devices_per_run // per_neuron))
    s_chunk = max(1, min(B, devices_per_run // (per_neuron * I))) if n_chunk == I else 1
    jobs, spans = [], []
    for s in range(0, B, s_chunk):
        for i0 in range(0, I, n_chunk):
            rows = slice(i0, i0 + n_chunk)
            text, nodes = builder.write(ti[s:s + s_chunk], w[rows], None if chip is None else chip.rows(rows))
            flat = [m for row in nodes for m in row]
            jobs.append((text, [f"v({m})" for m in flat], f"tran 1n {builder.t_end:.12g} 0 {MAX_STEP:g}"))
            spans.append((s, len(nodes), i0, len(nodes[0])))
    results = run_many(jobs, workers)
    t_out = np.zeros((B, I))
    fired = np.zeros((B, I), dtype=bool)
    for (s, nb, i0, ni), res in zip(spans, results):
        V = np.stack([res[f"v(m{b}_{i})"] for b in range(nb) for i in range(ni)], 1)
        offset = None if chip is None else np.tile((chip.offset + chip.trim)[i0:i0 + ni], nb)
        t, f = comparator(res["scale"], V, circuit, offset)
        t_out[s:s + nb, i0:i0 + ni], fired[s:s + nb, i0:i0 + ni] = t.reshape(nb, ni), f.reshape(nb, ni)
        if record is not None:
            record.append((res["scale"], V.reshape(-1, nb, ni)))
    return _measured(t_out, fired, t_in, weight)


def _measured(t_out, fired, t_in, weight):
    """numpy spike times and flags as tensors like t_in, joined to its graph (_Measured)."""
    out = torch.as_tensor(t_out, dtype=t_in.dtype, device=t_in.device)
    if t_in.requires_grad or weight.requires_grad:
        out = _Measured.apply(out, t_in, weight)
    return out, torch.as_tensor(fired, device=t_in.device)


class _Measured(torch.autograd.Function):
    """Spike times measured by ngspice, joined to the inputs' graph so that a backward pass through them
    fails with the reason instead of torch's generic "does not require grad"."""

    @staticmethod
    def forward(ctx, t_out, t_in, weight):
        return t_out.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("method 'spice' gives no gradient: ngspice's spike times are measured, not differentiated; "
                           "train with method 'exact', 'dstd' or 'ode' and check the result with 'spice'")
