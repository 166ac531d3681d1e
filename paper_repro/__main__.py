"""python -m paper_repro <experiment> [--out DIR] [--seed N] [--device cpu|cuda] [--quick]"""
import argparse
import importlib
import sys

EXPERIMENTS = {
    "iris": "the paper's Iris circuit: PNN-to-IMC vs ANN-to-IMC on the simulated circuit (main job)",
    "demo": "the paper's circuit solved by every method on one layer; membrane-trace plot",
    "fmnist-mlp": "Fashion-MNIST, RC-Spike MLP 784-400-400-10: DSTD training, exact test accuracy per epoch",
    "fmnist-cnn": "Fashion-MNIST, RC-Spike VGG7 CNN (--width 1 or 2); GPU for the full run",
    "cifar10": "CIFAR-10 (pickle batches in --data), VGG7 (--width 1 or 2), flip/rotate/crop; GPU for the full run",
    "sweep-e": "F-MNIST MLP accuracy vs |E|: PNN trained at each |E|, |E|=100 ANN, scaled ANN (fig. 4f)",
    "sweep-m": "F-MNIST MLP accuracy vs DSTD steps M in {1,2,4,10,30}, random and fixed offset",
    "noise": "F-MNIST MLP accuracy vs spike-time noise sigma_spike in {0,0.005,0.01,0.02,0.04}",
    "penalty": "F-MNIST MLP: temporal penalty on clipped vs unclipped output times, |E| = 2.8 and 100 (3 epochs)",
}


def main(argv=None):
    doc = "\n".join(f"  {k:12s} {v}" for k, v in EXPERIMENTS.items())
    ap = argparse.ArgumentParser(prog="python -m paper_repro", formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Reproduce and extend the paper's experiments.\n\nexperiments:\n" + doc,
                                 epilog="mean and spread over seeds: python -m paper_repro.summary DIR [DIR ...]")
    ap.add_argument("experiment", choices=sorted(EXPERIMENTS))
    ap.add_argument("--out", default=None, help="output folder (default runs/<experiment>)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="small, honest version of the same code path")
    g = ap.add_argument_group("classification experiments (fmnist-*, cifar10, sweep-*, noise)")
    g.add_argument("--data", default=None, metavar="DIR", help="dataset folder (default: "
                   "/usr/share/datasets/fashion-mnist for Fashion-MNIST, ./data/cifar10 for CIFAR-10)")
    g.add_argument("--epochs", type=int, default=None, metavar="N", help="training epochs (default: the experiment's)")
    g.add_argument("--width", type=float, default=None, help="width multiplier: hidden layers (MLP), channels (CNN)")
    g.add_argument("--steps", type=int, default=None, metavar="M", help="DSTD grid steps in training (default 10)")
    g.add_argument("--e-pos", type=float, default=None, help="E_pos of the circuit (default: the circuit's own, 2.80)")
    g.add_argument("--e-neg", type=float, default=None, help="E_neg of the circuit (default: the circuit's own, -1.53)")
    g.add_argument("--circuit", default=None, metavar="MODULE:FUNCTION",
                   help="neuron circuit of every layer: a function returning a NeuronCircuit, e.g. "
                        "circuitnet.circuits:rc_spike_quadratic (default: the paper's)")
    g.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the paper's, 1e-4)")
    g.add_argument("--schedule", default=None, choices=["constant", "cosine"],
                   help="learning rate per epoch: constant (the paper's) or cosine annealing to 0")
    g.add_argument("--dropout", type=float, default=None, metavar="P",
                   help="spike dropout in training: each hidden spike removed with probability P (default 0)")
    g.add_argument("--ema", type=float, default=None, metavar="D",
                   help="evaluate and keep an exponential moving average of the weights with decay D (default 0: off)")
    g.add_argument("--weight-decay", type=float, default=None, metavar="WD",
                   help="decoupled (AdamW) weight decay: w <- w (1 - lr WD) every step (default 0: the paper's Adam)")
    g.add_argument("--gamma1", type=float, default=None,
                   help="weight of the temporal penalty gamma1 sum_i (t_i - t_ref)^2 (default: the paper's, 2.6)")
    g.add_argument("--t-ref", type=float, default=None,
                   help="target output time t_ref of the temporal penalty, in (0, 1] (default: the paper's, 0.9)")
    g.add_argument("--augment", default=None, action=argparse.BooleanOptionalAction,
                   help="random flip/crop (and rotation for CIFAR-10) of training images")
    args = ap.parse_args(argv)
    args.out = args.out or f"runs/{args.experiment}"
    from .common import out_dir
    out_dir(args.out)
    importlib.import_module(f"paper_repro.{args.experiment.replace('-', '_')}").run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
