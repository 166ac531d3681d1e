"""SPICE for several-node circuits (circuitnet.nodes.MultiNodeCircuit): ideal elements as behavioural
sources (no silicon), one subcircuit instance per neuron, many neurons and samples per ngspice run.

    nodes_spike_times(circuit, t_in [B, J], weight [I, J]) -> (t_out [B, I] numpy, fired [B, I] numpy)

The subcircuit (:class:`NodesNetlist`) has one port per declared node (ports n0, n1, ... in the
declaration's order: ngspice folds the case of names, the declared ones may differ by case only):

* every element with a capacitance: a capacitor from its node to ground, or between its two nodes;
* every node k: one behavioural current source ``B 0 n_k I={I_k(V)}`` (ngspice's current flows from
  n+ through the source to n-, so this one flows *into* n_k), where I_k is the circuit's own
  ``currents[k]`` (MultiNodeCircuit): the sum of the element currents into node k, an element between
  nodes a and b counted +i in a and -i in b, with every parameter replaced by its value and V_k by
  V(n_k). One source per node is the KCL sum of the per-element sources, exactly, and reads the same
  expression the model's drift is derived from. Printing (:func:`ngspice_expression`): exp, ln,
  sqrt, abs, tanh and the other functions of ngspice's B-source; integer powers as ``pow`` (even
  exponent) or ``pwr`` (odd: sign kept), since ngspice's pow(x, y) is |x|^y; x^(+-1/2) as sqrt;
  any other power as pow(x, y), i.e. |x|^y (the model's real power is undefined for x < 0 there).

Inputs: input j of neuron i puts the charge q = w_ij Q_unit (MultiNodeCircuit.unit_charge(), signed
by the weight) on the synapse node as a triangular current pulse centred on t_j: 0 at t_j - d, its
peak q/d at t_j, 0 at t_j + d, with d = edge/2 (``edge`` = 1 ns by default, 1/6000 of the LIF's
6 us time unit). Its charge is exactly q and its charge centroid is t_j: on affine currents the
pulse moves the spike time by O(d^2) only (a pulse ending at t_j would move it by O(d)). On
currents nonlinear in the nodes the jump's path matters at O(d): the current along the pulse's
ramp is not the mean of its values before and after the jump (measured, fan-in 6, 6 us unit: a
tanh synapse leak 0.07 ns, a cubic conductance between the nodes 0.26 ns at edge = 1 ns; 0.0075
and 0.034 ns at edge = 0.1 ns, against 0.003 ns for affine ones at either). Every corner sits on
a grid of PWL_GRID (1 ps, or edge/100 where finer): corners of different sources then coincide or
lie a grid step apart, never attoseconds (which collapses ngspice's timestep); t_j is rounded to it
first, so q stays exact and the input moves by at most half a grid step (0.5 ps). An input closer
to t = 0 than d gets the half-width d = t_j; one at t_j = 0 (after rounding) is part of the initial
condition, V(0) = V0 + S w u (u: the model's jump). Overlapping pulses of one neuron add up (the PWL
is their sum, evaluated at every corner). Inputs at t_j >= t_max or +inf never arrive.

Reset: every node starts at its reset level (``.ic`` with ``uic``: no operating point). The
transient runs from 0 to the window's end plus d, time steps at most ``time_unit /
MAX_STEPS_PER_UNIT``, tolerances RELTOL, ABSTOL, VNTOL, CHGTOL, TRTOL; its first step is tiny
(tstep = grid/1000): ngspice starts with a backward-Euler step of about tstep/10, which on a pulse
ramping from t = 0 added 5e-5 of its charge (0.09 ns) when tstep was 3 ns.

Comparator (:meth:`NodesNetlist.crossings`): the first time the comparator node c's normalised
voltage v = (V_c - V0_c) / S reaches 1, interpolated by the cubic through the four time points
around the crossing (on 12 ns steps a linear one missed a grazing crossing by 28 ns, the cubic by
0.02 ns); t_max and fired = False without a crossing in the window. Where an input
moves the comparator node itself (u_c != 0, e.g. through a coupling capacitor; never on the LIF),
a jump can carry it over, and the model then fires at t_j exactly: a crossing inside a pulse
[t_j - d, t_j + d] is read as t_j when the model's voltage just before t_j is below 1 and just
after at or above it, both from the waveform at t_j with the pulses' partial charge replaced by
the model's whole jumps, v(t_j) + u_c (sum of w_k over t_k < t_j, resp. <= t_j, minus the part of
every pulse delivered by t_j).
"""
import numpy as np
import sympy as sp

