"""Several-node circuits: one Yin-Yang training epoch of the two-node LIF network, and its methods.

    python benchmarks/bench_nodes.py [--reps 3] [--json FILE]

The network of `python -m paper_repro yin-yang --circuit circuitnet.circuits:lif_current_synapse`:
5 -> 120 -> 3 two-node LIF neurons (tau_m = 2 tau_s), float32, trained by the closed form (method
"exact", Lambert-W / quadratic), Adam, batch 32 and batch 150 (fastAndDeep's), 5,000 samples: CPU
seconds of one epoch (forward, loss, backward, step), one thread. fastAndDeep v1.0.0 on a machine of
this kind (2 cores, one thread): 3.56 s per epoch (training pass plus a validation of 1,000 samples),
its published Yin-Yang configuration (tau_m = tau_s, batch 150). The epoch here adds the same
validation pass. Also: one forward + backward of a batch by "exact" and by "ode" (dt = 1/64) against
the ANN of the same shapes (a ReLU MLP).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import circuitnet as cn                                     # noqa: E402
from circuitnet.models import encode, init_firing_, mlp, spike_cross_entropy   # noqa: E402


def cpu():
    return time.process_time()


def epoch_s(batch, x, y, xv, circuit):
    torch.manual_seed(0)
    net = mlp((5, 120, 3), kind="ttfs", circuit=circuit, method="exact", sigma_spike=0.0)
    t_in = encode(x).flatten(1)
    init_firing_(net, t_in[:256], 0.5)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    t0 = cpu()
    net.train()
    for i in range(0, len(y), batch):
        loss = spike_cross_entropy(net(t_in[i:i + batch]), y[i:i + batch], 0.2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        net(encode(xv).flatten(1))
    return cpu() - t0


def batch_ratio(circuit, reps):
    torch.manual_seed(1)
    x = torch.rand(150, 5)
    t_in = encode(x)
    rows = {}
    ann = torch.nn.Sequential(torch.nn.Linear(5, 120), torch.nn.ReLU(), torch.nn.Linear(120, 3))
    nets = {m: mlp((5, 120, 3), kind="ttfs", circuit=circuit, method=m, sigma_spike=0.0) for m in ("exact", "ode")}
    for net in nets.values():
        init_firing_(net, t_in, 0.5)
    for name, f in [("ANN", lambda: ann(x).sum())] + [(m, (lambda n: lambda: n(t_in).sum())(n)) for m, n in nets.items()]:
        times = []
        inner = 200 if name == "ANN" else 5
        for _ in range(reps):
            t0 = cpu()
            for _ in range(inner):
                f().backward()
            times.append((cpu() - t0) / inner)
        rows[name] = statistics.median(times)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from paper_repro.data import load_yin_yang
    d = load_yin_yang()
    circuit = cn.circuits.lif_current_synapse()
    epochs = {b: statistics.median(epoch_s(b, d.x_train, d.y_train, d.x_val, circuit) for _ in range(args.reps))
              for b in (32, 150)}
    per_batch = batch_ratio(circuit, max(args.reps, 3))
    res = dict(epoch_s={str(b): s for b, s in epochs.items()}, fastandeep_epoch_s=3.56,
               batch150_ms={k: 1e3 * v for k, v in per_batch.items()},
               ratios={k: per_batch[k] / per_batch["ANN"] for k in per_batch if k != "ANN"})
    print(f"one epoch (5,000 samples + validation 1,000), exact, one thread: batch 32 {epochs[32]:.2f} s, batch 150 "
          f"{epochs[150]:.2f} s (fastAndDeep v1.0.0: 3.56 s, batch 150)")
    for k, v in per_batch.items():
        print(f"batch 150 forward + backward, {k}: {1e3 * v:.1f} ms" + ("" if k == "ANN" else f" = {res['ratios'][k]:.0f}x the ANN"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
