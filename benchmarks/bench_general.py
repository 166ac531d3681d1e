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

Usage:  python3 benchmarks/bench_general.py [--reps 7] [--ode-reps 1] [--batches 32 256] [--json results.json]
"""
import argparse
import json
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


def measure_batch(B, reps, ode_reps, skip=()):
    """One batch size: {"batch", "config", "rows": [{method, ms, ratio, saved_mb}]} (saved_mb None for ode)."""
    torch.set_num_threads(1)
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
    rows = [dict(method="clip-ANN layer", ms=a * 1e3, ratio=1.0, saved_mb=saved_bytes(ann, x, w) / 2**20)]
    for name in methods:
        med = statistics.median(times[name])
        rows.append(dict(method=name, ms=med * 1e3, ratio=med / a,
                         saved_mb=mem[name] / 2**20 if name in mem else None))
    config = (f"batch {B}: one layer {N_IN} -> {N_OUT}, float32, forward + backward, 1 thread, CPU time, "
              f"median of {reps} ({ode_reps} for ode)")
    return dict(batch=B, config=config, rows=rows)


def measure(reps=7, ode_reps=1, batches=(32, 256), skip=()):
    return dict(benchmark="bench_general", reps=reps, ode_reps=ode_reps,
                batches=[measure_batch(B, reps, ode_reps, set(skip)) for B in batches])


def report_batch(res):
    lines = ["", res["config"], f"| {'method':26s} | {'time [ms]':>10s} | {'/ ANN':>8s} | {'saved [MB]':>10s} |"]
    for r in res["rows"]:
        m = f"{r['saved_mb']:10.2f}" if r["saved_mb"] is not None else f"{'-':>10s}"
        ms = f"{r['ms']:10.2f}" if r["method"] == "clip-ANN layer" else f"{r['ms']:10.1f}"
        lines.append(f"| {r['method']:26s} | {ms} | {r['ratio']:7.1f}x | {m} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--ode-reps", type=int, default=1)
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--skip", nargs="*", default=[], help="method names to leave out")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = dict(benchmark="bench_general", reps=args.reps, ode_reps=args.ode_reps, batches=[])
    for B in args.batches:
        res = measure_batch(B, args.reps, args.ode_reps, set(args.skip))
        print(report_batch(res), flush=True)
        out["batches"].append(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
