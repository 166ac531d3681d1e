"""python -m paper_repro.summary DIR [DIR ...]: mean and spread over seeds of runs that differ only in
their seed (the paper reports 5-seed means).

Reads DIR/results.json of each run.  For every number that all of them report (test_accuracy,
test_accuracy_noise_mean, best_test_accuracy, ...; inside objects too, named by their path:
noise's accuracy/0.04 is the accuracy trained and tested at sigma 0.04, cross/0.04/0 the one
trained at 0.04 and tested at 0; numbers in lists, such as histories, are left out) it prints the
mean, the sample standard deviation (n - 1 in the denominator; undefined for one run), the minimum
and the maximum.  A run that trained several seeds
itself (iris: ``per_seed`` rows, ``config.seeds``) counts as one run per seed, over the numbers of
its rows.  Runs of different experiments or configurations, or two runs of the same seed, are
refused: their mean would not be a seed average.
"""
import argparse
import json
import math
import os


def load(dirs):
    """The results.json of each folder, checked to be seeds of one experiment and configuration."""
    runs = []
    for d in dirs:
        path = os.path.join(d, "results.json")
        if not os.path.exists(path):
            raise SystemExit(f"error: {path} does not exist (is {d} a finished run's --out folder?)")
        with open(path) as f:
            try:
                runs.append(json.load(f))
            except json.JSONDecodeError as e:
                raise SystemExit(f"error: {path} is not valid JSON ({e})") from None
        if not isinstance(runs[-1], dict) or not isinstance(runs[-1].get("config"), dict):
            raise SystemExit(f"error: {path} is not a run's results (no object with a config in it)")
    dirs, runs = zip(*[(d, s) for d, r in zip(dirs, runs) for s in per_seed(r)])
    first = runs[0]
    seen = {}
    for d, r in zip(dirs, runs):
        if r.get("experiment") != first.get("experiment"):
            raise SystemExit(f"error: {d} is a {r.get('experiment')} run, {dirs[0]} a {first.get('experiment')} run")
        if r.get("config") != first.get("config"):
            diff = sorted(k for k in set(r["config"]) | set(first["config"])
                          if r["config"].get(k) != first["config"].get(k))
            raise SystemExit(f"error: {d} and {dirs[0]} differ in their config ({', '.join(diff)}), "
                             f"not only in the seed")
        if r.get("seed") in seen:
            raise SystemExit(f"error: {seen[r['seed']]} and {d} are both seed {r['seed']}")
        seen[r.get("seed")] = d
    return runs


def per_seed(run):
    """A run as a list of single-seed runs: itself, or one per row of its ``per_seed`` list (a run that
    trained several seeds; its config without the list of seeds, which differs between such runs)."""
    rows = run.get("per_seed")
    if not isinstance(rows, list):
        return [run]
    config = {k: v for k, v in run["config"].items() if k != "seeds"}
    return [dict(row, experiment=run.get("experiment"), config=config) for row in rows]


def numbers(obj, path=""):
    """{path: number} of every number in a results object, objects entered (path "a/b"), lists not."""
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in numbers(value, f"{path}/{key}" if path else key).items()}
    return {path: float(obj)} if isinstance(obj, (int, float)) and not isinstance(obj, bool) else {}


def accuracy(path):
    """Whether a number is an accuracy (printed in %): its path names one, or lies in noise's matrix of
    accuracies trained at one sigma and tested at another (cross, val_cross)."""
    return "acc" in path or path.split("/")[0] in ("cross", "val_cross")


def summarize(runs):
    """{path: dict(mean, std, min, max, n)} over the numbers every run reports (not the seed, not the
    config), in the first run's order."""
    flat = [numbers({k: v for k, v in r.items() if k not in ("seed", "config")}) for r in runs]
    keys = [k for k in flat[0] if all(k in f for f in flat)]
    out = {}
    for k in keys:
        xs = [f[k] for f in flat]
        n = len(xs)
        mean = sum(xs) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else float("nan")
        out[k] = dict(mean=mean, std=std, min=min(xs), max=max(xs), n=n)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m paper_repro.summary", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="--out folders of runs that differ only in --seed")
    args = ap.parse_args(argv)
    runs = load(args.dirs)
    stats = summarize(runs)
    print(f"{runs[0]['experiment']}, seeds {sorted(r['seed'] for r in runs)}:")
    same = {k: s["min"] for k, s in stats.items() if s["min"] == s["max"]} if len(runs) > 1 else {}
    width = max([26] + [len(k) for k in stats])
    for k, s in stats.items():
        if k in same:
            continue
        show = (lambda x: f"{100 * x:.2f}") if accuracy(k) else (lambda x: f"{x:.4g}")
        spread = f" +- {show(s['std'])}" if s["n"] > 1 else ""
        print(f"  {k:{width}s} {show(s['mean'])}{spread}{' %' if accuracy(k) else ''} (min {show(s['min'])}, "
              f"max {show(s['max'])}, n = {s['n']})")
    if same:
        print("  the same in every run: " + ", ".join(f"{k} {v:g}" for k, v in same.items()))
    return stats


if __name__ == "__main__":
    main()
