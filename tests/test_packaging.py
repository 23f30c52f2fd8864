"""The package as installed: every subpackage is found by package discovery (no hand
list to forget one in), and the library's floor never imports the reproduction's."""
import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sparsenet"


def folders_with_code():
    return sorted({p.parent for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts})


def test_every_folder_of_code_is_a_package_that_discovery_finds():
    missing = [str(f.relative_to(ROOT)) for f in folders_with_code() if not (f / "__init__.py").exists()]
    assert not missing, f"folders without __init__.py (pip install . would leave them out): {missing}"
    if sys.version_info >= (3, 11):
        import tomllib
        config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
        assert "packages" not in config or "find" in config["packages"], "pyproject.toml lists packages by hand"
        assert config["packages"]["find"]["include"] == ["sparsenet*"]
    setuptools = pytest.importorskip("setuptools")
    found = set(setuptools.find_packages(str(ROOT), include=["sparsenet*"]))
    expected = {".".join(f.relative_to(ROOT).parts) for f in folders_with_code()}
    assert found == expected


def imports(path):
    """(module imported, names) for each import statement of a file, made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield module, [a.name for a in node.names]


def test_the_library_never_imports_the_reproduction():
    library = [p for p in PACKAGE.rglob("*.py") if "repro" not in p.relative_to(PACKAGE).parts]
    offenders = [(str(p.relative_to(ROOT)), m) for p in library for m, names in imports(p)
                 if m.startswith("sparsenet.repro") or (m == "sparsenet" and "repro" in names)]
    assert not offenders, f"library modules importing sparsenet.repro: {offenders}"


def test_no_module_imports_another_modules_private_name():
    offenders = [(str(p.relative_to(ROOT)), m, n) for p in PACKAGE.rglob("*.py") for m, names in imports(p)
                 for n in names if n.startswith("_") and n != "__version__"]
    assert not offenders, offenders


def test_no_test_reaches_into_a_private_name_of_the_library():
    """Tests check behaviour through the public API: no test imports a name starting with one
    underscore, nor reads or writes such an attribute (a refactor that keeps the behaviour must
    keep the tests green). Allowed: conftest's stand-in for the download (``data._fetch``), an
    attribute pytest's own config carries, and a test helper's own methods (``self._...``)."""
    allowed = ("data._fetch", "config._sparsenet_real_data_line", "self._")
    private = re.compile(r"(?:\bimport\s+[^\n]*\b_[a-z]\w*|\b[\w.]+\._[a-z]\w*)")
    found = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            for m in private.finditer(code):
                if not any(a in m.group(0) for a in allowed):
                    found.append(f"{path.name}:{lineno}: {m.group(0)}")
    assert not found, found
