"""The project's shape, kept: no import circle between its modules, small training modules."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("agents", "webanchor_env", "wiki_corpus", "benchmarks")


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, module: str) -> set[str]:
    """Modules named by the imports a module runs when loaded (not those under
    ``if TYPE_CHECKING:`` nor inside functions), as dotted names with the imported names."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for item in ast.walk(node):
            if isinstance(item, ast.Import):
                names |= {alias.name for alias in item.names}
            elif isinstance(item, ast.ImportFrom):
                base = package.rsplit(".", item.level - 1)[0] if item.level else ""
                source = ".".join(p for p in (base, item.module or "") if p)
                names |= {source} | {f"{source}.{alias.name}" for alias in item.names}
    return names


def import_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports when loaded (a module's own
    parent packages left out: Python loads them first whatever the module imports)."""
    paths = {_module(p): p for name in PACKAGES for p in (REPO / name).rglob("*.py")}
    return {
        module: {
            m
            for m in _imported(path, module)
            if m in paths and m != module and not module.startswith(m + ".")
        }
        for module, path in paths.items()
    }


def test_the_graph_sees_imports() -> None:
    graph = import_graph()
    assert "webanchor_env.actions" in graph["webanchor_env.env"]
    assert "agents.train.config" in graph["agents.train.run"]  # a relative or absolute import
    assert not any(m.startswith("typing") for deps in graph.values() for m in deps)


def test_no_import_circle() -> None:
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as err:
        pytest.fail(f"Modules import each other in a circle: {' -> '.join(err.args[1])}")


def test_a_circle_would_be_found() -> None:
    graph = import_graph()
    graph["webanchor_env.actions"] = graph["webanchor_env.actions"] | {"webanchor_env.env"}
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(graph).prepare()


@pytest.mark.parametrize("path", sorted((REPO / "agents" / "train").glob("*.py")), ids=str)
def test_training_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"{path.name} has {lines} lines; split it by concern (at most 400)."
