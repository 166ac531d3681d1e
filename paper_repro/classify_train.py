"""Training of an image-classification network (paper_repro.classify describes the recipe): its
initialisation and firing report, its loss, and ``train``: one network, checkpointed and resumed,
on one process or under torchrun, evaluated after every epoch."""
import json
import os
import time

import torch
from tqdm import tqdm

from circuitnet.models import (bump_silent_, firing_fractions, init_firing_, label_time_penalty, silence_penalty,
                               spike_cross_entropy, temporal_penalty)

from .classify_config import CFG
from .classify_eval import accuracy
from .classify_net import build, inputs
from .common import seed_everything
from .data import augment
from .train import bars, check_config, check_ema, check_weight_decay, done_epochs, epoch_lr, fit

# keys whose change makes an existing checkpoint unusable
_MODEL_KEYS = ("arch", "hidden", "width", "lr", "batch", "gamma1", "t_ref", "tau_soft", "sigma_spike", "dropout",
               "ema", "weight_decay", "steps", "offset", "e_pos", "e_neg", "penalty_on", "schedule", "augment",
               "train_limit", "val", "circuit", "circuit_parameters", "init", "bump", "clip", "ce_on", "gamma_silent",
               "alpha", "beta", "hidden_limit", "bump_output", "weight_noise", "input_times")
INIT_SAMPLES = 256       # training images that the data-dependent initialisation and the firing report see
SILENT = 0.1             # a layer where fewer neurons fire at initialisation is reported as mostly silent


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
    the penalty on the unclipped firing times u (or on t, cfg penalty_on="clipped").

    Without the temporal penalty (gamma1 = 0) three optional terms give neurons that stay below threshold
    a gradient (a silent time-to-first-spike neuron reports t_max, flat in its weights), from the
    unclipped times u of every layer (the two-node LIF by its closed form: u = t_max + 1 - V_peak where
    it does not fire, V_peak the membrane's highest value over the window in units of V_th - V_rest):

        ce_on = "unclipped":  the cross-entropy on the output layer's u instead of t (a silent correct
                              output is pulled up by its peak's deficit)
        gamma_silent > 0:     + gamma_silent sum_hidden layers mean_{b,i} (u_bi - t_max)+   (models.silence_penalty)
        alpha > 0:            + alpha (exp(t_label / beta) - 1), fastAndDeep's term, on the output layer's
                              times (u with ce_on = "unclipped")                          (models.label_time_penalty)
    """
    if cfg["gamma1"] == 0:            # no penalty: no unclipped times needed (circuits without them train too)
        unclipped = cfg["ce_on"] == "unclipped" or cfg["gamma_silent"] > 0
        if unclipped:
            t_out, times, us = model(inputs(cfg, x), unclipped="all")
        else:
            t_out, times = model(inputs(cfg, x), all_times=True)
        if cfg["bump"]:               # weight bumping, applied before the next batch (models.bump_silent_)
            model.pending_bump = ([t.detach() for t in times], y if cfg["bump_output"] == "label" else None)
        on = us[-1] if cfg["ce_on"] == "unclipped" else t_out
        loss = spike_cross_entropy(on, y, cfg["tau_soft"])
        if cfg["gamma_silent"] > 0 and len(us) > 1:
            layers = getattr(model, "module", model).spiking_layers
            loss = loss + silence_penalty(us[:-1], [l.t_max for l in layers[:-1]], cfg["gamma_silent"])
        if cfg["alpha"] > 0:
            loss = loss + label_time_penalty(on, y, cfg["alpha"], cfg["beta"])
        return loss, t_out
    if cfg["ce_on"] != "clipped" or cfg["gamma_silent"] > 0 or cfg["alpha"] > 0:
        raise ValueError("--ce-on unclipped, --gamma-silent and --alpha are for training without the temporal "
                         "penalty (--gamma1 0)")
    if cfg["bump"]:
        raise ValueError("--bump (weight bumping) is for training without the temporal penalty (--gamma1 0)")
    t_out, u = model(inputs(cfg, x), unclipped=True)
    on = {"unclipped": u, "clipped": t_out}[cfg["penalty_on"]]
    return spike_cross_entropy(t_out, y, cfg["tau_soft"]) + temporal_penalty(on, cfg["t_ref"], cfg["gamma1"]), t_out


def train(cfg, data, out, tag, rt, seed=0, desc=None, quiet=False):
    """Train a network on data (a Split) with cfg; checkpoint OUT/TAG.pt (resumed when present).
    Returns dict(net (unwrapped, eval mode), history, test_accuracy, time_per_epoch_s, resumed_s: the
    recorded seconds of the epochs restored from the checkpoint)."""
    if cfg["bump_output"] not in ("any", "label"):
        raise ValueError(f"bump_output must be 'any' or 'label', got {cfg['bump_output']!r}")
    if cfg["ce_on"] not in ("unclipped", "clipped"):
        raise ValueError(f"ce_on must be 'unclipped' or 'clipped', got {cfg['ce_on']!r}")
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
        pending = getattr(m, "pending_bump", None)
        if pending is not None:     # the bump follows the learning-rate schedule: none once learning stops
            bump_silent_(net, pending[0], epoch_lr(cfg["bump"], epoch[0] - 1, cfg["epochs"], cfg["schedule"]),
                         hidden_limit=cfg["hidden_limit"], labels=pending[1])
            m.pending_bump = None
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
                  quiet=quiet, schedule=cfg["schedule"], ema=cfg["ema"], weight_decay=cfg["weight_decay"],
                  clip=cfg["clip"])
    net.eval()
    per_epoch = [h["train_s"] + h["eval_s"] for h in history]
    return dict(net=net, history=history, test_accuracy=history[-1]["test_acc"] if history else float("nan"),
                time_per_epoch_s=sum(per_epoch) / max(len(per_epoch), 1), in_shape=in_shape,
                resumed_s=sum(per_epoch[:resumed]))
