"""noise: Fashion-MNIST MLP test accuracy vs the spike-time noise sigma_spike in
{0, 0.01, 0.02, 0.04} (docs/paper.md sections 6, 7: Table 3's columns but 0.005; --sigmas: others): Gaussian
jitter on every layer's output spike times (models.SpikeTimeNoise: a spike moves, a neuron that did not
fire stays silent), in training and in the (exact) evaluation alike; each accuracy is the mean over
noise_draws (5) draws of that noise. E_pos/E_neg: the circuit's, or
--e-pos/--e-neg (the paper reports the best |E| per noise level).
"""
import os
import time

from . import classify as C
from .common import write_results

SIGMAS = (0.0, 0.01, 0.02, 0.04)
# the paper's Table 3, F-MNIST MLP row (test accuracy, 5-seed means, best |E| per column; docs/paper.md section 7)
PAPER_ACCURACY = {0.0: 0.9046, 0.01: 0.9040, 0.02: 0.9049, 0.04: 0.9012}
DEFAULTS = dict(arch="mlp", hidden=(400, 400), epochs=50, augment_with=C.FMNIST_AUGMENT, sigmas=SIGMAS)
QUICK = dict(width=0.08, epochs=1, train_limit=256, test_limit=128)


def run(args):
    started = time.time()
    rt = C.runtime(args)
    cfg = C.configure(args, DEFAULTS, QUICK)
    sigmas = tuple(sorted(set(cfg["sigmas"])))
    cfg["sigmas"] = sigmas
    data = C.load_data("fashion-mnist", args, cfg)
    settings = [(f"sigma{s:g}", dict(sigma_spike=s)) for s in sigmas]
    runs = C.train_many(args, rt, cfg, data, settings, "noise")
    if not rt.main:
        return None
    acc = {f"{s:g}": runs[f"sigma{s:g}"]["test_accuracy_noise_mean"] for s in sigmas}
    series = {"ours: PNN at the circuit's E (trained and tested with noise)": list(acc.values())}
    if all(s in PAPER_ACCURACY for s in sigmas):
        series["paper, Table 3 (best |E| per sigma, 5 seeds)"] = [PAPER_ACCURACY[s] for s in sigmas]
    C.plot_sweep(os.path.join(args.out, "accuracy_vs_noise.png"), list(sigmas), series, "spike-time noise sigma_spike",
                 title="F-MNIST MLP, exact evaluation")
    C.plot_curves(os.path.join(args.out, "training_curves.png"), {t: r["history"] for t, r in runs.items()})
    c = C.circuit(cfg["e_pos"], cfg["e_neg"])
    res = write_results(args.out, "noise", args.seed, cfg, started, resumed_s=C.resumed_s(runs),
                        test_accuracy=acc[f"{cfg['sigma_spike']:g}"] if f"{cfg['sigma_spike']:g}" in acc
                        else max(acc.values()), accuracy=acc,
                        paper_accuracy={f"{s:g}": a for s, a in PAPER_ACCURACY.items()}, e_pos=c.e_pos, e_neg=c.e_neg,
                        time_per_epoch_s={t: r["time_per_epoch_s"] for t, r in runs.items()},
                        history={t: r["history"] for t, r in runs.items()})
    print("accuracy vs sigma_spike: " + ", ".join(f"{s}: {100 * a:.2f} %" for s, a in acc.items()))
    return res
