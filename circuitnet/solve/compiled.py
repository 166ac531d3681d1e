"""Compiled kernels: the hot loops of methods "exact" (the sweep over each neuron's inputs in time
order) and "dstd" (the hat-kernel products) as a small C++ library: no torch headers, built with the system C++
compiler at first use (a few seconds), cached on disk and loaded with ctypes; called on the raw
data of contiguous CPU float32/float64 tensors.  Where it cannot be built (no compiler, another
platform) or CIRCUITNET_KERNELS=0, the solvers take their pure-torch path, which the tests
compare it against (tests/test_speed_paths.py).

The C++ source is compiled.cpp beside this file; CIRCUITNET_KERNEL_CACHE (default ~/.cache/circuitnet)
holds the built library.
"""
import ctypes
import hashlib
import os
import pathlib
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings

import torch

_CXX_FLAGS = ("-O3", "-std=c++17", "-fPIC", "-shared", "-fopenmp-simd", "-fno-math-errno", "-fvisibility=hidden",
              "-Wno-psabi")
_ARCH_FLAGS = (("-march=native",), ())  # tuned for this CPU (the cache key names it), else portable
_CPP_SOURCE = (pathlib.Path(__file__).with_name("compiled.cpp")).read_text()

_I64, _PTR, _F64 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_double
_SIGNATURES = {  # argument types of the exported functions (each as _f32 and _f64); all return int (0: done)
    "sort_rows": [_I64] * 3 + [_PTR, _F64, _PTR, _PTR],
    "exact_fwd": [_I64] * 5 + [_PTR] * 5 + [_F64] * 2 + [_PTR] * 12,
    "exact_bwd": [_I64] * 5 + [_PTR] * 5 + [_F64] * 2 + [_PTR] * 10,
    "dstd_fwd": [_I64] * 5 + [_PTR] * 3 + [_I64] + [_PTR] * 2,
    "dstd_bwd": [_I64] * 5 + [_PTR] * 3 + [_I64] + [_PTR] * 5,
}
_PLAIN_SIGNATURES = {"dstd_bwd_work": ([_I64] * 3, _I64)}  # (argument types, result type), no _f32/_f64
_LOCK = threading.Lock()
_STATE = {"lib": None, "tried": False, "error": None, "enabled": os.environ.get("CIRCUITNET_KERNELS", "1") != "0"}


def _cpu_tag():
    """What -march=native depends on: the CPU's model and feature flags (a library built for one
    machine is never loaded on another that shares the cache)."""
    tag = [platform.machine(), platform.processor()]
    try:
        with open("/proc/cpuinfo") as f:
            seen = set()
            for line in f:
                key = line.split(":", 1)[0].strip()
                if key in ("model name", "flags", "Features", "CPU part") and key not in seen:
                    seen.add(key)
                    tag.append(line.strip())
    except OSError:
        pass
    return "\n".join(tag)


def _cache_dir():
    """CIRCUITNET_KERNEL_CACHE, else $XDG_CACHE_HOME/circuitnet (~/.cache/circuitnet)."""
    d = os.environ.get("CIRCUITNET_KERNEL_CACHE")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "circuitnet")
    return d


def _compile(cxx, flags, d, path):
    """Compile _CPP_SOURCE with ``flags`` into ``path`` (in directory d); raise RuntimeError on failure."""
    fd, src = tempfile.mkstemp(suffix=".cpp", dir=d)
    out = src[:-4] + ".so"
    try:
        with os.fdopen(fd, "w") as f:
            f.write(_CPP_SOURCE)
        r = subprocess.run([cxx, *flags, src, "-o", out], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"{cxx} {' '.join(flags)} failed:\n{r.stderr[-2000:]}")
        os.replace(out, path)  # atomic: concurrent builds of the same source are harmless
    finally:
        for p in (src, out):
            if os.path.exists(p):
                os.remove(p)


