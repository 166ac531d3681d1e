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

Memory, three numbers per method:
  saved   the bytes autograd keeps between forward and backward: the sum of the sizes of all
          tensors packed by torch.autograd.graph.saved_tensors_hooks during the forward pass
          (saved inputs and weights included);
  scratch the reusable per-thread work buffers the solver keeps (kernels.scratch), measured after
          release_scratch() and one forward + backward;
  peak    the largest growth of resident memory (Linux VmHWM) over one forward + backward in a
          fresh process, after the inputs are made and the compiled kernels loaded: saved,
          scratch and every temporary together (--no-peak leaves it out).

Methods "exact" and "dstd" run their compiled kernels (circuitnet.solve.compiled) where they build;
CIRCUITNET_KERNELS=0 measures their pure-torch path instead, and --torch-path adds rows for it
(exact and dstd M=10) to the same run.

Usage:  python3 benchmarks/bench_layer.py [--reps 9] [--torch-path] [--no-peak] [--json results.json]
"""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from circuitnet.solve.exact import rc_spike_exact  # noqa: E402
from circuitnet.solve.kernels import release_scratch, scratch_bytes  # noqa: E402
from circuitnet.solve.dstd import rc_spike_dstd  # noqa: E402

B, N_IN, N_OUT = 256, 784, 400
E_POS, E_NEG = 2.8, -1.53
TARGETS = {"dstd M=10 / ANN": 15.0, "exact / ANN": 60.0, "exact / dstd M=30": 1.5}


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


def _torch_path(fn):
    """fn marked for the pure-torch path: step, saved_bytes and held_scratch run it (forward and
    backward) with the compiled kernels off."""
    def run(t, w):
        return fn(t, w)
    run.torch_path = True
    return run


@contextlib.contextmanager
def _path_of(fn):
    if not getattr(fn, "torch_path", False):
        yield
        return
    from circuitnet.solve.compiled import set_compiled_kernels
    prev = set_compiled_kernels(False)
    try:
        yield
    finally:
        set_compiled_kernels(prev)


TORCH_PATH = {f"{name} (torch path)": _torch_path(METHODS[name]) for name in ("dstd M=10", "exact")}


def step(fn, x, w):
    x.grad = None
    w.grad = None
    with _path_of(fn):
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

    with _path_of(fn):
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = fn(x, w)
        out.sum().backward()
    return total[0]


def held_scratch(fn, x, w):
    release_scratch()
    step(fn, x, w)
    return scratch_bytes()


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(key)


def _peak_child(name):
    """(In a fresh process.) Bytes by which one forward + backward of ``name`` raises VmHWM."""
    torch.set_num_threads(1)
    t_in, w = make_inputs()
    x = (1 - t_in.detach()).requires_grad_()
    try:
        from circuitnet.solve.compiled import compiled_kernels
        compiled_kernels()  # load the library outside the measurement
    except ImportError:
        pass
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident size
    base = _status("VmRSS")
    if name == "ANN":
        step(ann, x, w)
    else:
        step({**METHODS, **TORCH_PATH}[name], t_in, w)
    return _status("VmHWM") - base


def peak_bytes(name):
    """_peak_child(name) in a fresh interpreter; None where /proc is not Linux's."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    try:
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--peak-of", name], capture_output=True,
                           text=True, env=env, timeout=600)
        return int(r.stdout.split()[-1]) if r.returncode == 0 else None
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def measure(reps=9, peak=True, torch_path=False):
    """The benchmark: {"config", "rows": [{method, ms, ratio, saved_mb, scratch_mb, peak_mb}], "ratios"}."""
    torch.set_num_threads(1)
    methods = {**METHODS, **(TORCH_PATH if torch_path else {})}
    t_in, w = make_inputs()
    x = (1 - t_in.detach()).requires_grad_()  # ANN input (same values as the spike inputs)
    mem = {name: (saved_bytes(fn, t_in, w), held_scratch(fn, t_in, w)) for name, fn in methods.items()}
    for fn in methods.values():  # warm-up
        step(fn, t_in, w)
    times = {name: [] for name in methods}
    t_ann = []
    for _ in range(reps):
        for name, fn in methods.items():
            t_ann.append(timed(ann, x, w))
            times[name].append(timed(fn, t_in, w))
    a = statistics.median(t_ann)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    peaks = {name: peak_bytes(name) for name in ["ANN", *methods]} if peak else {}
    mb = lambda b: None if b is None else b / 2**20  # noqa: E731
    rows = [dict(method="ANN", ms=a * 1e3, ratio=1.0, saved_mb=mb(saved_bytes(ann, x, w)), scratch_mb=0.0,
                 peak_mb=mb(peaks.get("ANN")))]
    rows += [dict(method=name, ms=med[name] * 1e3, ratio=med[name] / a, saved_mb=mb(mem[name][0]),
                  scratch_mb=mb(mem[name][1]), peak_mb=mb(peaks.get(name))) for name in methods]
    ratios = {"dstd M=10 / ANN": med["dstd M=10"] / a, "exact / ANN": med["exact"] / a,
              "exact / dstd M=30": med["exact"] / med["dstd M=30"]}
    config = (f"one layer {N_IN} -> {N_OUT}, batch {B}, float32, forward + backward, 1 thread, CPU time, "
              f"median of {reps}")
    return dict(benchmark="bench_layer", config=config, reps=reps, rows=rows, ratios=ratios, targets=TARGETS,
                kernels=os.environ.get("CIRCUITNET_KERNELS", "1") != "0")


def report(res):
    lines = [res["config"],
             f"{'method':24s} {'time [ms]':>10s} {'/ ANN':>7s} {'saved [MB]':>11s} {'scratch [MB]':>13s} "
             f"{'peak [MB]':>10s}"]
    for r in res["rows"]:
        peak = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.2f}"
        lines.append(f"{r['method']:24s} {r['ms']:10.1f} {r['ratio']:6.1f}x {r['saved_mb']:11.2f} "
                     f"{r['scratch_mb']:13.2f} {peak:>10s}")
    for k, v in res["ratios"].items():
        lines.append(f"{k:18s} = {v:5.2f}x  (target <= {res['targets'][k]:g}x)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9, help="timed repetitions per method (median reported)")
    ap.add_argument("--torch-path", action="store_true", help="add exact and dstd M=10 on their pure-torch path")
    ap.add_argument("--no-peak", action="store_true", help="leave out the peak-memory column (fresh processes)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--peak-of", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peak_of:
        print(_peak_child(args.peak_of))
        return
    res = measure(args.reps, peak=not args.no_peak, torch_path=args.torch_path)
    print(report(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
