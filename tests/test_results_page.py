"""docs/results.md is what scripts/results_page.py writes from the committed docs/results/*/results.json,
and README's experiment table (one row per experiment: command, headline, link to its docs/results.md
entry and its results.json files) prints values of the files each row links, for the commands that
wrote them."""
import importlib
import importlib.util
import json
import pathlib
import re
import shlex
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("results_page", ROOT / "scripts" / "results_page.py")
rp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rp)


# ------------------------------------------------------------------------------- the generated page
def test_results_page_is_what_the_script_writes_from_the_committed_results():
    assert (ROOT / "docs" / "results.md").read_text() == rp.page(), \
        "docs/results.md is stale: run .venv/bin/python scripts/results_page.py"


def test_results_page_shows_every_committed_run():
    text = rp.page()
    names = [p.parent.name for p in (ROOT / "docs" / "results").glob("*/results.json")]
    assert len(names) >= 20
    missing = [n for n in names if f"(results/{n}/results.json)" not in text]
    assert not missing, missing


def test_results_page_follows_the_files(tmp_path):
    """A changed number in a results.json changes the page (so the committed page goes stale), and a
    statement the page makes in words that the files stop supporting refuses to be written."""
    shutil.copytree(ROOT / "docs" / "results", tmp_path / "results")
    iris = tmp_path / "results" / "iris" / "results.json"
    res = json.loads(iris.read_text())
    res["summary"]["pnn_circuit_acc"]["mean"] = 0.9555
    iris.write_text(json.dumps(res))
    text = rp.page(tmp_path / "results")
    assert text != rp.page() and "**95.55 %**" in text and "**98.67 %**" not in text

    noise = tmp_path / "results" / "noise" / "results.json"
    res = json.loads(noise.read_text())
    res["accuracy"]["0.01"] = 0.9          # now below the paper at sigma 0.01: the text would be wrong
    noise.write_text(json.dumps(res))
    with pytest.raises(ValueError, match="above the paper"):
        rp.page(tmp_path / "results")


# ------------------------------------------------------------------------------ README's table rows
def _readme_rows():
    """(row, headline cell, anchor, linked results.json paths) of every README table row that links a
    docs/results.md entry."""
    rows = []
    for line in (ROOT / "README.md").read_text().splitlines():
        anchors = re.findall(r"\(docs/results\.md#([\w-]+)\)", line)
        if line.startswith("| ") and anchors:
            assert len(anchors) == 1, f"one docs/results.md entry per README row: {line[:80]}"
            cells = line[2:-2].split(" | ")
            files = re.findall(r"\((docs/results/[\w.-]+/results\.json)\)", line)
            rows.append((line, cells[1], anchors[0], files))
    return rows


