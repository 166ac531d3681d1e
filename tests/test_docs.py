"""Every document the code and README cite is in the repository, and every section they name exists."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
                 + [p for d in ("circuitnet", "models", "paper_repro", "tests", "benchmarks", "scripts")
                    for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".sh")])


def _texts():
    return {p.relative_to(ROOT).as_posix(): p.read_text() for p in SOURCES
            if p != pathlib.Path(__file__).resolve()}


def _headings(doc):
    return re.findall(r"^#+ (.+?)\s*$", (ROOT / doc).read_text(), re.M)


def test_cited_docs_paths_exist():
    cited = {(src, m) for src, text in _texts().items()
             for m in re.findall(r"docs/[\w./-]*\w", text)}
    assert cited, "no docs/ reference found: the pattern is broken"
    missing = sorted(f"{src}: {path}" for src, path in cited if not (ROOT / path).exists())
    assert not missing, missing


def test_no_reference_to_documents_outside_the_repository():
    names = ("PAPER" + ".md", "DESIGN" + ".md", "SPICE" + ".md", "../shared")
    bad = sorted(f"{src}: {n}" for src, text in _texts().items() for n in names if n in text)
    assert not bad, bad


def test_cited_sections_exist():
    numbered = {h.split(".")[0] for h in _headings("docs/paper.md") if re.match(r"\d+\.", h)}
    names = {re.sub(r" \(.*\)$", "", h.split(". ", 1)[-1])
             for doc in ("docs/paper.md", "docs/design.md") for h in _headings(doc)}
    checked = 0
    for src, text in _texts().items():
        for nums in re.findall(r"docs/paper\.md,?\s+sections?\s+(\d+(?:(?:,\s*|\s+and\s+)\d+)*)", text):
            for n in re.findall(r"\d+", nums):
                assert n in numbered, f"{src} cites docs/paper.md section {n}; sections: {sorted(numbered)}"
                checked += 1
        for name in re.findall(r"docs/\w+\.md,?\s+sections?\s+(?:\d+,\s+)?(?!Table |Eqs?\. )([A-Z][A-Za-z]+(?: [a-z]+)?)",
                               text):
            assert name in names or name.split()[0] in names, f"{src} cites a section {name!r} that no heading names"
            checked += 1
    assert checked > 10


def test_repository_paths_named_in_docs_exist():
    for doc in ("docs/paper.md", "docs/design.md"):
        paths = re.findall(r"`((?:circuitnet|models|paper_repro|tests|benchmarks|scripts)/[\w./]+\.(?:py|sh))`",
                           (ROOT / doc).read_text())
        assert paths
        missing = [p for p in paths if not (ROOT / p).exists()]
        assert not missing, f"{doc} names files that do not exist: {missing}"


def test_committed_results_are_runs_of_the_experiment_they_name():
    """docs/results/<dir>/results.json: a run's results object (experiment, seed, config, wall time)
    of an experiment the CLI knows, so README's numbers trace back to a command."""
    import json
    from paper_repro.__main__ import EXPERIMENTS
    files = sorted((ROOT / "docs" / "results").glob("*/results.json"))
    assert files
    for f in files:
        res = json.loads(f.read_text())
        assert isinstance(res, dict) and {"experiment", "seed", "config", "wall_time_s"} <= set(res), f
        assert res["experiment"] in EXPERIMENTS and res["wall_time_s"] > 0, f


