"""yin-yang-chips: a trained Yin-Yang network of a several-node circuit on Monte-Carlo chips, as drawn
and after per-neuron trims.

The network of a finished yin-yang run (``--nominal DIR``; the two-node LIF, trained with its closed
form) gets its circuit's spreads declared (circuitnet.variation.with_mismatch): ``charge`` (relative
sd of the charge each synapse's pump delivers, one draw per synapse), ``gain`` (relative sd of each
neuron's transconductor gm) and ``threshold_offset`` (sd of each comparator's offset, V). Spreads
of the leaks and capacitors are left out here: they move tau_m / tau_s off 2, where the closed form
ends and a chip would run on DSTD (circuitnet.solve.nodes_dstd). For each of ``chips`` chips (chip k
from seed 1000003 seed + k, models.monte_carlo) the test accuracy (method "exact" on the chip; with
``--split val`` the accuracy on the validation set of paper_repro.data.load_yin_yang instead, on chips
from seeds 1000003 seed + VAL_FIRST + k, apart from the test chips: choose recipes there; either way
without spike-time noise, which a run trained with --sigma-spike used as a training device):

* as drawn;
* trimmed: per-neuron calibration only (circuitnet.chip.calibrate on a ModelBench per layer: one
  reference input at t = 0 of each weight in ``references``, two ``trim_bits``-bit trims per neuron,
  its comparator threshold over ``trim_span_v`` volts and its gm over ``trim_span_gain`` in ln);
* programmed and trimmed: first every synapse's charge programmed and verified
  (circuitnet.chip.WeightProgrammer: a ``bits``-bit DAC on the pump's bias, chip-budget's range and
  slope standing in for the pump's, ``iterations`` verify steps, each measurement the mean of
  ``reads`` current reads with ``measurement_noise`` each, ``--reads``), then the trims. Per-synapse
  spreads are what trims cannot reach; what programming leaves of them is mostly the reads' noise.

Reported: mean, 5th percentile, min and max of each against the nominal network's accuracy.
"""
import time

import torch

import circuitnet as cn
from circuitnet.chip import Trim
from circuitnet.models import calibrate_chip, monte_carlo, program_chip
from circuitnet.variation import with_mismatch

from .chip_bringup import BRING_UP, weight_programmer
from .classify_net import inputs
from .common import configured, write_results
from .data import load_yin_yang
from .runs import load_run

CFG = dict(chips=100, charge=0.1, gain=0.1, threshold_offset=0.005, trim_bits=6, trim_span_v=0.04,
           trim_span_gain=0.8, references=(5.0, 8.0, 12.0), bits=8, iterations=3, nominal=None, samples=1000,
           split="test", **{k: BRING_UP[k] for k in ("dac_range", "gm_over_id", "measurement_noise", "reads")})
VAL_FIRST = 500000     # --split val: chip k from seed 1000003 seed + VAL_FIRST + k (test chips: + k)
QUICK = dict(chips=2, samples=50)


def run(args):
    started = time.time()
    cfg = configured(args, CFG, QUICK, ("nominal", "chips", "split", "reads"))
    if cfg["split"] not in ("test", "val"):
        raise SystemExit(f"yin-yang-chips: --split must be test or val, got {cfg['split']!r}")
    if cfg["nominal"] is None:
        raise SystemExit("yin-yang-chips: name a finished yin-yang run of a several-node circuit with --nominal DIR "
                         "(e.g. python -m paper_repro yin-yang --circuit circuitnet.circuits:lif_current_synapse ...)")
    net, ncfg = load_run(cfg["nominal"])
    net = net.double().eval()
    net.noise.sigma = 0.0      # spike-time noise, if the run trained with it, is not part of the chip
    layers = net.spiking_layers
    if not isinstance(layers[0].circuit, cn.MultiNodeCircuit):
        raise SystemExit(f"yin-yang-chips: {cfg['nominal']} holds a one-node circuit; chip-budget and robustness "
                         f"bring those up")
    gm = next((e.name for e in layers[0].circuit.elements if isinstance(e, cn.Transconductor)), None)
    if gm is None:
        raise SystemExit("yin-yang-chips: the circuit has no Transconductor whose gain a trim could set")
    spread = {gm: cn.Mismatch(gm=cfg["gain"]), "synapse": cn.Mismatch(Q=cfg["charge"])}
    for layer in layers:
        layer.circuit = with_mismatch(layer.circuit, threshold_offset=cfg["threshold_offset"], **spread)
    data = load_yin_yang()
    val = cfg["split"] == "val"
    xs, ys = (data.x_val, data.y_val) if val else (data.x_test, data.y_test)
    x, y = xs[:cfg["samples"]].double(), ys[:cfg["samples"]]
    first = VAL_FIRST if val else 0
    t_in = inputs(ncfg, x)

    def accuracy(n):
        with torch.no_grad():
            return (n(t_in).argmin(1) == y).double().mean().item()

    trims = [Trim("V_th", bits=cfg["trim_bits"], span=cfg["trim_span_v"]),
             Trim(f"{gm}_gm", bits=cfg["trim_bits"], span=cfg["trim_span_gain"])]
    nominal = accuracy(net)
    drawn = monte_carlo(net, accuracy, chips=cfg["chips"], seed=args.seed, first=first)
    print(f"yin-yang-chips{' (validation)' if val else ''}: nominal {100 * nominal:.2f} %; as drawn, mean "
          f"{100 * drawn['mean']:.2f} %, p5 {100 * drawn['p5']:.2f} % over {cfg['chips']} chips", flush=True)
    trimmed = monte_carlo(net, accuracy, chips=cfg["chips"], seed=args.seed, first=first,
                          per_chip=lambda chip: calibrate_chip(net, chip, trims, cfg["references"]))
    print(f"yin-yang-chips: trimmed, mean {100 * trimmed['mean']:.2f} %, p5 {100 * trimmed['p5']:.2f} %", flush=True)
    program = weight_programmer(cfg, cfg["bits"], cfg["iterations"])
    both = monte_carlo(net, accuracy, chips=cfg["chips"], seed=args.seed, first=first,
                       per_chip=lambda chip: calibrate_chip(net, program_chip(chip, program), trims, cfg["references"]))
    print(f"yin-yang-chips: programmed and trimmed, mean {100 * both['mean']:.2f} %, p5 {100 * both['p5']:.2f} %, "
          f"min {100 * both['min']:.2f} % (nominal {100 * nominal:.2f} %)", flush=True)
    return write_results(args.out, "yin-yang-chips", args.seed, cfg, started, nominal_accuracy=nominal,
                         drawn=drawn, trimmed=trimmed, programmed_trimmed=both, samples=len(y),
                         circuit=ncfg.get("circuit"), split=cfg["split"],
                         **{"val_accuracy" if val else "test_accuracy": both["mean"]})
