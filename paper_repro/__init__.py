"""Experiments that reproduce and extend the paper: ``python -m paper_repro <experiment> --help``."""
