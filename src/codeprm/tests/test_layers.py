"""The architecture as a test: stages import only stages to their left (a stage's ``commands`` module
is part of the CLI), the ground floor imports no stage (``programs`` reads the problem model and the extraction rules of ``problems``, the leftmost stage),
and no module-level import cycle exists."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # src/codeprm
GROUND = {"errors", "config", "lines", "programs", "stats", "device"}
# left to right, as in ARCHITECTURE.md; equal ranks may not import each other
RANK = {"problems": 1, "policy": 2, "sandbox": 3, "labels": 4, "prm": 5, "rl": 6, "evaluate": 7, "select": 8,
        "integrations": 9, "serve": 10, "pipeline": 11, "cli": 12}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        if "tests" in rel.parts:
            continue
        out[".".join(p for p in rel.parts if p != "__init__")] = path
    return out


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "codeprm":
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "codeprm")
    return found


def _stage(module: str) -> str:
    parts = module.split(".")
    if parts[-1] == "commands":  # a stage's CLI commands belong to the CLI, which may wire stages together
        return "cli"
    return parts[1] if len(parts) > 1 else "codeprm"


def test_stages_import_only_to_their_left():
    bad = []
    for module, path in _modules().items():
        here = _stage(module)
        for dep in _imports(path, top_level_only=False):
            there = _stage(dep)
            if there == here or there == "codeprm" or there not in RANK | dict.fromkeys(GROUND, 0):
                continue
            if here in GROUND:
                allowed = here == "programs" and there == "problems" or there in GROUND
            else:
                allowed = there in GROUND or RANK[there] < RANK.get(here, 99)
            if not allowed:
                bad.append(f"{module} -> {dep}")
    assert bad == [], "imports that point right (or from the ground floor into a stage): " + ", ".join(sorted(bad))


def test_no_import_cycle():
    modules = _modules()
    graph = defaultdict(set)
    for module, path in modules.items():
        for dep in _imports(path, top_level_only=False):
            while dep and dep not in modules:  # "codeprm.x.name" -> module "codeprm.x"
                dep = dep.rpartition(".")[0]
            if dep and dep != module:
                graph[module].add(dep)
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1 and not module_is_package_of(nxt, node):
                return trail + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, trail + [node])):
                return cycle
        state[node] = 2
        return None

    def module_is_package_of(package: str, module: str) -> bool:
        return module.startswith(package + ".")  # a package's __init__ re-exporting its own modules

    for module in sorted(modules):
        if module not in state:
            cycle = visit(module, [])
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_modules_stay_small():
    """A module past ~400 lines is usually two (STYLE.md); tests aside."""
    big = {m: n for m, p in _modules().items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420}
    assert big == {}, f"modules over 420 lines: {big}"
