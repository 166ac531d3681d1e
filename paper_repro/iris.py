"""iris: the paper's Iris circuit (docs/paper.md section 3, Table 2) trained PNN-style vs mapped ANN-to-IMC.

Network 5-5-3: 4 features (min-max scaled to [0, 1], used as spike times t = x) + a bias spike at
t = 0 -> 5 hidden RC-Spike neurons (+ bias spike) -> 3 outputs; the earliest output is the class.
Loss: softmax(-t/0.07) cross-entropy + gamma_T sum (t_out - t_ref)^2 + gamma_W sum ||W||^2
+ gamma_V sum over hidden and output spikes of (t - 1)^2 (docs/paper.md section 6), Adam lr 1e-3, batch 50.

* PNN-to-IMC: trained on the circuit model itself (E_pos, E_neg from the declared circuit, with the
  discharger's CLM in the firing phase), method "exact".
* ANN-to-IMC: trained at |E| = 100 with the ideal ramp, then its weights are mapped onto the circuit
  with two current scales (positive, negative) searched on a 1 % grid to minimise the output
  spike-time RMSE between the ANN and the circuit on the training set.

Both are evaluated on the circuit *model* simulated by method "ode" (noise-free) and "sde" (shot
noise on every current and kT/C reset noise, physical values). Reported: test accuracy on the
stratified 30 % split (45 samples), mean and spread over seeds, and the output spike-time RMSE (ns,
T = 1 us) between each network's training model and that simulation: for the PNN a self-consistency
check of the solvers (its model *is* the simulated model), not a circuit error; the comparison with
the transistor circuit in ngspice is experiment spice-iris.
"""
import os
import time

import numpy as np
import torch

import circuitnet as cn
from circuitnet.models import IrisNet, fit_current_scales, scale_weights_

from .common import configured, pyplot, seed_everything, write_results
from .iris_net import CFG, D, accuracy, load_split, train_net
from .train import done_epochs

QUICK = dict(epochs=100, seeds=1)


def run_on(model, circuit, method, x, **opts):
    """Output spike times of ``model``'s weights on another circuit/method (model left unchanged)."""
    net = IrisNet(hidden=model.layers[0].out_features, circuit=circuit, method=method, **opts).to(D)
    net.load_state_dict(model.state_dict())
    net.eval()
    with torch.no_grad():
        return net(x)


def map_two_scales(ann, circuit, x, grid):
    """ANN-to-IMC: the ANN's weights on the circuit with positive and negative currents scaled by
    the pair (on a 1 % grid in [grid[0], grid[1]]) that minimises the output spike-time RMSE to the
    ANN itself. Returns (mapped network, (s_pos, s_neg), rmse)."""
    net = IrisNet(hidden=ann.layers[0].out_features, circuit=circuit, method="exact").to(D).eval()
    net.load_state_dict(ann.state_dict())
    sp, sn, err = fit_current_scales(net, x, ann(x).detach(), lo=grid[0], hi=grid[1], fine=grid[2])
    return scale_weights_(net, sp, sn), (sp, sn), err


