"""The shared code path of the image-classification experiments (docs/paper.md sections 6 and 7).

Network: models.mlp (784-400-400-10, hidden sizes x width) or models.vgg7 (width x1, x2) of
RC-Spike neurons on the circuit ``cn.circuits.rc_spike(firing="ideal", e_pos, e_neg)``; by default
the circuit's own reversal potentials E_pos = 2.80, E_neg = -1.53 (docs/paper.md section 3, Table 2).
Input coding t = 1 - x (models.encode), one spike per pixel channel.

Training (docs/paper.md section 6): method "dstd" (M = ``steps`` grid intervals, random offset per layer and
mini-batch), Adam lr 1e-4, batch 32, loss = cross-entropy of softmax(-t_out / 0.07)
+ gamma1 sum_i (u_i - t_ref)^2 with gamma1 = 2.6, t_ref = 0.9, where u is the output layer's
unclipped firing time (t_out = clip(u, 0, 1) + noise; SpikeNet.forward(unclipped=True)): on the
clipped time the penalty has no gradient for outputs that never fire, and at large |E| training
collapsed with up to 97 % of the outputs silent (the paper does not say which it used, docs/paper.md
section 6;
cfg penalty_on="clipped" restores the other reading, see paper_repro.penalty), spike-time noise
sigma_spike = 0.01 after every layer in training and evaluation.  paper_repro.train.fit saves a
checkpoint after every epoch and resumes from it.  Options beyond the paper: cosine learning-rate
schedule, spike dropout, flip/shift augmentation, decoupled weight decay, and ema = d > 0, an
exponential moving average of the weights (decay d per step) that is evaluated and kept as the
trained network.
Circuit: ``--circuit module:function`` (cfg circuit) replaces the paper's circuit in every layer by
the NeuronCircuit the function returns; the string and the circuit's parameter values
(cfg circuit_parameters) go into the checkpoint's config and results.json.
Evaluation: method "exact" (closed form) on the test set after every epoch (a circuit without a
closed form: "dstd" on a fixed grid of 4 x steps intervals, ``evaluation``); recorded per epoch:
training loss, training accuracy (the DSTD forward passes of the epoch, noise on, while the weights
move), test accuracy, training and evaluation seconds.

Devices: ``--device cuda`` moves the model and every batch to the GPU.  Under torchrun (RANK and
WORLD_SIZE in the environment) the model is wrapped in DistributedDataParallel, each process
trains on its DistributedSampler shard with batch // world samples (global batch unchanged),
evaluates its share of the test set (counts all-reduced), and keeps its own checkpoint;
process 0 writes results and plots.
"""
import atexit
import contextlib
import importlib
import json
import os
import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

import circuitnet as cn
from circuitnet import solve
from circuitnet.compile import compile_circuit
from circuitnet.models import (encode, firing_fractions, init_firing_, mlp, spike_cross_entropy, temporal_penalty,
                    vgg7)

from .common import pyplot, seed_everything, write_results
from .data import Split, augment, load_cifar10, load_fashion_mnist
from .train import bars, check_config, check_ema, check_weight_decay, claim, done_epochs, fit

CFG = dict(arch="mlp", hidden=(400, 400), width=1.0, epochs=50, lr=1e-4, batch=32, gamma1=2.6, t_ref=0.9,
           tau_soft=0.07, sigma_spike=0.01, dropout=0.0, ema=0.0, weight_decay=0.0, steps=10, offset="random",
           e_pos=None, e_neg=None, penalty_on="unclipped", schedule="constant", augment=None, train_limit=None,
           test_limit=None, eval_batch=1000, noise_draws=5, val=0, circuit=None, circuit_parameters=None, init=None,
           mismatch=None)
