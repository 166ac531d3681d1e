"""The runner of the image-classification experiments that train one network (fmnist-mlp, fmnist-cnn,
cifar10): configure, load the data, train, evaluate the final weights with and without the spike-time
noise, then write results.json, training_curves.png and spike_raster.png."""
import os
import time

from .classify_config import configure
from .classify_data import load_data
from .classify_eval import accuracy, evaluation_label, noise_draws
from .classify_net import circuit, copy_at
from .classify_plots import plot_curves, plot_raster
from .classify_train import train
from .common import write_results
from .runtime import runtime


def run_experiment(args, experiment, dataset, defaults, quick):
    """Train one network, write results.json, training_curves.png and spike_raster.png."""
    started = time.time()
    rt = runtime(args)
    cfg = configure(args, defaults, quick)
    data = load_data(dataset, args, cfg)
    res = train(cfg, data, args.out, "model", rt, seed=args.seed, desc=experiment, quiet=getattr(args, "quiet", False))
    net, hist = res["net"], res["history"]
    if rt.main and not getattr(args, "quiet", False) and hist:
        passes = 1 + (cfg["noise_draws"] if cfg["sigma_spike"] > 0 else 1)
        print(f"{experiment}: evaluating the final weights ({evaluation_label(cfg)}): {passes} passes over "
              f"{len(data.y_test)} test images (noise-free, and per draw of the spike-time noise), about "
              f"{passes * hist[-1]['eval_s']:.0f} s", flush=True)
    # the paper's Table 3 also reports noise-free inference: the same weights with sigma_spike = 0
    clean = accuracy(copy_at(net, cfg, res["in_shape"], sigma_spike=0.0), cfg, data.x_test, data.y_test, rt)
    draws = noise_draws(net, cfg, data.x_test, data.y_test, rt, cfg["noise_draws"], args.seed)
    if not rt.main:
        return None
    plot_curves(os.path.join(args.out, "training_curves.png"), {experiment: hist}, evaluation_label(cfg))
    plot_raster(os.path.join(args.out, "spike_raster.png"), net, cfg, data.x_test, data.y_test, rt)
    c = circuit(cfg["e_pos"], cfg["e_neg"], cfg["circuit"])
    val = {}
    if data.x_val is not None:   # the last epoch's validation accuracy, and the epoch validation would pick
        best = max(hist, key=lambda h: h["val_acc"])
        val = dict(val_accuracy=hist[-1]["val_acc"], val_samples=len(data.y_val), best_val_epoch=best["epoch"],
                   best_val_accuracy=best["val_acc"], test_accuracy_at_best_val=best["test_acc"])
    reversals = dict(e_pos=c.e_pos, e_neg=c.e_neg) if hasattr(c, "e_pos") else {}   # a one-node circuit's E
    out = write_results(args.out, experiment, args.seed, cfg, started, resumed_s=res["resumed_s"], **val,
                        test_accuracy=res["test_accuracy"], best_test_accuracy=max(h["test_acc"] for h in hist),
                        test_accuracy_sigma0=clean, test_accuracy_noise_mean=sum(draws) / len(draws),
                        test_accuracy_noise_draws=draws,
                        epochs=len(hist), time_per_epoch_s=res["time_per_epoch_s"],
                        train_samples=len(data.y_train), test_samples=len(data.y_test),
                        parameters=sum(p.numel() for p in net.parameters()), **reversals,
                        evaluation=evaluation_label(cfg),
                        device=str(rt.device), world_size=rt.world, history=hist)
    if val:
        print(f"{experiment}: validation accuracy {100 * val['val_accuracy']:.2f} % on {val['val_samples']} validation "
              f"samples (best {100 * val['best_val_accuracy']:.2f} % at epoch {val['best_val_epoch']})")
    print(f"{experiment}: test accuracy ({evaluation_label(cfg)}) {100 * out['test_accuracy']:.2f} % after "
          f"{len(hist)} epochs "
          f"(noise-free inference {100 * clean:.2f} %; mean over {len(draws)} draws of the spike-time noise "
          f"{100 * out['test_accuracy_noise_mean']:.2f} %) "
          f"({out['time_per_epoch_s']:.1f} s per epoch: training {hist[-1]['train_s']:.1f} s, "
          f"evaluation {hist[-1]['eval_s']:.1f} s)"
          + (f", E_pos = {_num(c.e_pos)}, E_neg = {_num(c.e_neg)}" if reversals else ""))
    return out


def _num(e):
    """A reversal potential for printing (None: the device current has no single zero)."""
    return "none" if e is None else f"{e:.2f}"
