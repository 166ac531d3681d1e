"""Writes docs/results.md, the full results behind README's experiment table, from the committed
docs/results/<run>/results.json files.

    .venv/bin/python scripts/results_page.py            # (re)write docs/results.md
    .venv/bin/python scripts/results_page.py --check    # exit 1 if docs/results.md is out of date

Every number on the page is read from those files, or computed from them (differences, means over
seeds), and printed at the precision shown; nothing measured is typed here.  What the files do not
hold lives in ENTRIES below, one entry per README row: the heading (its anchor is README's link),
the commands that wrote each run, a description of the run, and the paper's side where its numbers
are not in a results.json (those are quoted from the paper, docs/paper.md).  Runs that no entry
names are listed at the end of the page, so that every committed results.json appears on it.
tests/test_results_page.py regenerates the page and compares it with the committed one; it also
checks that README's headline numbers are values of the files each row links.
Standard library only: the page can be rebuilt without torch or circuitnet.
"""
import argparse
import json
import math
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
PAGE = ROOT / "docs" / "results.md"

RECIPE = "--schedule cosine --lr 2e-4 --gamma1 0.5 --ema 0.9995 --weight-decay 0.3"   # validation chose it
NOISE_E74 = f"python -m paper_repro noise {RECIPE} --val 5000 --e-pos 7.4 --e-neg -7.4"


# ------------------------------------------------------------------------------------------- reading
class Run:
    """One committed run: docs/results/<name>/results.json; ``run["a/b/c"]`` walks into its objects
    (keys may hold dots, as noise's sigmas do: ``run["chosen/0.04/test_accuracy"]``)."""

    def __init__(self, name, results=RESULTS):
        self.name = name
        self.data = json.loads((results / name / "results.json").read_text())

    def __getitem__(self, path):
        value = self.data
        for key in path.split("/"):
            value = value[int(key)] if isinstance(value, list) else value[key]
        return value

    @property
    def config(self):
        return self.data["config"]


def runs(results=RESULTS):
    """{name: Run} of every committed run, by folder name."""
    return {p.parent.name: Run(p.parent.name, results) for p in sorted(results.glob("*/results.json"))}


# ------------------------------------------------------------------------------------------ printing
def pct(x, d=2):
    """An accuracy (a fraction) in percent: ``pct(0.90516)`` is "90.52 %"."""
    return f"{100 * x:.{d}f} %"


def num(x, d=2):
    return f"{x:.{d}f}"


def ns(x, sign=False):
    return f"{x:{'+' if sign else ''}.2f} ns"


def g(x):
    """A configuration value as written on a command line: 7.4, 100, 0.04."""
    return f"{x:g}"


def points(a, b):
    """Accuracy points between two accuracies as printed (to 0.01 points), so that the difference
    of the two numbers on the page is the difference the page states."""
    return f"{round(100 * a, 2) - round(100 * b, 2):.2f}"


def joined(values, fmt=pct, sep=" / "):
    return sep.join(fmt(v) for v in values)


def gains(values):
    return " / ".join(g(v) for v in values)


def check(claim, what):
    """A statement the page makes in words: it must hold in the files, or the page is not written."""
    if not claim:
        raise ValueError(f"results_page: the text says {what!r}, which the results files no longer support")


# ------------------------------------------------------------------------------------------- entries
# Each entry: heading (README links docs/results.md#<its anchor>), runs as [(folder, command)], and a
# function of the runs {name: Run} returning (run description, ours, paper); figures to show.

def _iris(r):
    run = r["iris"]
    s, cfg = run["summary"], run.config
    setup = (f"The main job: {len(cfg['seeds'])} seeds of a {cfg['hidden']}-neuron hidden layer, "
             f"{cfg['epochs']} epochs, {round(150 * cfg['test_size'])} of Iris's 150 samples held out for test; "
             f"the circuit model simulated by ode.")
    ours = (f"PNN-to-IMC **{pct(s['pnn_circuit_acc']['mean'])}** +- {num(100 * s['pnn_circuit_acc']['std'])} "
            f"(min {pct(s['pnn_circuit_acc']['min'])}); ANN-to-IMC (|E| = {g(cfg['e_ann'])}, two-scale mapping) "
            f"{pct(s['ann_circuit_acc']['mean'])} +- {num(100 * s['ann_circuit_acc']['std'])} "
            f"(min {pct(s['ann_circuit_acc']['min'])}).")
    return setup, ours, "PNN-to-IMC keeps its accuracy, ANN-to-IMC does not."


def _spice_iris(r):
    run = r["spice-iris"]
    setup = (f"The seed-{run['seed']} networks of the main job in ngspice, sky130 transistors, "
             f"on {run.config['test_samples']} test samples.")
    ours = (f"output spike-time RMSE to the model: PNN-to-IMC **{ns(run['pnn_rmse_ns'])}**, ANN-to-IMC "
            f"**{ns(run['ann_rmse_ns'])}**; accuracy by SPICE spike times {pct(run['pnn_spice_acc'])} / "
            f"{pct(run['ann_spice_acc'])}.")
    # not in any results.json: the paper's post-layout measurement (docs/paper.md)
    return setup, ours, "1.97 ns vs 39.04 ns, against post-layout SPICE ([paper.md](paper.md))."


def _spice_neurons(r):
    rows = r["spice-neurons"]["per_fan_in"]
    gauss = r["spice-neurons"]["per_regime"]["gaussian"]
    setup = ("Random neurons not used in any fit, inputs U(0, 1), in two regimes: uniform (weights 70 % positive with "
             "magnitudes U(0.2, 1), scaled so that the ideal v(1) lies in U(0.15, 0.85)) and gaussian (weights "
             "N(0.02 (64 / J), 0.15^2 (64 / J)), 45-48 % negative, as trained layers have them). Compared: the "
             "neurons that fire inside the window in both. Neurons per fan-in: "
             + ", ".join(f"{row['neurons']} at {row['fan_in']}" for row in rows) + " (uniform); "
             + ", ".join(f"{row['neurons']} at {row['fan_in']}" for row in gauss) + " (gaussian).")
    before = {row["fan_in"]: row["variants"]["before"]["rmse_ns"] for row in rows}
    curved = lambda row: row["variants"]["with curvature (ode)"]
    ours = ("model-vs-SPICE spike-time RMSE (mean error, SPICE - model), uniform, at fan-in "
            + " / ".join(str(row["fan_in"]) for row in rows) + ": **"
            + ", ".join(f"{ns(row['rmse_ns'])} ({ns(row['mean_ns'])})" for row in rows) + "**; without the "
            f"gate-charge, leakage and charge-averaged-capacitance elements {ns(before[128])} at 128 and "
            f"{ns(before[784])} at 784. Gaussian, at fan-in " + " / ".join(str(row["fan_in"]) for row in gauss)
            + ": the model (line, exact) " + ", ".join(f"{ns(row['rmse_ns'])} ({ns(row['mean_ns'])})" for row in gauss)
            + "; with the devices' I(V) curvature (curvature=True, ode) **"
            + ", ".join(f"{ns(curved(row)['rmse_ns'])} ({ns(curved(row)['mean_ns'])})" for row in gauss) + "**. "
            "Trained (layers 1 and 2 of the headline recipe's MLP, rerun on this machine: test "
            f"{pct(r['fmnist-mlp-val-wd0.3-rerun']['test_accuracy'])}, on real test images), the model / with curvature: "
            + ", ".join(f"layer {k + 1} (fan-in {row['fan_in']}, {row['variants']['model']['n']} of {row['neurons']} "
                        f"neuron-samples fire in the window) {ns(row['rmse_ns'])} ({ns(row['mean_ns'])}) / "
                        f"**{ns(curved(row)['rmse_ns'])} ({ns(curved(row)['mean_ns'])})**"
                        for k, row in enumerate(r["spice-neurons"]["per_regime"]["trained"])) + ". "
            + _digits_regime(r))
    return setup, ours, ""