# augment: None or the keyword arguments of paper_repro.data.augment; --augment switches an
# experiment's "augment_with" on (CIFAR-10's flip/rotate/crop unless the experiment says otherwise)
AUGMENT = dict(flip=0.5, degrees=15.0, padding=4)
FMNIST_AUGMENT = dict(flip=0.5, degrees=0.0, padding=2)   # Fashion-MNIST: flip and +-2 pixel shifts
CIFAR10_DIR = "data/cifar10"
# keys whose change makes an existing checkpoint unusable
_MODEL_KEYS = ("arch", "hidden", "width", "lr", "batch", "gamma1", "t_ref", "tau_soft", "sigma_spike", "dropout",
               "ema", "weight_decay", "steps", "offset", "e_pos", "e_neg", "penalty_on", "schedule", "augment",
               "train_limit", "val", "circuit", "circuit_parameters", "init")
INIT_SAMPLES = 256       # training images that the data-dependent initialisation and the firing report see
SILENT = 0.1             # a layer where fewer neurons fire at initialisation is reported as mostly silent


# ---------------------------------------------------------------------------- runtime
@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1
    distributed: bool = False

    @property
    def main(self):
        return self.rank == 0

    def all_sum(self, values):
        """Sum a list of numbers over processes (identity without torch.distributed)."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.distributed:
            import torch.distributed as dist
            dist.all_reduce(t)
        return t.tolist()


def _leave_process_group():
    """Wait for every rank (at most 60 s), then tear the group down. A rank that destroys its gloo
    group while another still talks to it makes that one abort ("terminate called without an active
    exception"); after a failure elsewhere the barrier times out and the group is torn down anyway."""
    import datetime
    import torch.distributed as dist
    if not dist.is_initialized():
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
        else:
            dist.barrier()
    except RuntimeError:
        pass
    dist.destroy_process_group()


def runtime(args):
    """Device and process group. Distributed when launched by torchrun (RANK, WORLD_SIZE set):
    nccl on cuda, gloo on cpu; one GPU per process (LOCAL_RANK)."""
    want = getattr(args, "device", "cpu")
    if want == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank, world, local = 0, 1, 0
    if distributed:
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group("nccl" if want == "cuda" else "gloo")
            atexit.register(_leave_process_group)
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local) if want == "cuda" else torch.device("cpu")
    if want == "cuda":
        torch.cuda.set_device(device)
    return Runtime(device, rank, world, distributed)


# ---------------------------------------------------------------------------- configuration and data
def configure(args, defaults, quick=None):
    """CFG < experiment defaults < quick-mode settings < explicit command-line options."""
    cfg = dict(CFG, **defaults)
    if getattr(args, "quick", False) and quick:
        cfg.update(quick)
    for key in ("epochs", "width", "steps", "e_pos", "e_neg", "lr", "schedule", "dropout", "ema", "weight_decay",
                "gamma1", "t_ref", "val", "circuit", "init", "mismatch", "sigmas"):
        value = getattr(args, key, None)
        if value is not None:
            cfg[key] = value
    if cfg["init"] is None:         # a user's circuit gets weights that fire on it (models.init_firing_)
        cfg["init"] = "he" if cfg["circuit"] is None else "firing"
    if cfg["init"] not in ("he", "firing"):
        raise ValueError(f"init must be 'he' or 'firing', got {cfg['init']!r}")
    if cfg["circuit"] is not None:
        if cfg["e_pos"] is not None or cfg["e_neg"] is not None:
            raise ValueError("--e-pos/--e-neg set the paper's circuit; with --circuit the function sets the circuit")
        c = load_circuit(cfg["circuit"])
        cfg["circuit_parameters"] = {s.name: float(v) for s, v in sorted(c.values.items(), key=lambda kv: kv[0].name)}
    with_ = cfg.pop("augment_with", AUGMENT)
    flag = getattr(args, "augment", None)
    if flag is not None:
        cfg["augment"] = (cfg["augment"] or dict(with_)) if flag else None
    return cfg