def _leaves(obj):
    """Every number in a results object, per-epoch logs (``history``) left out: a headline is a result."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k != "history":
                yield from _leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield float(obj)


def _numbers(headline):
    """(text, value, decimals, is_percent) of every number in a headline cell; code spans (options)
    and markdown emphasis are left out, a range "0.14-0.79 ns" gives both ends."""
    text = re.sub(r"`[^`]*`", "", headline).replace("**", "")
    return [(m.group(0), float(m.group(1)), len(m.group(2) or ""), bool(m.group(3)))
            for m in re.finditer(r"(?<![\w.])(-?\d+(?:\.(\d+))?)( ?%)?", text)]


def _unmatched(headline, files):
    """The numbers of a headline that are not a value of ``files`` at the precision printed (a
    percentage: 100 x the value)."""
    leaves = [x for f in files for x in _leaves(json.loads((ROOT / f).read_text()))]
    return [text for text, value, d, percent in _numbers(headline)
            if not any(abs(round((100 * x) if percent else x, d) - value) < 1e-9 for x in leaves)]


def test_readme_has_one_row_per_results_page_entry():
    rows = _readme_rows()
    anchors = [a for _, _, a, _ in rows]
    assert sorted(anchors) == sorted(rp.anchor(e["heading"]) for e in rp.ENTRIES), \
        "README's experiment table: one row per docs/results.md entry, linked by its heading's anchor"
    headings = re.findall(r"^## (.+)$", (ROOT / "docs" / "results.md").read_text(), re.M)
    assert set(anchors) <= {rp.anchor(h) for h in headings}


def test_readme_rows_link_the_results_of_their_entry():
    by_anchor = {rp.anchor(e["heading"]): {f"docs/results/{n}/results.json" for n, _ in e["runs"]} for e in rp.ENTRIES}
    for row, _, anchor, files in _readme_rows():
        assert files, f"README row without a results.json link: {row[:80]}"
        assert set(files) <= by_anchor[anchor], f"{row[:80]} links files of another entry: {files}"


def _section(text, anchor):
    """The docs/results.md entry whose heading has ``anchor``: from its heading to the next."""
    parts = re.split(r"^## ", text, flags=re.M)
    return next(p for p in parts[1:] if rp.anchor(p.splitlines()[0]) == anchor)


def _not_on_page(headline, anchor, page):
    """The numbers of a headline that its docs/results.md entry does not print (as written)."""
    shown = {text for text, *_ in _numbers(_section(page, anchor).replace(" %", ""))}
    return [text for text, *_ in _numbers(headline) if text.replace(" %", "") not in shown]


def test_readme_headline_numbers_are_values_of_the_files_each_row_links():
    checked = 0
    for row, headline, _, files in _readme_rows():
        numbers = _numbers(headline)
        assert numbers, f"a README row without a headline number: {row[:80]}"
        assert not _unmatched(headline, files), f"README says {_unmatched(headline, files)}, not in {files}"
        checked += len(numbers)
    assert checked >= 30


def test_readme_headline_numbers_are_the_ones_its_results_page_entry_reports():
    """Stricter than being somewhere in the files: the full row README links prints the same number."""
    page = rp.page()
    for row, headline, anchor, _ in _readme_rows():
        assert not _not_on_page(headline, anchor, page), \
            f"README says {_not_on_page(headline, anchor, page)}, which docs/results.md#{anchor} does not print"


def test_the_headline_check_fails_on_a_number_the_files_do_not_hold():
    row, headline, _, files = next(r for r in _readme_rows() if "98.67 %" in r[1])
    assert not _unmatched(headline, files)
    assert _unmatched(headline.replace("98.67 %", "98.68 %"), files) == ["98.68 %"]
    assert _unmatched(headline.replace("98.67 %", "98.67"), files) == ["98.67"]     # a percentage needs its unit
    near = headline.replace("98.67 %", "97.33 %")      # in the file (the ANN's own model), not on the page
    assert not _unmatched(near, files) and _not_on_page(near, "iris", rp.page()) == ["97.33 %"]
    assert _numbers("**0.14-0.79 ns** at \\|E\\| = 1, `--sigmas 0.04`") == [("0.14", 0.14, 2, False),
                                                                            ("0.79", 0.79, 2, False),
                                                                            ("1", 1.0, 0, False)]


# -------------------------------------------------------------------------- commands against configs
def _readme_commands(row):
    """The commands of a README row's first cell, in order: `python -m paper_repro ...`, a bare
    `--option ...` (the row's previous experiment with those options) or a `for s in ...; do ...$s; done`
    loop, expanded."""
    out = []
    for code in re.findall(r"`([^`]*)`", row[2:].split(" | ")[0]):
        loop = re.fullmatch(r"for (\w+) in ([^;]+); do (.*); done", code)
        if loop:
            var, values, body = loop.groups()
            out += [body.replace(f"${var}", v) for v in values.split()]
        elif code.startswith(("python -m paper_repro ", "--")):
            out.append(code)
    return out


def _config_differences(command, path, experiment=None):
    """{option: (the command's value, the run's)} where the configuration ``command`` gives (parsed by
    paper_repro's own parser and configured as the experiment configures it) differs from the one
    stored in results.json ``path``; and the experiment, for a following bare `--option` command."""
    from paper_repro import classify as C
    from paper_repro.__main__ import _parser
    argv = shlex.split(command)
    if argv[:3] == ["python", "-m", "paper_repro"]:
        argv = argv[3:]
    else:
        argv = [experiment] + argv
    experiment = argv[0]
    args = _parser()[0].parse_args(argv)
    res = json.loads((ROOT / path).read_text())
    assert res["experiment"] == experiment, f"{command} wrote a {res['experiment']} run: {path}"
    module = importlib.import_module("paper_repro." + experiment.replace("-", "_"))
    if hasattr(module, "DEFAULTS"):
        want = C.configure(args, module.DEFAULTS, getattr(module, "QUICK", None))
    else:
        given = {a.lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
        want = {k: v for k, v in vars(args).items() if k in given}
    want = {k: v for k, v in json.loads(json.dumps(want)).items() if k in res["config"]}
    return {k: (v, res["config"][k]) for k, v in want.items() if v != res["config"][k]}, experiment, len(want)


def test_readme_commands_produce_the_configuration_of_the_results_they_link():
    compared = 0
    for row, _, _, files in _readme_rows():
        commands = _readme_commands(row)
        assert len(commands) == len(files), f"a command per linked results.json: {row[:80]}"
        experiment = None
        for command, path in zip(commands, files):
            diff, experiment, n = _config_differences(command, path, experiment)
            assert not diff, f"README: {command} vs {path}: {diff}"
            compared += n
    assert compared >= 50


def test_results_page_commands_produce_the_configuration_of_their_runs():
    compared = 0
    for name, command in rp.commands():
        diff, _, n = _config_differences(command, f"docs/results/{name}/results.json")
        assert not diff, f"docs/results.md: {command} vs {name}: {diff}"
        compared += n
    assert compared >= 100
