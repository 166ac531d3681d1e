"""Run ngspice in batch mode and read back waveforms.

``run(netlist, vectors)`` writes the netlist into a temporary folder with a ``.control`` block that
runs its analysis and ``wrdata``s the requested vectors, runs ``ngspice -b`` and returns the columns
as numpy arrays. ``run_many`` runs several netlists in parallel processes (one per core by default).
Errors are :class:`SpiceError` (ngspice failed, with its error lines) or :class:`SpiceUnavailable`
(ngspice or the device models are not installed, with the command that installs them).
"""
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np


# ngspice built with OpenMP (Debian's) runs its device loads in OpenMP regions; an idle OpenMP thread
# busy-waits by default, which on a loaded machine cost 10-100x: a 1-neuron netlist took 4.2 s of CPU
# in 4 of 5 runs and 0.04 s in the fifth, and always 0.03 s with a passive wait (same results).
NGSPICE_ENV = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"}


class SpiceUnavailable(RuntimeError):
    """ngspice or the device models are missing."""


class SpiceError(RuntimeError):
    """ngspice ran but failed (bad netlist, no convergence, ...)."""


def ngspice_path():
    """Path of the ngspice executable; SpiceUnavailable with the install command if absent."""
    exe = shutil.which(os.environ.get("CIRCUITNET_NGSPICE") or "ngspice")
    if not exe:
        raise SpiceUnavailable("ngspice was not found (PATH, or $CIRCUITNET_NGSPICE): install it with "
                               "'apt-get install -y ngspice' (Debian/Ubuntu)")
    return exe


def run(netlist, vectors, analysis, timeout=600):
    """Simulate ``netlist`` (element lines, without title, .control or .end) with ``analysis`` (an ngspice control
    command such as "tran 1n 2u" or "dc Vd 0 1 0.1") and return {vector: np.ndarray}, plus the
    scale (time, sweep or frequency) under "scale". Complex AC vectors come back complex."""
    if not vectors:
        raise ValueError("run: name at least one vector to read back")
    exe = ngspice_path()
    with tempfile.TemporaryDirectory(prefix="circuitnet-spice-") as tmp:
        out = os.path.join(tmp, "out.txt")
        ac = analysis.strip().lower().startswith("ac")
        names = [f"{f}({v})" for v in vectors for f in ("real", "imag")] if ac else list(vectors)
        save = "" if ac else f"save {' '.join(vectors)}\n"      # store only what is read back
        text = ("* circuitnet\n" + netlist.rstrip() + "\n.control\nset wr_singlescale\nset wr_vecnames\noption numdgt=12\n"
                f"{save}{analysis}\nwrdata {out} {' '.join(names)}\nquit\n.endc\n.end\n")
        path = os.path.join(tmp, "circuit.cir")
        with open(path, "w") as f:
            f.write(text)
        try:
            proc = subprocess.run([exe, "-b", path], capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, **NGSPICE_ENV})
        except subprocess.TimeoutExpired:
            raise SpiceError(f"ngspice did not finish within {timeout} s ({analysis!r})") from None
        log = proc.stdout + proc.stderr
        errors = [ln.strip() for ln in log.splitlines()
                  if any(k in ln.lower() for k in ("error", "aborted", "timestep too small")) and "no error" not in ln.lower()]
        if proc.returncode != 0 or errors or not os.path.exists(out):
            detail = "\n  ".join(errors[:10] or log.strip().splitlines()[-10:])
            raise SpiceError(f"ngspice failed (exit {proc.returncode}) on {analysis!r}:\n  {detail}")
        data = np.loadtxt(out, skiprows=1, ndmin=2)
    if data.shape[1] != 1 + len(names):
        raise SpiceError(f"ngspice wrote {data.shape[1]} columns, expected {1 + len(names)}")
    res = {"scale": data[:, 0]}
    for k, v in enumerate(vectors):
        res[v] = data[:, 1 + 2 * k] + 1j * data[:, 2 + 2 * k] if ac else data[:, 1 + k]
    return res


def run_many(jobs, workers=None):
    """Run [(netlist, vectors, analysis), ...] in parallel ngspice processes; results in order."""
    jobs = list(jobs)
    workers = workers or min(len(jobs), os.cpu_count() or 1) or 1
    if workers == 1:
        return [run(*j) for j in jobs]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda j: run(*j), jobs))