def subset(split, n_train=None, n_test=None, seed=0):
    """A fixed random subset (the same for every run with this seed) of the training / test sets."""
    g = torch.Generator().manual_seed(seed)
    pick = lambda x, y, n: (x, y) if n is None or n >= len(y) else (lambda i: (x[i], y[i]))(
        torch.randperm(len(y), generator=g)[:n])
    return Split(*pick(split.x_train, split.y_train, n_train), *pick(split.x_test, split.y_test, n_test))


def hold_out(split, n_val, seed=0):
    """Move ``n_val`` training images (a random choice fixed by ``seed``) into a validation set: what
    recipes and hyper-parameters are chosen on, never the test set."""
    if n_val <= 0:
        return split
    n = len(split.y_train)
    if n_val >= n:
        raise SystemExit(f"error: --val {n_val} leaves no training images (the training set has {n})")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(10007 * seed + 1))
    keep, val = order[n_val:].sort().values, order[:n_val].sort().values
    return Split(split.x_train[keep], split.y_train[keep], split.x_test, split.y_test,
                 split.x_train[val], split.y_train[val])


def load_data(dataset, args, cfg):
    root = getattr(args, "data", None)
    if dataset not in ("fashion-mnist", "cifar10"):
        raise ValueError(f"unknown dataset {dataset!r}")
    try:
        split = load_fashion_mnist(root) if dataset == "fashion-mnist" else load_cifar10(root or CIFAR10_DIR)
    except FileNotFoundError as e:
        raise SystemExit(f"error: {e}") from None
    seed = getattr(args, "seed", 0)
    return hold_out(subset(split, cfg["train_limit"], cfg["test_limit"], seed=seed), cfg["val"], seed)


# ---------------------------------------------------------------------------- network
def circuit(e_pos=None, e_neg=None, spec=None):
    """The paper's RC-Spike circuit with the ideal ramp (E_pos/E_neg None: the circuit's own), or the
    circuit of ``spec`` = "module:function" (cfg["circuit"], --circuit)."""
    if spec is not None:
        return load_circuit(spec)
    return cn.circuits.rc_spike(firing="ideal", e_pos=e_pos, e_neg=e_neg)


def load_circuit(spec):
    """The NeuronCircuit returned by ``module:function`` (called without arguments), e.g.
    "circuitnet.circuits:rc_spike_quadratic"; every layer of the network uses it."""
    mod, sep, name = str(spec).partition(":")
    if not (sep and mod and name):
        raise ValueError(f"--circuit {spec!r}: not module:function")
    try:
        fn = getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"--circuit {spec!r}: {e}") from None
    if not callable(fn):
        raise ValueError(f"--circuit {spec!r}: not a function")
    try:
        c = fn()
    except TypeError as e:
        raise ValueError(f"--circuit {spec!r}: must be callable without arguments ({e})") from None
    if not isinstance(c, cn.NeuronCircuit):
        raise ValueError(f"--circuit {spec!r}: returned {type(c).__name__}, not a NeuronCircuit")
    return c


def library_circuits():
    """The --circuit values of the library's own circuits: "circuitnet.circuits:NAME" for each public
    function of circuitnet.circuits that needs no arguments."""
    import inspect
    need = lambda f: any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                         for p in inspect.signature(f).parameters.values())
    return [f"circuitnet.circuits:{n}" for n, f in inspect.getmembers(cn.circuits, inspect.isfunction)
            if not n.startswith("_") and f.__module__ == cn.circuits.__name__ and not need(f)]


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


def training_method(cfg):
    """The DSTD that trains: cfg["steps"] intervals, the random offset per mini-batch or none ("fixed")."""
    return solve.DSTD(steps=cfg["steps"], offset="random" if cfg["offset"] == "random" else 0.0)


