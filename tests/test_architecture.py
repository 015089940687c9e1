"""The package map holds: no import runs from a lower layer up to a higher one (docs/architecture.md)."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Bottom first. Within qa_data, the concerns in the order of docs/architecture.md.
QA_DATA_LAYERS = [{"config", "errors", "provenance"}, {"runtime"}, {"clevrer"}, {"programs"}, {"qgen"}, {"sim"},
                  {"reports"}, {"slots"}, {"balls"}, {"sources"}]
PACKAGES = ["qa_data", "perception", "reasoning"]


def imports(path: Path) -> list[str]:
    """Absolute module names a file imports (at any depth, so deferred imports count too)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return out


def layer_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    return next(i for i, names in enumerate(QA_DATA_LAYERS) if part in names)


def test_packages_import_only_downwards():
    for i, pkg in enumerate(PACKAGES):
        for path in (REPO / pkg).rglob("*.py"):
            higher = [m for m in imports(path) if m.split(".")[0] in PACKAGES[i + 1:]]
            assert not higher, f"{path.relative_to(REPO)} imports {higher} from a higher package"


def test_qa_data_concerns_import_only_downwards():
    for path in (REPO / "qa_data").rglob("*.py"):
        rel = path.relative_to(REPO / "qa_data")
        if rel.name == "__init__.py" and len(rel.parts) == 1:
            continue
        mine = layer_of("qa_data." + (rel.parts[0] if len(rel.parts) > 1 else rel.stem))
        for module in imports(path):
            if module.startswith("qa_data."):
                assert layer_of(module) <= mine, f"qa_data/{rel} imports {module} from a higher concern"


def test_the_qa_stage_does_not_import_perception():
    for path in (REPO / "reasoning").rglob("*.py"):
        if path.name in ("pipeline.py", "reproduce.py"):  # the main job and the reproduction run both stages
            continue
        found = [m for m in imports(path) if m.split(".")[0] == "perception"]
        assert not found, f"{path.relative_to(REPO)} imports {found}"


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
