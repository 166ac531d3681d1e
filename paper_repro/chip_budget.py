"""chip-budget: what a chip as used scores at sky130's spreads: program-and-verify, neuron trims, device area.

A designer's question: how many gate-DAC bits, how many verify iterations, which neuron trims (or how
much more device area) for iso-accuracy? Every point is ``chips`` Monte-Carlo chips at the spreads
sky130's own mismatch models give for the paper's devices (experiment robustness: synapse nfet 29 %,
pfet 17 %, discharger 15 % current spread, 5 mV comparator offset), each chip going through:

* program-and-verify of every synapse device (circuitnet.chip.WeightProgrammer): a gate-bias
  DAC of ``bits`` bits over ``dac_range`` V, ``iterations`` verify steps, current measurements with
  ``measurement_noise`` relative noise, the devices' gm/Id at one weight unit from the extraction
  sweeps (nfet 23.5 /V, pfet 15.7 /V);
* per-neuron trims from spike times alone (circuitnet.chip.calibrate): the comparator offset
  (``trim_bits``, span ``trim_span_v``) and the discharger bias (``trim_bits``, span ``trim_span_dis``
  in ln of the current), calibrated with three reference stimuli from the chip's calibration source;
* or neither, and device area: Pelgrom's law, every device ``area`` times larger, every spread
  divided by sqrt(area) (Monte-Carlo scale 1 / sqrt(area)).

Points (the stated budget, 8-bit DAC, 3 verify steps, trims, right after the chip as drawn, so that
an interrupted run has the headline first): the perfect chip (no mismatch: infinite area; with
spike-time noise each of its ``chips`` evaluations is another noise draw); the chip as drawn (area
1x and 4x; and with one kind of mismatch alone: the synapse currents,
the discharger, the comparator offset, which says where calibration must act; the synapse devices'
lambda follows their current on silicon and has no spread of its own here, and sky130's capacitor
mismatch was not measured, so neither is a point); trims alone; every DAC resolution in ``bits`` with each
verify count in ``iterations`` (> 0), trims on; the stated budget (8 bits, 3 iterations, 1 % noise)
without trims. Networks: the nominal Iris PNN (the robustness experiment's, ``iris_epochs``), evaluated
on the 45 test samples, and, with --nominal DIR, the nominal F-MNIST MLP of that fmnist-mlp run on a
fixed random subset of ``test_subset`` test images (the F-MNIST points of the nominal network need it;
--aware alone gives F-MNIST only its point "as drawn, trained on chips").

Training for the chip, two more networks, each with its own point:

* "as drawn, trained on chips" (no per-chip step at all): Iris, the same recipe for
  ``iris_aware_epochs`` with a fresh chip at sky130's spreads per mini-batch (robustness's
  variation-aware PNN); F-MNIST, with --aware DIR [DIR ...], finished fmnist-mlp runs trained with
  --mismatch sky130 (e.g. two recipes): with more than one, the run with the best mean accuracy over
  ``val_chips`` validation chips (seeds 1000003 seed + VAL_OFFSET + k, never a test or pool chip) on
  ``test_subset`` of the runs' validation images (--val, the same hold-out as --nominal's, or the
  first candidate's without --nominal) is the one tested; every candidate's validation statistics
  (a single one's too, where it holds out validation images) go into results.json (fmnist_info);
* "trims only, trained on trimmed chips" (variation-aware training on what calibration leaves, the
  per-device programming spared): Iris, the same recipe for ``iris_aware_epochs`` on a pool of
  ``pool`` chips drawn with other seeds than the test chips (POOL_OFFSET) and trimmed as in the
  point "trims only" (calibration needs only the neurons, not the weights, so a chip trimmed once
  stays trimmed while the weights learn), one pool chip per mini-batch; F-MNIST, the nominal network
  fine-tuned on such a pool for ``trim_epochs`` epochs as robustness fine-tunes (its loss, noise and
  training set, Adam at ``finetune_lr``, its EMA and weight decay).

Reported per point: mean, sd, 5th percentile, min and max accuracy over the chips (results.json,
plot accuracy_vs_budget.png). Each point is kept in OUT as it finishes and reused on a rerun, and
results.json is rewritten after every point ("complete": false until the last). Nothing is selected
on test data.
"""
import functools
import json
import math
import os
import time
import warnings

import torch