def _digits_regime(r):
    """The "digits" regime of spice-neurons: the digits MLP (its own run) on its test images."""
    run, rows = r["digits"], r["spice-neurons"]["per_regime"]["digits"]
    curved = lambda row: row["variants"]["with curvature (ode)"]
    return (f"Digits (scikit-learn's 8x8 digits, a 64-{run.config['hidden'][0]}-10 MLP of the paper's circuit trained "
            f"{run.config['epochs']} epochs, lr {g(run.config['lr'])} chosen on its validation set: test "
            f"{pct(run['test_accuracy'])}; its layers on real test images), the model / with curvature: "
            + ", ".join(f"layer {k + 1} (fan-in {row['fan_in']}, {row['variants']['model']['n']} of {row['neurons']} "
                        f"fire) {ns(row['rmse_ns'])} ({ns(row['mean_ns'])}) / "
                        f"**{ns(curved(row)['rmse_ns'])} ({ns(curved(row)['mean_ns'])})**" for k, row in enumerate(rows))
            + ".")


def _fmnist_mlp(r):
    run, noise = r["fmnist-mlp-val-wd0.3"], r["noise"]
    cfg = run.config
    val = {wd: r[name]["val_accuracy"] for wd, name in
           ((0.3, "fmnist-mlp-val-wd0.3"), (0.1, "fmnist-mlp-val-wd0.1"), (0, "fmnist-mlp-val-wd0"))}
    check([r[n].config["weight_decay"] for n in ("fmnist-mlp-val-wd0.3", "fmnist-mlp-val-wd0.1",
                                                  "fmnist-mlp-val-wd0")] == list(val), "weight decay 0.3 / 0.1 / 0")
    p = val[0.3]
    se = math.sqrt(p * (1 - p) / run["val_samples"])
    check(val[0.3] > val[0.1] > val[0] and val[0.3] - val[0.1] < se, "0.3 first, 0.1 within a standard error")
    setup = (f"784-{'-'.join(map(str, cfg['hidden']))}-10 at the circuit's E_pos {num(run['e_pos'])} / "
             f"E_neg {num(run['e_neg'])}, DSTD training (M = {cfg['steps']}), exact test, sigma_spike "
             f"{g(cfg['sigma_spike'])}, {cfg['epochs']} epochs on {run['train_samples']:,} images, seed {run['seed']}.")
    ours = (f"test **{pct(run['test_accuracy_noise_mean'])}** (mean of {cfg['noise_draws']} noise draws), "
            f"noise-free {pct(run['test_accuracy_sigma0'])}; validation {pct(run['val_accuracy'])} "
            f"({run['val_samples']:,} held-out training images).\n\n"
            f"Validation chose the weight decay: with `--val {cfg['val']}` the final weights score "
            f"{joined(val.values(), lambda v: num(100 * v))} % on the held-out images at weight decay "
            f"{' / '.join(g(wd) for wd in val)} ([0.1](results/fmnist-mlp-val-wd0.1/results.json), "
            f"[0](results/fmnist-mlp-val-wd0/results.json)): decay helps, 0.3 ranks first, and 0.1 is within "
            f"the validation set's standard error of it ({points(val[0.3], val[0.1])} points apart, standard "
            f"error {num(100 * se)} points; [experiments.md](experiments.md)).")
    paper = (f"{pct(noise['paper_accuracy/0.01'])} (sigma 0.01), {pct(noise['paper_accuracy/0'])} (sigma 0), "
             "5-seed means at its best |E| = 7.4.")
    return setup, ours, paper


def _sweep_e(r):
    run = r["sweep-e"]
    cfg, acc = run.config, run["accuracy"]
    es = [g(e) for e in cfg["e_values"]]
    best = g(run["best_e"])
    pnn, ann, scaled = ([acc[k][e] for e in es] for k in ("pnn", "ann", "scaled_ann"))
    check(best == max(acc["pnn"], key=acc["pnn"].get), "the best |E|")
    check(all(s >= a for s, a in zip(scaled, ann)), "our scaled ANN is not worse than the unscaled one")
    setup = (f"The recipe above, one network trained at each |E| = {', '.join(es)} for {cfg['epochs']} epochs, "
             f"seed {run['seed']}; ANN: the |E| = {g(cfg['e_ann'])} network tested on each circuit, scaled ANN: "
             "the same with one global weight factor fitted to its output spike times.")
    ours = (f"at |E| = {' / '.join(es)}, PNN "
            + " / ".join(f"**{pct(a)}**" if e == best else pct(a) for e, a in zip(es, pnn))
            + f"; ANN {joined(ann)}; scaled ANN {joined(scaled)}. At |E| = {es[0]} the PNN is "
            f"{points(acc['pnn'][best], pnn[0])} points below its best |E| and {points(pnn[0], ann[0])} points "
            "above the ANN; unlike the paper's, our scaled ANN is not worse than the unscaled one.")
    paper = ("PNN loses at most about 1 point down to |E| = 1; the ANN degrades at small |E|, the scaled "
             "ANN badly below |E| = 4.")
    return setup, ours, paper


def _noise(r):
    run = r["noise"]
    sig = [g(s) for s in run.config["sigmas"]]
    acc, paper = run["accuracy"], run["paper_accuracy"]
    above = [s for s in sig if acc[s] > paper[s]]
    below = [s for s in sig if acc[s] <= paper[s]]
    check(above == ["0", "0.01"] and below == ["0.02", "0.04"], "above the paper at 0 and 0.01")
    setup = (f"The recipe above at the circuit's E, trained and tested at each sigma_spike, "
             f"{run.config['epochs']} epochs, seed {run['seed']}; trained with the noise rule before the next "
             "entry's fix.")
    ours = (f"at sigma_spike = {' / '.join(sig)}: " + " / ".join(
        f"**{pct(acc[s])}**" if s in above else pct(acc[s]) for s in sig)
            + f": above the paper without noise and at {above[1]}, "
            f"{' and '.join(points(paper[s], acc[s]) for s in below)} points below it at {' and '.join(below)}.")
    paper_text = (f"{joined((paper[s] for s in sig), lambda v: num(100 * v))} % (Table 3: best |E| per column, "
                  "5-seed means).")
    return setup, ours, paper_text


