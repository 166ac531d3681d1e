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

The code lives in modules of its own, one concern each, which the experiments import; this module
is their face (``from paper_repro import classify as C``; C.train, C.CFG, ...):
classify_config (CFG, configure), classify_data (load_data, hold_out), classify_net (circuit,
build, copy_at), classify_eval (evaluation, accuracy, noise_mean), classify_train (train),
classify_plots, classify_run (run_experiment), sweeps (train_many) and runtime (Runtime).
"""
from .classify_config import AUGMENT, CFG, FMNIST_AUGMENT, configure
from .classify_data import CIFAR10_DIR, hold_out, load_data, subset
from .classify_eval import accuracy, evaluation, evaluation_label, noise_draws, noise_mean, output_times
from .classify_net import build, circuit, copy_at, inputs, library_circuits, load_circuit, training_method
from .classify_plots import plot_curves, plot_raster, plot_sweep
from .classify_run import run_experiment
from .classify_train import INIT_SAMPLES, SILENT, initialise, train, training_loss
from .runtime import Runtime, runtime
from .sweeps import CLAIM_POLL_S, resumed_s, train_many

__all__ = ["AUGMENT", "CFG", "FMNIST_AUGMENT", "configure", "CIFAR10_DIR", "hold_out", "load_data", "subset",
           "accuracy", "evaluation", "evaluation_label", "noise_draws", "noise_mean", "output_times", "build",
           "circuit", "copy_at", "inputs", "library_circuits", "load_circuit", "training_method", "plot_curves",
           "plot_raster", "plot_sweep", "run_experiment", "INIT_SAMPLES", "SILENT", "initialise", "train",
           "training_loss", "Runtime", "runtime", "CLAIM_POLL_S", "resumed_s", "train_many"]
