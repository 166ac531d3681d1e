"""python -m paper_repro <experiment> [options]; python -m paper_repro <experiment> --help lists the
experiment's own options, their defaults and what --quick shrinks.

Each experiment takes only the options it uses: any other is refused by argparse, and so is an
invalid value (a message and exit status 2, not a traceback); a run that fails to start leaves no
empty --out folder behind. Ctrl-C or SIGTERM stops a run with one line that says how to resume it
(the same command) and exit status 130 or 143 (128 + the signal's number), without a traceback."""
import argparse
import importlib
import math
import os
import signal
import sys

EXPERIMENTS = {
    "iris": "the paper's Iris circuit: PNN-to-IMC vs ANN-to-IMC on the simulated circuit (main job)",
    "demo": "the paper's circuit solved by every method on one layer; membrane-trace plot",
    "fmnist-mlp": "Fashion-MNIST, RC-Spike MLP 784-400-400-10: DSTD training, exact test accuracy per epoch",
    "fmnist-cnn": "Fashion-MNIST, RC-Spike VGG7 CNN (--width 1 or 2); GPU for the full run",
    "cifar10": "CIFAR-10 (pickle batches in --data), VGG7 (--width 1 or 2), flip/rotate/crop; GPU for the full run",
    "sweep-e": "F-MNIST MLP accuracy vs |E|: PNN trained at each |E|, |E|=100 ANN, scaled ANN (fig. 4f)",
    "sweep-m": "F-MNIST MLP accuracy vs DSTD steps M in {1,2,4,10,30}, random and fixed offset",
    "noise": "F-MNIST MLP accuracy vs spike-time noise sigma_spike in {0,0.01,0.02,0.04}",
    "spice-iris": "the Iris networks (PNN-to-IMC, ANN-to-IMC) simulated in ngspice with sky130 devices: RMSE, accuracy",
    "spice-neurons": "the sky130-realised model (exact) against ngspice on random neurons, fan-in 4 to 784",
    "spice-layer": "the output layer of a trained F-MNIST MLP (--nominal) in ngspice, driven by the model's hidden "
                   "spike times: class agreement with the model; and a sample of its first layer (fan-in 784)",
    "spice-network": "a trained F-MNIST MLP (--nominal) entirely in ngspice, every layer driven by the previous "
                     "layer's SPICE spike times: class agreement with the realised model, per-layer spike-time errors",
    "spice-chips": "Iris on sky130 Monte-Carlo chips in ngspice, programmed and trimmed through the library: "
                   "SPICE accuracy and spike times against the model of each chip",
    "penalty": "F-MNIST MLP: temporal penalty on clipped vs unclipped output times, |E| = 2.8 and 100 (3 epochs)",
    "robustness": "Iris and F-MNIST MLP on Monte-Carlo mismatched chips and with circuit noise: nominal vs "
                  "variation-aware training",
    "chip-budget": "Iris (and F-MNIST MLP with --nominal and/or --aware) on chips at sky130's spreads as used: program-and-verify "
                   "DAC bits and iterations, neuron trims, device area",
    "yin-yang": "the Yin-Yang data set (generated), a 5-120-3 time-to-first-spike network of the circuit; recipe "
                "chosen on its validation set",
    "digits": "scikit-learn's 8x8 digits (no download) on a 64-100-10 MLP of the circuit; recipe chosen on its "
              "validation set",
    "yin-yang-chips": "a trained Yin-Yang network of a several-node circuit (--nominal) on Monte-Carlo chips: "
                      "accuracy as drawn and after per-neuron trims",
    "yin-yang-spice": "the output layer of a trained Yin-Yang network (--nominal) in ngspice, driven by the model's "
                      "hidden spike times: class agreement with the model",
}


