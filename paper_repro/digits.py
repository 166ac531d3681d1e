"""digits: scikit-learn's 8x8 handwritten digits on a small time-to-first-spike MLP of the paper's circuit.

Data: the 1797 images of sklearn.datasets.load_digits (no download), pixel / 16 in [0, 1], split
once (paper_repro.data.load_digits) into 1197 training, 300 validation and 300 test images; each
pixel one input spike at t = 1 - x (models.encode). Network: 64 -> 100 -> 10 of the paper's RC-Spike
circuit (any --circuit), trained with DSTD and the paper's loss, evaluated exactly; the recipe is
chosen on the validation set. A small real-data network in seconds per epoch: its first layer is
spice-neurons' "digits" regime (fan-in 64, trained mixed-sign weights on real inputs).
"""
from .classify_run import run_experiment

# the recipe validation chose (seed 0, 60 epochs, cosine; final validation accuracy): lr 3e-3 98.33 %, against
# 95.33 % at 3e-4 and 96.67 % at 1e-3; 1e-2 gave 98.67 %, one validation image more, and 3e-3 was kept as the
# smaller step within that
DEFAULTS = dict(arch="mlp", hidden=(100,), classes=10, epochs=60, lr=3e-3, schedule="cosine", batch=32,
                eval_batch=300, noise_draws=1, augment_with=None)
QUICK = dict(epochs=2, train_limit=128, test_limit=64)


def run(args):
    return run_experiment(args, "digits", "digits", DEFAULTS, QUICK)
