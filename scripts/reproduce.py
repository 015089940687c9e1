"""`make reproduce`: every claimed table regenerated on a CPU (reasoning/reproduce.py), and docs/results.md.

    python scripts/reproduce.py [--config configs/reproduce/cpu.yaml] [--work runs/reproduce] [--only TABLE]
"""
from qa_data.runtime.command import run_command
from reasoning.reproduce import main

if __name__ == "__main__":
    raise SystemExit(run_command(main))