def _number(kind, test, what):
    """An argparse type: kind(text) that must pass test, else an argparse error saying ``what``."""
    def parse(text):
        try:
            x = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (math.isfinite(x) and test(x)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return x
    return parse


def _circuit(text):
    """The argparse type of --circuit: ``text`` if classify_net.load_circuit makes a circuit of it, else an
    argparse error naming the bad value and the values accepted."""
    from .classify_net import library_circuits, load_circuit
    try:
        load_circuit(text)
    except ValueError as e:
        reason = str(e).removeprefix(f"--circuit {text!r}: ")
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r} ({reason}); expected MODULE:FUNCTION, a function that returns a NeuronCircuit "
            f"when called without arguments, e.g. {', '.join(library_circuits())}") from None
    return text


# option: (cfg key, argparse keyword arguments); the help gets the experiment's default appended
OPTIONS = {
    "--data": ("data", dict(metavar="DIR", help="dataset folder (Fashion-MNIST: /usr/share/datasets/fashion-mnist; "
                                                "CIFAR-10: ./data/cifar10)")),
    "--epochs": ("epochs", dict(type=_number(int, lambda x: x >= 1, "an integer >= 1"), metavar="N",
                                help="training epochs")),
    "--width": ("width", dict(type=_number(float, lambda x: x > 0, "a number > 0"),
                              help="width multiplier: hidden layers (MLP), channels (CNN)")),
    "--steps": ("steps", dict(type=_number(int, lambda x: x >= 1, "an integer >= 1"), metavar="M",
                              help="DSTD grid steps in training")),
    "--e-pos": ("e_pos", dict(type=_number(float, lambda x: x > 0, "a number > 0"),
                              help="E_pos of the circuit")),
    "--e-neg": ("e_neg", dict(type=_number(float, lambda x: x < 0, "a number < 0"),
                              help="E_neg of the circuit")),
    "--circuit": ("circuit", dict(type=_circuit, metavar="MODULE:FUNCTION",
                                  help="neuron circuit of every layer: a function returning a NeuronCircuit, e.g. "
                                       "circuitnet.circuits:rc_spike_quadratic")),
    "--init": ("init", dict(choices=["he", "firing"],
                            help="weights at the start: he (N(0, 2/fan_in), the paper's circuit) or firing (He, then "
                                 "each layer shifted so that half its neurons fire on 256 training images: "
                                 "models.init_firing_)")),
    "--lr": ("lr", dict(type=_number(float, lambda x: x > 0, "a number > 0"), help="Adam learning rate")),
    "--schedule": ("schedule", dict(choices=["constant", "cosine"],
                                    help="learning rate per epoch: constant (the paper's) or cosine annealing to 0")),
    "--dropout": ("dropout", dict(type=_number(float, lambda x: 0 <= x < 1, "a probability in [0, 1)"), metavar="P",
                                  help="spike dropout in training: each hidden spike removed with probability P")),
    "--ema": ("ema", dict(type=_number(float, lambda x: 0 <= x < 1, "a decay in [0, 1)"), metavar="D",
                          help="evaluate and keep an exponential moving average of the weights (0: off)")),
    "--weight-decay": ("weight_decay", dict(type=_number(float, lambda x: x >= 0, "a number >= 0"), metavar="WD",
                                            help="decoupled (AdamW) weight decay: w <- w (1 - lr WD) every step")),
    "--gamma1": ("gamma1", dict(type=_number(float, lambda x: x >= 0, "a number >= 0"),
                                help="weight of the temporal penalty gamma1 sum_i (t_i - t_ref)^2")),
    "--tau-soft": ("tau_soft", dict(type=_number(float, lambda x: x > 0, "a number > 0"),
                                    help="temperature of the output softmax(-t / tau_soft) (normalised time)")),
    "--bump": ("bump", dict(type=_number(float, lambda x: x > 0, "a number > 0"),
                            help="weight bumping: add BUMP (scaled like the learning rate by --schedule) to the "
                                 "weights of neurons that went silent on a batch (models.bump_silent_; time-to-first-"
                                 "spike circuits, with --gamma1 0)")),
    "--clip": ("clip", dict(type=_number(float, lambda x: x > 0, "a number > 0"), metavar="NORM",
                            help="clip each step's gradient norm to NORM (a neuron grazing its threshold has a "
                                 "near-infinite spike-time gradient)")),
    "--ce-on": ("ce_on", dict(choices=["clipped", "unclipped"],
                              help="the cross-entropy on the output layer's spike times (clipped: t_max where it does "
                                   "not fire, no gradient) or unclipped times (the two-node LIF: t_max + 1 - V_peak "
                                   "where it does not fire, V_peak its membrane's highest value in units of V_th - "
                                   "V_rest; with --gamma1 0)")),
    "--gamma-silent": ("gamma_silent", dict(type=_number(float, lambda x: x >= 0, "a number >= 0"), metavar="G",
                                            help="penalty G sum_hidden layers mean_(sample, neuron) (V_th - V_peak)+ / "
                                                 "(V_th - V_rest) on neurons that stay below threshold, from the "
                                                 "unclipped times (models.silence_penalty; with --gamma1 0)")),
    "--alpha": ("alpha", dict(type=_number(float, lambda x: x >= 0, "a number >= 0"),
                              help="fastAndDeep's term alpha (exp(t_label / beta) - 1) on the correct output's time "
                                   "(models.label_time_penalty; with --gamma1 0)")),
    "--beta": ("beta", dict(type=_number(float, lambda x: x > 0, "a number > 0"),
                            help="time scale beta of --alpha's term (normalised time)")),
    "--hidden-limit": ("hidden_limit", dict(type=_number(float, lambda x: 0 <= x < 1, "a fraction in [0, 1)"),
                                            help="weight bumping: a hidden layer is bumped when more than this "
                                                 "fraction of its (sample, neuron) pairs stay silent on a batch")),
    "--bump-output": ("bump_output", dict(choices=["any", "label"],
                                          help="weight bumping in the output layer: after a batch where any output "
                                               "stayed silent (any), or only where the correct class's output did "
                                               "(label), bump those")),
    "--t-ref": ("t_ref", dict(type=_number(float, lambda x: 0 < x <= 1, "a time in (0, 1]"),
                              help="target output time t_ref of the temporal penalty")),
    "--augment": ("augment", dict(action=argparse.BooleanOptionalAction,
                                  help="random flip/shift (and rotation for CIFAR-10) of training images")),
    "--val": ("val", dict(type=_number(int, lambda x: x >= 0, "an integer >= 0"), metavar="N",
                          help="hold out N training images (fixed by --seed) as a validation set, evaluated every "
                               "epoch; choose recipes on it, never on the test set")),
    "--device": ("device", dict(choices=["cpu", "cuda"], help="where to train; torchrun for several GPUs")),
    "--mismatch": ("mismatch", dict(choices=["sky130"],
                                    help="variation-aware training from the first epoch: every mini-batch on a fresh "
                                         "Monte-Carlo chip at sky130's spreads (paper_repro.spreads); evaluation per "
                                         "epoch on the nominal chip")),
}
TRAINING = tuple(OPTIONS)
OPTIONS.update({
    "--chips": ("chips", dict(type=_number(int, lambda x: x >= 1, "an integer >= 1"), metavar="N",
                              help="Monte-Carlo chips per point")),
    "--nominal": ("nominal", dict(metavar="DIR", help="a finished run: the nominal network (fmnist-mlp; for "
                                                   "yin-yang-spice a yin-yang run)")),
    "--aware": ("aware", dict(metavar="DIR", nargs="+", help="finished fmnist-mlp runs trained with --mismatch sky130: "
                                                             "the network trained for the chip as drawn (of several, "
                                                             "the best on validation chips)")),
    "--digits": ("digits", dict(metavar="DIR", help="a finished digits run: spice-neurons' \"digits\" regime (its "
                                                    "layers on their real inputs)")),
    "--images": ("images", dict(type=_number(int, lambda x: x >= 1, "an integer >= 1"), metavar="N",
                                help="test images: the first N of a fixed random order of the test set (seed 1234)")),
    "--workers": ("workers", dict(type=_number(int, lambda x: x >= 1, "an integer >= 1"), metavar="K",
                                  help="parallel ngspice processes")),
    "--reads": ("reads", dict(type=_number(int, lambda x: x >= 1, "an integer >= 1"), metavar="N",
                              help="current reads averaged per verify measurement in the weight programming "
                                   "(its noise sd falls as 1 / sqrt(N); the bench's time grows as N)")),
    "--split": ("split", dict(choices=["test", "val"],
                              help="the samples the chips are scored on: the test set, or the validation set (on "
                                   "validation chips, drawn apart from the test chips): choose recipes on val")),
    "--sigma-spike": ("sigma_spike", dict(type=_number(float, lambda x: x >= 0, "a number >= 0"), metavar="S",
                                          help="spike-time noise: every layer's spike times jittered by S N(0, 1) "
                                               "(normalised time), in training and in the run's own evaluation")),
    "--weight-noise": ("weight_noise", dict(type=_number(float, lambda x: 0 <= x < 1, "a number in [0, 1)"),
                                            metavar="S",
                                            help="multiplicative weight noise in training: each forward uses "
                                                 "w (1 + S N(0, 1)) per synapse, drawn anew per mini-batch, as a "
                                                 "chip's per-synapse charge error (evaluation: w)")),
    "--input-times": ("input_times", dict(type=_number(float, lambda x: x >= 0, "a time >= 0"), nargs=2,
                                          metavar=("EARLY", "LATE"),
                                          help="input coding: intensity x spikes at t = EARLY + (LATE - EARLY) (1 - x) "
                                               "(normalised time; the bias, intensity 1, at EARLY)")),
    "--sigmas": ("sigmas", dict(type=_number(float, lambda x: x >= 0, "a number >= 0"), nargs="+", metavar="S",
                                help="the sigma_spike values to train, one network each (a later run on the same "
                                     "--out reuses the finished ones)")),
})
USES = {   # the options each experiment reads (a sweep does not take the quantity it sweeps)
    "iris": ("--epochs",),
    "demo": (), "spice-iris": (),
    "spice-neurons": ("--nominal", "--data", "--digits"),
    "fmnist-mlp": TRAINING, "fmnist-cnn": TRAINING, "cifar10": TRAINING, "noise": TRAINING + ("--sigmas",),
    "sweep-e": tuple(o for o in TRAINING if o not in ("--e-pos", "--e-neg", "--circuit", "--init")),
    "sweep-m": tuple(o for o in TRAINING if o != "--steps"),
    "penalty": tuple(o for o in TRAINING if o not in ("--e-pos", "--e-neg", "--circuit", "--init")),
    "robustness": ("--epochs", "--chips", "--nominal", "--data"),
    "chip-budget": ("--chips", "--nominal", "--aware", "--data"),
    "spice-layer": ("--nominal", "--data"),
    "spice-network": ("--nominal", "--data", "--images", "--workers"),
    "yin-yang-spice": ("--nominal",),
    "yin-yang-chips": ("--nominal", "--chips", "--split", "--reads"),
    "spice-chips": ("--chips",),
    "digits": tuple(o for o in TRAINING if o not in ("--data", "--val", "--augment", "--mismatch")),
    "yin-yang": tuple(o for o in TRAINING if o not in ("--data", "--val", "--augment", "--width", "--mismatch"))
    + ("--sigma-spike", "--weight-noise", "--input-times"),
}


