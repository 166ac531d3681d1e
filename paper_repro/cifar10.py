"""cifar10: CIFAR-10 with the RC-Spike VGG7 CNN, width x1 or x2 (--width 2) (docs/paper.md sections 6, 7).

Augmentation (paper_repro.data.augment): random horizontal flip, rotation within +-15 degrees,
random 32x32 crop of the image zero-padded by 4. Data: the python-pickle batches in --data DIR
(default ./data/cifar10; see paper_repro.data.load_cifar10). The epoch count is not given in
the paper; 100 is our choice. Paper, Table 3 (sigma_spike = 0.01): 88.51 % (x1), 90.25 % (x2).
Needs a GPU (--device cuda) for the full run.
"""
from .classify_config import AUGMENT
from .classify_run import run_experiment

DEFAULTS = dict(arch="vgg7", width=1.0, epochs=100, augment=dict(AUGMENT), eval_batch=100)
QUICK = dict(width=1 / 16, epochs=1, train_limit=256, test_limit=128, eval_batch=64)


def run(args):
    return run_experiment(args, "cifar10", "cifar10", DEFAULTS, QUICK)