def _noise_004(r):
    run, old = r["noise-0.04"], r["noise"]
    a = run["accuracy/0.04"]
    paper = run["paper_accuracy"]
    setup = ("The same at sigma_spike 0.04, with jitter that moves spikes and creates none: the previous "
             "entry's noise also turned silent neurons into spikes just before the window's end.")
    ours = (f"**{pct(a)}** at sigma 0.04 (mean of {run.config['noise_draws']} noise draws): "
            f"{points(a, old['accuracy/0.04'])} points above the old rule, {points(old['accuracy/0'], a)} below "
            f"sigma 0 (the paper's Table 3: {points(paper['0'], paper['0.04'])}).")
    return setup, ours, f"{pct(paper['0.04'])} (sigma 0.04, best |E|)."


def _noise_val(r):
    run = r["noise-val-e7.4-e50"]
    chosen, cross, paper = run["chosen"], run["cross"], run["paper_accuracy"]
    check(chosen["0"]["trained_at"] == chosen["0.04"]["trained_at"] == 0.04, "validation picks 0.04 for both")
    setup = (f"At the paper's |E| = {g(run.config['e_pos'])} with {run.config['val']:,} validation images; "
             "every network trained at one sigma is tested at every sigma, and validation picks the training "
             "sigma per tested sigma.")
    ours = (f"validation picks training at 0.04 for both sigma 0 and 0.04: test **{pct(chosen['0']['test_accuracy'])}** "
            f"noise-free and **{pct(chosen['0.04']['test_accuracy'])}** at sigma 0.04, "
            f"{points(chosen['0']['test_accuracy'], chosen['0.04']['test_accuracy'])} points apart (validation "
            f"{num(100 * chosen['0']['val_accuracy'])} / {pct(chosen['0.04']['val_accuracy'])}). Training at 0.06 or "
            f"0.08 for a chip at 0.04 does not help ({pct(cross['0.06']['0.04'])}, {pct(cross['0.08']['0.04'])}), and "
            f"training with noise costs no noise-free accuracy (the sigma 0 network: {pct(cross['0']['0'])}, "
            f"{pct(cross['0']['0.04'])} at 0.04).")
    return setup, ours, f"{num(100 * paper['0'])} / {pct(paper['0.04'])} (best |E| per column, 5-seed means)."


SEEDS = [f"noise-val-e7.4-e50-seed{s}" for s in range(3)]


def _noise_seeds(r):
    rs = [r[n] for n in SEEDS]
    c0 = [x["chosen/0"] for x in rs]
    c4 = [x["chosen/0.04"] for x in rs]
    check(all(c["trained_at"] == 0.04 and c["gains"] for c in c4), "the sigma 0.04 network with layer gains")
    m0, m4 = (sum(c["test_accuracy"] for c in cs) / len(cs) for cs in (c0, c4))
    paper = rs[0]["paper_accuracy"]
    seeds = ", ".join(str(x["seed"]) for x in rs)
    setup = (f"The same at sigma {' and '.join(g(s) for s in rs[0].config['sigmas'])} over {len(rs)} seeds, each "
             "network also with one current gain per layer chosen on validation at its sigma "
             "(`models.tune_layer_gains_`); validation chooses per tested sigma among all of them. Means: "
             "`python -m paper_repro.summary DIR DIR DIR`.")
    ours = (f"validation chooses the sigma 0.04 network with layer gains "
            f"{', '.join(gains(c['gains']) for c in c4[:-1])} and {gains(c4[-1]['gains'])} (seeds {seeds}): test "
            + " / ".join(f"**{pct(c['test_accuracy'])}**" for c in c4) + " at sigma 0.04, up from "
            f"{joined((x['cross/0.04/0.04'] for x in rs), lambda v: num(100 * v))} % without gains; at sigma 0 it "
            f"chooses {joined(c['test_accuracy'] for c in c0)}. Sigma 0 and 0.04 lie "
            f"{' / '.join(points(a['test_accuracy'], b['test_accuracy']) for a, b in zip(c0, c4))} points apart on "
            f"test (validation {' / '.join(points(a['val_accuracy'], b['val_accuracy']) for a, b in zip(c0, c4))}); "
            f"{len(rs)}-seed means {num(100 * m0)} and {num(100 * m4)}, **{points(m0, m4)} points** apart.")
    return setup, ours, (f"{num(100 * paper['0'])} / {pct(paper['0.04'])} (best |E| per column, 5-seed means): "
                         f"{points(paper['0'], paper['0.04'])} points apart.")


def _robustness(r):
    run = r["robustness"]
    f, iris = run["fmnist"], run["iris"]
    setup = (f"The `fmnist-mlp --val 5000` run above as the nominal network; {run.config['chips']} Monte-Carlo "
             f"chips per point, F-MNIST on a fixed {run.config['test_subset']:,} test images.")

    def pair(level):
        a, n = f[level]["aware"], f[level]["nominal"]
        return f"{pct(a['mean'])} ({pct(a['p5'])}) vs {pct(n['mean'])} ({pct(n['p5'])})"

    ours = (f"mean (5th percentile) accuracy of the variation-aware MLP vs the nominal one: at 5 % current "
            f"mismatch {pair('5%')}; at 20 % {pair('20%')}; at sky130's spreads {pair('sky130')}. Iris at 20 %: "
            f"{pct(iris['20%']['aware']['mean'])} vs {pct(iris['20%']['nominal']['mean'])}.")
    return setup, ours, "Beyond the paper."


IRIS, MLP = "Iris (45 test samples)", "F-MNIST MLP (2000 test images)"


def _chip_budget(r):
    run = r["chip-budget"]
    cfg = run.config
    i, m = run["results"][IRIS], run["results"][MLP]
    full = f"{max(cfg['bits'])}-bit DAC, {max(cfg['iterations'])} verify"
    low = f"{min(cfg['bits'])}-bit DAC, {min(cfg['iterations'])} verify"
    used = [k for k in i if k.endswith(" verify, trims") and int(k.split("-bit")[0]) >= 6]
    check(used and all(i[k]["mean"] == i["6-bit DAC, 1 verify, trims"]["mean"] for k in used),
          "Iris: the same from a 6-bit DAC and 1 verify step on")
    chosen = run["fmnist_info/aware_chosen"]
    setup = (f"Iris's nominal PNN and the F-MNIST MLP of that fmnist-mlp run on {cfg['test_subset']:,} test images; "
             f"{cfg['chips']} chips per point at sky130's spreads, as drawn and as used: weights programmed through a "
             "gate-bias DAC with verify steps, neurons trimmed from their spike times ([robustness.md](robustness.md)).")
    ours = (f"Iris: as drawn {pct(i['as drawn']['mean'])} (5th percentile {pct(i['as drawn']['p5'])}); programmed "
            f"only ({full}, {g(100 * cfg['measurement_noise'])} % measurement noise) "
            f"{pct(i[full + ', no trims']['mean'])}; trims only {pct(i['trims only']['mean'])}; both, from a 6-bit DAC "
            f"and 1 verify step on, **{pct(i['6-bit DAC, 1 verify, trims']['mean'])}** (5th percentile "
            f"{pct(i['6-bit DAC, 1 verify, trims']['p5'])}), the perfect chip's {pct(i['perfect chip']['mean'])}; "
            f"{g(cfg['area'])}x device area {pct(i['as drawn, area 4x']['mean'])}; trained for the chip: on fresh chips "
            f"as drawn {pct(i['as drawn, trained on chips']['mean'])}, on trimmed chips with trims only "
            f"{pct(i['trims only, trained on trimmed chips']['mean'])}. F-MNIST MLP: as drawn "
            f"{pct(m['as drawn']['mean'])} (5th percentile {pct(m['as drawn']['p5'])}); {full}, {cfg['trim_bits']}-bit "
            f"trims **{pct(m[full + ', trims']['mean'])}** (5th percentile **{pct(m[full + ', trims']['p5'])}**), the "
            f"perfect chip's {pct(m['perfect chip']['mean'])}; {low}, trims {pct(m[low + ', trims']['mean'])}; trims "
            f"only {pct(m['trims only']['mean'])} (5th percentile {pct(m['trims only']['p5'])}), and with the MLP "
            f"fine-tuned on trimmed chips **{pct(m['trims only, trained on trimmed chips']['mean'])}** (5th percentile "
            f"{pct(m['trims only, trained on trimmed chips']['p5'])}), no device programmed; trained on chips alone "
            f"(of two `--mismatch sky130` runs, {', '.join(cfg['aware'])}, the one validation chips chose, {chosen}; "
            "their recipes, gamma1 0.5 for 50 epochs and 0.02 for 25, are in [robustness.md](robustness.md)) "
            f"{pct(m['as drawn, trained on chips']['mean'])} (5th percentile {pct(m['as drawn, trained on chips']['p5'])}); "
            "a 50-epoch run does better (next entry).")
    return setup, ours, "Beyond the paper."


