"""A chip's bring-up as chip-budget and spice-chips do it (circuitnet.chip): program-and-verify of
every synapse device through a gate-bias DAC, and the neuron trims calibrated from spike times.
BRING_UP: the settings both take (docs/robustness.md): the DAC's range (V), the devices' gm/Id at
one weight unit (nfet, pfet; /V), the current measurements' relative noise, the trims' bits and
spans (comparator offset in V, discharger bias in ln of the current) and the current reads averaged
per verify measurement."""
from circuitnet.chip import Trim, WeightProgrammer

BRING_UP = dict(dac_range=0.12, gm_over_id=(23.5, 15.7), measurement_noise=0.01, trim_bits=6, trim_span_v=0.06,
                trim_span_dis=0.8, reads=1)


def weight_programmer(cfg, bits, iterations):
    """The WeightProgrammer of a ``bits``-bit DAC with ``iterations`` verify steps, cfg's BRING_UP settings."""
    return WeightProgrammer(bits=bits, dac_range=cfg["dac_range"], gm_over_id=tuple(cfg["gm_over_id"]),
                            measurement_noise=cfg["measurement_noise"], iterations=iterations, reads=cfg["reads"])


def trims(cfg):
    """The neuron trims: comparator offset and discharger bias, cfg's trim_bits and spans."""
    return [Trim("V_th", bits=cfg["trim_bits"], span=cfg["trim_span_v"]),
            Trim("dis_I", bits=cfg["trim_bits"], span=cfg["trim_span_dis"])]
