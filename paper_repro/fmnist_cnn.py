"""fmnist-cnn: Fashion-MNIST with the paper's RC-Spike VGG7 CNN (docs/paper.md sections 6, 7).

Conv64-Conv64-Pool-Conv128-Conv128-Pool-Conv256-Conv256-Pool-FC512-FC10 (3x3, padding 1, 2x2
min-pool on spike times); --width 2 for the double-width variant. DSTD training, exact evaluation.
Paper, Table 3: 94.09 % at sigma_spike = 0.01 (best |E| = 1.3). Needs a GPU (--device cuda) for
the full run; --quick uses 1/16 of the width and a few hundred images.
"""
from .classify_config import FMNIST_AUGMENT
from .classify_run import run_experiment

DEFAULTS = dict(arch="vgg7", width=1.0, epochs=50, eval_batch=100, augment_with=FMNIST_AUGMENT)
QUICK = dict(width=1 / 16, epochs=1, train_limit=256, test_limit=128, eval_batch=64)


def run(args):
    return run_experiment(args, "fmnist-cnn", "fashion-mnist", DEFAULTS, QUICK)
