"""fmnist-mlp: Fashion-MNIST with the paper's RC-Spike MLP 784-400-400-10 (docs/paper.md sections 6, 7).

Trained with DSTD (M = --steps, random offset), evaluated exactly; E_pos/E_neg from the circuit
(2.80 / -1.53) unless --e-pos/--e-neg are given; --width scales the hidden layers.
Paper, Table 3: 90.40 % at sigma_spike = 0.01 (best |E| = 7.4), 50 epochs.
"""
from .classify_config import FMNIST_AUGMENT
from .classify_run import run_experiment

DEFAULTS = dict(arch="mlp", hidden=(400, 400), epochs=50, eval_batch=1000, augment_with=FMNIST_AUGMENT)
QUICK = dict(width=0.25, epochs=2, train_limit=512, test_limit=256)


def run(args):
    return run_experiment(args, "fmnist-mlp", "fashion-mnist", DEFAULTS, QUICK)
