"""Cost of method "spice" against fan-in: wall seconds per neuron-sample of the sky130-realised
paper circuit (cn.spice.realised_rc_spike(J)) in ngspice, one ngspice process at a time.

    PYTHONPATH=. python3 benchmarks/bench_spice.py [--fan-in 4 16 32 64 128] [--neurons 2] [--samples 1] [--json f]

Per fan-in it prints the seconds per neuron-sample (the whole spike_times call: netlist writing,
ngspice, reading back and the comparator, divided by neurons x samples), the model-vs-SPICE
spike-time RMSE of those neurons (ns; a check that the run is the real one, not the accuracy study of
spice-neurons), a neuron's transistors (2 J + 1) and the instances its netlist writes for them (the
devices held off all along are one instance per type, with a multiplier). Issue targets: <= 5 s at fan-in 128, <= 30 s at 784.
"""
import argparse
import json
import time

import torch

import circuitnet as cn
from circuitnet.solve import Spice, spike_times
from circuitnet.spice import LayerNetlist
from circuitnet.spice.simulate import realised_tables
from paper_repro.spice_neurons import errors_ns, random_neurons


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fan-in", type=int, nargs="+", default=[4, 16, 32, 64, 128])
    ap.add_argument("--neurons", type=int, default=2)
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    rows = []
    torch.set_num_threads(1)
    print(f"{'fan-in':>6} {'s / neuron-sample':>18} {'RMSE model-SPICE (ns)':>22} {'transistors':>11} {'instances':>9}")
    for J in args.fan_in:
        c = cn.spice.realised_rc_spike(J)
        t, w = random_neurons(J, args.neurons, args.samples, seed=900 + J)
        spike_times(c, t[:1, :1], w[:1, :1] * 0 + 0.5, method="exact")      # compile outside the clock
        began = time.perf_counter()
        ts, fs = spike_times(c, t, w, method=Spice(workers=1))
        per = (time.perf_counter() - began) / (args.neurons * args.samples)
        tm, fm = spike_times(c, t, w, method="exact")
        inside = fs & fm & (tm > 0) & (tm < 1)
        rmse = errors_ns(tm, ts, inside, c)["rmse_ns"] if inside.any() else float("nan")
        text = LayerNetlist(c, c.technology, realised_tables(c, c.technology)).write(t[:1].numpy(), w[:1].numpy())[0]
        inst = [ln for ln in text.splitlines() if ln.startswith("X")]
        print(f"{J:>6} {per:>18.2f} {rmse:>22.2f} {2 * J + 1:>11} {len(inst):>9}", flush=True)
        rows.append(dict(fan_in=J, s_per_neuron_sample=per, rmse_ns=rmse, transistors=2 * J + 1, instances=len(inst)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(benchmark="bench_spice", neurons=args.neurons, samples=args.samples, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
