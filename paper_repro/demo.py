"""demo: the paper's RC-Spike circuit declared in SI units, solved by every method on one layer.

Prints the derived reversal potentials and weight unit, the agreement between methods
(ode, torchdiffeq reference, exact closed form, DSTD, noisy SDE) and writes a membrane-trace plot."""
import time

import torch

import circuitnet as cn
from circuitnet.solve import spike_times

from .common import pyplot, write_results


def run(args):
    started = time.time()
    torch.manual_seed(args.seed)
    circ = cn.circuits.rc_spike(noise=True)
    quiet = cn.circuits.rc_spike()
    B, J, I = (4, 8, 4) if args.quick else (16, 32, 8)
    t = torch.rand(B, J, dtype=torch.float64)
    w = torch.rand(I, J, dtype=torch.float64) * 4 / J - 0.5 / J
    out = {m: spike_times(quiet, t, w, method=m)[0] for m in ("ode", "exact")}
    out["dstd_M10"] = spike_times(quiet, t, w, method="dstd", steps=10)[0]
    out["torchdiffeq"] = spike_times(quiet, t[:2], w, method="torchdiffeq")[0]
    rec = []
    out["sde"] = spike_times(circ, t, w, method="sde", seed=args.seed, record=rec)[0]
    diffs = {m: (out[m] - out["exact"][: out[m].shape[0]]).abs().max().item() for m in out if m != "exact"}
    print(f"E_pos = {circ.e_pos:.3f}, E_neg = {circ.e_neg:.3f}, E_dis = {circ.reversal('dis'):.3f}, "
          f"one weight unit = {circ.value(circ.unit_current) * 1e9:.1f} nA")
    for m, d in diffs.items():
        print(f"max |t_{m} - t_exact| = {d:.2e} (time units of 1 us)")
    plt = pyplot()
    ts = torch.cat([r[0].expand(B, 1) for r in rec], 1)[0]
    vs = torch.stack([r[1][0] for r in rec], 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i in range(I):
        ax.plot(ts.numpy(), vs[i].numpy(), lw=1)
    ax.axhline(1.0, color="k", ls=":", lw=0.8)
    ax.set(xlabel="time (us)", ylabel="v = (V - V0)/(V_th - V0)", title="RC-Spike membranes (SDE, sample 0)")
    fig.tight_layout()
    fig.savefig(f"{args.out}/membrane_traces.png", dpi=120)
    write_results(args.out, "demo", args.seed, dict(batch=B, inputs=J, neurons=I), started,
                  e_pos=circ.e_pos, e_neg=circ.e_neg, e_dis=circ.reversal("dis"),
                  unit_current_nA=circ.value(circ.unit_current) * 1e9, max_abs_diff_vs_exact=diffs)
