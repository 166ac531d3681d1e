"""noise: Fashion-MNIST MLP test accuracy vs the spike-time noise sigma_spike in
{0, 0.01, 0.02, 0.04} (docs/paper.md sections 6, 7: Table 3's columns but 0.005; --sigmas: others): Gaussian
jitter on every layer's output spike times (models.SpikeTimeNoise: a spike moves, a neuron that did not
fire stays silent), in training and in the (exact) evaluation alike; each accuracy is the mean over
noise_draws (5) draws of that noise. E_pos/E_neg: the circuit's, or
--e-pos/--e-neg (the paper reports the best |E| per noise level).

Every network is also tested at every sigma of the sweep (cross: trained at one sigma, tested at
another), since the noise a network is best trained at need not be the one it meets. With --val N
each network's last-epoch validation accuracy is recorded (val_accuracy), the cross accuracies are
measured on the validation images too, and for each tested sigma ``chosen`` names the training sigma
that validation picks; ``gain_tuned`` gives each network per-layer current scales chosen on the
validation images at its own sigma (models.tune_layer_gains_) and its test accuracy with them, a
candidate of ``chosen`` too; and for each sigma > 0, noise_budget says where the noise costs, on the
validation images (the test images without --val).
"""
import os
import time

import torch

from circuitnet.models import tune_layer_gains_

from .classify_config import FMNIST_AUGMENT, configure
from .classify_data import load_data
from .classify_eval import accuracy, noise_mean, output_times
from .classify_net import circuit, copy_at
from .classify_plots import plot_curves, plot_sweep
from .runtime import runtime
from .sweeps import resumed_s, train_many
from .common import write_results

SIGMAS = (0.0, 0.01, 0.02, 0.04)
# the paper's Table 3, F-MNIST MLP row (test accuracy, 5-seed means, best |E| per column; docs/paper.md section 7)
PAPER_ACCURACY = {0.0: 0.9046, 0.01: 0.9040, 0.02: 0.9049, 0.04: 0.9012}
DEFAULTS = dict(arch="mlp", hidden=(400, 400), epochs=50, augment_with=FMNIST_AUGMENT, sigmas=SIGMAS)
QUICK = dict(width=0.08, epochs=1, train_limit=256, test_limit=128)


class _OnlyAfter(torch.nn.Module):
    """A SpikeNet's noise module applied after its k-th spiking layer only (of ``layers``): it counts its
    calls, one per spiking layer and forward pass."""

    def __init__(self, noise, k, layers):
        super().__init__()
        self.noise, self.k, self.layers, self.calls = noise, k, layers, 0

    def forward(self, t):
        k, self.calls = self.calls % self.layers, self.calls + 1
        return self.noise(t) if k == self.k else t


def noise_budget(net, cfg, in_shape, x, y, rt, seed=0):
    """Where the spike-time noise of a network trained at sigma_spike > 0 costs accuracy, on images x:
    the accuracy noise-free, with the noise after one spiking layer only (after_layer, each in turn),
    and after every layer (all); each with noise the mean over cfg noise_draws draws (classify_eval.noise_mean).
    And the noise-free output margins m = t_(2) - t_(1) (second-earliest minus earliest output spike, in the
    input window's unit) at quantiles 0.1 and 0.5, with the median winner time t_(1): the output noise
    alone flips a sample whose margin is below about 2 sqrt(2) sigma_spike."""
    clean = copy_at(net, cfg, in_shape, sigma_spike=0.0)
    t = output_times(clean, cfg, x, rt).sort(1).values
    margin = t[:, 1] - t[:, 0]
    layers, noise = len(net.spiking_layers), net.noise
    after = []
    try:
        for k in range(layers):
            net.noise = _OnlyAfter(noise, k, layers)
            after.append(noise_mean(net, cfg, x, y, rt, seed))
    finally:
        net.noise = noise
    return dict(images=len(y), noise_free=accuracy(clean, cfg, x, y, rt), after_layer=after,
                all=noise_mean(net, cfg, x, y, rt, seed), margin_q10=float(margin.quantile(0.1)),
                margin_median=float(margin.median()), winner_median=float(t[:, 0].median()))


