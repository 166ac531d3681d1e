"""python -m paper_repro <experiment> [--out DIR] [--seed N] [--device cpu|cuda] [--quick]"""
import argparse
import importlib
import sys

EXPERIMENTS = {
    "iris": "the paper's Iris circuit: PNN-to-IMC vs ANN-to-IMC on the simulated circuit (main job)",
    "demo": "the paper's circuit solved by every method on one layer; membrane-trace plot",
}


def main(argv=None):
    doc = "\n".join(f"  {k:12s} {v}" for k, v in EXPERIMENTS.items())
    ap = argparse.ArgumentParser(prog="python -m paper_repro", formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Reproduce and extend the paper's experiments.\n\nexperiments:\n" + doc)
    ap.add_argument("experiment", choices=sorted(EXPERIMENTS))
    ap.add_argument("--out", default=None, help="output folder (default runs/<experiment>)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="small, honest version of the same code path")
    args = ap.parse_args(argv)
    args.out = args.out or f"runs/{args.experiment}"
    from .common import out_dir
    out_dir(args.out)
    importlib.import_module(f"paper_repro.{args.experiment.replace('-', '_')}").run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
