"""The layer table of docs/architecture.md, checked against every module of hpcfold/.

The table is the rule: each row names packages or modules and three sets of third-party
packages. This test parses the table and walks each module's ``ast`` (module-level imports and
imports inside functions, ``if TYPE_CHECKING:`` blocks skipped), so the doc and the code cannot
drift apart:

- module level: everything importing the module brings in (its own imports plus, transitively,
  the module-level imports of the hpcfold modules it imports and their parent packages) is in
  "may import";
- inside functions: the same for the imports a function makes, against "may import" plus
  "also inside functions";
- neither reaches a package in "never, even indirectly".

The standard library is always allowed. The rank-0 rule (a screen's scheduler never imports
JAX) is checked here statically and in ``tests/mpi/test_scheduler.py`` by a real import.
"""

from __future__ import annotations

import ast
import functools
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = ROOT / "hpcfold"
ARCH = ROOT / "docs" / "architecture.md"
EVERYTHING = None  # "may import: everything"


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def parse_rules(text: str) -> list[tuple[list[str], set | None, set | None, set]]:
    """Rows of the layer table: (paths, may import, also inside functions, never)."""
    section = re.search(r"^## Layers and import rules$(.*?)^## ", text, re.M | re.S)
    assert section, "docs/architecture.md has no '## Layers and import rules' section"
    rows = []
    for line in section.group(1).splitlines():
        if not line.startswith("| `hpcfold"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 5, f"layer table row needs 5 cells: {line}"
        paths = re.findall(r"`(hpcfold/[^`]*)`", cells[0])

        def names(cell: str) -> set | None:
            if cell.startswith("everything"):
                return EVERYTHING
            return {n for n in re.findall(r"`([a-z0-9_]+)`", cell)}

        may, also = names(cells[1]), names(cells[2])
        also = EVERYTHING if may is EVERYTHING else (also or set())
        rows.append((paths, may, also, names(cells[3]) or set()))
    assert rows, "the layer table has no rows"
    return rows


def rule_for(module: str, rules) -> tuple[str, set | None, set | None, set]:
    """The most specific row naming ``module``: a file row beats its package's row."""
    path = MODULES[module].relative_to(ROOT).as_posix()
    best = None
    for paths, may, also, never in rules:
        for p in paths:
            if path == p or (p.endswith("/") and path.startswith(p)):
                if best is None or len(p) > len(best[0]):
                    best = (p, may, also, never)
    assert best, f"{path} is in no row of docs/architecture.md's layer table"
    return best


def _resolve(name: str) -> list[str]:
    """hpcfold modules that ``import name`` runs: the module and its parent packages."""
    parts = name.split(".")
    out = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return [m for m in out if m in MODULES]


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


@functools.cache
def imports(module: str) -> tuple[frozenset, frozenset]:
    """(module-level, inside-function) imported names of ``module``: third-party top-level
    names, or hpcfold module names (``from a.b import c`` gives ``a.b`` and ``a.b.c`` when
    that is a module)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top, inner = set(), set()

    def add(target: set, name: str) -> None:
        if name.split(".")[0] == "hpcfold":
            target.update(_resolve(name))
        elif name != "__future__":
            target.add(name.split(".")[0])

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    walk(ast.Module(body=[sub], type_ignores=[]), in_function)
                continue
            target = inner if in_function else top
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(target, alias.name)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                add(target, base)
                for alias in child.names:
                    if f"{base}.{alias.name}" in MODULES:
                        add(target, f"{base}.{alias.name}")
            func = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            walk(child, in_function or func)

    walk(tree, False)
    return frozenset(top), frozenset(inner)


def third_party(names) -> set:
    return {n for n in names if not n.startswith("hpcfold") and n not in sys.stdlib_module_names}


@functools.cache
def brings_in(module: str) -> frozenset:
    """Third-party packages that ``import module`` imports, through hpcfold modules too."""
    seen, todo, found = set(), [module, *_resolve(module)], set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        top, _ = imports(m)
        found |= third_party(top)
        todo += [n for n in top if n in MODULES]
    return frozenset(found)


def reached(module: str) -> tuple[set, set]:
    """(module level, inside functions): third-party packages each level brings in."""
    top, inner = imports(module)
    at_top = set(brings_in(module))
    in_functions = third_party(inner)
    for n in inner:
        if n in MODULES:
            in_functions |= brings_in(n)
    return at_top, in_functions


def violations(module: str, rules) -> list[str]:
    row, may, also, never = rule_for(module, rules)
    at_top, in_functions = reached(module)
    out = []
    if may is not EVERYTHING:
        out += [f"{module} brings in {n} at module level (row {row})" for n in at_top - may]
        allowed = may | (also or set())
        out += [
            f"{module} imports {n} inside a function (row {row})" for n in in_functions - allowed
        ]
    out += [
        f"{module} reaches {n}, which row {row} forbids" for n in (at_top | in_functions) & never
    ]
    return sorted(out)


RULES = parse_rules(ARCH.read_text())


def test_table_rows_cover_the_layers_of_the_style_guide():
    by_path = {p: (may, also, never) for paths, may, also, never in RULES for p in paths}
    assert {"jax", "numpy"} >= by_path["hpcfold/dock/"][0]
    assert {"rdkit", "h5py", "mpi4py"} <= by_path["hpcfold/dock/"][2]
    for layer in ("hpcfold/chem/", "hpcfold/store/"):
        assert {"jax", "mpi4py"} <= by_path[layer][2]
    assert by_path["hpcfold/types.py"][0] == {"numpy"}
    assert {"jax", "rdkit", "h5py", "mpi4py"} <= by_path["hpcfold/config.py"][2]
    assert "jax" in by_path["hpcfold/report/"][2]
    assert by_path["hpcfold/commands/"][0] is EVERYTHING


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_follows_the_layer_table(module):
    assert violations(module, RULES) == []


@pytest.mark.parametrize(
    "module",
    ["hpcfold.commands.screen", "hpcfold.mpi.scheduler", "hpcfold.mpi.worker",
     "hpcfold.mpi.binding", "hpcfold.store.features", "hpcfold.store.results"],
)  # fmt: skip
def test_rank_zero_side_brings_in_no_jax(module):
    assert "jax" not in brings_in(module)


def test_a_broken_rule_is_reported(tmp_path, monkeypatch):
    """A dock module importing h5py inside a function, and one pulling in chem/ (RDKit) at
    module level, are both caught; so is a row that forbids what the code does."""
    dock = tmp_path / "hpcfold" / "dock"
    dock.mkdir(parents=True)
    for p in (tmp_path / "hpcfold" / "__init__.py", dock / "__init__.py"):
        p.write_text("")
    (tmp_path / "hpcfold" / "chem").mkdir()
    (tmp_path / "hpcfold" / "chem" / "__init__.py").write_text("")
    (tmp_path / "hpcfold" / "chem" / "sdf.py").write_text("from rdkit import Chem\n")
    (dock / "bad.py").write_text("import jax\n\ndef f():\n    import h5py\n")
    (dock / "worse.py").write_text("from hpcfold.chem import sdf\n")
    fake = {_module_name_in(tmp_path, p): p for p in sorted(tmp_path.rglob("*.py"))}
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "MODULES", fake)
    imports.cache_clear()
    brings_in.cache_clear()
    try:
        rules = [(["hpcfold/"], set(), set(), set()), *RULES]
        assert violations("hpcfold.dock.bad", rules) == [
            "hpcfold.dock.bad imports h5py inside a function (row hpcfold/dock/)",
            "hpcfold.dock.bad reaches h5py, which row hpcfold/dock/ forbids",
        ]
        found = violations("hpcfold.dock.worse", rules)
        assert "hpcfold.dock.worse brings in rdkit at module level (row hpcfold/dock/)" in found
    finally:
        imports.cache_clear()
        brings_in.cache_clear()


def _module_name_in(root: pathlib.Path, path: pathlib.Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
