"""A small training loop with progress output and checkpoints that resume after an interruption.

Progress: a tqdm bar on a terminal; when stderr is not a terminal (a redirected log), summary lines
on stdout instead of the bar's redraws: one per epoch, at most one every LOG_EVERY_S seconds (the
first and last epochs always), and inside an epoch one every IN_EPOCH_LOG_S seconds (samples seen,
the running loss), so that a slow circuit is never silent for long; nothing with quiet=True (``--quiet``).
"""
import contextlib
import fcntl
import json
import math
import os
import signal
import sys
import time

import torch
from tqdm import tqdm


def epoch_lr(lr, epoch, epochs, schedule="constant"):
    """Learning rate of epoch ``epoch`` (0-based): ``lr`` throughout ("constant"), or cosine
    annealing per epoch ("cosine"): lr (1 + cos(pi epoch / epochs)) / 2, from lr down towards 0."""
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    raise ValueError(f"unknown learning-rate schedule {schedule!r} (constant or cosine)")


def check_ema(ema):
    if not 0.0 <= ema < 1.0:
        raise ValueError(f"ema decay must be in [0, 1) (0: no weight averaging), got {ema}")


def check_weight_decay(weight_decay):
    if not 0.0 <= weight_decay < math.inf:
        raise ValueError(f"weight decay must be a finite number >= 0 (0: plain Adam), got {weight_decay}")


LOG_EVERY_S = 10.0
IN_EPOCH_LOG_S = 60.0


@contextlib.contextmanager
def claim(path):
    """An exclusive, non-blocking claim on ``path`` among processes (an flock on PATH.lock, on this
    machine or a disk they share): yields True while this process holds it, False when another
    process does. The claim ends with the block, or with the process if it dies."""
    fd = os.open(path + ".lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)                  # closing the descriptor releases the flock


def bars(quiet=False):
    """Whether to draw progress bars: only on a terminal, and not when quiet."""
    return not quiet and sys.stderr.isatty()


def check_config(path, want, defaults=None):
    """Refuse to resume a checkpoint written with another configuration (a clear error, not a shape
    clash or a silently mixed run). ``path``: the JSON file kept beside the checkpoint; ``want``: the
    configuration keys that shape the trained network; ``defaults``: values of keys that a checkpoint
    written before they existed had implicitly. Returns ``want`` as JSON would store it."""
    want = json.loads(json.dumps(want))
    if os.path.exists(path):
        with open(path) as f:
            have = json.load(f)
        have = dict(json.loads(json.dumps({k: defaults[k] for k in want if k in (defaults or {})})), **have)
        if have != want:
            diff = {k: (have.get(k), want.get(k)) for k in want if have.get(k) != want.get(k)}
            raise SystemExit(f"checkpoint {os.path.splitext(path)[0]}.pt was written with another configuration "
                             f"(key: (checkpoint, now) = {diff}); use another --out or delete it")
    return want


def done_epochs(ckpt):
    """Epochs stored in checkpoint ``ckpt`` (0 if there is none)."""
    if not ckpt or not os.path.exists(ckpt):
        return 0
    return int(torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True)["epoch"])


def ema_decay(decay, step):
    """Decay of the weight average after optimiser step ``step`` (1-based): min(decay, (1 + step) / (10 + step)),
    so that the first steps are not dominated by the initial weights."""
    return min(decay, (1.0 + step) / (10.0 + step))


