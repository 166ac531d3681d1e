"""sweep-m: Fashion-MNIST MLP test accuracy vs the number of DSTD steps M used in training
(M in {1, 2, 4, 10, 30}), with the random grid offset (drawn per layer and mini-batch) and the
fixed one (docs/paper.md section 5: RC-Spike saturates at M ~ 10-15 with a fixed grid, M = 2-4 with random
offset). Every network is evaluated with the exact method (mean over noise_draws draws of the
spike-time noise), so the accuracy shows what the discretisation costs the trained weights on the real neuron.
"""
import os
import time

from .classify_config import FMNIST_AUGMENT, configure
from .classify_data import load_data
from .classify_plots import plot_curves, plot_sweep
from .runtime import runtime
from .sweeps import resumed_s, train_many
from .common import write_results

M_VALUES = (1, 2, 4, 10, 30)
OFFSETS = ("random", "fixed")
DEFAULTS = dict(arch="mlp", hidden=(400, 400), epochs=50, augment_with=FMNIST_AUGMENT)
QUICK = dict(width=0.08, epochs=1, train_limit=256, test_limit=128)


def run(args):
    started = time.time()
    rt = runtime(args)
    cfg = configure(args, DEFAULTS, QUICK)
    data = load_data("fashion-mnist", args, cfg)
    settings = [(f"M{m}_{off}", dict(steps=m, offset=off)) for off in OFFSETS for m in M_VALUES]
    runs = train_many(args, rt, cfg, data, settings, "sweep-m")
    if not rt.main:
        return None
    acc = {off: {str(m): runs[f"M{m}_{off}"]["test_accuracy_noise_mean"] for m in M_VALUES} for off in OFFSETS}
    plot_sweep(os.path.join(args.out, "accuracy_vs_m.png"), list(M_VALUES),
                 {f"{off} offset": list(acc[off].values()) for off in OFFSETS}, "DSTD steps M in training",
                 logx=True, title="F-MNIST MLP, exact evaluation")
    plot_curves(os.path.join(args.out, "training_curves.png"), {t: r["history"] for t, r in runs.items()})
    best = max(runs, key=lambda t: runs[t]["test_accuracy_noise_mean"])
    res = write_results(args.out, "sweep-m", args.seed, cfg | dict(m_values=M_VALUES, offsets=OFFSETS), started,
                        resumed_s=resumed_s(runs),
                        test_accuracy=runs[best]["test_accuracy_noise_mean"], best=best, accuracy=acc,
                        time_per_epoch_s={t: r["time_per_epoch_s"] for t, r in runs.items()},
                        history={t: r["history"] for t, r in runs.items()})
    for off in OFFSETS:
        print(f"{off:6s} offset: " + ", ".join(f"M={m}: {100 * a:.2f} %" for m, a in acc[off].items()))
    return res