import circuitnet as cn
from circuitnet import models
from circuitnet import variation

from . import classify_net
from . import iris_net as I
from .cache import cached
from .chip_bringup import BRING_UP, trims, weight_programmer
from .classify_data import load_data
from .classify_eval import accuracy
from .common import configured, pyplot, save_figure, seed_everything, write_results
from .finetune import finetune
from .runs import load_nominal
from .runtime import runtime
from .spreads import COMPARATOR_OFFSET, at_level, on_circuit, sky130_spreads
from .train import done_epochs

CFG = dict(chips=100, test_subset=2000, iris_epochs=600, threshold_offset=COMPARATOR_OFFSET, bits=(4, 6, 8), iterations=(1, 3),
           **BRING_UP, area=4.0, iris_aware_epochs=3000, pool=200, trim_epochs=5, finetune_lr=5e-5, val_chips=20,
           nominal=None, aware=None, data=None)
QUICK = dict(chips=3, test_subset=64, iris_epochs=20, iris_aware_epochs=20, pool=4, trim_epochs=1, bits=(8,),
             iterations=(3,), val_chips=2)
# what only the networks trained for the chip depend on: a point's cache key keeps its own network's
NETWORK_KEYS = {"nominal": (), "chips": ("iris_aware_epochs", "aware", "aware_mtime", "val_chips"),
                "trimmed chips": ("iris_aware_epochs", "pool", "trim_epochs", "finetune_lr")}
POOL_OFFSET = 500000   # pool chip k: draw seed 1000003 seed + POOL_OFFSET + k, never a test chip's (k < chips)
VAL_OFFSET = 250000    # validation chip k: 1000003 seed + VAL_OFFSET + k, neither a test nor a pool chip


KINDS = {"synapse currents": ("pos", "neg"), "discharger": ("dis",), "comparator offset": ()}


def points(cfg):
    """[(label, programmer or None, trims on, area, kind, network)] of the experiment (module
    docstring); kind: None (every spread) or a key of KINDS (that kind of mismatch alone, the chip as
    drawn); network: "nominal", "chips" (trained on chips as drawn) or "trimmed chips"."""
    prog = lambda b, k: weight_programmer(cfg, b, k)
    out = [("as drawn", None, False, 1.0, None), ("8-bit DAC, 3 verify, trims", prog(8, 3), True, 1.0, None),
           ("perfect chip", None, False, math.inf, None)]
    out += [(f"as drawn, {kind} only", None, False, 1.0, kind) for kind in KINDS]
    out += [(f"as drawn, area {cfg['area']:g}x", None, False, cfg["area"], None), ("trims only", None, True, 1.0, None)]
    out += [(f"{b}-bit DAC, {k} verify, trims", prog(b, k), True, 1.0, None)
            for b in cfg["bits"] for k in cfg["iterations"] if (b, k) != (8, 3)]
    out.append(("8-bit DAC, 3 verify, no trims", prog(8, 3), False, 1.0, None))
    out = [p + ("nominal",) for p in out]
    return out + [("as drawn, trained on chips", None, False, 1.0, None, "chips"),
                  ("trims only, trained on trimmed chips", None, True, 1.0, None, "trimmed chips")]


def only(circuit, kind):
    """``circuit`` with the spreads of one kind of mismatch (KINDS) kept and every other removed."""
    if kind is None:
        return circuit
    keep = KINDS[kind]
    return variation.with_mismatch(circuit, threshold_offset=circuit.threshold_offset if kind == "comparator offset"
                                   else 0.0, **{e.name: e.mismatch if e.name in keep else None
                                                for e in circuit.all_elements})


def chips_of(net, cfg, programmer, trim):
    """per_chip for models.monte_carlo: program, then trim (each when asked)."""
    def prepare(chip):
        if programmer is not None:
            chip = models.program_chip(chip, programmer)
        if trim:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")          # neurons at a trim's rail: counted in the accuracy
                chip = models.calibrate_chip(net, chip, trims(cfg))
        return chip
    return prepare


