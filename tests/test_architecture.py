"""The shape of the package: no import cycles, packages private by default.

The layers themselves are import-linter contracts in pyproject.toml (``lint-imports``
runs in ``make test``); these tests check what import-linter's contract types do
not express:

* no import cycle anywhere, type-only imports included;
* no module uses another module's private (``_``-prefixed) names;
* a module outside a package imports from it only what the package's
  ``__init__`` exports (``from attest.log import Log``), never its modules
  (``from attest.log.store import Log``). Modules inside a package's subtree use
  their siblings directly. The root package's own modules (the spine) are
  importable from anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "attest"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _parent(name: str) -> str:
    return name.rpartition(".")[0]


def _imports(path: Path, text: str | None = None) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names imported from it) for every ``attest`` import, at any depth."""
    found: list[tuple[int, str, list[str]]] = []
    source = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "attest":
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "attest")
    return found


def _strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm over the module graph; components of more than one module are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return out


def test_no_import_cycles_type_only_imports_included() -> None:
    graph = grimp.build_graph("attest", include_external_packages=False, exclude_type_checking_imports=False)
    assert _strongly_connected(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above could fail: a graph with a back edge yields that cycle."""
    graph = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    assert _strongly_connected(graph) == [["p.a", "p.b", "p.c"]]


def _violations(modules: dict[str, Path], sources: dict[str, str] | None = None) -> list[str]:
    """Every import that breaks the privacy rules; ``sources`` overrides file text (for the probe)."""
    problems = []
    for importer, path in modules.items():
        text = (sources or {}).get(importer)
        rel = path.relative_to(ROOT)
        for line, target, names in _imports(path, text):
            if target not in modules:
                problems.append(f"{rel}:{line}: imports {target}, which does not exist")
                continue
            problems.extend(
                f"{rel}:{line}: uses the private name {target}.{name}"
                for name in names
                if name.startswith("_") and f"{target}.{name}" not in modules
            )
            # `from attest.log import store` imports the module attest.log.store.
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            for t in [target, *submodules]:
                if t == target and _is_package(t, modules):
                    continue  # a package's __init__ is its public face
                owner = _parent(t)
                if importer == owner or importer.startswith(owner + "."):
                    continue
                problems.append(f"{rel}:{line}: reaches into {t}; import what {owner} exports")
    return problems


def test_packages_are_private_by_default() -> None:
    assert _violations(_modules()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from attest.log.store import Log\n", "reaches into attest.log.store"),
        ("from attest.log import store\n", "reaches into attest.log.store"),
        ("from attest.errors import _private\n", "private name attest.errors._private"),
        ("from attest.nowhere import x\n", "attest.nowhere, which does not exist"),
    ],
)
def test_the_privacy_check_flags_reaching_in(source: str, expected: str) -> None:
    """The rule is not vacuous: a module in another package that reaches in is named."""
    probe = "attest._cli.zz_probe"
    modules = {**_modules(), probe: PACKAGE / "_cli" / "zz_probe.py"}
    assert any(expected in v for v in _violations(modules, {probe: source}))


def test_siblings_and_the_spine_are_allowed() -> None:
    probe = "attest.log.zz_probe"
    modules = {**_modules(), probe: PACKAGE / "log" / "zz_probe.py"}
    source = """
from attest.log.merkle import leaf_hash
from attest.model import Result
from attest.signing import Envelope
"""
    assert [v for v in _violations(modules, {probe: source}) if "zz_probe" in v] == []
