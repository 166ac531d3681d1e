"""Evaluation of an image-classification network: the method it is evaluated with (exact, or DSTD on
a fine grid for a circuit without a closed form), its output spike times, its accuracy (sharded over
processes) and the accuracy over draws of the spike-time noise."""
import torch
from tqdm import tqdm

from circuitnet import solve
from circuitnet.compile import compile_circuit

from .classify_net import circuit, inputs, training_method
from .train import bars


def evaluation(cfg):
    """(method, options) of the test evaluation: "exact" on the paper's affine circuit; a circuit
    without a closed form is evaluated with "dstd" on a fixed grid of 4 x steps intervals (its
    spike-time error, about 16 times below the training grid's, is far below the noise)."""
    if solve.Exact().supports(compile_circuit(circuit(cfg["e_pos"], cfg["e_neg"], cfg["circuit"]))):
        return "exact", {}
    return "dstd", dict(steps=4 * cfg["steps"])


def evaluation_label(cfg):
    """The evaluation method as plots and printed results name it: "exact" or e.g. "dstd, 40 steps"."""
    method, options = evaluation(cfg)
    return method + "".join(f", {v} {k}" for k, v in options.items())


def output_times(net, cfg, x, rt, method=None, progress=None):
    """Output spike times [N, classes] of ``net`` on images x (this process computes all of x);
    method None: the circuit's ``evaluation``."""
    net.eval()
    method, options = (method, {}) if method is not None else evaluation(cfg)
    net.set_method(method, **options)
    outs = []
    with torch.no_grad():
        for i in tqdm(range(0, len(x), cfg["eval_batch"]), desc=progress or "eval", leave=False,
                      disable=progress is None or not rt.main or not bars()):
            outs.append(net(inputs(cfg, x[i:i + cfg["eval_batch"]].to(rt.device))).cpu())
    net.set_method(training_method(cfg))
    return torch.cat(outs)


def accuracy(net, cfg, x, y, rt, method=None, progress=None):
    """Test accuracy with ``method`` (noise as configured); each process takes every world-th sample."""
    x, y = x[rt.rank::rt.world], y[rt.rank::rt.world]
    pred = output_times(net, cfg, x, rt, method, progress).argmin(1) if len(y) else y
    correct, total = rt.all_sum([float((pred == y).sum()), float(len(y))])
    return correct / max(total, 1.0)


def noise_draws(net, cfg, x, y, rt, k, seed=0):
    """Test accuracy of the same weights under k independent draws of the spike-time noise (torch seeds
    1000 seed + 1 .. k): at sigma_spike > 0 one evaluation is a random variable (on Fashion-MNIST the
    draws of one network have a standard deviation of about 0.1 points), and their mean is the number
    to compare. Without noise the draws are identical, so one is computed."""
    if k < 1:
        raise ValueError(f"noise_draws must be >= 1, got {k}")
    accs = []
    for i in range(k if cfg["sigma_spike"] > 0 else 1):
        torch.manual_seed(1000 * seed + i + 1)
        accs.append(accuracy(net, cfg, x, y, rt))
    return accs


def noise_mean(net, cfg, x, y, rt, seed=0):
    """Mean accuracy over cfg["noise_draws"] draws of the spike-time noise (noise_draws): the number
    the sweeps compare, since one draw on Fashion-MNIST moves by about 0.1 points."""
    draws = noise_draws(net, cfg, x, y, rt, cfg["noise_draws"], seed)
    return sum(draws) / len(draws)
