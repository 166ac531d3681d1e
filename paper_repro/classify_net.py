"""The network of an image-classification experiment: its neuron circuit (the paper's RC-Spike, or
--circuit module:function), the MLP or VGG7 built on it, the DSTD that trains it, the input coding,
and a copy of its weights on another configuration."""
import importlib

import circuitnet as cn
from circuitnet import solve
from circuitnet.compile import compile_circuit
from circuitnet.models import encode, mlp, vgg7


def circuit(e_pos=None, e_neg=None, spec=None):
    """The paper's RC-Spike circuit with the ideal ramp (E_pos/E_neg None: the circuit's own), or the
    circuit of ``spec`` = "module:function" (cfg["circuit"], --circuit)."""
    if spec is not None:
        return load_circuit(spec)
    return cn.circuits.rc_spike(firing="ideal", e_pos=e_pos, e_neg=e_neg)


def load_circuit(spec):
    """The NeuronCircuit returned by ``module:function`` (called without arguments), e.g.
    "circuitnet.circuits:rc_spike_quadratic"; every layer of the network uses it."""
    mod, sep, name = str(spec).partition(":")
    if not (sep and mod and name):
        raise ValueError(f"--circuit {spec!r}: not module:function")
    try:
        fn = getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"--circuit {spec!r}: {e}") from None
    if not callable(fn):
        raise ValueError(f"--circuit {spec!r}: not a function")
    try:
        c = fn()
    except TypeError as e:
        raise ValueError(f"--circuit {spec!r}: must be callable without arguments ({e})") from None
    if not isinstance(c, (cn.NeuronCircuit, cn.MultiNodeCircuit)):
        raise ValueError(f"--circuit {spec!r}: returned {type(c).__name__}, not a NeuronCircuit or MultiNodeCircuit")
    return c


def library_circuits():
    """The --circuit values of the library's own circuits: "circuitnet.circuits:NAME" for each public
    function of circuitnet.circuits that needs no arguments."""
    import inspect
    need = lambda f: any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                         for p in inspect.signature(f).parameters.values())
    return [f"circuitnet.circuits:{n}" for n, f in inspect.getmembers(cn.circuits, inspect.isfunction)
            if not n.startswith("_") and f.__module__ == cn.circuits.__name__ and not need(f)]


def training_method(cfg):
    """The DSTD that trains: cfg["steps"] intervals, the random offset per mini-batch or none ("fixed").
    A several-node circuit trains by its closed form where it has one (its DSTD spreads each input's
    charge over a grid interval: first order in 1 / steps), else by that DSTD."""
    m = solve.DSTD(steps=cfg["steps"], offset="random" if cfg["offset"] == "random" else 0.0)
    cc = compile_circuit(circuit(cfg["e_pos"], cfg["e_neg"], cfg["circuit"]))
    if cc.several_nodes and solve.Exact().supports(cc):
        return solve.Exact()
    return m


def build(cfg, in_shape, classes=None):
    """The network of cfg["arch"] for inputs of shape in_shape = (C, H, W) and ``classes`` outputs (default
    cfg's "classes", else 10), trained by ``training_method``."""
    classes = cfg.get("classes", 10) if classes is None else classes
    c = circuit(cfg["e_pos"], cfg["e_neg"], cfg["circuit"])
    kw = dict(circuit=c, method=training_method(cfg), sigma_spike=cfg["sigma_spike"], dropout=cfg["dropout"],
              weight_noise=cfg.get("weight_noise", 0.0),
              kind="ttfs" if compile_circuit(c).integrates_while_firing else "rc_spike")
    C, H, W = in_shape
    if cfg["arch"] == "mlp":
        hidden = [max(1, round(h * cfg["width"])) for h in cfg["hidden"]]
        net = mlp((C * H * W, *hidden, classes), **kw)
    elif cfg["arch"] == "vgg7":
        if H != W:
            raise ValueError(f"vgg7 expects square images, got {H}x{W}")
        net = vgg7(in_channels=C, num_classes=classes, image_size=H, width=cfg["width"], **kw)
    else:
        raise ValueError(f"unknown arch {cfg['arch']!r}")
    return net


def inputs(cfg, x):
    """Images [B, C, H, W] in [0, 1] -> input spike times (flattened for the MLP), contiguous:
    t = early + (late - early) (1 - x) with (early, late) = cfg["input_times"] (default (0, 1): models.encode)."""
    early, late = cfg.get("input_times", (0.0, 1.0))
    t = early + (late - early) * encode(x)          # (0, 1): encode's times, bit for bit
    return (t.flatten(1) if cfg["arch"] == "mlp" else t).contiguous()


def copy_at(net, cfg, in_shape, **changes):
    """A copy of ``net``'s weights in a network built with cfg updated by ``changes`` (e.g. another
    E_pos/E_neg or sigma_spike), on the same device, in eval mode."""
    other = build(dict(cfg, **changes), in_shape).to(next(net.parameters()).device)
    other.load_state_dict(net.state_dict())
    return other.eval()
