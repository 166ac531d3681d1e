"""python -m paper_repro.summary DIR [DIR ...]: mean and spread over seeds of runs that differ only in
their seed (the paper reports 5-seed means).

Reads DIR/results.json of each run.  For every top-level number that all of them report
(test_accuracy, test_accuracy_noise_mean, test_accuracy_sigma0, best_test_accuracy,
time_per_epoch_s, ...) it prints the mean, the sample standard deviation (n - 1 in the
denominator; undefined for one run), the minimum and the maximum.  A run that trained several seeds
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


def summarize(runs):
    """{key: dict(mean, std, min, max, n)} over the top-level numbers every run reports (not the seed)."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    keys = [k for k, v in runs[0].items() if k != "seed" and number(v) and all(number(r.get(k)) for r in runs)]
    out = {}
    for k in keys:
        xs = [float(r[k]) for r in runs]
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
    for k, s in stats.items():
        if k in same:
            continue
        scale = 100.0 if "acc" in k else 1.0
        unit = " %" if "acc" in k else ""
        spread = f" +- {scale * s['std']:.2f}" if s["n"] > 1 else ""
        print(f"  {k:26s} {scale * s['mean']:.2f}{spread}{unit} (min {scale * s['min']:.2f}, "
              f"max {scale * s['max']:.2f}, n = {s['n']})")
    if same:
        print("  the same in every run: " + ", ".join(f"{k} {v:g}" for k, v in same.items()))
    return stats


if __name__ == "__main__":
    main()
