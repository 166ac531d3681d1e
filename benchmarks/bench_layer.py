"""Time and memory of one 784 -> 400 RC-Spike layer, batch 256, float32, forward + backward.

Single-threaded (torch.set_num_threads(1)).  Each method is compared with the equivalent
clip-activation ANN layer  x -> clamp(x @ W.T, 0, 1)  measured in the same run: the repetitions
interleave the ANN and every method, and the medians are compared.  Times are CPU time of this
process (time.process_time: user + system, so page faults count), which for one thread is the
cost of the step and, unlike wall time, excludes time spent waiting while other jobs hold the
cores.  Both the layer input and the weight require gradients (a hidden layer), so every method
also computes the input gradient.

Weights: w_ij = s_i (u_ij - 0.35) * 8 / 784 with s_i, u_ij ~ U(0, 1) (35 % negative), input times
U(0, 1): the exact output spike times spread over about (0.4, 1).

Memory, two numbers per method:
  saved   the bytes autograd keeps between forward and backward: the sum of the sizes of all
          tensors packed by torch.autograd.graph.saved_tensors_hooks during the forward pass
          (saved inputs and weights included);
  scratch the reusable per-thread work buffers the solver keeps (exact.scratch), measured after
          release_scratch() and one forward + backward.

Usage:  python3 benchmarks/bench_layer.py [--reps 9]
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from circuitnet.solve.exact import rc_spike_exact, release_scratch, scratch_bytes  # noqa: E402
from circuitnet.solve.dstd import rc_spike_dstd  # noqa: E402

B, N_IN, N_OUT = 256, 784, 400
E_POS, E_NEG = 2.8, -1.53


def make_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    t_in = torch.rand(B, N_IN, generator=g)
    w = torch.rand(N_OUT, 1, generator=g) * (torch.rand(N_OUT, N_IN, generator=g) - 0.35) * 8 / N_IN
    return t_in.requires_grad_(), w.requires_grad_()


def ann(x, w):
    return torch.clamp(x @ w.t(), 0, 1)


METHODS = {
    "dstd M=4": lambda t, w: rc_spike_dstd(t, w, E_POS, E_NEG, 4),
    "dstd M=10": lambda t, w: rc_spike_dstd(t, w, E_POS, E_NEG, 10),
    "dstd M=30": lambda t, w: rc_spike_dstd(t, w, E_POS, E_NEG, 30),
    "exact": lambda t, w: rc_spike_exact(t, w, E_POS, E_NEG),
}


def step(fn, x, w):
    x.grad = None
    w.grad = None
    fn(x, w).sum().backward()


def timed(fn, x, w):
    t0 = time.process_time()
    step(fn, x, w)
    return time.process_time() - t0


def saved_bytes(fn, x, w):
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(x, w)
    out.sum().backward()
    return total[0]


def held_scratch(fn, x, w):
    release_scratch()
    step(fn, x, w)
    return scratch_bytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9, help="timed repetitions per method (median reported)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t_in, w = make_inputs()
    x = (1 - t_in.detach()).requires_grad_()  # ANN input (same values as the spike inputs)
    mem = {name: (saved_bytes(fn, t_in, w), held_scratch(fn, t_in, w)) for name, fn in METHODS.items()}
    for fn in METHODS.values():  # warm-up
        step(fn, t_in, w)
    times = {name: [] for name in METHODS}
    t_ann = []
    for _ in range(args.reps):
        for name, fn in METHODS.items():
            t_ann.append(timed(ann, x, w))
            times[name].append(timed(fn, t_in, w))
    a = statistics.median(t_ann)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"one layer {N_IN} -> {N_OUT}, batch {B}, float32, forward + backward, 1 thread, "
          f"CPU time, median of {args.reps}")
    print(f"{'method':11s} {'time [ms]':>10s} {'/ ANN':>7s} {'saved [MB]':>11s} {'scratch [MB]':>13s}")
    print(f"{'ANN':11s} {a * 1e3:10.1f} {1:6.1f}x {saved_bytes(ann, x, w) / 2**20:11.2f} {0:13.2f}")
    for name in METHODS:
        print(f"{name:11s} {med[name] * 1e3:10.1f} {med[name] / a:6.1f}x "
              f"{mem[name][0] / 2**20:11.2f} {mem[name][1] / 2**20:13.2f}")
    print(f"dstd M=10 / ANN   = {med['dstd M=10'] / a:5.1f}x   (target <= 25x)")
    print(f"exact / dstd M=30 = {med['exact'] / med['dstd M=30']:5.2f}x  (target <= 2x)")


if __name__ == "__main__":
    main()
