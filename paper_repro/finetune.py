"""Variation-aware fine-tuning of a trained image-classification network (robustness, chip-budget):
a copy of it trained for a few more epochs with a fresh chip per mini-batch (circuitnet.models.chips),
or one of a given pool of chips, on the run's own loss, spike-time noise and training set (DSTD),
Adam at the given learning rate, constant, with the run's EMA and weight decay; checkpointed."""
import copy
import os

import torch

from .classify_net import training_method
from .classify_train import training_loss
from .spreads import on_circuit
from .train import done_epochs, fit


def finetune(net, cfg, data, circuit, epochs, lr, ckpt, rt, quiet, chips=None):
    """Variation-aware fine-tuning (module docstring) of a copy of ``net``: a fresh chip per mini-batch,
    or one of ``chips()`` (a callable returning a list of models.Chip, called only when an epoch is
    left to train), checkpointed."""
    pool = chips() if chips is not None and done_epochs(ckpt) < epochs else None
    net = on_circuit(copy.deepcopy(net), circuit).train_on_chips(1.0, chips=pool)
    net.set_method(training_method(cfg))
    n = len(data.y_train)
    epoch = [done_epochs(ckpt)]

    def batches():
        order = torch.randperm(n, generator=torch.Generator().manual_seed(7 + 100003 * epoch[0]))
        epoch[0] += 1
        for i in range(0, n, cfg["batch"]):
            j = order[i:i + cfg["batch"]]
            yield data.x_train[j].to(rt.device), data.y_train[j].to(rt.device)

    fit(net, batches, lambda m, x, y: training_loss(m, cfg, x, y)[0], epochs, lr, ckpt=ckpt,
        desc=os.path.basename(ckpt)[:-3], quiet=quiet, ema=cfg["ema"], weight_decay=cfg["weight_decay"])
    return net.train_on_chips(None).eval()