def _chip_aware(r):
    run, train, budget = r["chip-aware"], r["fmnist-mlp-aware-sky130"], r["chip-budget"]
    m = run["results"][MLP]["as drawn, trained on chips"]
    mine = run["fmnist_info/aware_validation"][run["fmnist_info/aware_chosen"]]
    other = budget["fmnist_info/aware_validation"][budget["fmnist_info/aware_chosen"]]
    check(mine["mean"] > other["mean"], "chosen over the previous entry's run by validation chips")
    setup = (f"The F-MNIST MLP trained for the chip from the first epoch ({train.config['epochs']} epochs, gamma1 "
             f"{g(train.config['gamma1'])}), a fresh {train.config['mismatch']} Monte-Carlo chip per mini-batch, then "
             f"scored alone on the same {run.config['chips']} test chips and {run.config['test_subset']:,} test images "
             "as the previous entry; no per-chip step at all.")
    ours = (f"trained on chips alone: **{pct(m['mean'])}** over {run.config['chips']} test chips (5th percentile "
            f"{pct(m['p5'])}, min {pct(m['min'])}), chosen over the previous entry's 25-epoch run by "
            f"{run.config['val_chips']} validation chips on validation images ({pct(mine['mean'])} against "
            f"{pct(other['mean'])}); on the nominal chip {pct(train['test_accuracy_noise_mean'])} (mean of "
            f"{train.config['noise_draws']} noise draws).")
    return setup, ours, "Beyond the paper."


def _spice_layer(r):
    run = r["spice-layer"]
    out, first = run["output_layer"], run["first_layer"]
    check(out["accuracy_spice"] == out["accuracy_realised_model"], "correct by both")
    pairs = first["images"] * len(first["neurons"])
    setup = (f"The headline F-MNIST MLP's output layer, fan-in {out['fan_in']}, in ngspice with sky130 transistors, "
             f"driven by the model's hidden spike times, on {out['images']} random test images; plus "
             f"{len(first['neurons'])} random first-layer neurons, fan-in {first['fan_in']}, on {first['images']} images.")
    ours = (f"output layer: the SPICE class equals the model's on **{round(out['class_agreement'] * out['images'])} of "
            f"{out['images']}** images ({pct(out['accuracy_spice'], 0)} correct by both); spike-time RMSE "
            f"**{ns(out['rmse_ns'])}** (mean error, SPICE - model, {ns(out['mean_ns'], True)}); first layer "
            f"{ns(first['rmse_ns'])} ({ns(first['mean_ns'], True)}), {round(first['firing_agreement'] * pairs)} of "
            f"{pairs} neuron-images fire alike, measured before the weight floor, the weakest devices' packets and the "
            f"edge conduction (spice-network's layer 1, below, has them all).")
    return setup, ours, ""


def _spice_network(r):
    run = r["spice-network"]
    layers = run["layers"]
    setup = (f"The MLP {'-'.join(str(l['fan_in']) for l in layers)}-{layers[-1]['neurons']} entirely in ngspice (sky130, "
             f"the realised model with the devices' curvature), every layer driven by the spike times SPICE gave the "
             f"layer before, on the first {run['images']} test images of spice-layer's fixed order (a re-run of the "
             f"headline fmnist-mlp command on this machine, test 90.68 %, whose results.json is not committed), each "
             f"layer's model with the weight floor (devices below their lowest current off, as the netlist holds them), "
             f"the weakest devices' gate packets measured down to that floor and the conduction during gate edges "
             f"(EdgeConduction, its switch-off still at the reset level: measured before that was taken at v(1), "
             f"whose SPICE runs were not rerun; [spice.md](spice.md)). Resumable per image and layer.")
    ours = (f"the SPICE class equals the model's on **{round(run['class_agreement'] * run['images'])} of "
            f"{run['images']}** images; per layer, spike-time RMSE against the model driven by the same SPICE inputs "
            + ", ".join(f"layer {l['layer']} **{ns(l['rmse_ns'])}** ({ns(l['mean_ns'], True)})" for l in layers)
            + f"; {round(run['spice_seconds_per_image'] / 60)} min of ngspice per image on one core.")
    return setup, ours, ""


def _spice_chips(r):
    run = r["spice-chips"]
    cfg, chips = run.config, run["chips"]
    check(run["max_sample_difference"] == 0 and all(c["spice_acc"] == run["spice_acc_min"] for c in chips),
          "the same accuracy on every chip, 0 samples apart")
    setup = (f"The whole chain on transistors: {cfg['chips']} sky130 Monte-Carlo chips, each transistor's threshold "
             "drawn by SkyWater's mismatch model; the Iris PNN's weights programmed against ngspice currents, its "
             f"neurons trimmed from ngspice spike times, then run in ngspice on {cfg['test_samples']} test samples, "
             "against the model of each chip built from the bench's measurements ([robustness.md](robustness.md)).")
    ours = (f"programmed and trimmed: **{pct(run['spice_acc_min'])} on every chip** in ngspice, the chip's model "
            f"{pct(run['model_acc_mean'])} ({g(run['max_sample_difference'])} samples apart on every chip); output "
            f"spike-time RMSE, model vs ngspice, **{num(min(c['rmse_ns'] for c in chips))}-{ns(run['rmse_ns_max'])}**; "
            f"as drawn {pct(run['drawn_spice_acc_mean'])} (min {pct(run['drawn_spice_acc_min'])}).")
    return setup, ours, "Beyond the paper."


