"""Shared experiment plumbing: output folder, configuration, results.json, seeding, plotting backend."""
import contextlib
import json
import os
import random
import time

import numpy as np
import torch


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def out_dir(path):
    """Create the output folder ``path`` (and its missing parents) for the block; if the block fails
    (an error, an exit or an interruption), remove those of them that it created and that are still
    empty: a run that fails to start leaves no empty folder behind."""
    made, p = [], os.path.abspath(path)
    while not os.path.exists(p):
        made.append(p)
        p = os.path.dirname(p)
    os.makedirs(path, exist_ok=True)
    try:
        yield path
    except BaseException:
        for d in made:                # the folder first, then its parents
            try:
                os.rmdir(d)
            except OSError:           # not empty (or gone): keep it and what holds it
                break
        raise


def configured(args, defaults, quick, options=()):
    """An experiment's configuration: ``defaults``, updated by ``quick`` with --quick, then by each
    command-line option of ``options`` (argparse dests) that was given."""
    cfg = dict(defaults, **(quick if args.quick else {}))
    for key in options:
        if getattr(args, key, None) is not None:
            cfg[key] = getattr(args, key)
    return cfg


def write_results(out, experiment, seed, config, started, resumed_s=0.0, **numbers):
    """Write DIR/results.json with the experiment's headline numbers; returns the dict.

    wall_time_s (s) = time.time() - started (this invocation) + resumed_s, the recorded training and
    evaluation time of the epochs restored from checkpoints (earlier invocations)."""
    res = dict(experiment=experiment, seed=seed, config=config, wall_time_s=round(time.time() - started + resumed_s, 2),
               **numbers)
    path = os.path.join(out, "results.json")
    with open(f"{path}.{os.getpid()}.tmp", "w") as f:      # atomic: processes sharing OUT may both write it
        json.dump(res, f, indent=2, default=float)
    os.replace(f.name, path)
    return res


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path):
    """Lay ``fig`` out, write it to ``path`` (PNG, 120 dpi) and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