def _build():
    """Path of the compiled library: from the cache, else built there (a few seconds)."""
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cxx:
        raise RuntimeError("no C++ compiler (g++ or $CXX) found")
    try:
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(f"cannot run the C++ compiler {cxx!r}: {e}") from None
    user = os.getuid() if hasattr(os, "getuid") else 0
    dirs = [_cache_dir(), os.path.join(tempfile.gettempdir(), f"circuitnet-kernels-{user}")]
    errors = []
    for arch in _ARCH_FLAGS:
        flags = (*_CXX_FLAGS, *arch)
        key = hashlib.sha256("\0".join([_CPP_SOURCE, " ".join(flags), cxx, version, _cpu_tag()]).encode()).hexdigest()
        name = f"circuitnet_kernels_{key[:20]}.so"
        for d in dirs:
            path = os.path.join(d, name)
            if os.path.exists(path):
                return path
        for d in dirs:
            try:
                os.makedirs(d, exist_ok=True)
                _compile(cxx, flags, d, os.path.join(d, name))
                return os.path.join(d, name)
            except OSError as e:  # not writable: the next directory
                errors.append(f"{d}: {e}")
            except (RuntimeError, subprocess.SubprocessError) as e:  # the compiler refused: the next flags
                errors.append(str(e))
                break
    raise RuntimeError("could not build the compiled kernels: " + " | ".join(errors))


def compiled_kernels():
    """The compiled kernels (a ctypes.CDLL), built at first use; None where they are disabled or cannot be built.

    Disabled by the environment variable CIRCUITNET_KERNELS=0 or set_compiled_kernels(False). A failed
    build warns once (RuntimeWarning) and the solvers keep to their pure-torch path.
    """
    if not _STATE["enabled"]:
        return None
    if _STATE["tried"]:
        return _STATE["lib"]
    with _LOCK:
        if not _STATE["tried"]:
            try:
                lib = ctypes.CDLL(_build())
                for fn, args in _SIGNATURES.items():
                    for sfx in ("_f32", "_f64"):
                        c = getattr(lib, fn + sfx)
                        c.argtypes, c.restype = args, ctypes.c_int
                for fn, (args, res) in _PLAIN_SIGNATURES.items():
                    getattr(lib, fn).argtypes, getattr(lib, fn).restype = args, res
                _STATE["lib"] = lib
            except Exception as e:  # noqa: BLE001 - any failure means: use the torch path
                _STATE["error"] = f"{type(e).__name__}: {e}"
                warnings.warn(f"circuitnet: compiled kernels unavailable, using the slower pure-torch path ({e})",
                              RuntimeWarning, stacklevel=2)
            _STATE["tried"] = True
    return _STATE["lib"]


def build_error():
    """Why the compiled kernels are not in use (the build's error, or that they are switched off), or None."""
    return _STATE["error"]


def set_compiled_kernels(enabled):
    """Use the compiled kernels (True, where they build) or the pure-torch path (False).

    Returns the previous setting.
    """
    prev = _STATE["enabled"]
    _STATE["enabled"] = bool(enabled)
    return prev


def kernel_threads(work):
    """Threads to split a kernel call over: torch.get_num_threads(), 1 for small calls (``work`` ~ flops)."""
    n = torch.get_num_threads()
    return 1 if n <= 1 or work < 4e6 else n


def kernels_for(*tensors):
    """The compiled kernels where they serve these tensors (CPU, all float32 or all float64; None
    entries ignored), else None."""
    dt = tensors[0].dtype
    if dt not in (torch.float32, torch.float64):
        return None
    for t in tensors:
        if t is not None and (t.device.type != "cpu" or t.dtype != dt):
            return None
    return compiled_kernels()


def suffix(dtype):
    """The suffix of a kernel's float32 or float64 version: "_f32" or "_f64"."""
    return "_f32" if dtype == torch.float32 else "_f64"


def ptr(t):
    """A tensor's data address for a kernel argument (None for None)."""
    return None if t is None else t.data_ptr()


def split_range(n, parts, align=16):
    """[(i0, i1)]: range(n) in ``parts`` contiguous pieces (multiples of ``align`` but the last)."""
    step = -(-max(n, 1) // parts)
    step = -(-step // align) * align
    return [(i, min(n, i + step)) for i in range(0, n, step)] or [(0, 0)]


def check_codes(codes):
    """Raise RuntimeError unless every kernel call returned 0."""
    if any(codes):
        raise RuntimeError(f"circuitnet compiled kernel failed (codes {codes})")


_POOL = {}


def run_parallel(calls):
    """Run the zero-argument callables ``calls`` (kernel calls on disjoint outputs; ctypes releases the
    GIL) on a thread pool, the first in this thread; returns their results in order."""
    if len(calls) == 1:
        return [calls[0]()]
    from concurrent.futures import ThreadPoolExecutor
    pool = _POOL.get(len(calls))
    if pool is None:
        pool = _POOL[len(calls)] = ThreadPoolExecutor(len(calls) - 1, thread_name_prefix="circuitnet-kernel")
    futs = [pool.submit(c) for c in calls[1:]]
    first = calls[0]()
    return [first] + [f.result() for f in futs]