def check_chip_ranges(cfg):
    """Test chips [0, chips), validation chips [VAL_OFFSET, + val_chips), pool chips [POOL_OFFSET, + pool)
    (offsets to 1000003 seed) must not overlap."""
    if not (1 <= cfg["chips"] <= VAL_OFFSET and 1 <= cfg["val_chips"] <= POOL_OFFSET - VAL_OFFSET
            and 1 <= cfg["pool"] <= POOL_OFFSET):
        raise ValueError(f"chip-budget: chips (got {cfg['chips']}) must be in [1, {VAL_OFFSET}], val_chips (got "
                         f"{cfg['val_chips']}) in [1, {POOL_OFFSET - VAL_OFFSET}] and pool (got {cfg['pool']}) in "
                         f"[1, {POOL_OFFSET}], so that no training or validation chip is a test chip")


def trimmed_pool(net, cfg, seed):
    """``pool`` chips at the declared spreads, each trimmed: chip k drawn with seed 1000003 seed +
    POOL_OFFSET + k, where models.monte_carlo's test chips take 1000003 seed + k, k < chips."""
    check_chip_ranges(cfg)
    chips = [models.draw_chip(net, seed=1000003 * seed + POOL_OFFSET + k) for k in range(cfg["pool"])]
    return [chips_of(net, cfg, None, True)(c) for c in chips]


def evaluate(nets, circuit, acc, cfg, seed, out, part, key, progress=None):
    """{label: Monte-Carlo statistics} over the points whose network is in ``nets`` ({"nominal",
    "chips", "trimmed chips"} where there is one: a function returning the network, called when its first
    point is computed, not when it is cached), all on ``circuit`` (at the spreads of the chips), each
    cached in OUT/chip_budget_PART_LABEL.json; progress(rows) after each point (an interrupted run's
    results.json then holds the points done)."""
    rows = {}
    others = {k for keys in NETWORK_KEYS.values() for k in keys}
    for label, programmer, trim, area, kind, which in points(cfg):
        if which not in nets:
            continue
        started = time.time()
        pkey = {k: v for k, v in dict(key, point=label).items() if k not in others or k in NETWORK_KEYS[which]}
        path = os.path.join(out, f"chip_budget_{part}_{label.replace(' ', '_').replace(',', '')}.json")

        def compute():
            net = on_circuit(nets[which](), only(circuit, kind))
            torch.manual_seed(seed)          # each point's noise draws its own: the same fresh, cached or alone
            try:
                return models.monte_carlo(net, acc, cfg["chips"], seed=seed, scale=1 / math.sqrt(area),
                                          per_chip=chips_of(net, cfg, programmer, trim))
            finally:
                on_circuit(net, circuit)
        rows[label] = r = cached(path, pkey, compute)
        print(f"chip-budget {part}: {label}: mean {100 * r['mean']:.2f} %, 5th pct {100 * r['p5']:.2f} %, "
              f"min {100 * r['min']:.2f} % ({time.time() - started:.0f} s)", flush=True)
        if progress is not None:
            progress(rows)
    return rows


def _iris(args, cfg, sky, out, progress=None):
    icfg = dict(I.CFG, epochs=cfg["iris_epochs"])
    xtr, ytr, xte, yte = I.load_split(icfg["test_size"])
    circuit = at_level(cn.circuits.rc_spike(firing="discharger"), "sky130", sky, cfg["threshold_offset"])

    def trained(which):
        def make():
            seed_everything(args.seed)
            net = models.IrisNet(hidden=icfg["hidden"], circuit=circuit, method="exact").to(I.D)
            tag = {"nominal": "nominal", "chips": "on_chips", "trimmed chips": "on_trimmed_chips"}[which]
            ckpt = os.path.join(out, f"iris_{tag}_seed{args.seed}.pt")
            epochs = icfg["epochs"] if which == "nominal" else cfg["iris_aware_epochs"]
            if which == "chips":
                net.train_on_chips(1.0)
            elif which == "trimmed chips" and done_epochs(ckpt) < epochs:
                net.train_on_chips(1.0, chips=trimmed_pool(net, cfg, args.seed))
            I.train_net(net, dict(icfg, epochs=epochs), xtr, ytr, ckpt, f"chip-budget iris {tag}",
                        getattr(args, "quiet", False))
            return net.train_on_chips(None).eval()
        return functools.cache(make)
    nets = {which: trained(which) for which in NETWORK_KEYS}
    key = json.loads(json.dumps({k: v for k, v in dict(cfg, part="iris", seed=args.seed, nominal=None, aware=None,
                                                          data=None).items() if k != "val_chips"}))  # no choice
    return evaluate(nets, circuit, lambda n: I.accuracy(n, xte, yte), cfg, args.seed, out, "iris", key, progress)


