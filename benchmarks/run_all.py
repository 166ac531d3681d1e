"""Run every benchmark and write docs/benchmarks.md from their results.

    python benchmarks/run_all.py [--out docs/benchmarks.md] [--quick] [--skip ode spice]

Each script of benchmarks/ runs in a process of its own (OMP_NUM_THREADS=1; the scripts set one torch
thread) and hands back its results with --json: bench_layer (one 784 -> 400 layer against the clip-ANN
layer), bench_general (non-affine DSTD), bench_ode (ode against torchdiffeq), bench_nodes (several-node circuits: a Yin-Yang epoch) and, where ngspice is
installed, bench_spice (cost of method "spice").  The page gets the machine (CPU model and cores from
/proc/cpuinfo), the torch version, the threads, the date and the tables, with the prose that explains
them.  --quick: fewer repetitions and smaller ode/spice cases (a smoke run: about a minute);
--skip: leave out benchmarks by name (layer, general, ode, nodes, spice); --print: echo each script's output;
--save FILE keeps the collected results (JSON), --load FILE writes the page from them without running.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

RUNS = {  # name: (script, full arguments, --quick arguments)
    "layer": ("bench_layer.py", ["--reps", "9", "--torch-path"], ["--reps", "3", "--torch-path"]),
    "general": ("bench_general.py", ["--reps", "7", "--ode-reps", "1"], ["--reps", "3", "--ode-reps", "1"]),
    "ode": ("bench_ode.py", [], ["--large-batch", "4", "--small-batch", "8", "--repeats", "2"]),
    "nodes": ("bench_nodes.py", ["--reps", "3"], ["--reps", "1"]),
    "spice": ("bench_spice.py", ["--fan-in", "4", "16", "32", "64", "128", "--neurons", "2"],
              ["--fan-in", "4", "16", "--neurons", "1"]),
}


def machine():
    """CPU model, cores, platform, torch version and whether the compiled kernels built."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    env = dict(os.environ, OMP_NUM_THREADS="1")
    probe = ("import torch, json; from circuitnet.solve import compiled as kernels; lib = kernels.compiled_kernels(); "
             "print(json.dumps(dict(torch=torch.__version__, kernels=lib is not None, "
             "error=kernels.build_error())))")
    info = json.loads(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                                     check=True).stdout.splitlines()[-1])
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    compiler = ""
    if cxx:
        compiler = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return dict(cpu=model, cores=os.cpu_count(), python=platform.python_version(), system=platform.platform(),
                torch=info["torch"], kernels=info["kernels"], kernel_error=info["error"], compiler=compiler,
                date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))


def run(name, quick, echo):
    script, full, small = RUNS[name]
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        cmd = [sys.executable, os.path.join(HERE, script), *(small if quick else full), "--json", out]
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        began = time.time()
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if echo:
            print(r.stdout, end="", flush=True)
        if r.returncode != 0:
            raise RuntimeError(f"{script} failed ({r.returncode}):\n{r.stderr[-3000:]}")
        with open(out) as f:
            res = json.load(f)
    res["command"] = f"python benchmarks/{script} {' '.join(small if quick else full)}".strip()
    res["wall_s"] = time.time() - began
    return res


# ------------------------------------------------------------------------------- the page
def _f(x, fmt):
    return "-" if x is None else format(x, fmt)