from .netlist import ngspice_expression
from .runner import run_many

RELTOL = 1e-8                 # ngspice's relative tolerance (1e-9: "timestep too small")
ABSTOL = 1e-16                # A
VNTOL = 1e-10                 # V
CHGTOL = 1e-20                # C
TRTOL = 1                     # ngspice's truncation-error factor (default 7: 3x the spike-time error)
MAX_STEPS_PER_UNIT = 2000     # the largest time step is time_unit / this (3 ns on a 6 us unit)
PWL_GRID = 1e-12              # s: PWL corners on this grid, or on edge / MIN_GRID_PER_EDGE where finer
MIN_GRID_PER_EDGE = 100


class NodesNetlist:
    """Netlists of a several-node circuit: the neuron subcircuit (module docstring) and, per batch of
    samples and neurons, its instances with their input pulses and initial conditions.

    circuit: a MultiNodeCircuit; edge: the input pulse's base (s), centred on the input time."""

    def __init__(self, circuit, edge=1e-9):
        if not edge > 0:
            raise ValueError(f"edge must be > 0, got {edge!r}")
        self.circuit, self.edge = circuit, float(edge)
        c = circuit
        self.n = len(c.node_names)
        self.ports = [f"n{k}" for k in range(self.n)]
        port = dict(zip(c.node_names, self.ports))
        lines = [f".subckt cn_neuron {' '.join(self.ports)}"]
        for k, e in enumerate(c.elements):
            cap = c.value(e.capacitance())
            if cap != 0:
                a, b = port[e.terminals[0]], port[e.terminals[1]] if len(e.terminals) == 2 else "0"
                lines.append(f"C{k}_{e.name} {a} {b} {cap:.15g}")      # an index first: ngspice folds case
        for k, p in enumerate(self.ports):
            expr = sp.sympify(c.currents[k]).subs(c.values)
            # what is left are the node voltages, V_<node> (circuitnet.nodes)
            V = {x: f"V({port[x.name[2:]]})" for x in expr.free_symbols if x.name[2:] in port and x.name[:2] == "V_"}
            if expr != 0:
                lines.append(f"B{k} 0 {p} I={{{ngspice_expression(expr, V)}}}")
        lines.append(".ends cn_neuron")
        self.subckt = "\n".join(lines)
        self.elements = len(lines) - 2 + 1                  # per instance, with its input source
        self.T = c.time_unit
        self.t_max = c.window / c.time_unit
        self.swing = c.value(c.swing)
        self.v0 = np.array([c.reset_levels[k] for k in c.node_names])
        self.jump = np.array([c.value(u) for u in c.jump])          # x += w u at an input (normalised)
        self.q_unit = c.unit_charge()
        self.half = max(int(round(self.edge / 2 / PWL_GRID)), MIN_GRID_PER_EDGE // 2)   # d in grid steps
        self.grid = self.edge / (2 * self.half)
        self.max_step = self.T / MAX_STEPS_PER_UNIT

    @property
    def t_end(self):
        """End of the transient (s): the window plus half an edge (a pulse centred before its end)."""
        return self.circuit.window + self.edge / 2

    @property
    def analysis(self):
        return f"tran {self.grid / 1000:.6g} {self.t_end:.15g} 0 {self.max_step:.6g} uic"

    def pulses(self, t_in, w):
        """(k, m, q) arrays of one neuron's arriving inputs: centre and half-width in grid steps, charge (C);
        and the weight summed over the inputs at t = 0 (the initial condition's jump)."""
        t = np.asarray(t_in, float)
        on = np.isfinite(t) & (t < self.t_max) & (w != 0)
        k = np.rint(t[on] * self.T / self.grid).astype(np.int64)
        q = w[on] * self.q_unit
        at0 = k == 0
        return k[~at0], np.minimum(k[~at0], self.half), q[~at0], float(w[on][at0].sum())

    def _pwl(self, k, m, q):
        """PWL text of the sum of triangular pulses (centres k, half-widths m in grid steps, charges q)."""
        corners = np.unique(np.concatenate([[0], k - m, k, k + m]))
        peak = q / (m * self.grid)
        val = (peak[None, :] * np.clip(1 - np.abs(corners[:, None] - k[None, :]) / m[None, :], 0, None)).sum(1)
        return "PWL(" + " ".join(f"{c * self.grid:.15g} {v:.12g}" for c, v in zip(corners, val)) + ")"

    def write(self, t_in, weight):
        """Netlist text and the comparator node names [B][I] for inputs t_in [B, J] (normalised) and
        weights [I, J] (units of Q_unit), numpy; also the pulses per neuron [B][I] ((k, m, q) as in
        :meth:`pulses`) for the comparator's reading."""
        c = self.circuit
        B, I = t_in.shape[0], weight.shape[0]
        lines = ["* circuitnet several-node netlist",
                 f".options reltol={RELTOL:g} abstol={ABSTOL:g} vntol={VNTOL:g} chgtol={CHGTOL:g} trtol={TRTOL:g}", self.subckt]
        comp, pulses = [], []
        for b in range(B):
            crow, prow = [], []
            for i in range(I):
                nodes = [f"s{b}_{i}_{p}" for p in self.ports]
                lines.append(f"X{b}_{i} {' '.join(nodes)} cn_neuron")
                k, m, q, w0 = self.pulses(t_in[b], weight[i])
                if k.size:
                    lines.append(f"Iin{b}_{i} 0 {nodes[c.synapse_index]} {self._pwl(k, m, q)}")
                v_init = self.v0 + self.swing * w0 * self.jump
                lines.append(".ic " + " ".join(f"v({nd})={v:.15g}" for nd, v in zip(nodes, v_init)))
                crow.append(nodes[c.comparator_index])
                prow.append((k, m, q))
            comp.append(crow)
            pulses.append(prow)
        return "\n".join(lines) + "\n", comp, pulses

    def crossings(self, time, V, pulses):
        """(t_out [n], fired [n]) of comparator waveforms V [n_time, n] (V) at ``time`` (s), ``pulses``
        [n] as from :meth:`write` (module docstring: the comparator's rule)."""
        c = self.circuit
        v = (V - self.v0[c.comparator_index]) / self.swing
        n = V.shape[1]
        t_out = np.full(n, self.t_max)
        fired = np.zeros(n, dtype=bool)
        hit = v >= 1
        at0 = hit[0]
        t_out[at0], fired[at0] = 0.0, True
        q = np.nonzero(~at0 & hit.any(0))[0]
        tc = _crossing(time, v[:, q], hit[:, q].argmax(0))
        inside = tc <= c.window
        q, tc = q[inside], tc[inside]
        t_out[q], fired[q] = tc / self.T, True
        u_c = self.jump[c.comparator_index]
        if abs(u_c) > 1e-12:                     # a jump of the comparator node can fire it (module docstring)
            for col in q:
                k, m, charge = pulses[col]
                t_g = t_out[col] * self.T / self.grid
                inside = np.nonzero(np.abs(t_g - k) <= m)[0]
                w = charge / self.q_unit
                for j in inside[np.argsort(k[inside])]:
                    v_j = np.interp(k[j] * self.grid, time, v[:, col])
                    s = np.clip((k[j] - k + m) / m, 0, 2)          # every pulse's progress at t_j
                    pending = (w * (k <= k[j])).sum() - (w * np.where(s <= 1, s * s / 2, 1 - (2 - s) ** 2 / 2)).sum()
                    if v_j + u_c * (pending - w[k == k[j]].sum()) < 1 <= v_j + u_c * pending:
                        t_out[col] = k[j] * self.grid / self.T
                        break
        return t_out, fired


def _crossing(time, v, k1):
    """Times at which the columns of v [n_time, n] reach 1 between points k1 - 1 (below) and k1 (at or
    above): the root, by bisection, of the cubic through the points k1 - 2 .. k1 + 1 (shifted to stay in
    range), which passes through both bracketing points."""
    n_t = len(time)
    cols = np.arange(v.shape[1])
    k0 = k1 - 1
    v_a, v_b = v[k0, cols], v[k1, cols]
    linear = time[k0] + np.clip((1 - v_a) / np.where(v_b > v_a, v_b - v_a, 1.0), 0, 1) * (time[k1] - time[k0])
    if n_t < 4 or not np.all(np.diff(time) > 0):
        return linear
    first = np.clip(k0 - 1, 0, n_t - 4)
    idx = first[None, :] + np.arange(4)[:, None]                    # [4, n]
    ts, vs = time[idx], v[idx, cols[None, :]]

    def cubic(t):
        out = np.zeros_like(t)
        for a in range(4):
            basis = np.ones_like(t)
            for b in range(4):
                if b != a:
                    basis = basis * (t - ts[b]) / (ts[a] - ts[b])
            out = out + vs[a] * basis
        return out

    lo, hi = time[k0].astype(float), time[k1].astype(float)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = cubic(mid) < 1
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def nodes_spike_times(circuit, t_in, weight, edge=1e-9, devices_per_run=200, workers=None, record=None):
    """Spike times of a several-node circuit's layer from ngspice (module docstring): t_in [B, J]
    (normalised), weight [I, J] (units of Q_unit), numpy float arrays; returns (t_out [B, I] normalised
    from the window's start, fired [B, I]). devices_per_run: about how many netlist elements share one
    ngspice run (a neuron has its capacitors, one source per node and its input source); workers:
    parallel ngspice processes; record: a list that receives (time [n_t] s, V [n_t, samples, neurons],
    the comparator nodes in volts) per run."""
    if isinstance(devices_per_run, bool) or not isinstance(devices_per_run, int) or devices_per_run < 1:
        raise ValueError(f"devices_per_run must be an integer >= 1, got {devices_per_run!r}")
    builder = NodesNetlist(circuit, edge)
    ti, w = np.asarray(t_in, float), np.asarray(weight, float)
    B, I = ti.shape[0], w.shape[0]
    per = builder.elements
    n_chunk = max(1, min(I, devices_per_run // per))
    s_chunk = max(1, min(B, devices_per_run // (per * I))) if n_chunk == I else 1
    jobs, spans = [], []
    for s in range(0, B, s_chunk):
        for i0 in range(0, I, n_chunk):
            text, comp, pulses = builder.write(ti[s:s + s_chunk], w[i0:i0 + n_chunk])
            jobs.append((text, [f"v({m})" for row in comp for m in row], builder.analysis))
            spans.append((s, len(comp), i0, len(comp[0]), [p for row in pulses for p in row]))
    results = run_many(jobs, workers)
    t_out = np.zeros((B, I))
    fired = np.zeros((B, I), dtype=bool)
    for (s, nb, i0, ni, pulses), (_, vectors, _), res in zip(spans, jobs, results):
        V = np.stack([res[name] for name in vectors], 1)
        t, f = builder.crossings(res["scale"], V, pulses)
        t_out[s:s + nb, i0:i0 + ni], fired[s:s + nb, i0:i0 + ni] = t.reshape(nb, ni), f.reshape(nb, ni)
        if record is not None:
            record.append((res["scale"], V.reshape(-1, nb, ni)))
    return t_out, fired
