"""demo: the paper's RC-Spike circuit declared in SI units, solved by every method on one layer.

Prints the derived reversal potentials and weight unit, the agreement between methods
(ode, torchdiffeq reference, exact closed form, DSTD, noisy SDE) and writes a membrane-trace plot
(phases labelled, input and output spikes marked)."""
import time

import torch

import circuitnet as cn
from circuitnet.solve import spike_times

from .common import pyplot, save_figure, write_results


CFG = dict(batch=16, inputs=32, neurons=8)      # one layer: samples, input spikes, neurons
QUICK = dict(batch=4, inputs=8, neurons=4)


def run(args):
    started = time.time()
    torch.manual_seed(args.seed)
    circ = cn.circuits.rc_spike(noise=True)
    quiet = cn.circuits.rc_spike()
    size = dict(CFG, **(QUICK if args.quick else {}))
    B, J, I = size["batch"], size["inputs"], size["neurons"]
    t = torch.rand(B, J, dtype=torch.float64)
    w = torch.rand(I, J, dtype=torch.float64) * 4 / J - 0.5 / J
    out = {m: spike_times(quiet, t, w, method=m)[0] for m in ("ode", "exact")}
    out["dstd_M10"] = spike_times(quiet, t, w, method="dstd", steps=10)[0]
    out["torchdiffeq"] = spike_times(quiet, t[:2], w, method="torchdiffeq")[0]
    rec = []
    out["sde"], fired = spike_times(circ, t, w, method="sde", seed=args.seed, record=rec)
    diffs = {m: (out[m] - out["exact"][: out[m].shape[0]]).abs().max().item() for m in out if m != "exact"}
    print(f"E_pos = {circ.e_pos:.3f}, E_neg = {circ.e_neg:.3f}, E_dis = {circ.reversal('dis'):.3f}, "
          f"one weight unit = {circ.value(circ.unit_current) * 1e9:.1f} nA")
    for m, d in diffs.items():
        print(f"max |t_{m} - t_exact| = {d:.2e} (time units of 1 us)")
    plot_membranes(f"{args.out}/membrane_traces.png", rec, t[0], out["sde"][:1], fired[:1])
    write_results(args.out, "demo", args.seed, dict(batch=B, inputs=J, neurons=I), started,
                  e_pos=circ.e_pos, e_neg=circ.e_neg, e_dis=circ.reversal("dis"),
                  unit_current_nA=circ.value(circ.unit_current) * 1e9, max_abs_diff_vs_exact=diffs)


def plot_membranes(path, record, t_in, t_out, fired):
    """Membrane traces v(t) of sample 0 from an "sde" ``record`` (absolute normalised time, v [B, I]),
    with the accumulate and fire phases shaded and labelled, the sample's input spikes as ticks and
    each neuron's output spike (t_out [1, I], counted from the start of the firing phase) marked."""
    plt = pyplot()
    ts = torch.stack([torch.as_tensor(r[0]).reshape(-1)[0] for r in record]).numpy()
    vs = torch.stack([r[1][0] for r in record], 1).numpy()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for x0, label, shade in ((0.0, "accumulate: synapses on", "C7"), (1.0, "fire: discharger ramp", "C8")):
        ax.axvspan(x0, x0 + 1.0, color=shade, alpha=0.12, lw=0)
        ax.text(x0 + 0.5, 1.12, label, ha="center", va="bottom", fontsize=8)
    for i in range(vs.shape[0]):
        ax.plot(ts, vs[i], lw=1, color=f"C{i % 10}")
        if fired[0, i]:
            ax.plot(1.0 + t_out[0, i].item(), 1.0, "v", color=f"C{i % 10}", ms=7, mec="k", mew=0.5)
    ax.plot(t_in.numpy(), [-0.02] * len(t_in), "|", color="k", ms=8, label="input spikes")
    ax.plot([], [], "v", color="w", mec="k", label="output spike (v reaches threshold)")
    ax.axhline(1.0, color="k", ls=":", lw=0.8)
    ax.set(xlabel="time (us)", ylabel="v = (V - V0)/(V_th - V0)", xlim=(0, 2), ylim=(min(-0.1, vs.min()), 1.2),
           title="RC-Spike membranes (SDE, sample 0)")
    ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, path)