def build(cfg, in_shape, classes=10):
    """The network of cfg["arch"] for images of shape in_shape = (C, H, W), trained by ``training_method``."""
    kw = dict(circuit=circuit(cfg["e_pos"], cfg["e_neg"], cfg["circuit"]), method=training_method(cfg),
              sigma_spike=cfg["sigma_spike"], dropout=cfg["dropout"])
    C, H, W = in_shape
    if cfg["arch"] == "mlp":
        hidden = [max(1, round(h * cfg["width"])) for h in cfg["hidden"]]
        net = mlp((C * H * W, *hidden, classes), **kw)
    elif cfg["arch"] == "vgg7":
        if H != W:
            raise ValueError(f"vgg7 expects square images, got {H}x{W}")
        net = vgg7(in_channels=C, num_classes=classes, image_size=H, width=cfg["width"], **kw)
    else:
        raise ValueError(f"unknown arch {cfg['arch']!r}")
    return net


def inputs(cfg, x):
    """Images [B, C, H, W] in [0, 1] -> input spike times (flattened for the MLP), contiguous."""
    t = encode(x)
    return (t.flatten(1) if cfg["arch"] == "mlp" else t).contiguous()


def copy_at(net, cfg, in_shape, **changes):
    """A copy of ``net``'s weights in a network built with cfg updated by ``changes`` (e.g. another
    E_pos/E_neg or sigma_spike), on the same device, in eval mode."""
    other = build(dict(cfg, **changes), in_shape).to(next(net.parameters()).device)
    other.load_state_dict(net.state_dict())
    return other.eval()


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


# ---------------------------------------------------------------------------- training
def initialise(net, cfg, data, rt, seed, desc, quiet):
    """cfg["init"] = "firing": shift each layer's weights so that half its neurons fire on INIT_SAMPLES
    training images (models.init_firing_); "he": keep the layers' He init. Either way report how many
    neurons of each layer fire at the start, and warn where a layer is mostly silent (fewer than
    SILENT): a neuron that never fires has no gradient. Returns the fractions per layer."""
    pick = torch.randperm(len(data.y_train), generator=torch.Generator().manual_seed(seed + 31))[:INIT_SAMPLES]
    t = inputs(cfg, data.x_train[pick].to(rt.device))
    with torch.random.fork_rng(devices=[rt.device] if rt.device.type == "cuda" else []):
        torch.manual_seed(seed)           # the same on every process; training's random stream is left as it was
        fractions = init_firing_(net, t)["after"] if cfg["init"] == "firing" else firing_fractions(net, t)
    if not quiet:
        shown = " / ".join(f"{100 * f:.0f}" for f in fractions)
        print(f"{desc}: at initialisation ({cfg['init']}) {shown} % of each layer's neurons fire "
              f"({len(pick)} training images)", flush=True)
        for k, f in enumerate(fractions):
            if f < SILENT:
                print(f"{desc}: warning: layer {k + 1} is mostly silent at initialisation ({100 * f:.1f} % of its "
                      f"neurons fire): a neuron that never fires has no gradient; "
                      + ("try --init firing" if cfg["init"] == "he" else "check the circuit's firing phase"),
                      flush=True)
    return fractions


def _check_config(path, cfg):
    """Refuse to resume a checkpoint written with another configuration (train.check_config)."""
    return check_config(path, {k: cfg[k] for k in _MODEL_KEYS}, CFG)


def training_loss(model, cfg, x, y):
    """(loss, output times) of a batch: cross-entropy of softmax(-t/tau_soft) + gamma1 sum_i (u_i - t_ref)^2,
    the penalty on the unclipped firing times u (or on t, cfg penalty_on="clipped")."""
    t_out, u = model(inputs(cfg, x), unclipped=True)
    on = {"unclipped": u, "clipped": t_out}[cfg["penalty_on"]]
    return spike_cross_entropy(t_out, y, cfg["tau_soft"]) + temporal_penalty(on, cfg["t_ref"], cfg["gamma1"]), t_out


