"""What a new user gets wrong, and what circuitnet answers: a clear error or a documented behaviour."""
import pytest
import torch

import circuitnet as cn
import models
from circuitnet.solve import METHODS, spike_times


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", METHODS)
def test_half_precision_is_refused_by_every_method(dtype, method):
    circuit = cn.circuits.rc_spike(noise=True) if method == "sde" else cn.circuits.rc_spike()
    t_in, w = torch.rand(4, 5, dtype=dtype), torch.rand(3, 5, dtype=dtype)
    with pytest.raises(ValueError, match=rf"{dtype}.*float32 or float64"):
        spike_times(circuit, t_in, w, method=method)


def test_half_precision_layer_is_refused():
    layer = models.RCSpikeLinear(5, 3, method="exact").half()
    with pytest.raises(ValueError, match="float32 or float64"):
        layer(torch.rand(4, 5, dtype=torch.float16))
