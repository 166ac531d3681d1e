"""docs/api.md lists every public name (the __all__ of circuitnet, circuitnet.solve, circuitnet.spice
and models) with the first line of its docstring, as :func:`render` writes it.
Regenerate after changing the API: python tests/test_api_page.py"""
import importlib
import inspect
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "api.md"
PACKAGES = ("circuitnet", "circuitnet.solve", "circuitnet.spice", "models")


def summary(obj):
    """The first sentence of the first paragraph of obj's docstring ('' when it has none); a dict
    (a registry) is listed by its keys."""
    if isinstance(obj, dict):
        return "registry by name: " + ", ".join(f"`{k}`" for k in obj)
    doc = (inspect.getdoc(obj) or "").strip()
    if not doc:
        return ""
    para = " ".join(line.strip() for line in doc.split("\n\n")[0].splitlines())
    end = para.find(". ")
    return para[:end + 1] if end >= 0 else para


def render():
    lines = ["# Public API", "",
             "Every name exported by circuitnet's public packages (their `__all__`), with the first line of",
             "its docstring. Written by `python tests/test_api_page.py`; tests/test_api_page.py checks it.", ""]
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        lines += [f"## `{pkg}`", "", summary(mod), "", "| name | what it is |", "|---|---|"]
        for name in sorted(mod.__all__, key=str.lower):
            text = summary(getattr(mod, name)).replace("|", "\\|")
            lines.append(f"| `{name}` | {text} |")
        lines.append("")
    return "\n".join(lines)


def test_api_page_is_current_and_every_public_name_has_a_docstring():
    undocumented = [f"{pkg}.{n}" for pkg in PACKAGES for n in importlib.import_module(pkg).__all__
                    if not summary(getattr(importlib.import_module(pkg), n))]
    assert not undocumented, f"public names without a docstring: {undocumented}"
    assert PAGE.read_text() == render(), "docs/api.md is stale: run python tests/test_api_page.py"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    PAGE.write_text(render())
    print(f"wrote {PAGE}")
