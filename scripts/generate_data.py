"""Generate a CLEVRER-sim dataset in the real CLEVRER layout, with its questions.

    python scripts/generate_data.py --preset tiny --out DIR [--num-videos N] [--seed S] [--workers W] [key=value ...]
"""
from qa_data.runtime.command import run_command

if __name__ == "__main__":  # the command is imported here, not by worker processes that import this file
    from qa_data.sim.cli import main

    raise SystemExit(run_command(main))
