"""The package map holds (docs/architecture.md): each package imports only the packages below it, the two stages
not each other, and no module imports itself through others."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Bottom first. Within qa_data, the concerns in the order of docs/architecture.md.
QA_DATA_LAYERS = [{"config", "errors", "provenance"}, {"runtime"}, {"clevrer"}, {"programs"}, {"qgen"}, {"sim"},
                  {"reports"}, {"slots"}, {"balls"}, {"sources"}]
# Each package and the packages it may import (docs/architecture.md): the two stages share only qa_data, and the
# jobs that compose the stages sit above all three.
ALLOWED = {"qa_data": set(), "perception": {"qa_data"}, "reasoning": {"qa_data"},
           "pipelines": {"qa_data", "perception", "reasoning"}}


def imports(path: Path) -> list[str]:
    """Absolute module names a file imports (at any depth, so deferred imports count too), with the names a
    `from X import a` takes (`X.a` may be a module)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return out


def modules() -> dict[str, Path]:
    """Every module of the project's packages by dotted name."""
    found = {}
    for pkg in ALLOWED:
        for path in (REPO / pkg).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project's modules it imports (a package's `__init__` stands for the package)."""
    mods = modules()

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in mods.items():
        targets = {owner(m) for m in imports(path) if m.split(".")[0] in ALLOWED}
        graph[name] = {t for t in targets if t and t != name and not name.startswith(t + ".")}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's import circles: its strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    return next(i for i, names in enumerate(QA_DATA_LAYERS) if part in names)


def test_packages_import_only_what_the_map_allows():
    for pkg, allowed in ALLOWED.items():
        for path in (REPO / pkg).rglob("*.py"):
            bad = sorted({".".join(m.split(".")[:2]) for m in imports(path)
                          if m.split(".")[0] in ALLOWED.keys() - allowed - {pkg}})
            assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_the_circle_check_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_qa_data_concerns_import_only_downwards():
    for path in (REPO / "qa_data").rglob("*.py"):
        rel = path.relative_to(REPO / "qa_data")
        if rel.name == "__init__.py" and len(rel.parts) == 1:
            continue
        mine = layer_of("qa_data." + (rel.parts[0] if len(rel.parts) > 1 else rel.stem))
        for module in imports(path):
            if module.startswith("qa_data."):
                assert layer_of(module) <= mine, f"qa_data/{rel} imports {module} from a higher concern"


def test_command_lines_live_in_cli_modules():
    """The naming rule for command lines: a package (or a concern of qa_data) keeps them in one `cli.py`; no other
    module parses arguments, and every script takes its command from a `cli` module."""
    for pkg in ALLOWED:
        for path in (REPO / pkg).rglob("*.py"):
            if path.name != "cli.py":
                assert "argparse" not in imports(path), f"{path.relative_to(REPO)} parses arguments outside a cli.py"
    for script in (REPO / "scripts").glob("*.py"):
        commands = [m for m in imports(script) if m.split(".")[0] in ALLOWED and "runtime.command" not in m]
        assert commands and all(".cli" in m for m in commands), f"{script.name} imports {commands}"


SIMULATOR_CHECK = """
import runpy, sys
for script in sys.argv[1:]:  # what a spawned worker does with its parent's script
    runpy.run_path(script, run_name="__mp_main__")
import reasoning.ablate, reasoning.train, reasoning.evaluate, reasoning.cli  # what a QA worker then runs
print(sorted(m for m in sys.modules if m == "pybullet" or m.startswith("qa_data.sim")))
"""


def test_the_qa_stage_and_its_spawned_workers_import_nothing_of_the_simulator():
    """A QA worker that the main job spawns re-imports the parent's script; neither it nor the QA modules may
    load the simulator (it printed pybullet's banner into every worker's output)."""
    import os
    import subprocess
    import sys

    scripts = [str(REPO / "scripts" / s) for s in ("run_pipeline.py", "reproduce.py", "ablate.py", "train_qa.py")]
    done = subprocess.run([sys.executable, "-c", SIMULATOR_CHECK, *scripts], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-500:]
    assert "pybullet build time" not in done.stdout + done.stderr
