"""Every script's command line loads and answers --help: what a moved or renamed command would break first."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((REPO / "scripts").glob("*.py"))


def command_of(script: Path):
    """The function a script runs: the one it imports from a `cli` module."""
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith(".cli"):
            return getattr(importlib.import_module(node.module), node.names[0].name)
    raise AssertionError(f"{script.name} imports no command from a cli module")


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_every_command_answers_help(script, capsys):
    with pytest.raises(SystemExit) as done:
        command_of(script)(["--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")
