"""The configuration of the image-classification experiments (paper_repro.classify describes the
recipe): the defaults every one starts from, the augmentation settings, and ``configure``, which
layers an experiment's defaults, --quick and the command line's options over them."""
from circuitnet.compile import compile_circuit

from .classify_net import circuit, load_circuit

CFG = dict(arch="mlp", hidden=(400, 400), width=1.0, epochs=50, lr=1e-4, batch=32, gamma1=2.6, t_ref=0.9,
           tau_soft=0.07, sigma_spike=0.01, dropout=0.0, ema=0.0, weight_decay=0.0, steps=10, offset="random",
           e_pos=None, e_neg=None, penalty_on="unclipped", schedule="constant", augment=None, train_limit=None,
           test_limit=None, eval_batch=1000, noise_draws=5, val=0, circuit=None, circuit_parameters=None, init=None,
           mismatch=None, bump=None, clip=None, ce_on="clipped", gamma_silent=0.0, alpha=0.0, beta=1.0,
           hidden_limit=0.1, bump_output="any", weight_noise=0.0,
           input_times=(0.0, 1.0))
# augment: None or the keyword arguments of paper_repro.data.augment; --augment switches an
# experiment's "augment_with" on (CIFAR-10's flip/rotate/crop unless the experiment says otherwise)
AUGMENT = dict(flip=0.5, degrees=15.0, padding=4)
FMNIST_AUGMENT = dict(flip=0.5, degrees=0.0, padding=2)   # Fashion-MNIST: flip and +-2 pixel shifts


def configure(args, defaults, quick=None):
    """CFG < experiment defaults < quick-mode settings < explicit command-line options."""
    cfg = dict(CFG, **defaults)
    if getattr(args, "quick", False) and quick:
        cfg.update(quick)
    for key in ("epochs", "width", "steps", "e_pos", "e_neg", "lr", "schedule", "dropout", "ema", "weight_decay",
                "gamma1", "t_ref", "tau_soft", "bump", "clip", "val", "circuit", "init", "mismatch", "sigmas", "ce_on",
                "gamma_silent", "alpha", "beta", "hidden_limit", "bump_output", "sigma_spike", "weight_noise",
                "input_times"):
        value = getattr(args, key, None)
        if value is not None:
            cfg[key] = value
    if cfg["init"] is None:         # a user's circuit gets weights that fire on it (models.init_firing_)
        cfg["init"] = "he" if cfg["circuit"] is None else "firing"
    if cfg["init"] not in ("he", "firing"):
        raise ValueError(f"init must be 'he' or 'firing', got {cfg['init']!r}")
    if cfg["circuit"] is not None:
        if cfg["e_pos"] is not None or cfg["e_neg"] is not None:
            raise ValueError("--e-pos/--e-neg set the paper's circuit; with --circuit the function sets the circuit")
        c = load_circuit(cfg["circuit"])
        cfg["circuit_parameters"] = {s.name: float(v) for s, v in sorted(c.values.items(), key=lambda kv: kv[0].name)}
    early, late = cfg["input_times"] = tuple(float(x) for x in cfg["input_times"])
    span = (1.0 if (early, late) == (0.0, 1.0)      # the coding every circuit takes: no compile needed
            else compile_circuit(circuit(cfg["e_pos"], cfg["e_neg"], cfg["circuit"])).timeline.synapse_duration)
    if not 0 <= early < late <= span:
        raise ValueError(f"--input-times {early:g} {late:g}: need 0 <= EARLY < LATE <= {span:g}, the circuit's input "
                         f"window (normalised time)")
    with_ = cfg.pop("augment_with", AUGMENT)
    flag = getattr(args, "augment", None)
    if flag is not None:
        cfg["augment"] = (cfg["augment"] or dict(with_)) if flag else None
    return cfg
