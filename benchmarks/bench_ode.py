"""Method "ode" versus the torchdiffeq reference (dopri5 with jump_t, odeint_event restarted after
every spike), forward + backward of sum(spike times), float64, single thread.

    PYTHONPATH=. python3 benchmarks/bench_ode.py [--large-batch 64] [--repeats 5] [--json results.json]

Per case it prints: baseline time (one run; it is slow), ode time (median of --repeats runs), their
ratio, ode's time relative to the equivalent clip-activation ANN layer (clip(W x), same shapes, as
docs/design.md, section Performance, asks: this machine is shared and noisy), the largest spike-time difference between the two
methods, the fraction of neurons that fired, and the largest relative error of ode's gradient against
float64 central differences on a few weights and input times.  Times are CPU time of this process
(time.process_time; one thread), so other jobs on a shared machine do not count.
"""
import argparse
import json
import statistics
import time

import torch

import circuitnet as cn
from circuitnet.compile import compile_circuit
from circuitnet.solve.ode import ode_spike_times
from circuitnet.solve.torchdiffeq_ref import torchdiffeq_spike_times

D = torch.float64
ODE_DT = 1 / 32                       # ode grid step (normalised); ~1e-9 spike-time error here
REF_TOL = dict(rtol=1e-8, atol=1e-10)  # baseline tolerances, comparable accuracy


def make_layer(kind, B, J, I, seed=0):
    """Random inputs and weights that make most neurons fire inside the window."""
    g = torch.Generator().manual_seed(seed)
    if kind == "rc_spike":
        t = torch.rand(B, J, generator=g, dtype=D)
        w = (-0.3 + 1.3 * torch.rand(I, J, generator=g, dtype=D)) * 4.0 / J
    else:
        t = 2.0 * torch.rand(B, J, generator=g, dtype=D)
        w = (-0.4 + 1.4 * torch.rand(I, J, generator=g, dtype=D)) * 6.0 / J
    return t, w


def fwd_bwd(solve, t, w):
    """Seconds for forward + backward of sum(t_out) w.r.t. (t_in, weight); returns (s, t_out, fired, grads)."""
    t, w = t.clone().requires_grad_(), w.clone().requires_grad_()
    t0 = time.process_time()
    out, fired = solve(t, w)
    gt, gw = torch.autograd.grad(out.sum(), (t, w))
    return time.process_time() - t0, out.detach(), fired, (gt, gw)


def ann_time(t, w, repeats):
    """Median seconds of the equivalent clip-activation ANN layer: forward + backward."""
    x, w = (1 - t).clone().requires_grad_(), w.clone().requires_grad_()
    times = []
    for _ in range(max(repeats, 20)):
        t0 = time.process_time()
        y = (x @ w.t()).clamp(0, 1)
        torch.autograd.grad(y.sum(), (x, w))
        times.append(time.process_time() - t0)
    return statistics.median(times)


def fd_check(solve, t, w, grads, n=4, eps=1e-6, seed=1):
    """Max relative error of autograd vs central differences of sum(t_out) on n weights and n input times."""
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    for x, gx in ((w, grads[1]), (t, grads[0])):
        flat = torch.randperm(x.numel(), generator=g)[:n]
        for k in flat.tolist():
            idx = divmod(k, x.shape[1])
            x0 = x[idx].item()
            x[idx] = x0 + eps
            up = solve(t, w)[0].sum().item()
            x[idx] = x0 - eps
            down = solve(t, w)[0].sum().item()
            x[idx] = x0
            fd = (up - down) / (2 * eps)
            worst = max(worst, abs(fd - gx[idx].item()) / max(1.0, abs(fd)))
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large-batch", type=int, default=64, help="batch of the 64x64 layer (baseline ~2 min)")
    ap.add_argument("--small-batch", type=int, default=64, help="batch of the 4-input 8-neuron layer")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    circuits = {"rc_spike": compile_circuit(cn.circuits.rc_spike()),
                "ttfs": compile_circuit(cn.circuits.ttfs(t_max=2.0))}
    print(f"float64, 1 thread; ode dt={ODE_DT:g}; baseline torchdiffeq dopri5 rtol={REF_TOL['rtol']:g} "
          f"atol={REF_TOL['atol']:g}, odeint_event restarted after each spike")
    header = (f"{'circuit':9s} {'layer':>6s} {'batch':>5s} | {'baseline s':>10s} {'ode s':>8s} {'base/ode':>9s} "
              f"{'ode/ANN':>8s} | {'max|dt|':>8s} {'fired':>5s} {'FD rel err':>10s}")
    print(header)
    print("-" * len(header))
    rows = []
    for (J, I, B) in ((4, 8, args.small_batch), (64, 64, args.large_batch)):
        for name, cc in circuits.items():
            t, w = make_layer(name, B, J, I)

            def ode(t_, w_):
                return ode_spike_times(cc, t_, w_, dt=ODE_DT)

            def ref(t_, w_):
                return torchdiffeq_spike_times(cc, t_, w_, **REF_TOL)

            fwd_bwd(ode, t, w)                                    # warm-up
            runs = [fwd_bwd(ode, t, w) for _ in range(args.repeats)]
            t_ode = statistics.median(r[0] for r in runs)
            _, out, fired, grads = runs[0]
            t_ref, out_ref, fired_ref, _ = fwd_bwd(ref, t, w)
            t_ann = ann_time(t, w, args.repeats)
            diff = (out - out_ref).abs().max().item()
            same = "" if torch.equal(fired, fired_ref) else "  (fired masks differ!)"
            with torch.no_grad():
                fd = fd_check(ode, t.clone(), w.clone(), grads)
            print(f"{name:9s} {f'{J}x{I}':>6s} {B:5d} | {t_ref:10.2f} {t_ode:8.4f} {t_ref / t_ode:9.0f} "
                  f"{t_ode / t_ann:8.0f} | {diff:8.1e} {fired.double().mean().item():5.2f} {fd:10.1e}{same}",
                  flush=True)
            rows.append(dict(circuit=name, layer=f"{J}x{I}", batch=B, baseline_s=t_ref, ode_s=t_ode,
                             baseline_over_ode=t_ref / t_ode, ode_over_ann=t_ode / t_ann, max_dt=diff,
                             fired=fired.double().mean().item(), fd_rel_err=fd, masks_agree=not same))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(benchmark="bench_ode", repeats=args.repeats, ode_dt=ODE_DT, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