def run(args):
    started = time.time()
    cfg = configured(args, CFG, QUICK, ("epochs",))
    seeds = list(range(args.seed, args.seed + cfg["seeds"]))
    restored_s = 0.0
    circuit = cn.circuits.rc_spike(firing="discharger")
    noisy = cn.circuits.rc_spike(firing="discharger", noise=True)
    xtr, ytr, xte, yte = load_split(cfg["test_size"])
    T_ns = circuit.time_unit * 1e9
    rows, curves, nets = [], {}, {}
    for seed in seeds:
        row = dict(seed=seed)
        for name, kw in (("pnn", dict(circuit=circuit)),
                         ("ann", dict(e_pos=cfg["e_ann"], e_neg=-cfg["e_ann"], firing="ideal"))):
            seed_everything(seed)
            model = IrisNet(hidden=cfg["hidden"], method="exact", **kw).to(D)

            ckpt = os.path.join(args.out, f"{name}_seed{seed}.pt")
            restored = done_epochs(ckpt)
            hist = train_net(model, cfg, xtr, ytr, ckpt, f"iris {name} seed {seed}", getattr(args, "quiet", False),
                             evaluate=lambda m: dict(test_acc=accuracy(m, xte, yte)))
            restored_s += sum(h.get("time_s", 0.0) for h in hist[:restored])
            curves[(name, seed)] = hist
            model.eval()
            row[f"{name}_model_acc"] = accuracy(model, xte, yte)
            if name == "ann":
                mapped, scales, _ = map_two_scales(model, circuit, xtr, cfg["scale_grid"])
                row["ann_scales"] = scales
                row["ann_unmapped_circuit_acc"] = (run_on(model, circuit, "ode", xte).argmin(1) == yte).double().mean().item()
                target, net = model(xte).detach(), mapped
            else:
                target, net = model(xte).detach(), model
            nets[name] = net
            t_ode = run_on(net, circuit, "ode", xte)
            t_sde = run_on(net, noisy, "sde", xte, seed=seed)
            row[f"{name}_circuit_acc"] = (t_ode.argmin(1) == yte).double().mean().item()
            row[f"{name}_noisy_circuit_acc"] = (t_sde.argmin(1) == yte).double().mean().item()
            row[f"{name}_rmse_ns"] = ((t_ode - target) ** 2).mean().sqrt().item() * T_ns
            row[f"{name}_noisy_rmse_ns"] = ((t_sde - target) ** 2).mean().sqrt().item() * T_ns
        rows.append(row)
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    summary = {}
    for key in rows[0]:
        if key.endswith(("acc", "ns")):
            vals = np.array([r[key] for r in rows])
            summary[key] = dict(mean=float(vals.mean()), std=float(vals.std()), min=float(vals.min()), max=float(vals.max()))
    _plots(args.out, curves, nets, xte, yte, circuit, rows)
    res = write_results(args.out, "iris", args.seed, cfg | dict(seeds=seeds), started, resumed_s=restored_s,
                        per_seed=rows, summary=summary,
                        test_accuracy=summary["pnn_circuit_acc"]["mean"])
    print(f"PNN-to-IMC on the circuit model (ode): {100 * summary['pnn_circuit_acc']['mean']:.2f} % "
          f"(+- {100 * summary['pnn_circuit_acc']['std']:.2f}), output RMSE to its training model "
          f"{summary['pnn_rmse_ns']['mean']:.3f} ns (a solver check); ANN-to-IMC: "
          f"{100 * summary['ann_circuit_acc']['mean']:.2f} % (+- {100 * summary['ann_circuit_acc']['std']:.2f}), "
          f"RMSE {summary['ann_rmse_ns']['mean']:.2f} ns; against ngspice: python -m paper_repro spice-iris")
    return res


def _plots(out, curves, nets, xte, yte, circuit, rows):
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for (name, seed), hist in curves.items():
        ep = [h["epoch"] for h in hist]
        ax[0].plot(ep, [h["loss"] for h in hist], color="C0" if name == "pnn" else "C1", lw=0.8,
                   label=name.upper() if seed == min(s for _, s in curves) else None)
        ax[1].plot(ep, [100 * h["test_acc"] for h in hist], color="C0" if name == "pnn" else "C1", lw=0.8)
    first = min(r["seed"] for r in rows)
    for r in rows:                         # the experiment's result: each trained network on the circuit
        for name, marker in (("pnn", "o"), ("ann", "s")):
            ep = curves[(name, r["seed"])][-1]["epoch"]
            ax[1].plot(ep, 100 * r[f"{name}_circuit_acc"], marker, color="C0" if name == "pnn" else "C1", ms=6,
                       mec="k", mew=0.5, alpha=0.8, ls="none",
                       label=f"{name.upper()}-to-IMC on the circuit (ODE)" if r["seed"] == first else None)
    ax[0].set(xlabel="epoch", ylabel="training loss", yscale="log")
    ax[0].legend()
    ax[1].set(xlabel="epoch", ylabel="test accuracy (%)",
              title="lines: each network's own model; markers: on the circuit")
    ax[1].title.set_fontsize(8)
    ax[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "training_curves.png"), dpi=120)
    order = torch.argsort(yte, stable=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    for ax, (name, title) in zip(axes, (("pnn", "PNN-to-IMC"), ("ann", "ANN-to-IMC (two-scale mapped)"))):
        t = run_on(nets[name], circuit, "ode", xte[order]).numpy()
        for k in range(t.shape[1]):
            ax.scatter(np.arange(len(t)), t[:, k] * circuit.time_unit * 1e9, s=8, label=f"output {k}")
        ax.set(xlabel="test sample (sorted by class)", title=f"{title} on the circuit (last seed)")
    axes[0].set_ylabel("output spike time in firing phase (ns)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "spike_raster.png"), dpi=120)
