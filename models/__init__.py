"""Networks of circuit neurons: layers, networks and the paper's losses."""
from .chips import Chip, calibrate_chip, draw_chip, monte_carlo, program_chip, use_chip
from .init import bump_silent_, firing_fractions, init_firing_
from .layers import (RCSpikeConv2d, RCSpikeLinear, SpikeDropout, SpikeMinPool2d, SpikeTimeNoise, TTFSConv2d,
                     TTFSLinear, paper_circuit)
from .losses import (early_spike_penalty, label_time_penalty, silence_penalty, spike_cross_entropy, temporal_penalty,
                     weight_penalty)
from .mapping import fit_current_scales, scale_weights_, tune_layer_gains_
from .networks import IrisNet, SpikeNet, encode, mlp, vgg7

__all__ = ["Chip", "IrisNet", "calibrate_chip", "program_chip", "RCSpikeConv2d", "RCSpikeLinear", "SpikeDropout", "SpikeMinPool2d", "SpikeNet",
           "SpikeTimeNoise", "TTFSConv2d", "TTFSLinear", "draw_chip", "early_spike_penalty", "encode",
           "bump_silent_", "firing_fractions", "fit_current_scales", "init_firing_", "label_time_penalty", "mlp", "monte_carlo", "paper_circuit",
           "scale_weights_", "silence_penalty", "spike_cross_entropy", "temporal_penalty", "tune_layer_gains_", "use_chip", "vgg7", "weight_penalty"]