def _defaults(module):
    """(defaults, quick changes) of an experiment module, as its run() applies them."""
    if hasattr(module, "DEFAULTS"):                # the classification experiments (classify_config.configure)
        from .classify_config import CFG
        return dict(CFG, **module.DEFAULTS, device="cpu", data=None), getattr(module, "QUICK", {})
    return dict(getattr(module, "CFG", {})), getattr(module, "QUICK", {})


def _show(key, value):
    """A default as the help states it: None is the circuit's own E, or off; a dict of settings is on."""
    if value is None:
        return {"e_pos": "the circuit's own, 2.80", "e_neg": "the circuit's own, -1.53",
                "circuit": "the paper's RC-Spike circuit",
                "init": "he on the paper's circuit, firing with --circuit",
                "nominal": "none", "aware": "none", "workers": "one per core"}.get(key, "off")
    if isinstance(value, dict):
        return "on"
    return f"{value:g}" if isinstance(value, float) else str(value)


SWEEPS = ("sweep-e", "sweep-m", "noise", "penalty")     # one training per setting (sweeps.train_many)


def _parser():
    ap = argparse.ArgumentParser(prog="python -m paper_repro", description="Reproduce and extend the paper's "
                                 "experiments; each writes results.json, PNG plots and resumable checkpoints to --out.",
                                 epilog="mean and spread over seeds: python -m paper_repro.summary DIR [DIR ...]")
    sub = ap.add_subparsers(dest="experiment", required=True, metavar="experiment",
                            title="experiments (python -m paper_repro EXPERIMENT --help for its options)")
    for name, what in EXPERIMENTS.items():
        module = importlib.import_module(f"paper_repro.{name.replace('-', '_')}")
        defaults, quick = _defaults(module)
        shrinks = " (" + ", ".join(f"{k}={_show(k, v)}" for k, v in quick.items()) + ")" if quick else ""
        p = sub.add_parser(name, help=what, description=f"{what}\n\n{(module.__doc__ or '').strip()}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--out", default=f"runs/{name}", help=f"output folder (default runs/{name})" + (
            "; several processes of the same command may share it, one per core: each trains the settings no "
            "other holds" if name in SWEEPS else ""))
        p.add_argument("--seed", type=_number(int, lambda x: x >= 0, "an integer >= 0"), default=0,
                       help="random seed (default 0)" + (f"; iris trains seeds SEED .. SEED+{defaults['seeds'] - 1}"
                                                          if name == "iris" else ""))
        p.add_argument("--quick", action="store_true", help=f"a small version of the same code path{shrinks}")
        p.add_argument("--quiet", action="store_true",
                       help="no progress output (results are still printed); without a terminal there are no "
                            "progress bars, one line per epoch instead")
        for flag in USES.get(name, TRAINING):      # an experiment not listed in USES takes them all
            key, kw = OPTIONS[flag]
            note = "" if key == "data" else f" (default {_show(key, defaults.get(key))}" + (
                f"; --quick {_show(key, quick[key])})" if key in quick else ")")
            p.add_argument(flag, default=None, **dict(kw, help=kw["help"] + note))
    return ap, sub.choices


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM while main runs, so that a run stops as after Ctrl-C; args: (signal number,)."""


def _terminate(signum, frame):
    raise Terminated(signum)


def main(argv=None):
    """Run the experiment that ``argv`` names. Ctrl-C and SIGTERM end it with one line saying how to
    resume (unless paper_repro.train.fit has said it) and SystemExit(128 + signal number)."""
    old = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    except KeyboardInterrupt as e:
        signum = e.args[0] if isinstance(e, Terminated) else signal.SIGINT
        if not getattr(e, "resume_said", False) and os.environ.get("RANK", "0") == "0":
            print(f"python -m paper_repro: interrupted ({signal.Signals(signum).name}); run the same command again "
                  f"to resume (it reuses the checkpoints and finished results in its --out)", file=sys.stderr,
                  flush=True)
        raise SystemExit(128 + signum) from None
    finally:
        signal.signal(signal.SIGTERM, old)


def _main(argv):
    """Parse ``argv``, refuse options and values the experiment cannot use, then run it in --out."""
    ap, experiments = _parser()
    args, extra = ap.parse_known_args(argv)
    p = experiments[args.experiment]
    if extra:
        takes = " ".join(a.option_strings[-1] for a in p._actions if a.option_strings and a.dest != "help")
        p.error(f"{args.experiment} does not take {' '.join(extra)}; its options: {takes}")
    reversal = (getattr(args, "e_pos", None), getattr(args, "e_neg", None))
    if getattr(args, "circuit", None) is not None and reversal != (None, None):
        p.error("argument --circuit: not allowed with --e-pos/--e-neg (they set the paper's circuit; with --circuit "
                "the function sets the circuit)")
    from .common import out_dir
    with out_dir(args.out):
        importlib.import_module(f"paper_repro.{args.experiment.replace('-', '_')}").run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