def _nonaffine(r):
    quad, affine = r["fmnist-nonaffine"], r["fmnist-affine"]
    setup = (f"The paper's recipe for {quad.config['epochs']} epochs on a non-affine circuit (second-order CLM, "
             f"`{quad.config['circuit']}`), trained by the general DSTD, next to the same on the paper's circuit.")
    ours = (f"a non-affine circuit (second-order CLM) trained by the general DSTD: {pct(quad['test_accuracy'])}; "
            f"the paper's circuit: {pct(affine['test_accuracy'])}.")
    return setup, ours, "A circuit of our own: not in the paper."


YY_SEEDS = [f"yin-yang-seed{s}" for s in range(5)]
YY_GRID = {"yin-yang-val-lr1e-3": "--lr 1e-3 --schedule constant", "yin-yang-val-lr3e-3": "--lr 3e-3 --schedule constant",
           "yin-yang-val-lr1e-3-cosine": "--lr 1e-3", "yin-yang-val-ema0.99": "--lr 1e-3 --schedule constant --ema 0.99",
           "yin-yang-val-ema0.999": "--lr 3e-3 --schedule constant --ema 0.999"}


def _over_seeds(rs):
    """'test accuracy over N seeds **mean** (a / b / ... at seeds 0, 1, ...)' of runs rs."""
    tests = [x["test_accuracy"] for x in rs]
    return (f"test accuracy over {len(rs)} seeds **{pct(sum(tests) / len(tests))}** (" + " / ".join(pct(t) for t in tests)
            + f" at seeds {', '.join(str(x['seed']) for x in rs)})")


def _yin_yang(r):
    rs = [r[n] for n in YY_SEEDS]
    cfg = rs[0].config
    grid = {n: r[n]["val_accuracy"] for n in YY_GRID}
    check(all(rs[0]["val_accuracy"] > v for v in grid.values()), "validation chose the seed-0 recipe")
    setup = (f"The data set generated from its published definition ({rs[0]['train_samples']} / "
             f"{rs[0]['val_samples']} / {rs[0]['test_samples']} samples, seeds 42 / 41 / 40), a 5-"
             f"{cfg['hidden'][0]}-{cfg['classes']} network of the paper's RC-Spike circuit, {cfg['epochs']} epochs, "
             f"Adam lr {g(cfg['lr'])} with cosine annealing, chosen on the validation set at seed 0 (final "
             f"validation accuracy {pct(rs[0]['val_accuracy'])} against "
             f"{joined(sorted(grid.values()), lambda v: num(100 * v))} % for the other recipes).")
    ours = (f"{_over_seeds(rs)}; "
            f"validation {joined(x['val_accuracy'] for x in rs)}; "
            f"{num(rs[0]['time_per_epoch_s'], 1)} s per epoch on one core.")
    return setup, ours, ("not in the paper; BrainScaleS-2's two-node LIF (fastAndDeep v1.0.0), run on a machine "
                         "of this kind: 95.9 % test after 300 epochs; an ANN 4-120-3: 98.7 %.")


YY_LIF_CMD = ("python -m paper_repro yin-yang --circuit circuitnet.circuits:lif_current_synapse --gamma1 0 --bump 0.005 "
              "--clip 1 --tau-soft 0.2 --lr 3e-3")
YY_LIF = [f"yin-yang-lif-seed{s}" for s in range(5)]


def _yin_yang_lif(r):
    rs = [r[n] for n in YY_LIF]
    cfg, sp_ = rs[0].config, r["yin-yang-lif-spice"]["output_layer"]
    at_val = [x["test_accuracy_at_best_val"] for x in rs]
    rc = [r[n]["test_accuracy"] for n in YY_SEEDS]
    setup = (f"The same data and network shape on the two-node LIF neuron with an exponential current synapse "
             f"(`circuitnet.circuits.lif_current_synapse`: tau_s 6 us, tau_m 12 us, physical units; trained and "
             f"evaluated by its Lambert-W / quadratic closed form), {cfg['epochs']} epochs, Adam lr {g(cfg['lr'])} "
             f"with cosine annealing, softmax temperature {g(cfg['tau_soft'])}, no temporal penalty, gradient norm "
             f"clipped at {g(cfg['clip'])}, weight bumping {g(cfg['bump'])} (fastAndDeep's rule; hidden limit 0.1 "
             f"and the rest chosen on the validation set). The output layer of seed 0 in ngspice "
             f"(`yin-yang-spice`, behavioural netlist of the declaration) on all {sp_['samples']} test samples.")
    ours = (f"{_over_seeds(rs)}; at the epoch "
            "validation picks "
            f"{pct(sum(at_val) / len(at_val))}; the paper's RC-Spike circuit on the same task "
            f"{pct(sum(rc) / len(rc))}; {num(rs[0]['time_per_epoch_s'], 1)} s per epoch on one core (training and "
            f"the evaluations). In ngspice the output layer gives the model's class on "
            f"**{pct(sp_['class_agreement'])}** of the test samples, spike-time RMSE {num(sp_['rmse_ns'], 4)} ns, "
            f"largest {num(sp_['max_abs_ns'], 3)} ns.")
    return setup, ours, ("not in the paper; fastAndDeep v1.0.0 (this neuron with tau_m = tau_s), run on a machine "
                         "of this kind: 95.9 % test after 300 epochs, 3.56 s per epoch.")


YY_LABEL_CMD = f"{YY_LIF_CMD} --ce-on unclipped --alpha 0.01 --bump-output label"
YY_LABEL = [f"yin-yang-lif-label-seed{s}" for s in range(5)]


def _yin_yang_lif_label(r):
    rs = [r[n] for n in YY_LABEL]
    cfg = rs[0].config
    vals = [x["val_accuracy"] for x in rs]
    old = [r[n]["test_accuracy"] for n in YY_LIF]
    sp_ = r["yin-yang-lif-label-spice"]["output_layer"]
    setup = (f"The two-node LIF network as above, with a gradient for neurons that stay below threshold: the "
             f"cross-entropy on the output layer's unclipped times (a silent neuron's u = t_max + 1 - V_peak, "
             f"V_peak its membrane's highest value in units of the swing, from the closed form), fastAndDeep's "
             f"term alpha (exp(t_label / beta) - 1) with alpha {g(cfg['alpha'])}, beta {g(cfg['beta'])}, and weight "
             f"bumping of the output layer only where the correct class's neuron stayed silent "
             f"(`--bump-output label`); {cfg['epochs']} epochs, the rest as above. Chosen on the validation set "
             f"(60-epoch screens at seeds 0 and 1 over the cross-entropy's target, alpha 0.005 / 0.01 / 0.03, "
             f"a hidden-layer silence penalty, bumping rules, lr 1e-3; docs/experiments.md).")
    ours = (f"{_over_seeds(rs)}, validation "
            f"{pct(sum(vals) / len(vals))}; the recipe "
            f"above {pct(sum(old) / len(old))}; {num(rs[0]['time_per_epoch_s'], 1)} s per epoch on one core "
            f"(a loaded machine). Seed 0's output layer in ngspice: the model's class on **{pct(sp_['class_agreement'])}** "
            f"of {sp_['samples']} test samples, spike-time RMSE {num(sp_['rmse_ns'], 3)} ns, largest "
            f"{num(sp_['max_abs_ns'], 2)} ns.")
    return setup, ours, "not in the paper; the issue asks 97 % (not met)."


