"""How much weight error a trained classifier run tolerates, against what a chip's programmer leaves.

    .venv/bin/python scripts/weight_tolerance.py runs/yin-yang-lif-it-seed0 [--spreads 0.002 0.004 0.006 0.01]
        [--draws 20] [--reads 1 16 256]

For each spread s, every synapse's weight of every spiking layer is multiplied by exp(s z), z ~ N(0, 1)
drawn per synapse (nothing else of a chip: no trims, no per-neuron spreads), ``--draws`` times; printed:
the mean and 5th percentile of the validation accuracy (paper_repro.data.load_yin_yang's validation
split for a yin-yang run) against the nominal one. Then the residual ln-gain sd that
circuitnet.chip.WeightProgrammer (paper_repro.chip_bringup.BRING_UP's DAC and gm/Id, 3 verify steps, 1 %
reads) leaves on 200,000 devices of 10 % spread for each ``--reads``: the weight noise a run should
tolerate on those chips. Seeded (draws from 5, devices from 1, reads from 2): the same numbers each time.
"""
import argparse

import torch

from circuitnet.chip import WeightProgrammer
from paper_repro.chip_bringup import BRING_UP
from paper_repro.classify_net import inputs
from paper_repro.data import load_yin_yang
from paper_repro.runs import load_run


def tolerance(net, evaluate, spreads, draws, seed=5):
    """{s: (mean, p5)} of ``evaluate(net)`` (e.g. an accuracy) with every weight times exp(s N(0, 1)),
    ``draws`` draws per spread; the trained weights are restored."""
    layers = net.spiking_layers
    kept = [l.weight.detach().clone() for l in layers]
    g = torch.Generator().manual_seed(seed)
    out = {}
    try:
        with torch.no_grad():
            for s in spreads:
                accs = []
                for _ in range(draws):
                    for l, w in zip(layers, kept):
                        l.weight.copy_(w * torch.exp(s * torch.randn(w.shape, generator=g, dtype=w.dtype)))
                    accs.append(evaluate(net))
                a = torch.tensor(accs, dtype=torch.float64)
                out[s] = (a.mean().item(), torch.quantile(a, 0.05).item())
    finally:
        with torch.no_grad():
            for l, w in zip(layers, kept):
                l.weight.copy_(w)
    return out


def residual_sd(reads, devices=200_000, spread=0.1):
    """sd of ln g after programming devices of log-normal spread ``spread`` with ``reads`` per measurement."""
    p = WeightProgrammer(bits=8, dac_range=BRING_UP["dac_range"], gm_over_id=tuple(BRING_UP["gm_over_id"]),
                         measurement_noise=BRING_UP["measurement_noise"], iterations=3, reads=reads)
    gain = torch.exp(spread * torch.randn(devices, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    return torch.log(p.residual(gain, torch.Generator().manual_seed(2), 0)).std().item()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a finished yin-yang run directory (model.pt, results.json)")
    ap.add_argument("--spreads", type=float, nargs="+", default=[0.002, 0.004, 0.006, 0.01])
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--reads", type=int, nargs="+", default=[1, 16, 256])
    a = ap.parse_args(argv)
    if a.draws < 1 or any(not 0 <= s < 1 for s in a.spreads) or any(r < 1 for r in a.reads):
        ap.error("--draws and --reads must be >= 1 and every spread in [0, 1)")
    torch.set_num_threads(1)
    net, cfg = load_run(a.run)
    net = net.double().eval()
    net.noise.sigma = 0.0
    data = load_yin_yang()
    t_in, y = inputs(cfg, data.x_val.double()), data.y_val
    if net.spiking_layers[0].weight.shape[1] != t_in.shape[1]:
        ap.error(f"{a.run} takes {net.spiking_layers[0].weight.shape[1]} inputs, a yin-yang sample gives "
                 f"{t_in.shape[1]}: not a yin-yang run")
    accuracy = lambda n: (n(t_in).argmin(1) == y).double().mean().item()
    with torch.no_grad():
        nominal = accuracy(net)
    print(f"{a.run}: validation accuracy {100 * nominal:.2f} % nominal")
    for s, (mean, p5) in tolerance(net, accuracy, a.spreads, a.draws).items():
        print(f"  weights times exp({s:g} N(0, 1)): mean {100 * mean:.2f} %, p5 {100 * p5:.2f} % over {a.draws} draws")
    for r in a.reads:
        print(f"  programmed with {r} read(s) per verify measurement: residual ln-gain sd {100 * residual_sd(r):.3f} %")


if __name__ == "__main__":
    main()