def fit(model, batches, loss_fn, epochs, lr, ckpt=None, evaluate=None, desc="train", quiet=False,
        schedule="constant", ema=0.0, weight_decay=0.0, clip=None):
    """Adam on loss_fn(model, *batch) for ``epochs`` epochs; ``batches()`` yields mini-batches;
    the learning rate of each epoch is ``epoch_lr(lr, epoch, epochs, schedule)``.

    weight_decay: decoupled (AdamW) decay, w <- w (1 - lr weight_decay) before each Adam step; 0 is plain Adam.

    clip: None (off) or the largest gradient norm of a step (torch.nn.utils.clip_grad_norm_): a
    time-to-first-spike neuron that grazes its threshold has a near-infinite spike-time gradient.

    ema: 0 (off) or a decay d in (0, 1): an exponential moving average of the weights,
    a <- d_n a + (1 - d_n) w after optimiser step n with d_n = ema_decay(d, n), is what evaluate()
    sees and what the model holds when fit returns; training always steps the raw weights.

    ckpt: path; after every epoch model, optimiser, RNG state and history are saved there, and a
    later call with the same path resumes from the last finished epoch.  The weights are those of
    the unwrapped module (``model.module`` under DistributedDataParallel), so a checkpoint written
    by torchrun resumes in one process and the other way round.
    A checkpoint that holds more epochs than ``epochs`` is refused (its results are not those of
    the run asked for). An interruption (KeyboardInterrupt: Ctrl-C, or SIGTERM under python -m
    paper_repro) prints how to resume (unless quiet) and propagates.
    evaluate(model) -> dict of numbers recorded in the history after every epoch.
    Returns the history: a list of dicts (epoch, loss, evaluated numbers, time_s: the epoch's wall
    seconds, training and evaluation).
    """
    check_ema(ema)
    check_weight_decay(weight_decay)
    params = list(model.parameters())
    module = getattr(model, "module", model)   # DistributedDataParallel wraps the network
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, decoupled_weight_decay=True)
    history, start = [], 0
    average = [p.detach().clone() for p in params] if ema else None
    steps = 0
    if ckpt and os.path.exists(ckpt):
        state = torch.load(ckpt, weights_only=False)
        module.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        torch.set_rng_state(state["rng"])
        history, start = state["history"], state["epoch"]
        if start > epochs:
            raise SystemExit(f"checkpoint {ckpt} holds {start} epochs, more than the {epochs} asked for; "
                             f"use another --out, or delete it to train anew")
        if (state.get("ema") is not None) != bool(ema):
            raise ValueError(f"checkpoint {ckpt} was written with{'out' if ema else ''} weight averaging; "
                             f"resume it with the ema it was written with, or use another path")
        if ema:
            average, steps = [a.to(p.device) for a, p in zip(state["ema"], params)], state["steps"]
        if not quiet and start < epochs:
            print(f"{desc}: resuming from {ckpt} after epoch {start} of {epochs}", flush=True)
    bar = tqdm(range(start, epochs), desc=desc, initial=start, total=epochs, disable=not bars(quiet), leave=False)
    epoch_lr(lr, 0, max(epochs, 1), schedule)           # reject an unknown schedule before training
    logged = time.time()
    saved = start                     # epochs the checkpoint holds
    try:
        for epoch in bar:
            began = time.time()
            for group in opt.param_groups:
                group["lr"] = epoch_lr(lr, epoch, epochs, schedule)
            model.train()
            total, n = 0.0, 0
            for batch in batches():
                opt.zero_grad()
                loss = loss_fn(model, *batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"{desc}: loss became {loss.item()} at epoch {epoch}")
                loss.backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(params, clip)
                opt.step()
                steps += 1
                if ema:
                    with torch.no_grad():
                        for a, p in zip(average, params):
                            a.lerp_(p, 1.0 - ema_decay(ema, steps))
                total, n = total + loss.item() * len(batch[0]), n + len(batch[0])
                if not quiet and not bars(quiet) and time.time() - logged >= IN_EPOCH_LOG_S:
                    logged = time.time()
                    print(f"{desc}: epoch {epoch + 1}/{epochs}: {n} samples, loss so far {total / n:.4g} "
                          f"({logged - began:.0f} s)", flush=True)
            row = dict(epoch=epoch + 1, loss=total / n)
            if evaluate is not None:
                model.eval()
                with torch.no_grad(), _swapped(params, average):
                    row.update(evaluate(model))
            row["time_s"] = round(time.time() - began, 3)
            history.append(row)
            summary = {k: round(v, 4) for k, v in row.items() if k != "epoch"}
            bar.set_postfix(summary)
            if not quiet and not bars(quiet) and (epoch in (start, epochs - 1) or time.time() - logged >= LOG_EVERY_S):
                logged = time.time()
                print(f"{desc}: epoch {epoch + 1}/{epochs} " + " ".join(f"{k}={v:g}" for k, v in summary.items()),
                      flush=True)
            if ckpt:
                with _signals_held():      # the file and ``saved`` change together, or neither does
                    torch.save(dict(model=module.state_dict(), opt=opt.state_dict(), rng=torch.get_rng_state(),
                                    history=history, epoch=epoch + 1, ema=average, steps=steps), ckpt + ".tmp")
                    os.replace(ckpt + ".tmp", ckpt)
                    saved = epoch + 1
    except KeyboardInterrupt as e:     # Ctrl-C, or SIGTERM under python -m paper_repro
        if ckpt and not quiet:
            print(f"\n{desc}: interrupted; {ckpt} holds the {saved} epochs finished so far: run the same "
                  f"command again to resume from there", flush=True)
            e.resume_said = True      # python -m paper_repro adds no line of its own
        raise
    if ema:
        _copy(params, average)
    return history


@contextlib.contextmanager
def _signals_held(signals=(signal.SIGINT, signal.SIGTERM)):
    """Hold Ctrl-C and SIGTERM back inside the block; they act right after it (where the platform can)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)


def _copy(dst, src):
    with torch.no_grad():
        for d, s in zip(dst, src):
            d.copy_(s)


@contextlib.contextmanager
def _swapped(params, average):
    """Hold the averaged weights in ``params`` inside the block (nothing to do when average is None)."""
    if average is None:
        yield
        return
    raw = [p.detach().clone() for p in params]
    _copy(params, average)
    try:
        yield
    finally:
        _copy(params, raw)