def _chips_gap(chips):
    """'mean **m**, p5 **p** against its nominal n (a and b points below)' of a yin-yang-chips run, programmed
    and trimmed."""
    b, nom = chips["programmed_trimmed"], chips["nominal_accuracy"]
    return (f"mean **{pct(b['mean'])}**, p5 **{pct(b['p5'])}** against its nominal {pct(nom)} "
            f"({num(100 * (nom - b['mean']), 2)} and {num(100 * (nom - b['p5']), 2)} points below)")


def _within_a_point(chips):
    b, nom = chips["programmed_trimmed"], chips["nominal_accuracy"]
    return round(max(nom - b["mean"], nom - b["p5"]), 9) <= 0.01      # accuracies on 1000 samples: no float edge


YY_WN_CMD = f"{YY_LABEL_CMD} --weight-noise 0.02"
YY_WN = [f"yin-yang-lif-wn-seed{s}" for s in range(5)]


def _noise_trained(r, names, chips_name, recipe, chosen):
    """(setup, ours, paper) of a recipe trained with weight noise: its seeds and seed 0 on the test chips."""
    rs, chips = [r[n] for n in names], r[chips_name]
    mean = sum(x["test_accuracy"] for x in rs) / len(rs)
    setup = (f"{recipe} trained with multiplicative weight noise, w (1 + S N(0, 1)) per synapse and mini-batch "
             f"(S = {g(rs[0].config['weight_noise'])}, training only), {chosen}; seed 0 on the same 100 test chips as "
             f"above.")
    ours = f"{_over_seeds(rs)}; seed 0 on chips, programmed and trimmed: {_chips_gap(chips)}."
    met = lambda ok: "met" if ok else "not met"
    return setup, ours, (f"not in the paper; the issue asks 97 % ({met(mean >= 0.97)}) and chips within 1 point "
                         f"({met(_within_a_point(chips))}).")


def _yin_yang_lif_wn(r):
    return _noise_trained(r, YY_WN, "yin-yang-lif-wn-chips", "The silent-gradient recipe",
                          "chosen on the validation split with validation chips (docs/experiments.md)")


def _seed0_spice(sp_):
    """'Seed 0's output layer in ngspice: ...' of a yin-yang-spice run's output_layer."""
    return (f"Seed 0's output layer in ngspice: the model's class on **{pct(sp_['class_agreement'])}** of "
            f"{sp_['samples']} test samples, spike-time RMSE {num(sp_['rmse_ns'], 3)} ns.")


YY_IT_CMD = f"{YY_LABEL_CMD} --input-times 0.15 2"
YY_IT = [f"yin-yang-lif-it-seed{s}" for s in range(5)]


def _yin_yang_lif_it(r):
    rs = [r[n] for n in YY_IT]
    cfg, chips, reads = rs[0].config, r["yin-yang-lif-it-chips"], r["yin-yang-lif-it-chips-r16"]
    vals = [x["val_accuracy"] for x in rs]
    old = [r[n]["test_accuracy"] for n in YY_LABEL]
    sp_ = r["yin-yang-lif-it-spice"]["output_layer"]
    early, late = cfg["input_times"]
    setup = (f"The silent-gradient recipe with fastAndDeep's input coding: an intensity x spikes at "
             f"{g(early)} + {g(late - early)} (1 - x) time units (tau_s) instead of 1 - x, the bias at {g(early)} "
             f"(`--input-times {g(early)} {g(late)}`); chosen on the validation set (200-epoch screens at seeds 0 and 1 "
             f"over the span and tau_m; docs/experiments.md).")
    ours = (f"{_over_seeds(rs)}, validation {pct(sum(vals) / len(vals))}; with the coding over [0, 1] "
            f"{pct(sum(old) / len(old))}. {_seed0_spice(sp_)} Seed 0 on the 100 test chips, programmed and trimmed: {_chips_gap(chips)}; "
            f"with every verify measurement the mean of {reads['config']['reads']} current reads (`--reads "
            f"{reads['config']['reads']}`, chosen on validation chips; docs/experiments.md): {_chips_gap(reads)}.")
    check(sum(x["test_accuracy"] for x in rs) / len(rs) >= 0.97, "the 5-seed mean meets 97 %")
    check(not _within_a_point(chips) and not _within_a_point(reads), "the chips are not within 1 point")
    return setup, ours, "not in the paper; the issue asks 97 % (met) and chips within 1 point (not met)."


YY_ITWN_CMD = f"{YY_IT_CMD} --weight-noise 0.05"
YY_ITWN = [f"yin-yang-lif-it-wn-seed{s}" for s in range(5)]


def _yin_yang_lif_it_wn(r):
    return _noise_trained(r, YY_ITWN, "yin-yang-lif-it-wn-chips", "The spread-coding recipe",
                          "chosen on validation chips (`yin-yang-chips --split val`: S = 0, 0.02 and 0.03 at seeds 0 "
                          "and 1, 0.05 at seed 0; docs/experiments.md)")


YY_ITPN_CMD = f"{YY_IT_CMD} --weight-noise 0.006"
YY_ITPN = [f"yin-yang-lif-it-wn006-seed{s}" for s in range(5)]


def _yin_yang_lif_it_matched(r):
    rs, chips = [r[n] for n in YY_ITPN], r["yin-yang-lif-it-wn006-chips-r16"]
    others = [r[f"yin-yang-lif-it-wn006-chips-r16-seed{k}"] for k in range(1, 5)]
    sp_ = r["yin-yang-lif-it-wn006-spice"]["output_layer"]
    mean = sum(x["test_accuracy"] for x in rs) / len(rs)
    vals = [x["val_accuracy"] for x in rs]
    reads = chips["config"]["reads"]
    setup = (f"The spread-coding recipe trained with weight noise of the size programming leaves: w (1 + S N(0, 1)) "
             f"per synapse and mini-batch, S = {g(rs[0].config['weight_noise'])} (a programmed synapse's residual "
             f"ln-gain sd is 0.40 % with {reads} reads per verify measurement: 0.32 % the DAC's step, the rest the "
             f"reads' noise); S chosen on validation chips (S = 0.004 and 0.006 at seeds 0 and 1, 50 chips each, "
             f"{reads} reads; docs/experiments.md). Chips as above, each verify measurement the mean of {reads} reads "
             f"(`--reads {reads}`).")
    ours = (f"{_over_seeds(rs)}, validation {pct(sum(vals) / len(vals))}. Seed 0 on the 100 test chips, programmed "
            f"and trimmed: {_chips_gap(chips)}. Seeds 1-4, each on its own 100 test chips: "
            + "; ".join(f"seed {x['seed']} {_chips_gap(x)}" for x in others)
            + f". {_seed0_spice(sp_)}")
    met = lambda ok: "met" if ok else "not met"
    return setup, ours, (f"not in the paper; the issue asks 97 % ({met(mean >= 0.97)}), chips within 1 point "
                         f"({met(_within_a_point(chips))} at seed 0; at "
                         f"{sum(_within_a_point(x) for x in [chips] + others)} of 5 seeds) and the "
                         f"output layer in ngspice on >= 99 % "
                         f"({met(sp_['class_agreement'] >= 0.99)}).")