def cross(runs, cfg, sigmas, x, y, rt, seed=0, diagonal=None):
    """Accuracy of each network trained at sigma_train, tested at each sigma_test: {train: {test:
    acc}} with the keys formatted as f"{sigma:g}"; each entry the mean over cfg noise_draws draws
    (classify_eval.noise_mean). ``diagonal``: {train: acc} already measured at sigma_test = sigma_train on
    the same images (any of the training sigmas), not measured again."""
    diagonal, out = diagonal or {}, {}
    for s in sigmas:
        r = runs[f"sigma{s:g}"]
        out[f"{s:g}"] = {f"{u:g}": diagonal[f"{s:g}"] if u == s and f"{s:g}" in diagonal else
                         noise_mean(copy_at(r["net"], cfg, r["in_shape"], sigma_spike=u), dict(cfg, sigma_spike=u),
                                      x, y, rt, seed) for u in sigmas}
    return out


def choose(val, test, tuned=None):
    """For each tested sigma the network with the best validation accuracy at it: {test: dict(trained_at,
    gains, val_accuracy, test_accuracy)}. Candidates: every training sigma as trained (val, test: the
    cross matrices; gains None) and, from ``tuned`` ({sigma: gain_tuned(...)}), the network trained at the
    tested sigma with its layer gains chosen there. Ties: no gains before gains, then the smaller
    training sigma."""
    chosen, tuned = {}, tuned or {}
    for u in next(iter(val.values())):
        candidates = [((val[s][u], 1, -float(s)), dict(trained_at=float(s), gains=None, val_accuracy=val[s][u],
                                                       test_accuracy=test[s][u])) for s in val]
        if u in tuned:
            t = tuned[u]
            candidates.append(((t["val_accuracy"], 0, -float(u)), dict(trained_at=float(u), gains=t["gains"],
                                                                       val_accuracy=t["val_accuracy"],
                                                                       test_accuracy=t["test_accuracy"])))
        chosen[u] = max(candidates, key=lambda c: c[0])[1]
    return chosen


def gain_tuned(r, cfg, sigma, val, test, rt, seed=0):
    """The network of run ``r`` at sigma, each spiking layer's currents scaled by the gain validation
    chooses at that sigma (models.tune_layer_gains_, score: classify_eval.noise_mean on the validation
    images): dict(gains, val_accuracy, test_accuracy)."""
    c = dict(cfg, sigma_spike=sigma)
    net = copy_at(r["net"], cfg, r["in_shape"], sigma_spike=sigma)
    if rt.main:       # a few minutes on Fashion-MNIST: (1 + 4 per layer) scores of noise_draws evaluations each
        print(f"noise sigma{sigma:g}: choosing layer gains on {len(val[1])} validation images", flush=True)
    gains, val_acc = tune_layer_gains_(net, lambda n: noise_mean(n, c, *val, rt, seed))
    return dict(gains=gains, val_accuracy=val_acc, test_accuracy=noise_mean(net, c, *test, rt, seed))


