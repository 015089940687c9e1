"""`make reproduce`: every claimed table regenerated on a CPU (pipelines/reproduce.py), and docs/results.md.

    python scripts/reproduce.py [--config configs/reproduce/cpu.yaml] [--work runs/reproduce] [--only TABLE]
"""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from pipelines.cli import reproduce_main as main

    raise SystemExit(run_command(main))