def _yin_yang_lif_chips(r, name="yin-yang-lif-chips", which="The seed-0 two-node network"):
    run = r[name]
    cfg, nom = run.config, run["nominal_accuracy"]
    d, t, b = run["drawn"], run["trimmed"], run["programmed_trimmed"]
    setup = (f"{which} on {cfg['chips']} Monte-Carlo chips, its circuit's spreads declared: "
             f"{pct(cfg['charge'], 0)} charge per synapse, {pct(cfg['gain'], 0)} transconductor gain per neuron, "
             f"{g(1e3 * cfg['threshold_offset'])} mV comparator offset. Trims: threshold ({cfg['trim_bits']} bits over "
             f"{g(1e3 * cfg['trim_span_v'])} mV) and gain ({cfg['trim_bits']} bits over {g(cfg['trim_span_gain'])} in ln), "
             f"calibrated from the spike times of one reference input; programming: every synapse's charge "
             f"verified through a {cfg['bits']}-bit DAC, {cfg['iterations']} iterations; {run['samples']} test samples, "
             f"method exact.")
    ours = (f"nominal {pct(nom)}; as drawn mean {pct(d['mean'])}, p5 {pct(d['p5'])}; trims alone mean "
            f"{pct(t['mean'])}, p5 {pct(t['p5'])}; programmed and trimmed mean **{pct(b['mean'])}**, p5 "
            f"**{pct(b['p5'])}**, min {pct(b['min'])}: {num(100 * (nom - b['mean']), 2)} and "
            f"{num(100 * (nom - b['p5']), 2)} points below nominal (the issue asks for 1).")
    return setup, ours, "not in the paper."


ENTRIES = [
    dict(heading="Iris", body=_iris, runs=[("iris", "python -m paper_repro iris")]),
    dict(heading="Iris in SPICE", body=_spice_iris, runs=[("spice-iris", "python -m paper_repro spice-iris")]),
    dict(heading="Neurons in SPICE", body=_spice_neurons,
         runs=[("spice-neurons", "python -m paper_repro spice-neurons --nominal runs/val-wd0.3 --digits runs/digits"),
               ("fmnist-mlp-val-wd0.3-rerun", f"python -m paper_repro fmnist-mlp {RECIPE} --val 5000 --out runs/val-wd0.3"),
               ("digits", "python -m paper_repro digits --out runs/digits")]),
    dict(heading="Fashion-MNIST MLP", body=_fmnist_mlp, figures=["fmnist-mlp-val-wd0.3/training_curves.png"],
         runs=[("fmnist-mlp-val-wd0.3", f"python -m paper_repro fmnist-mlp {RECIPE} --val 5000"),
               ("fmnist-mlp-val-wd0.1", "python -m paper_repro fmnist-mlp --schedule cosine --lr 2e-4 --gamma1 0.5 "
                                        "--ema 0.9995 --weight-decay 0.1 --val 5000"),
               ("fmnist-mlp-val-wd0", "python -m paper_repro fmnist-mlp --schedule cosine --lr 2e-4 --gamma1 0.5 "
                                      "--ema 0.9995 --val 5000")]),
    dict(heading="Accuracy against E", body=_sweep_e, figures=["sweep-e/accuracy_vs_e.png"],
         runs=[("sweep-e", f"python -m paper_repro sweep-e {RECIPE}")]),
    dict(heading="Spike-time noise", body=_noise, figures=["noise/accuracy_vs_noise.png"],
         runs=[("noise", f"python -m paper_repro noise {RECIPE}")]),
    dict(heading="Noise that creates no spikes", body=_noise_004,
         runs=[("noise-0.04", f"python -m paper_repro noise {RECIPE} --sigmas 0.04")]),
    dict(heading="Noise at the paper's E, chosen on validation", body=_noise_val,
         runs=[("noise-val-e7.4-e50", f"{NOISE_E74} --sigmas 0 0.04 0.06 0.08 --epochs 50")]),
    dict(heading="Noise over three seeds, with layer gains", body=_noise_seeds,
         runs=[(n, f"{NOISE_E74} --sigmas 0 0.04 --epochs 50 --seed {s}") for s, n in enumerate(SEEDS)]),
    dict(heading="Mismatch robustness", body=_robustness,
         runs=[("robustness", "python -m paper_repro robustness --nominal runs/val-wd0.3")]),
    dict(heading="Chips as used: programming and trims", body=_chip_budget,
         runs=[("chip-budget", "python -m paper_repro chip-budget --nominal runs/val-wd0.3 "
                               "--aware runs/aware-sky130 runs/aware-sky130-g0.02")]),
    dict(heading="Trained for the chip", body=_chip_aware,
         runs=[("fmnist-mlp-aware-sky130", "python -m paper_repro fmnist-mlp --schedule cosine --lr 2e-4 --gamma1 0.02 "
                                           "--ema 0.9995 --weight-decay 0.3 --val 5000 --mismatch sky130 --epochs 50 "
                                           "--out runs/aware-sky130-g0.02-e50"),
               ("chip-aware", "python -m paper_repro chip-budget --aware runs/aware-sky130-g0.02-e50")]),
    dict(heading="A trained layer in SPICE", body=_spice_layer,
         runs=[("spice-layer", "python -m paper_repro spice-layer --nominal runs/val-wd0.3")]),
    dict(heading="A whole network in SPICE", body=_spice_network,
         runs=[("spice-network", "python -m paper_repro spice-network --nominal runs/val-wd0.3 --images 20 --workers 1")]),
    dict(heading="Chips in SPICE", body=_spice_chips, runs=[("spice-chips", "python -m paper_repro spice-chips")]),
    dict(heading="Yin-Yang", body=_yin_yang,
         runs=[(n, f"python -m paper_repro yin-yang --seed {k}") for k, n in enumerate(YY_SEEDS)]),
    dict(heading="Yin-Yang on a two-node circuit", body=_yin_yang_lif,
         runs=[(n, f"{YY_LIF_CMD} --seed {k}") for k, n in enumerate(YY_LIF)]
         + [("yin-yang-lif-spice", "python -m paper_repro yin-yang-spice --nominal runs/yin-yang-lif-seed0")]),
    dict(heading="Two-node LIF with a gradient for silent neurons", body=_yin_yang_lif_label,
         runs=[(n, f"{YY_LABEL_CMD} --seed {k}") for k, n in enumerate(YY_LABEL)]
         + [("yin-yang-lif-label-spice", "python -m paper_repro yin-yang-spice --nominal runs/yin-yang-lif-label-seed0")]),
    dict(heading="Two-node chips of the silent-gradient network",
         body=lambda r: _yin_yang_lif_chips(r, "yin-yang-lif-label-chips", "Seed 0 of the silent-gradient recipe"),
         runs=[("yin-yang-lif-label-chips", "python -m paper_repro yin-yang-chips --nominal runs/yin-yang-lif-label-seed0")]),
    dict(heading="Two-node LIF trained with weight noise", body=_yin_yang_lif_wn,
         runs=[(n, f"{YY_WN_CMD} --seed {k}") for k, n in enumerate(YY_WN)]
         + [("yin-yang-lif-wn-chips", "python -m paper_repro yin-yang-chips --nominal runs/yin-yang-lif-wn-seed0")]),
    dict(heading="Two-node LIF with a spread input coding", body=_yin_yang_lif_it,
         runs=[(n, f"{YY_IT_CMD} --seed {k}") for k, n in enumerate(YY_IT)]
         + [("yin-yang-lif-it-spice", "python -m paper_repro yin-yang-spice --nominal runs/yin-yang-lif-it-seed0"),
            ("yin-yang-lif-it-chips", "python -m paper_repro yin-yang-chips --nominal runs/yin-yang-lif-it-seed0"),
            ("yin-yang-lif-it-chips-r16", "python -m paper_repro yin-yang-chips --nominal runs/yin-yang-lif-it-seed0 "
                                          "--reads 16")]),
    dict(heading="Spread coding with weight noise", body=_yin_yang_lif_it_wn,
         runs=[(n, f"{YY_ITWN_CMD} --seed {k}") for k, n in enumerate(YY_ITWN)]
         + [("yin-yang-lif-it-wn-chips", "python -m paper_repro yin-yang-chips --nominal runs/yin-yang-lif-it-wn-seed0")]),
    dict(heading="Spread coding with weight noise matched to programming", body=_yin_yang_lif_it_matched,
         runs=[(n, f"{YY_ITPN_CMD} --seed {k} --out runs/{n}") for k, n in enumerate(YY_ITPN)]
         + [("yin-yang-lif-it-wn006-chips-r16", "python -m paper_repro yin-yang-chips --nominal "
                                                "runs/yin-yang-lif-it-wn006-seed0 --reads 16")]
         + [(f"yin-yang-lif-it-wn006-chips-r16-seed{k}", f"python -m paper_repro yin-yang-chips --nominal "
             f"runs/yin-yang-lif-it-wn006-seed{k} --reads 16 --seed {k} --out runs/yin-yang-lif-it-wn006-chips-r16-seed{k}")
            for k in range(1, 5)]
         + [("yin-yang-lif-it-wn006-spice", "python -m paper_repro yin-yang-spice --nominal runs/yin-yang-lif-it-wn006-seed0")]),
    dict(heading="Two-node chips", body=_yin_yang_lif_chips,
         runs=[("yin-yang-lif-chips", "python -m paper_repro yin-yang-chips --nominal runs/yin-yang-lif-seed0")]),
    dict(heading="A non-affine circuit", body=_nonaffine,
         runs=[("fmnist-nonaffine", "python -m paper_repro fmnist-mlp --circuit circuitnet.circuits:rc_spike_quadratic "
                                    "--epochs 20"),
               ("fmnist-affine", "python -m paper_repro fmnist-mlp --epochs 20")]),
]

