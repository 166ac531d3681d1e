"""penalty: where the temporal penalty acts, and why (Fashion-MNIST MLP 784-400-400-10).

The loss is cross-entropy + gamma1 sum_i (t_i - t_ref)^2 over the output neurons (docs/paper.md section 6).
An RC-Spike output spikes at t = clip(u, 0, 1), u the firing phase's unclipped crossing time
(circuitnet.solve.kernels.firing_time; ideal ramp u = 1 - v(1)).  An output whose v(1) <= 0 never
reaches threshold: t = 1 and d t / d w = 0, so a penalty on t cannot bring it back.  At large |E|
cross-entropy drives most outputs there and training stalls.  This experiment trains the MLP with
the penalty on t ("clipped") and on u ("unclipped", circuitnet's default) at the circuit's own
E_pos/E_neg (2.80 / -1.53) and at |E| = 100 (the paper's ANN), for a few epochs (default 3),
and reports test accuracy (exact, noise on: the mean over 5 noise draws) and the fraction of silent outputs (noise-free
exact output times at 1) on the test set.
"""
import os
import time

from .classify_config import FMNIST_AUGMENT, configure
from .classify_data import load_data
from .classify_eval import output_times
from .classify_net import copy_at
from .classify_plots import plot_curves
from .runtime import runtime
from .sweeps import resumed_s, train_many
from .common import write_results

DEFAULTS = dict(arch="mlp", hidden=(400, 400), epochs=3, augment_with=FMNIST_AUGMENT)
QUICK = dict(width=0.08, epochs=1, train_limit=256, test_limit=128)
SETTINGS = {"circuit": dict(e_pos=None, e_neg=None), "E100": dict(e_pos=100.0, e_neg=-100.0)}


def silent_fraction(net, cfg, in_shape, x, rt):
    """Fraction of output neurons that do not fire (t = 1, noise-free, exact) on images x."""
    quiet = copy_at(net, cfg, in_shape, sigma_spike=0.0)
    return float((output_times(quiet, cfg, x, rt) >= 1.0).float().mean())


def run(args):
    started = time.time()
    rt = runtime(args)
    cfg = configure(args, DEFAULTS, QUICK)
    data = load_data("fashion-mnist", args, cfg)
    in_shape = tuple(data.x_train.shape[1:])
    settings = [(f"{on}_{e}", dict(penalty_on=on, **ch)) for e, ch in SETTINGS.items() for on in ("clipped", "unclipped")]
    runs = train_many(args, rt, cfg, data, settings, "penalty")
    acc, silent = {}, {}
    for tag, changes in settings:
        acc[tag] = runs[tag]["test_accuracy_noise_mean"]
        silent[tag] = silent_fraction(runs[tag]["net"], dict(cfg, **changes), in_shape, data.x_test, rt)
        if rt.main:
            print(f"penalty on {tag}: test accuracy {100 * acc[tag]:.2f} %, silent outputs {100 * silent[tag]:.1f} %")
    if not rt.main:
        return None
    plot_curves(os.path.join(args.out, "training_curves.png"), {t: r["history"] for t, r in runs.items()})
    return write_results(args.out, "penalty", args.seed, cfg, started, resumed_s=resumed_s(runs),
                         test_accuracy=acc["unclipped_circuit"],
                         accuracy=acc, silent_outputs=silent,
                         time_per_epoch_s={t: r["time_per_epoch_s"] for t, r in runs.items()},
                         history={t: r["history"] for t, r in runs.items()})