def layer_section(res):
    rows = {r["method"]: r for r in res["rows"]}
    ann = rows["ANN"]
    out = ["## One layer: `benchmarks/bench_layer.py`", "",
           "One 784 -> 400 RC-Spike layer (the paper's circuit in normalised units, E+ = 2.8, E- = -1.53, ideal",
           "ramp), batch 256, float32, forward + backward with respect to the input times and the weight (a",
           "hidden layer). Time: CPU time of the process (user + system), median of the repetitions, which",
           "interleave every method with the clip-activation ANN layer `clamp(x @ W.T, 0, 1)` of the same shapes;",
           "the ratio to that ANN layer is the number to compare across machines. Memory: *saved* is what",
           "autograd keeps between forward and backward, *scratch* the reusable work buffers the solver holds",
           "(`kernels.scratch`), *peak* the growth of resident memory over one forward + backward in a fresh",
           "process (saved, scratch and every temporary together; Linux VmHWM).", "",
           f"`{res['command']}`", "",
           "| method | time [ms] | / ANN | saved [MB] | scratch [MB] | peak [MB] |", "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        out.append(f"| {r['method']} | {r['ms']:.1f} | {r['ratio']:.1f}x | {_f(r['saved_mb'], '.2f')} | "
                   f"{_f(r['scratch_mb'], '.2f')} | {_f(r['peak_mb'], '.1f')} |")
    out += ["", "| ratio | measured | target |", "|---|---|---|"]
    for k, v in res["ratios"].items():
        t = res["targets"][k]
        out.append(f"| {k} | {v:.2f}x | <= {t:g}x {'(met)' if v <= t else '(**not met**)'} |")
    out += ["",
            "Method \"exact\" sorts each sample's input times once and sweeps them in time order: per interval",
            "between consecutive arrivals it adds the arriving input's `[beta w | w]` row to the running",
            "conductance sums f and g and relaxes the membrane exactly, v <- v + d phi1(f d) (g - f v); the",
            "analytic backward is a second forward-order sweep (adjoint lam = 2^Y dL/dv(T) from a running log2",
            "sum), so nothing of size [batch, inputs, neurons] is formed. The sweep runs in compiled code",
            "(`circuitnet/solve/compiled.py` and `compiled.cpp`: a small C++ library built with the system compiler at first use,",
            "cached under `~/.cache/circuitnet`, called through ctypes): one fused pass over the neurons per",
            "interval, vectorised across neurons, with the series branch of phi1 and psi/phi1 chosen from a bound",
            "on f d (f never decreases: beta w >= 0), and a radix sort. Its pure-torch path (about twenty",
            "whole-tensor operations per interval) remains as the fallback where no compiler is available or",
            "`CIRCUITNET_KERNELS=0`; `tests/test_speed_paths.py` checks the two against each other and against",
            "golden values of the implementation before the kernels, to 1e-12 in float64 (spike times and the",
            "gradients with respect to input times, weights, per-synapse E, per-neuron leak and bias, charge",
            "packets; RC-Spike and TTFS).", "",
            "Method \"dstd\" (closed-form path): its hat kernel S_jm = clamp((T_m+1 - t_j)/L_m, 0, 1) is 0 before",
            "input j's grid interval, a ramp inside it and 1 after, so its steps in m are nonzero at one or two",
            "m. The compiled kernels use that: f~ and g~ are cumulative sums over m of those steps times the",
            "weight rows, the weight gradient sums the steps times the reverse cumulative sums of dL/d[f~ g~],",
            "and the input-time gradient is one dot product per input, a few rows per input instead of the M",
            "rows of the three [batch M, inputs] x [inputs, 2 neurons] GEMMs of the torch path (which the",
            "ANN-relative cost of M = 10 could not go below: 20x the ANN's flops). The element-wise recursion",
            "over the M grid intervals stays in torch.", "",
            "Before the compiled kernels (commit 2c828f2, this machine, 2026-12-07, `bench_layer.py --reps 5` of",
            "that commit): ANN 5.1 ms, dstd M=4 8.5x, M=10 19.8x, M=30 57.9x, exact 301.8 ms = 59.5x the ANN =",
            "1.03x dstd M=30; saved memory as above, scratch 22.5 / 55.2 / 163.9 / 10.2 MB, peak (measured as",
            "above) 50.2 MB for exact, 84.2 MB for dstd M=10, 216.4 MB for dstd M=30. The \"torch path\" rows are",
            "that code (its sort made stable: simultaneous inputs in input order, as in the kernels)."]
    if not res.get("kernels", True):
        out += ["", "(This run had the compiled kernels disabled: `CIRCUITNET_KERNELS=0`.)"]
    return out


