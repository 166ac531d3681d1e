"""sweep-e: Fashion-MNIST MLP test accuracy vs the reversal potential |E| (docs/paper.md section 7, fig. 4f).

For |E| in {1, 2, 4, 7.4, 100} (E_pos = |E|, E_neg = -|E|; the 50-epoch run in docs/experiments.md):
* PNN: a network trained (DSTD) and tested (exact) on the circuit with that |E|;
* ANN: the |E| = 100 network (the paper's ANN baseline) tested unchanged on the circuit with |E|;
* scaled ANN: the same weights times one global factor s, chosen on a 1 % grid (coarse 10 % pass
  over [0.5, 5], then 1 % steps around the best) to minimise the RMSE between the output spike
  times on the |E| circuit and the ANN's own (|E| = 100) on a subset of the training set
  (noise-free, exact method), then tested like the others.
All tests keep the spike-time noise sigma_spike (0.01) on, as in training; each accuracy is the mean
over cfg noise_draws (5) draws of that noise.
"""
import os
import time

from circuitnet.models import fit_current_scales, scale_weights_

from .classify_config import FMNIST_AUGMENT, configure
from .classify_data import load_data
from .classify_eval import noise_mean, output_times
from .classify_net import copy_at
from .classify_plots import plot_curves, plot_sweep
from .runtime import runtime
from .sweeps import resumed_s, train_many
from .common import write_results

E_VALUES = (1.0, 2.0, 4.0, 7.4, 100.0)
E_ANN = 100.0
DEFAULTS = dict(arch="mlp", hidden=(400, 400), epochs=50, scale_subset=512, augment_with=FMNIST_AUGMENT)
QUICK = dict(width=0.08, epochs=1, train_limit=256, test_limit=128, scale_subset=32)
SCALE_RANGE, COARSE, FINE = (0.5, 5.0), 0.1, 0.01


def _at(e):
    return dict(e_pos=e, e_neg=-e)


def best_scale(ann, cfg, in_shape, e, x, rt):
    """The global weight factor s (1 % grid) that minimises the output spike-time RMSE between the
    ANN on the |E| = e circuit and the ANN itself; returns (s, rmse)."""
    target = output_times(copy_at(ann, cfg, in_shape, sigma_spike=0.0, **_at(E_ANN)), cfg, x, rt)
    base = copy_at(ann, cfg, in_shape, sigma_spike=0.0, **_at(e))
    s, _, err = fit_current_scales(base, x, target, lo=SCALE_RANGE[0], hi=SCALE_RANGE[1], coarse=COARSE, fine=FINE,
                                   separate=False, forward=lambda n, xx: output_times(n, cfg, xx, rt))
    return s, err


def run(args):
    started = time.time()
    rt = runtime(args)
    cfg = configure(args, DEFAULTS, QUICK)
    cfg["e_pos"] = cfg["e_neg"] = None          # the sweep sets E itself
    data = load_data("fashion-mnist", args, cfg)
    in_shape = tuple(data.x_train.shape[1:])
    runs = train_many(args, rt, cfg, data, [(f"pnn_E{e:g}", _at(e)) for e in E_VALUES], "sweep-e")
    ann = runs[f"pnn_E{E_ANN:g}"]["net"]
    x_fit = data.x_train[:cfg["scale_subset"]]
    pnn, ann_acc, scaled_acc, scales, rmses = {}, {}, {}, {}, {}
    for e in E_VALUES:
        key = f"{e:g}"
        pnn[key] = runs[f"pnn_E{key}"]["test_accuracy_noise_mean"]
        net = copy_at(ann, cfg, in_shape, **_at(e))
        ann_acc[key] = noise_mean(net, cfg, data.x_test, data.y_test, rt, args.seed)
        scales[key], rmses[key] = best_scale(ann, cfg, in_shape, e, x_fit, rt)
        scale_weights_(net, scales[key])                 # the same copy, now scaled
        scaled_acc[key] = noise_mean(net, cfg, data.x_test, data.y_test, rt, args.seed)
        if rt.main:
            print(f"|E| = {key}: PNN {100 * pnn[key]:.2f} %, ANN {100 * ann_acc[key]:.2f} %, scaled ANN "
                  f"{100 * scaled_acc[key]:.2f} % (s = {scales[key]:.2f}, output RMSE {rmses[key]:.4f})")
    if not rt.main:
        return None
    plot_sweep(os.path.join(args.out, "accuracy_vs_e.png"), list(E_VALUES),
                 {"PNN (trained at |E|)": list(pnn.values()), "ANN (|E| = 100)": list(ann_acc.values()),
                  "scaled ANN": list(scaled_acc.values())}, "|E| (E_pos = |E|, E_neg = -|E|)", logx=True,
                 title="F-MNIST MLP, exact evaluation")
    plot_curves(os.path.join(args.out, "training_curves.png"), {t: r["history"] for t, r in runs.items()})
    best = max(pnn, key=pnn.get)
    return write_results(args.out, "sweep-e", args.seed, cfg | dict(e_values=E_VALUES, e_ann=E_ANN,
                         scale_range=SCALE_RANGE, scale_steps=(COARSE, FINE)), started, resumed_s=resumed_s(runs),
                         test_accuracy=pnn[best], best_e=float(best), accuracy=dict(pnn=pnn, ann=ann_acc,
                         scaled_ann=scaled_acc), ann_scale=scales, ann_scale_rmse=rmses,
                         time_per_epoch_s={t: r["time_per_epoch_s"] for t, r in runs.items()},
                         history={t: r["history"] for t, r in runs.items()})
