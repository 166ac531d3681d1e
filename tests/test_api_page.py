"""docs/api.md lists every public name (the __all__ of circuitnet, circuitnet.solve, circuitnet.spice,
circuitnet.chip and circuitnet.models) with the first sentence of its docstring, as :func:`render` writes it.
Regenerate after changing the API: python tests/test_api_page.py"""
import importlib
import inspect
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "api.md"
PACKAGES = ("circuitnet", "circuitnet.solve", "circuitnet.spice", "circuitnet.chip", "circuitnet.models")

# A period after these does not end a sentence ("e.g. the paper's", "cf. Table 2", "Eq. 3"); "etc." ends
# one unless a lower-case word follows. Nor does an ellipsis; a decimal point ("0.5") is never followed by a space.
_ABBREVIATION = re.compile(r"(?:^|[\s(\[\"'`])(?:[eE]\.g|[iI]\.e|[cC]f|vs|viz|approx|resp|incl|et al|Eqs?|Figs?|Secs?|Nos?|Refs?)$")
_ETC = re.compile(r"(?:^|[\s(])etc$")


def summary(obj):
    """The first sentence of the first paragraph of obj's docstring ('' when it has none); a dict
    (a registry) is listed by its keys."""
    if isinstance(obj, dict):
        return "registry by name: " + ", ".join(f"`{k}`" for k in obj)
    doc = (inspect.getdoc(obj) or "").strip()
    if not doc:
        return ""
    para = " ".join(line.strip() for line in doc.split("\n\n")[0].splitlines())
    for end in re.finditer(r"([.?!])[\"')\]]*(?=\s|$)", para):     # a stop, maybe closed, then a space
        before, after = para[:end.start()], para[end.end():].lstrip()
        if end.group(1) == "." and (before.endswith(".") or _ABBREVIATION.search(before)       # "...", "e.g."
                                    or (_ETC.search(before) and after[:1].islower())):
            continue
        return para[:end.end()]
    return para


def render():
    lines = ["# Public API", "",
             "Every name exported by circuitnet's public packages (their `__all__`), with the first sentence of",
             "its docstring. Written by `python tests/test_api_page.py`; tests/test_api_page.py checks it.", ""]
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        lines += [f"## `{pkg}`", "", summary(mod), "", "| name | what it is |", "|---|---|"]
        for name in sorted(mod.__all__, key=str.lower):
            text = summary(getattr(mod, name)).replace("|", "\\|")
            lines.append(f"| `{name}` | {text} |")
        lines.append("")
    return "\n".join(lines)


def _doc(text):
    def f():
        pass
    f.__doc__ = text
    return f


def test_a_summary_is_the_whole_first_sentence_past_abbreviations_and_decimals():
    """Abbreviations ("e.g.", "i.e.", "cf.", "etc.") and decimals do not end the first sentence."""
    assert summary(_doc("""Fully connected network, e.g. the paper's 784-400-400-10 (dropout: p).

    More.""")) == "Fully connected network, e.g. the paper's 784-400-400-10 (dropout: p)."
    assert summary(_doc("""Scales chosen to maximise ``score(net)`` (e.g. validation
    accuracy), in place. Each layer in turn.""")) == "Scales chosen to maximise ``score(net)`` (e.g. validation accuracy), in place."
    assert summary(_doc("A gain of 0.5 (i.e. half), cf. Eq. 3 and Fig. 2 vs. the paper. Second.")) == \
        "A gain of 0.5 (i.e. half), cf. Eq. 3 and Fig. 2 vs. the paper."
    assert summary(_doc("Caps, leaks, etc. with sympy currents. Second.")) == "Caps, leaks, etc. with sympy currents."
    assert summary(_doc("Caps, leaks, etc. Second sentence.")) == "Caps, leaks, etc."
    assert summary(_doc("The whole sentence (a clause.) Then more.")) == "The whole sentence (a clause.)"
    assert summary(_doc("Run [(a, b), ...] in parallel... in order. Second.")) == "Run [(a, b), ...] in parallel... in order."
    assert summary(_doc("Is it one? Yes.")) == "Is it one?"
    assert summary(_doc("Either yes or no. Then more.")) == "Either yes or no."
    assert summary(_doc("No stop at all")) == "No stop at all"
    assert summary(_doc(None)) == "" and summary({"a": 1, "b": 2}) == "registry by name: `a`, `b`"


def test_api_page_is_current_and_every_public_name_has_a_docstring():
    undocumented = [f"{pkg}.{n}" for pkg in PACKAGES for n in importlib.import_module(pkg).__all__
                    if not summary(getattr(importlib.import_module(pkg), n))]
    assert not undocumented, f"public names without a docstring: {undocumented}"
    assert PAGE.read_text() == render(), "docs/api.md is stale: run python tests/test_api_page.py"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    PAGE.write_text(render())
    print(f"wrote {PAGE}")