def general_section(res):
    batches = res["batches"]
    names = [r["method"] for r in batches[0]["rows"] if r["method"] != "clip-ANN layer"]
    head = "| method |" + "".join(f" batch {b['batch']}: time / ANN | saved [MB] |" for b in batches)
    out = ["## Non-affine DSTD: `benchmarks/bench_general.py`", "",
           "One 784 -> 400 layer, float32, forward + backward with respect to the input times and the weight;",
           "non-affine = `rc_spike_quadratic` (quadratic CLM on both synapse devices; its dstd is the general",
           "scheme, `circuitnet/solve/dstd_general.py`), paper = `rc_spike(firing=\"ideal\")` (affine: exact and",
           "dstd's closed-form path); ode one repetition. \"RK4\" swaps the step of the general scheme (same M,",
           "about 3x smaller spike-time error), \"M=17\" is the RK2 grid of about that accuracy.", "",
           f"`{res['command']}`", "", head, "|---|" + "---|---|" * len(batches)]
    ann = " | ".join(f"{b['rows'][0]['ms']:.2f} ms | {_f(b['rows'][0]['saved_mb'], '.1f')}" for b in batches)
    out.append(f"| clip-ANN layer | {ann} |")
    for n in names:
        cells = []
        for b in batches:
            r = next(r for r in b["rows"] if r["method"] == n)
            cells.append(f"{r['ratio']:.1f}x | {_f(r['saved_mb'], '.1f')}")
        out.append(f"| {n} | {' | '.join(cells)} |")
    return out