def run(args):
    started = time.time()
    rt = runtime(args)
    cfg = configure(args, DEFAULTS, QUICK)
    sigmas = tuple(sorted(set(cfg["sigmas"])))
    cfg["sigmas"] = sigmas
    data = load_data("fashion-mnist", args, cfg)
    settings = [(f"sigma{s:g}", dict(sigma_spike=s)) for s in sigmas]
    runs = train_many(args, rt, cfg, data, settings, "noise")
    on, held_out = (("validation", (data.x_val, data.y_val)) if data.x_val is not None
                    else ("test", (data.x_test, data.y_test)))
    budget = {}
    for s in sigmas[1:] if sigmas[0] == 0 else sigmas:
        r = runs[f"sigma{s:g}"]
        budget[f"{s:g}"] = dict(on=on) | noise_budget(r["net"], dict(cfg, sigma_spike=s), r["in_shape"], *held_out,
                                                      rt, args.seed)
    acc = {f"{s:g}": runs[f"sigma{s:g}"]["test_accuracy_noise_mean"] for s in sigmas}
    test_cross = cross(runs, cfg, sigmas, data.x_test, data.y_test, rt, args.seed, diagonal=acc)
    val = {}
    if data.x_val is not None:
        val_cross = cross(runs, cfg, sigmas, data.x_val, data.y_val, rt, args.seed,   # noise_budget ran there
                          diagonal={s: b["all"] for s, b in budget.items()})
        tuned = {f"{s:g}": gain_tuned(runs[f"sigma{s:g}"], cfg, s, (data.x_val, data.y_val), (data.x_test, data.y_test),
                                      rt, args.seed) for s in sigmas}
        val = dict(val_accuracy={f"{s:g}": runs[f"sigma{s:g}"]["history"][-1]["val_acc"] for s in sigmas},
                   val_cross=val_cross, gain_tuned=tuned, chosen=choose(val_cross, test_cross, tuned))
    if not rt.main:
        return None
    c = circuit(cfg["e_pos"], cfg["e_neg"])
    series = {f"ours: trained and tested at each sigma (E_pos {c.e_pos:.3g}, E_neg {c.e_neg:.3g})": list(acc.values())}
    if "chosen" in val:
        series["ours: the network validation chooses (training sigma, layer gains)"] = [
            pick["test_accuracy"] for pick in val["chosen"].values()]
        series["ours: trained at each sigma, layer gains chosen on validation"] = [
            g["test_accuracy"] for g in val["gain_tuned"].values()]
    if all(s in PAPER_ACCURACY for s in sigmas):
        series["paper, Table 3 (best |E| per sigma, 5 seeds)"] = [PAPER_ACCURACY[s] for s in sigmas]
    plot_sweep(os.path.join(args.out, "accuracy_vs_noise.png"), list(sigmas), series, "spike-time noise sigma_spike",
                 title="F-MNIST MLP, exact evaluation")
    plot_curves(os.path.join(args.out, "training_curves.png"), {t: r["history"] for t, r in runs.items()})
    res = write_results(args.out, "noise", args.seed, cfg, started, resumed_s=resumed_s(runs),
                        test_accuracy=acc[f"{cfg['sigma_spike']:g}"] if f"{cfg['sigma_spike']:g}" in acc
                        else max(acc.values()), accuracy=acc,
                        paper_accuracy={f"{s:g}": a for s, a in PAPER_ACCURACY.items()}, cross=test_cross, **val,
                        noise_budget=budget,
                        e_pos=c.e_pos, e_neg=c.e_neg,
                        time_per_epoch_s={t: r["time_per_epoch_s"] for t, r in runs.items()},
                        history={t: r["history"] for t, r in runs.items()})
    print("accuracy vs sigma_spike: " + ", ".join(f"{s}: {100 * a:.2f} %" for s, a in acc.items()))
    for u, pick in val.get("chosen", {}).items():
        gains = "" if pick["gains"] is None else " with layer gains " + " / ".join(f"{g:g}" for g in pick["gains"])
        print(f"tested at sigma {u}: validation chooses training at sigma {pick['trained_at']:g}{gains} "
              f"(validation {100 * pick['val_accuracy']:.2f} %, test {100 * pick['test_accuracy']:.2f} %)")
    for s, g in val.get("gain_tuned", {}).items():
        print(f"sigma {s}: layer gains " + " / ".join(f"{x:g}" for x in g["gains"]) + f" chosen on validation "
              f"({100 * g['val_accuracy']:.2f} %), test {100 * g['test_accuracy']:.2f} %")
    for s, b in budget.items():
        print(f"sigma {s}, on {b['images']} {b['on']} images: noise-free {100 * b['noise_free']:.2f} %, "
              f"noise after one layer only " + " / ".join(f"{100 * a:.2f}" for a in b["after_layer"]) +
              f" %, after all {100 * b['all']:.2f} %; output margin q10 {b['margin_q10']:.3f}, median "
              f"{b['margin_median']:.3f}, winner at {b['winner_median']:.3f} (median)")
    return res
