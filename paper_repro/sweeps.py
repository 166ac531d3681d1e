"""The sweeps' training (sweep-e, sweep-m, noise, penalty): one network per setting, the settings shared
among processes that run the same command on the same --out."""
import contextlib
import os
import time

from .classify_eval import noise_mean
from .classify_train import train
from .train import claim

CLAIM_POLL_S = 5.0


def train_many(args, rt, cfg, data, settings, experiment):
    """Train one network per setting: settings = [(tag, changes to cfg)]; same seed, same data.
    Returns {tag: train() result + test_accuracy_noise_mean}; each run has its own checkpoint OUT/TAG.pt
    (resumable).

    Several processes may run the same command on the same --out at once (one per core, or per machine
    on a shared disk): each takes the first pending setting that no other process holds (train.claim
    on OUT/TAG), trains it (or loads it when finished), and checks the held ones again every
    CLAIM_POLL_S seconds; every process ends with all the runs and writes the same results."""
    runs, said = {}, None
    while len(runs) < len(settings):
        for tag, changes in settings:
            if tag not in runs and (r := _try_setting(args, rt, cfg, data, tag, changes, experiment)) is not None:
                runs[tag] = r
                break
        else:
            held = ", ".join(t for t, _ in settings if t not in runs)
            if rt.main and held != said:     # once per change, not every poll of an hour-long wait
                print(f"{experiment}: {held} held by another process; checking every {CLAIM_POLL_S:g} s", flush=True)
                said = held
            time.sleep(CLAIM_POLL_S)
    return {tag: runs[tag] for tag, _ in settings}


def _try_setting(args, rt, cfg, data, tag, changes, experiment):
    """One setting of train_many, unless another process holds it (None): train (or load) it and
    evaluate its final weights over the noise draws."""
    with claim(os.path.join(args.out, tag)) if rt.main else contextlib.nullcontext(False) as held:
        if rt.distributed:              # the main process claims for the whole torchrun job
            held = rt.all_sum([float(held)])[0] > 0
        if not held:
            return None
        c = dict(cfg, **changes)
        r = train(c, data, args.out, tag, rt, seed=args.seed, desc=f"{experiment} {tag}",
                  quiet=getattr(args, "quiet", False))
        r["test_accuracy_noise_mean"] = noise_mean(r["net"], c, data.x_test, data.y_test, rt, args.seed)
    if rt.main:
        print(f"{experiment} {tag}: test accuracy {100 * r['test_accuracy']:.2f} % in the last epoch, "
              f"{100 * r['test_accuracy_noise_mean']:.2f} % over {c['noise_draws']} noise draws "
              f"({r['time_per_epoch_s']:.1f} s per epoch)", flush=True)
    return r


def resumed_s(runs):
    """Recorded seconds of the epochs that train_many's runs restored from their checkpoints."""
    return sum(r["resumed_s"] for r in runs.values())