def load_aware(paths, loaded, rt):
    """[(dir, network, config, seed)] of finished fmnist-mlp runs trained with --mismatch sky130 on the
    nominal run's circuit (robustness.load_nominal; loaded: its (network, config, seed), or None: the
    first run's); with more than one, each must hold out the nominal run's validation images (the same
    --val and --seed), on which one is chosen. Any other run stops the experiment with what to do."""
    out = []
    for path in paths:
        net, acfg, seed = load_nominal(path, rt, "chip-budget", "--aware")
        _, ncfg, nseed = loaded = loaded or (net, acfg, seed)
        if acfg.get("mismatch") != "sky130":
            raise SystemExit(f"chip-budget: --aware {path} was trained without --mismatch sky130; train the network "
                             f"for the chip with python -m paper_repro fmnist-mlp ... --mismatch sky130 --out {path}")
        same = ("arch", "hidden", "width", "e_pos", "e_neg", "circuit", "sigma_spike")
        if any(acfg[k] != ncfg[k] for k in same):
            raise SystemExit(f"chip-budget: --aware {path} and --nominal differ in " + ", ".join(
                k for k in same if acfg[k] != ncfg[k]) + ": compare networks of the same architecture and circuit")
        if len(paths) > 1 and not (ncfg["val"] > 0 and acfg["val"] == ncfg["val"] and seed == nseed):
            raise SystemExit(f"chip-budget: choosing among several --aware runs needs their validation images: "
                             f"--aware {path} (--val {acfg['val']}, --seed {seed}) must hold out the same ones as "
                             f"--nominal or --aware {paths[0]} (--val {ncfg['val']}, --seed {nseed}), with --val > 0")
        out.append((path, net, acfg, seed))
    return out


def choose_aware(aware, circuit, cfg, data, seed, out, rt):
    """(the chosen (dir, network, config, seed), {dir: validation statistics}): each --aware run's accuracy
    over ``val_chips`` validation chips on ``test_subset`` of the validation images (cached in OUT); the
    best mean is chosen. A single run without validation images is taken as it is."""
    if len(aware) == 1 and data.x_val is None:
        return aware[0], {}
    pick = torch.randperm(len(data.y_val), generator=torch.Generator().manual_seed(4321))[:cfg["test_subset"]]
    x, y = data.x_val[pick], data.y_val[pick]
    stats = {}
    for path, net, acfg, _ in aware:
        key = dict(part="fmnist-validation", seed=seed, aware=path, aware_mtime=os.path.getmtime(
            os.path.join(path, "model.pt")), **{k: cfg[k] for k in ("val_chips", "test_subset", "threshold_offset")})

        def compute():
            on_circuit(net, circuit)
            torch.manual_seed(seed)
            return models.monte_carlo(net, lambda n: accuracy(n, acfg, x, y, rt), cfg["val_chips"], seed=seed,
                                      first=VAL_OFFSET)
        name = os.path.normpath(path).strip(os.sep).replace(os.sep, "_")    # runs/a and other/a: two files
        stats[path] = r = cached(os.path.join(out, f"chip_budget_fmnist_validation_{name}.json"), key, compute)
        print(f"chip-budget fmnist: --aware {path}: validation mean {100 * r['mean']:.2f} %, 5th pct "
              f"{100 * r['p5']:.2f} % over {cfg['val_chips']} validation chips", flush=True)
    best = max(aware, key=lambda a: stats[a[0]]["mean"])
    return best, stats


