"""The architecture as tests: the layer contracts of pyproject.toml ([tool.importlinter], checked by
import-linter), no import circle between any two modules (grimp's import graph), and the size limits that keep
files and functions readable."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
from tests_paths import ROOT

PACKAGES = ("factory", "filters", "synth", "train")


def test_layer_contracts_hold():
    """factory is the ground floor, filters | synth sit on it, train on them; factory.cli, the composition root,
    is imported by nothing; no circles between sibling modules (import-linter, configured in pyproject.toml)."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


def test_no_import_circle_between_modules():
    """Every import statement (at module level or inside a function, TYPE_CHECKING ones too) counts."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    g = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            g.add_edge(module, imported)
    circles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not circles, f"import circles: {circles}"


def test_the_ground_floor_names_no_upper_floor():
    """factory (outside the CLI) does not even mention filters/synth/train as a module to import: the floors above
    register their stages and recipe sections through entry points (pyproject.toml)."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    upward = [
        (importer, imported)
        for importer in graph.find_descendants("factory")
        if not importer.startswith("factory.cli")
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported.split(".")[0] in {"filters", "synth", "train"}
    ]
    assert upward == []


def _sources() -> list[Path]:
    return sorted(p for top in (*PACKAGES, "tools") for p in (ROOT / top).rglob("*.py"))


def test_files_and_functions_stay_small():
    """No source file over 400 lines, no function over 80 (tests and bench scripts are not sources)."""
    long_files, long_functions = [], []
    for path in _sources():
        text = path.read_text()
        if text.count("\n") > 400:
            long_files.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not long_files and not long_functions, long_files + long_functions