def train(cfg, data, out, tag, rt, seed=0, desc=None, quiet=False):
    """Train a network on data (a Split) with cfg; checkpoint OUT/TAG.pt (resumed when present).
    Returns dict(net (unwrapped, eval mode), history, test_accuracy, time_per_epoch_s, resumed_s: the
    recorded seconds of the epochs restored from the checkpoint)."""
    if cfg["penalty_on"] not in ("unclipped", "clipped"):
        raise ValueError(f"penalty_on must be 'unclipped' or 'clipped', got {cfg['penalty_on']!r}")
    check_ema(cfg["ema"])
    check_weight_decay(cfg["weight_decay"])
    if not 0.0 < cfg["t_ref"] <= 1.0:
        raise ValueError(f"t_ref (target output time of the temporal penalty) must be in (0, 1], got {cfg['t_ref']}")
    desc = desc or tag
    in_shape = tuple(data.x_train.shape[1:])
    ckpt = os.path.join(out, f"{tag}.pt" if rt.rank == 0 else f"{tag}.pt.rank{rt.rank}")
    want = _check_config(os.path.join(out, f"{tag}.json"), cfg)
    seed_everything(seed)
    net = build(cfg, in_shape).to(rt.device)   # a configuration build() refuses leaves nothing behind
    if cfg["mismatch"] is not None:            # variation-aware from the first epoch: a fresh chip per mini-batch
        from .spreads import COMPARATOR_OFFSET, at_level, on_circuit, sky130_spreads
        on_circuit(net, at_level(net.spiking_layers[0].circuit, cfg["mismatch"], sky130_spreads(), COMPARATOR_OFFSET))
        net.train_on_chips(1.0)
    if rt.main:
        with open(os.path.join(out, f"{tag}.json"), "w") as f:
            json.dump(want, f, indent=1)
    model = net
    if rt.distributed:
        from torch.nn.parallel import DistributedDataParallel
        model = DistributedDataParallel(net, device_ids=[rt.device] if rt.device.type == "cuda" else None)
        torch.manual_seed(seed + 7919 * rt.rank)   # decorrelate noise and offsets across processes
    n, batch = len(data.y_train), max(1, cfg["batch"] // rt.world)
    sampler = None
    if rt.distributed:
        from torch.utils.data import DistributedSampler
        sampler = DistributedSampler(range(n), num_replicas=rt.world, rank=rt.rank, shuffle=True, seed=seed)
    epoch = [done_epochs(ckpt)]
    resumed = epoch[0]
    if not resumed:
        initialise(net, cfg, data, rt, seed, desc, quiet or not rt.main)
    clock = {}
    counts = dict(correct=0.0, seen=0)   # training accuracy of the epoch (DSTD, noise on, while learning)
    quiet = quiet or not rt.main

    def batches():
        e = epoch[0]
        epoch[0] += 1
        if sampler is not None:
            sampler.set_epoch(e)
            order = torch.tensor(list(sampler))
        else:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + e))
        clock["start"] = time.time()
        for i in tqdm(range(0, len(order), batch), desc=f"{desc} epoch {e + 1}", leave=False, disable=not bars(quiet)):
            j = order[i:i + batch]
            x = data.x_train[j].to(rt.device, non_blocking=True)
            if cfg["augment"]:
                x = augment(x, **cfg["augment"])
            yield x, data.y_train[j].to(rt.device, non_blocking=True)

    def loss_fn(m, x, y):
        loss, t_out = training_loss(m, cfg, x, y)
        counts["correct"] = counts["correct"] + (t_out.detach().argmin(1) == y).sum()   # on the device: no sync
        counts["seen"] += len(y)
        return loss

    def evaluate(m):
        if rt.device.type == "cuda":
            torch.cuda.synchronize(rt.device)
        t0 = time.time()
        acc = accuracy(net, cfg, data.x_test, data.y_test, rt, progress=None if quiet else f"{desc} test")
        val = {} if data.x_val is None else dict(val_acc=accuracy(net, cfg, data.x_val, data.y_val, rt))
        correct, seen = rt.all_sum([float(counts["correct"]), counts["seen"]])
        counts.update(correct=0.0, seen=0)
        return dict(test_acc=acc, **val, train_acc=correct / max(seen, 1.0), train_s=round(t0 - clock["start"], 3),
                    eval_s=round(time.time() - t0, 3))

    history = fit(model, batches, loss_fn, cfg["epochs"], cfg["lr"], ckpt=ckpt, evaluate=evaluate, desc=desc,
                  quiet=quiet, schedule=cfg["schedule"], ema=cfg["ema"], weight_decay=cfg["weight_decay"])
    net.eval()
    per_epoch = [h["train_s"] + h["eval_s"] for h in history]
    return dict(net=net, history=history, test_accuracy=history[-1]["test_acc"] if history else float("nan"),
                time_per_epoch_s=sum(per_epoch) / max(len(per_epoch), 1), in_shape=in_shape,
                resumed_s=sum(per_epoch[:resumed]))


