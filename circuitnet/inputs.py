"""Validation of the tensors handed to spike-time solvers and the SPICE runner: clear errors, nothing lost."""
import torch

# float16 and bfloat16 are refused rather than upcast behind the user's back: the circuit's constants
# underflow there (C = 1.4e-13 F is 0 in float16) and a spike time near 1 is resolved to 1e-3 (float16)
# or 8e-3 (bfloat16), coarser than the effects the methods exist to resolve.
DTYPES = (torch.float32, torch.float64)


def check_layer_inputs(t_in, weight, t_max=None):
    """Check t_in [batch, in] and weight [out, in]: float32 or float64, same dtype/device, finite, t_in >= 0,
    and, where ``t_max`` (the input phase's length, normalised) is given, t_in <= t_max or +inf.

    ``t_in`` may hold +inf for inputs that never spike; t_max itself (the phase end) also never
    arrives. A finite time after it is refused: it is no time the circuit can receive (a wrong unit or
    scale, more often than not). Raises ValueError naming the problem.
    """
    for name, x in (("t_in", t_in), ("weight", weight)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
        if x.dtype not in DTYPES:
            raise ValueError(f"{name} has dtype {x.dtype}: spike times are computed in float32 or float64 only "
                             f"(the circuit's constants underflow and spike times lose their resolution in "
                             f"{x.dtype}); convert with .float() or .double()")
        if x.dim() != 2:
            raise ValueError(f"{name} must be 2-D ({'[batch, in_features]' if name == 't_in' else '[out_features, in_features]'}), "
                             f"got shape {tuple(x.shape)}")
    if t_in.shape[1] != weight.shape[1]:
        raise ValueError(f"t_in has {t_in.shape[1]} input features but weight expects {weight.shape[1]} "
                         f"(weight shape [out, in] = {tuple(weight.shape)})")
    if t_in.dtype != weight.dtype or t_in.device != weight.device:
        raise ValueError(f"t_in ({t_in.dtype}, {t_in.device}) and weight ({weight.dtype}, {weight.device}) "
                         f"must share dtype and device")
    if torch.isnan(t_in).any():
        raise ValueError("t_in contains NaN spike times (use +inf for an input that never spikes)")
    if (t_in < 0).any():
        raise ValueError(f"t_in contains negative spike times (min {t_in.min().item():g}); inputs live in [0, t_max]")
    if t_max is not None:
        late = torch.isfinite(t_in) & (t_in > t_max)
        if late.any():
            raise ValueError(f"t_in contains {int(late.sum())} finite spike time(s) after the input phase ends "
                             f"(max {t_in[late].max().item():g} > t_max = {t_max:g}, normalised to the circuit's time "
                             f"unit); inputs live in [0, t_max], and one that never spikes is +inf or t_max")
    if not torch.isfinite(weight).all():
        raise ValueError("weight contains NaN or infinite values")