def _leaves(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _leaves(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield float(obj)


def _result_rows():
    """(document, row, linked results.json paths from ROOT) for every results-table row: README's
    rows that start with a paper_repro command (each must link its files) and docs/experiments.md's
    rows that link any (docs/results/, linked from docs/ as results/)."""
    rows = []
    for doc, prefix in (("README.md", "docs/"), ("docs/experiments.md", "")):
        for row in (ROOT / doc).read_text().splitlines():
            if row.startswith("| `python -m paper_repro"):
                files = ["docs/" + f for f in re.findall(rf"\({prefix}(results/[\w.-]+/results\.json)\)", row)]
                assert files or doc != "README.md", f"README results row without a results file: {row[:80]}"
                if files:
                    rows.append((doc, row, files))
    return rows


def test_results_tables_print_values_of_the_results_files_each_row_links():
    """Every percentage and every time (ns) in the "ours" column of a row that links results.json
    files (README: every row) is a value in those files, rounded as printed."""
    import json
    rows = _result_rows()
    assert sum(doc == "README.md" for doc, _, _ in rows) >= 4
    checked = 0
    for doc, row, files in rows:
        leaves = [x for f in files for x in _leaves(json.loads((ROOT / f).read_text()))]
        ours = row.split(" | ")[1]
        for num, unit in re.findall(r"(?<![\w.])(-?\d+\.\d+) ?(%|ns)", ours):
            d = len(num.split(".")[1])         # a sign, where printed, is part of the value
            scale = 100.0 if unit == "%" else 1.0
            assert any(abs(round(scale * x, d) - float(num)) < 1e-9 for x in leaves), \
                f"{doc} says {num} {unit}, not in {files}"
            checked += 1
    assert checked >= 10


def test_results_tables_commands_produce_the_configuration_of_the_results_they_link():
    """Each command in a row that links results.json files, parsed by paper_repro's own parser and
    configured as the experiment would be, gives the configuration stored in the files the row links
    (in order; a bare `--option ...` repeats the row's previous experiment): no option used in a run
    is missing from its command, and none is claimed that it did not use."""
    import importlib
    import json
    import shlex
    from paper_repro import classify as C
    from paper_repro.__main__ import _parser
    compared = 0
    for doc, row, files in _result_rows():
        commands = re.findall(r"`(python -m paper_repro [^`]*|--[^`]*)`", row.split(" | ")[0])
        assert len(commands) == len(files), f"{doc}: a command per results file: {row[:80]}"
        experiment = None
        for command, path in zip(commands, files):
            argv = shlex.split(command)
            if argv[:3] == ["python", "-m", "paper_repro"]:
                argv = argv[3:]
                experiment = argv[0]
            else:
                argv = [experiment] + argv
            args = _parser()[0].parse_args(argv)
            res = json.loads((ROOT / path).read_text())
            assert res["experiment"] == experiment, path
            module = importlib.import_module("paper_repro." + experiment.replace("-", "_"))
            if hasattr(module, "DEFAULTS"):      # a classification experiment: its whole configuration
                want = C.configure(args, module.DEFAULTS, getattr(module, "QUICK", None))
            else:                                # the options the command gives
                given = {a.lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
                want = {k: v for k, v in vars(args).items() if k in given}
            want = {k: v for k, v in json.loads(json.dumps(want)).items() if k in res["config"]}
            assert want == {k: res["config"][k] for k in want}, f"{doc}: {command} vs {path}"
            compared += len(want)
    assert compared >= 50


# ---------------------------------------------------------------------------- docs/*.md code blocks
# Every ```python block of docs/*.md runs as written, on its own (README's blocks: tests/test_readme.py).
# A block that is not meant to run (a shell command, an output listing, a fragment) is fenced as ```text
# or ```bash; a fence must name its language, so that no python block escapes these tests unnoticed.
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.S | re.M)
_NOT_RUN = {"text", "bash", "sh", "console"}
# doc -> a marker per python block, in order: each block is run by a test below that names its marker
_RUN = {"docs/robustness.md": ("with_uniform_mismatch(cn.circuits.rc_spike()", "WeightProgrammer(bits=8",
                               "models.tune_layer_gains_("),
        "docs/spice.md": ("cn.spice.realised_rc_spike(4)",)}


def _fences(doc):
    return _FENCE.findall((ROOT / doc).read_text())


def _run_block(doc, marker, seed=0):
    """Execute the python block of ``doc`` that contains ``marker`` in a fresh namespace; returns it."""
    import torch
    block, = [code for lang, code in _fences(doc) if lang == "python" and marker in code]
    scope = {"__name__": "__doc_block__"}
    torch.manual_seed(seed)
    exec(compile(block, doc, "exec"), scope)
    return scope


def test_every_docs_code_block_names_its_language_and_every_python_block_is_run_here():
    docs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    unnamed = [d for d in docs for lang, _ in _fences(d) if not lang]
    assert not unnamed, f"a code block without a language (```python to run it, ```text if not): {unnamed}"
    other = sorted({(d, lang) for d in docs for lang, _ in _fences(d) if lang not in _NOT_RUN | {"python"}})
    assert not other, f"fence it as ```python (and run it below) or as one of {sorted(_NOT_RUN)}: {other}"
    for d in docs:
        blocks = [code for lang, code in _fences(d) if lang == "python"]
        markers = _RUN.get(d, ())
        assert len(blocks) == len(markers) and all(m in b for m, b in zip(markers, blocks)), \
            f"a python block of {d} was added or changed: give it a test below (or fence it as ```text)"
    assert sum(map(len, _RUN.values())) >= 4


def test_robustness_mismatch_declaration_block_runs():
    """(tests/test_readme.py checks the values it declares.)"""
    scope = _run_block("docs/robustness.md", "with_uniform_mismatch(cn.circuits.rc_spike()")
    assert scope["dis"].mismatch.spreads == {"I": 0.15, "lam": 0.008}
    assert scope["circuit"].threshold_offset == 3e-3


def test_robustness_programming_and_calibration_block_runs_and_brings_chips_back():
    import warnings
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "calibrate: .* at the end of its range")     # the doc says so
        scope = _run_block("docs/robustness.md", "WeightProgrammer(bits=8")
    net, accuracy, drawn, used = scope["net"], scope["accuracy"], scope["drawn"], scope["used"]
    nominal = accuracy(net)
    assert nominal >= 0.9 and len(drawn["accuracies"]) == len(used["accuracies"]) == 20
    assert drawn["mean"] < nominal - 0.05                   # sky130's spreads cost accuracy as drawn ...
    assert used["mean"] >= nominal - 0.03 and used["p5"] > drawn["p5"]    # ... programming and trims win it back
    assert all(l.deviation is None for l in net.spiking_layers)           # back on the nominal circuit


def test_robustness_layer_gains_block_runs_and_chooses_on_validation():
    scope = _run_block("docs/robustness.md", "models.tune_layer_gains_(")
    net, gains, val_acc = scope["net"], scope["gains"], scope["val_acc"]
    assert len(gains) == len(net.spiking_layers) == 3
    from circuitnet.models.mapping import GAINS
    assert set(gains) <= set(GAINS) | {1.0}
    assert scope["before"] >= 0.8 and 0.8 <= val_acc <= 1.0
    assert val_acc == scope["noisy_accuracy"](net, scope["val"])    # the score of the network as left


def test_spice_doc_block_runs_and_agrees_with_its_model():
    import torch
    scope = _run_block("docs/spice.md", "cn.spice.realised_rc_spike(4)")
    t_spice, t_model, fired = scope["t_spice"], scope["t_model"], scope["fired"]
    assert t_spice.shape == t_model.shape == (2, 2) and fired.all()
    assert torch.isfinite(t_spice).all() and (t_spice - t_model).abs().max().item() < 2e-3   # 2 ns of a 1 us phase