# Committed runs that no entry above shows, with the command that wrote them (docs/experiments.md
# discusses them); a run missing here is still listed, without a command.
OTHER = {
    "noise-0.04-val-wd0.1": "python -m paper_repro noise --schedule cosine --lr 2e-4 --gamma1 0.5 --ema 0.9995 "
                            "--weight-decay 0.1 --val 5000 --sigmas 0.04",
    "noise-0.04-val-g0.02": "python -m paper_repro noise --schedule cosine --lr 2e-4 --gamma1 0.02 --ema 0.9995 "
                            "--weight-decay 0.3 --val 5000 --sigmas 0.04",
    "noise-val-e7.4": f"{NOISE_E74} --sigmas 0 0.04 --epochs 36",
    **{n: f"python -m paper_repro yin-yang {opts}" for n, opts in YY_GRID.items()},
}


def anchor(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def commands():
    """[(folder, command)] of every command on the page, for the test that parses them."""
    pairs = [pair for e in ENTRIES for pair in e["runs"]]
    shown = {name for name, _ in pairs}
    return pairs + [(name, cmd) for name, cmd in OTHER.items() if name not in shown]


# -------------------------------------------------------------------------------------------- page
HEADER = """\
# Results

<!-- Generated by scripts/results_page.py from docs/results/*/results.json: edit the script, not this page,
     then run `.venv/bin/python scripts/results_page.py` (tests/test_results_page.py fails while it is stale). -->

The full rows behind README's experiment table. Every number is read from the results.json of the run
linked beside it, or computed from those files (differences, means over seeds); the paper's numbers that
no results.json holds are quoted from [paper.md](paper.md). Each run's command is given as it was run;
`python -m paper_repro <experiment> --help` lists the experiments and their options, and each writes
`results.json`, plots and resumable checkpoints to `--out`. The sweeps (`sweep-e`, `noise`, `sweep-m`,
`penalty`) can run as one process per core on the same `--out`: each trains the settings no other holds.
Run conditions, the recipe search and negative results: [experiments.md](experiments.md).

A finished run's trained network, on its circuit and with the method it was evaluated with:
`from paper_repro.runs import load_run; net, cfg = load_run("runs/iris", seed=0)` (Iris: the PNN of that
seed, `name="ann"` for the ANN-to-IMC one) or `load_run("runs/fmnist-mlp")` (fmnist-mlp, fmnist-cnn,
cifar10: the final weights, the weight average where the run kept one).
"""


def _files(names):
    return ", ".join(f"[{n}](results/{n}/results.json)" for n in names)


def _entry(entry, r, results):
    setup, ours, paper = entry["body"](r)
    names = [n for n, _ in entry["runs"]]
    lines = [f"## {entry['heading']}", "", "```bash", *(cmd for _, cmd in entry["runs"]), "```", "",
             f"**Run.** {setup} Results: {_files(names)}.", "", f"**Ours.** {ours[0].upper()}{ours[1:]}", ""]
    if paper:
        lines += [f"**Paper.** {paper}", ""]
    for fig in entry.get("figures", []):
        lines += [f"![{entry['heading']}](results/{fig})", ""]
    shown = set(entry.get("figures", []))
    more = [p.relative_to(results).as_posix() for n in names for p in sorted((results / n).glob("*.png"))]
    more = [f for f in more if f not in shown]
    if more:
        lines += ["Figures: " + ", ".join(f"[{f}](results/{f})" for f in more) + ".", ""]
    return lines


def _others(r, results):
    shown = {n for e in ENTRIES for n, _ in e["runs"]}
    rest = [n for n in r if n not in shown]
    if not rest:
        return []
    lines = ["## Other committed runs", "",
             "Discussed in [experiments.md](experiments.md); the test accuracy as the run reports it.", "",
             "| run | command | test accuracy |", "|---|---|---|"]
    for n in rest:
        cmd = f"`{OTHER[n]}`" if n in OTHER else f"({r[n]['experiment']}, seed {r[n]['seed']})"
        lines.append(f"| [{n}](results/{n}/results.json) | {cmd} | {pct(r[n]['test_accuracy'])} |")
    return lines + [""]


def page(results=RESULTS):
    """The text of docs/results.md, built from the results files under ``results``."""
    r = runs(results)
    lines = HEADER.splitlines() + [""]
    for entry in ENTRIES:
        lines += _entry(entry, r, results)
    lines += _others(r, results)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/results.md is not what this writes")
    args = ap.parse_args(argv)
    text = page()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run .venv/bin/python scripts/results_page.py",
                  file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
