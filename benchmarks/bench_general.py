"""Method "dstd" on a non-affine circuit (circuitnet.solve.dstd_general) against the clip-ANN layer,
with the paper's affine circuit (affine DSTD, exact, ode) for comparison.

One 784 -> 400 layer, float32, forward + backward of sum(t_out) with respect to the input times and
the weight, single thread, batch 32 and 256.  Non-affine circuit: circuits.rc_spike_quadratic
(quadratic CLM on both synapse devices, ideal ramp); paper's circuit: circuits.rc_spike(firing="ideal").
Inputs and weights as in bench_layer.py.  Times are CPU time (time.process_time) of this process,
the median of --reps repetitions interleaved with the ANN layer x -> clamp(x @ W.T, 0, 1) of the
same run (ode: --ode-reps, it is slow); "saved" is the bytes autograd keeps between forward and
backward (bench_layer.saved_bytes): the peak of what a training step holds for this layer.
"RK4" swaps the step of the general scheme (same M; its spike-time error is about 3x smaller),
"M=17" is the RK2 grid of about that same accuracy.

Usage:  python3 benchmarks/bench_general.py [--reps 7] [--ode-reps 1] [--batches 32 256]
"""
import argparse
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import circuitnet as cn  # noqa: E402
from circuitnet.solve import DSTD, spike_times  # noqa: E402
from bench_layer import N_IN, N_OUT, ann, saved_bytes, step, timed  # noqa: E402

QUAD = cn.circuits.rc_spike_quadratic(firing="ideal")
PAPER = cn.circuits.rc_spike(firing="ideal")


def _t(circuit, method, **kw):
    return lambda t, w: spike_times(circuit, t, w, method=method, **kw)[0]


METHODS = {
    "non-affine dstd M=10": _t(QUAD, "dstd", steps=10),
    "non-affine dstd M=10 RK4": _t(QUAD, DSTD(steps=10, step="rk4")),
    "non-affine dstd M=17": _t(QUAD, "dstd", steps=17),
    "paper dstd M=10": _t(PAPER, "dstd", steps=10),
    "paper exact": _t(PAPER, "exact"),
    "non-affine ode": _t(QUAD, "ode"),
    "paper ode": _t(PAPER, "ode"),
}
SLOW = ("non-affine ode", "paper ode")


def make_inputs(B, seed=0):
    g = torch.Generator().manual_seed(seed)
    t_in = torch.rand(B, N_IN, generator=g)
    w = torch.rand(N_OUT, 1, generator=g) * (torch.rand(N_OUT, N_IN, generator=g) - 0.35) * 8 / N_IN
    return t_in.requires_grad_(), w.requires_grad_()


def run(B, reps, ode_reps, skip):
    t_in, w = make_inputs(B)
    x = (1 - t_in.detach()).requires_grad_()
    methods = {k: f for k, f in METHODS.items() if k not in skip}
    mem = {name: saved_bytes(fn, t_in, w) for name, fn in methods.items() if name not in SLOW}
    for name, fn in methods.items():
        if name not in SLOW:
            step(fn, t_in, w)  # warm-up
    times = {name: [] for name in methods}
    t_ann = []
    for r in range(reps):
        for name, fn in methods.items():
            if name in SLOW and r >= ode_reps:
                continue
            t_ann.append(timed(ann, x, w))
            times[name].append(timed(fn, t_in, w))
    a = statistics.median(t_ann)
    print(f"\nbatch {B}: one layer {N_IN} -> {N_OUT}, float32, forward + backward, 1 thread, CPU time, "
          f"median of {reps} ({ode_reps} for ode)")
    print(f"| {'method':26s} | {'time [ms]':>10s} | {'/ ANN':>8s} | {'saved [MB]':>10s} |")
    print(f"| {'clip-ANN layer':26s} | {a * 1e3:10.2f} | {1:7.1f}x | {saved_bytes(ann, x, w) / 2**20:10.2f} |")
    for name in methods:
        med = statistics.median(times[name])
        m = f"{mem[name] / 2**20:10.2f}" if name in mem else f"{'-':>10s}"
        print(f"| {name:26s} | {med * 1e3:10.1f} | {med / a:7.1f}x | {m} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--ode-reps", type=int, default=1)
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--skip", nargs="*", default=[], help="method names to leave out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for B in args.batches:
        run(B, args.reps, args.ode_reps, set(args.skip))


if __name__ == "__main__":
    main()