# ---------------------------------------------------------------------------- plots
def plot_curves(path, runs, evaluated="exact"):
    """Training loss and accuracy per epoch (test, evaluated by the method ``evaluated`` names
    (evaluation_label); dashed: training; dotted: validation, when the run held out a validation set);
    runs = {label: history}."""
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for label, hist in runs.items():
        ep = [h["epoch"] for h in hist]
        ax[0].plot(ep, [h["loss"] for h in hist], marker=".", label=label)
        (line,) = ax[1].plot(ep, [100 * h["test_acc"] for h in hist], marker=".", label=label)
        if hist and "train_acc" in hist[0]:
            ax[1].plot(ep, [100 * h["train_acc"] for h in hist], ls="--", color=line.get_color(), lw=0.8)
        if hist and "val_acc" in hist[0]:
            ax[1].plot(ep, [100 * h["val_acc"] for h in hist], ls=":", color=line.get_color(), lw=1.2)
    ax[0].set(xlabel="epoch", ylabel="training loss (DSTD)")
    val = any(h and "val_acc" in h[0] for h in runs.values())
    ax[1].set(xlabel="epoch", ylabel="accuracy (%)")
    ax[1].set_title(f"solid: test ({evaluated}), dashed: training" + (", dotted: validation" if val else ""),
                    fontsize=9)
    if len(runs) > 1:
        ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_raster(path, net, cfg, x, y, rt, samples=8):
    """Output-layer spike times (the evaluation method) of the first few test samples: one row per output
    neuron, true class in red, the earliest spike (the prediction) circled."""
    t = output_times(net, cfg, x[:samples], rt).numpy()
    plt = pyplot()
    n = len(t)
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n + 1, 3.2), sharey=True, squeeze=False)
    for s, ax in enumerate(axes[0]):
        K = t.shape[1]
        colors = ["C3" if k == int(y[s]) else "0.4" for k in range(K)]
        ax.scatter(t[s], range(K), c=colors, marker="|", s=120)
        k = int(t[s].argmin())
        ax.scatter([t[s, k]], [k], facecolors="none", edgecolors="C0", s=80)
        ax.set(xlim=(-0.05, 1.05), title=f"label {int(y[s])}", xlabel="t")
        ax.set_yticks(range(K))
    axes[0][0].set_ylabel("output neuron")
    fig.suptitle(f"output spikes (firing phase, {evaluation_label(cfg)}); red: true class, circle: earliest",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------- one experiment
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
    out = write_results(args.out, experiment, args.seed, cfg, started, resumed_s=res["resumed_s"], **val,
                        test_accuracy=res["test_accuracy"], best_test_accuracy=max(h["test_acc"] for h in hist),
                        test_accuracy_sigma0=clean, test_accuracy_noise_mean=sum(draws) / len(draws),
                        test_accuracy_noise_draws=draws,
                        epochs=len(hist), time_per_epoch_s=res["time_per_epoch_s"],
                        train_samples=len(data.y_train), test_samples=len(data.y_test),
                        parameters=sum(p.numel() for p in net.parameters()), e_pos=c.e_pos, e_neg=c.e_neg,
                        evaluation=evaluation_label(cfg),
                        device=str(rt.device), world_size=rt.world, history=hist)
    if val:
        print(f"{experiment}: validation accuracy {100 * val['val_accuracy']:.2f} % on {val['val_samples']} held-out "
              f"training images (best {100 * val['best_val_accuracy']:.2f} % at epoch {val['best_val_epoch']})")
    print(f"{experiment}: test accuracy ({evaluation_label(cfg)}) {100 * out['test_accuracy']:.2f} % after "
          f"{len(hist)} epochs "
          f"(noise-free inference {100 * clean:.2f} %; mean over {len(draws)} draws of the spike-time noise "
          f"{100 * out['test_accuracy_noise_mean']:.2f} %) "
          f"({out['time_per_epoch_s']:.1f} s per epoch: training {hist[-1]['train_s']:.1f} s, "
          f"evaluation {hist[-1]['eval_s']:.1f} s), E_pos = {_num(c.e_pos)}, E_neg = {_num(c.e_neg)}")
    return out


def _num(e):
    """A reversal potential for printing (None: the device current has no single zero)."""
    return "none" if e is None else f"{e:.2f}"


# ---------------------------------------------------------------------------- sweeps
CLAIM_POLL_S = 5.0


def train_many(args, rt, cfg, data, settings, experiment):
    """Train one network per setting: settings = [(tag, changes to cfg)]; same seed, same data.
    Returns {tag: train() result + test_accuracy_noise_mean}; each run has its own checkpoint OUT/TAG.pt
    (resumable).

    Several processes may run the same command on the same --out at once (one per core, or per machine
    on a shared disk): each takes the first pending setting that no other process holds (train.claim
    on OUT/TAG), trains it (or loads it when finished), and checks the held ones again every
    CLAIM_POLL_S seconds; every process ends with all the runs and writes the same results."""
    runs, said = {}, None
    while len(runs) < len(settings):
        for tag, changes in settings:
            if tag not in runs and (r := _try_setting(args, rt, cfg, data, tag, changes, experiment)) is not None:
                runs[tag] = r
                break
        else:
            held = ", ".join(t for t, _ in settings if t not in runs)
            if rt.main and held != said:     # once per change, not every poll of an hour-long wait
                print(f"{experiment}: {held} held by another process; checking every {CLAIM_POLL_S:g} s", flush=True)
                said = held
            time.sleep(CLAIM_POLL_S)
    return {tag: runs[tag] for tag, _ in settings}


def _try_setting(args, rt, cfg, data, tag, changes, experiment):
    """One setting of train_many, unless another process holds it (None): train (or load) it and
    evaluate its final weights over the noise draws."""
    with claim(os.path.join(args.out, tag)) if rt.main else contextlib.nullcontext(False) as held:
        if rt.distributed:              # the main process claims for the whole torchrun job
            held = rt.all_sum([float(held)])[0] > 0
        if not held:
            return None
        c = dict(cfg, **changes)
        r = train(c, data, args.out, tag, rt, seed=args.seed, desc=f"{experiment} {tag}",
                  quiet=getattr(args, "quiet", False))
        r["test_accuracy_noise_mean"] = noise_mean(r["net"], c, data.x_test, data.y_test, rt, args.seed)
    if rt.main:
        print(f"{experiment} {tag}: test accuracy {100 * r['test_accuracy']:.2f} % in the last epoch, "
              f"{100 * r['test_accuracy_noise_mean']:.2f} % over {c['noise_draws']} noise draws "
              f"({r['time_per_epoch_s']:.1f} s per epoch)", flush=True)
    return r


def resumed_s(runs):
    """Recorded seconds of the epochs that train_many's runs restored from their checkpoints."""
    return sum(r["resumed_s"] for r in runs.values())


def plot_sweep(path, xs, series, xlabel, logx=False, title=None):
    """Test accuracy (%) against a swept quantity; series = {label: [accuracy per x]}."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, ys in series.items():
        ax.plot(xs, [100 * y for y in ys], marker="o", label=label)
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel="test accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