def _fmnist(args, cfg, sky, out, rt, loaded, aware=(), info=None, progress_for=lambda n: None):
    """(rows, number of test images); loaded: load_nominal's (network, config, seed), or None (then only
    the --aware point, on the first --aware run's data split); aware: load_aware's list (may be empty
    with a nominal run); info: a dict that gets the validation of the --aware runs; progress_for(n): the
    progress callback, given that number."""
    nominal, ncfg, seed = loaded or aware[0][1:]
    data = load_data("fashion-mnist", type("A", (), dict(data=cfg["data"], seed=seed))(), ncfg)
    pick = torch.randperm(len(data.y_test), generator=torch.Generator().manual_seed(1234))[:cfg["test_subset"]]
    x, y = data.x_test[pick], data.y_test[pick]
    sky_circuit = at_level(classify_net.circuit(ncfg["e_pos"], ncfg["e_neg"], ncfg["circuit"]), "sky130", sky,
                           cfg["threshold_offset"])
    chosen = None
    if aware:
        chosen, stats = choose_aware(aware, sky_circuit, cfg, data, args.seed, out, rt)
        if info is not None and stats:
            info.update(aware_validation=stats, aware_chosen=chosen[0])
    nets, cfgs = {}, {}
    if loaded is not None:
        on_circuit(nominal, sky_circuit)
        nets["nominal"] = lambda: nominal
        nets["trimmed chips"] = functools.cache(lambda: finetune(
            nominal, ncfg, data, sky_circuit, cfg["trim_epochs"], cfg["finetune_lr"],
            os.path.join(out, f"fmnist_on_trimmed_chips_seed{args.seed}.pt"), rt, getattr(args, "quiet", False),
            chips=lambda: trimmed_pool(nominal, cfg, args.seed)))
    if chosen is not None:
        nets["chips"] = lambda: on_circuit(chosen[1], sky_circuit)
        cfgs[id(chosen[1])] = chosen[2]
    mtime = lambda d: os.path.getmtime(os.path.join(d, "model.pt"))
    # the point of the network trained on chips depends on the run chosen, not on the candidates
    key = json.loads(json.dumps(dict(cfg, part="fmnist", seed=args.seed, data=None,
                                     nominal_mtime=None if loaded is None else mtime(cfg["nominal"]),
                                     aware=None if chosen is None else chosen[0],
                                     aware_mtime=None if chosen is None else mtime(chosen[0]))))
    return evaluate(nets, sky_circuit, lambda n: accuracy(n, cfgs.get(id(n), ncfg), x, y, rt), cfg, args.seed,
                    out, "fmnist", key, progress_for(len(y))), len(y)


def _plot(path, results):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, (name, rows) in enumerate(results.items()):
        labels = list(rows)
        ys = range(len(labels))
        off = 0.18 * (i - (len(results) - 1) / 2)
        ax.errorbar([100 * rows[l]["mean"] for l in labels], [y + off for y in ys],
                    xerr=[[max(0.0, 100 * (rows[l]["mean"] - rows[l]["p5"])) for l in labels], [0] * len(labels)],
                    fmt="o", capsize=3, label=f"{name}: mean, bar to 5th percentile")
        ax.set_yticks(list(ys), labels, fontsize=8)
    ax.set(xlabel="accuracy over Monte-Carlo chips (%)", title="chips at sky130's spreads, as drawn and as used")
    ax.grid(alpha=0.3)
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.4, -0.14), ncol=2)
    save_figure(fig, path)


def run(args):
    started = time.time()
    cfg = configured(args, CFG, QUICK, ("chips", "nominal", "aware", "data"))
    try:
        check_chip_ranges(cfg)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    rt = runtime(args)
    loaded = None if cfg["nominal"] is None else load_nominal(cfg["nominal"], rt, "chip-budget")   # missing: an error before anything runs
    aware = [] if cfg["aware"] is None else load_aware(list(cfg["aware"]), loaded, rt)
    sky = sky130_spreads()
    results, info = {}, {}
    budget, aware_point = "8-bit DAC, 3 verify, trims", "as drawn, trained on chips"   # the headline: --aware alone

    def write(complete, **more):
        head = list(results.values())[-1]
        return write_results(args.out, "chip-budget", args.seed, cfg, started, results=results, fmnist_info=info,
                             complete=complete, test_accuracy=head.get(budget, head.get(aware_point, {})).get("mean"),
                             **more)

    def progress(name):
        def report(rows):
            results[name] = rows
            write(False)
        return report

    results["Iris (45 test samples)"] = _iris(args, cfg, sky, args.out, progress("Iris (45 test samples)"))
    if loaded is not None or aware:
        name = lambda n: f"F-MNIST MLP ({n} test images)"

        def progress_for(n):
            info.update(nominal_run=cfg["nominal"], test_subset=n)
            return progress(name(n))
        rows, n = _fmnist(args, cfg, sky, args.out, rt, loaded, aware, info, progress_for)
        results[name(n)] = rows
    _plot(os.path.join(args.out, "accuracy_vs_budget.png"), results)
    return write(True)