def ode_section(res):
    out = ["## ode against torchdiffeq: `benchmarks/bench_ode.py`", "",
           "Forward + backward of the sum of the spike times, float64: method `ode` (event-driven RK4, dt = "
           f"{res['ode_dt']:g}) against torchdiffeq's `odeint_event` restarted after each spike (dopri5,",
           "rtol 1e-8); CPU time, ode the median of the repeats, the baseline one run; the gradient checked",
           "against central differences on a few weights and input times.", "",
           f"`{res['command']}`", "",
           "| circuit, layer, batch | baseline [s] | ode [s] | baseline / ode | ode / ANN | max spike-time difference "
           "| fired | ode gradient vs finite differences |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        circ = {"rc_spike": "RC-Spike", "ttfs": "TTFS"}.get(r["circuit"], r["circuit"])
        out.append(f"| {circ} {r['layer']}, {r['batch']} | {r['baseline_s']:.2f} | {r['ode_s']:.4f} | "
                   f"{r['baseline_over_ode']:.0f}x | {r['ode_over_ann']:.0f}x | {r['max_dt']:.1e} | {r['fired']:.2f} | "
                   f"{r['fd_rel_err']:.1e} rel |")
    return out


def nodes_section(res):
    e = res["epoch_s"]
    out = ["## Several nodes: `benchmarks/bench_nodes.py`", "",
           "One Yin-Yang training epoch (5,000 samples, then a validation pass over 1,000) of the 5 -> 120 -> 3",
           "network of two-node LIF neurons (`circuitnet.circuits.lif_current_synapse`, tau_m = 2 tau_s) trained",
           "by its closed form (method \"exact\"), float32, Adam, CPU seconds on one thread; fastAndDeep v1.0.0",
           "(the published implementation of this neuron, tau_m = tau_s, batch 150) measured on a machine of this",
           "kind: 3.56 s per epoch. Then one batch of 150, forward + backward, by \"exact\" and by \"ode\"",
           "(dt = 1/64) against a ReLU MLP of the same shapes.", "",
           f"`{res['command']}`", "",
           "| epoch, batch 32 [s] | epoch, batch 150 [s] | fastAndDeep, batch 150 [s] | exact / ANN (batch 150) | ode / ANN |",
           "|---|---|---|---|---|",
           f"| {e['32']:.2f} | {e['150']:.2f} | {res['fastandeep_epoch_s']:.2f} | {res['ratios']['exact']:.0f}x | "
           f"{res['ratios']['ode']:.0f}x |"]
    return out


def spice_section(res):
    if res is None:
        return ["## SPICE: `benchmarks/bench_spice.py`", "", "Not run: ngspice is not installed on this machine."]
    out = ["## SPICE: `benchmarks/bench_spice.py`", "",
           "Cost of method \"spice\" against fan-in: wall seconds per neuron-sample of the sky130-realised paper",
           "circuit in ngspice (one ngspice process; netlist writing, simulation and read-back), the model-vs-SPICE",
           "spike-time RMSE of those neurons, a neuron's transistors and the instances its netlist writes.", "",
           f"`{res['command']}`", "",
           "| fan-in | s / neuron-sample | RMSE model-SPICE [ns] | transistors | instances |", "|---|---|---|---|---|"]
    for r in res["rows"]:
        out.append(f"| {r['fan_in']} | {r['s_per_neuron_sample']:.2f} | {_f(r['rmse_ns'], '.2f')} | "
                   f"{r['transistors']} | {r['instances']} |")
    return out


def page(info, results, quick):
    k = "built and used" if info["kernels"] else f"unavailable ({info['kernel_error']}): pure-torch paths"
    out = ["# Benchmarks", "",
           "Written by `python benchmarks/run_all.py`, which runs every script in `benchmarks/` (each in a process",
           "of its own, single-threaded) and writes this page; each script also runs alone and prints its table.",
           "Ratios are measured in the same run as their reference, so they carry across machines better than",
           "times do; on a shared machine expect them to move by 10-20 % between runs."
           + (" **This is a --quick run (few repetitions, small cases).**" if quick else ""), "",
           "| | |", "|---|---|",
           f"| machine | {info['cpu']}, {info['cores']} cores ({info['system']}) |",
           f"| software | Python {info['python']}, torch {info['torch']}, {info['compiler'] or 'no C++ compiler'} |",
           "| threads | 1 (`torch.set_num_threads(1)`, `OMP_NUM_THREADS=1`) |",
           f"| compiled kernels | {k} |",
           f"| date | {info['date']} |", ""]
    sections = []
    if "layer" in results:
        sections.append(layer_section(results["layer"]))
    if "general" in results:
        sections.append(general_section(results["general"]))
    if "ode" in results:
        sections.append(ode_section(results["ode"]))
    if "nodes" in results:
        sections.append(nodes_section(results["nodes"]))
    if "spice" in results:
        sections.append(spice_section(results["spice"]))
    for s in sections:
        out += s + [""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"), help="the page to write")
    ap.add_argument("--quick", action="store_true", help="few repetitions, small cases (a smoke run)")
    ap.add_argument("--skip", nargs="*", default=[], choices=list(RUNS), help="benchmarks to leave out")
    ap.add_argument("--print", action="store_true", help="echo each script's own output")
    ap.add_argument("--save", help="also write the collected results to this JSON file")
    ap.add_argument("--load", help="write the page from results saved by --save, without running anything")
    args = ap.parse_args()
    if args.load:
        with open(args.load) as f:
            saved = json.load(f)
        with open(args.out, "w") as f:
            f.write(page(saved["machine"], saved["results"], saved["quick"]))
        print(f"wrote {args.out}")
        return
    info = machine()
    results = {}
    for name in RUNS:
        if name in args.skip:
            continue
        if name == "spice" and not shutil.which("ngspice"):
            results[name] = None
            continue
        print(f"running {RUNS[name][0]} ...", flush=True)
        results[name] = run(name, args.quick, args.print)
        print(f"  done in {results[name]['wall_s']:.0f} s", flush=True)
    text = page(info, results, args.quick)
    with open(args.out, "w") as f:
        f.write(text)
    if args.save:
        with open(args.save, "w") as f:
            json.dump(dict(machine=info, results=results, quick=args.quick), f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
